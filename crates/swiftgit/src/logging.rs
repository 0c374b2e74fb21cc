//! Logs on stderr, as text for people or as JSON for log shippers (`--log-format`, else
//! `[daemon] log_format`): one object per line whose keys are the event's fields (`peer`,
//! `status`, `ms`, … of an access line), beside `timestamp`, `level`, `target` and `message`.

use swiftgit_config::sections::daemon;
use swiftgit_config::{Config, ConfigError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP LEVEL target: message key=value …`, coloured on a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[daemon] log_format`.
pub fn configured_format(config: &Config) -> Result<LogFormat, ConfigError> {
    let reader = config.section(&daemon::TABLE);
    match reader
        .string(daemon::LOG_FORMAT)?
        .to_ascii_lowercase()
        .as_str()
    {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(reader.invalid(daemon::LOG_FORMAT, "expected text or json")),
    }
}

/// Starts logging: `verbose` picks the level (RUST_LOG overrides it), `format` the lines.
pub fn init(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::test_config as config;

    #[test]
    fn the_format_is_text_unless_configured() {
        assert_eq!(configured_format(&config("")).unwrap(), LogFormat::Text);
        let json = config("[daemon]\nlog_format = JSON\n");
        assert_eq!(configured_format(&json).unwrap(), LogFormat::Json);
        let error = configured_format(&config("[daemon]\nlog_format = xml\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("[daemon] log_format = \"xml\""), "{error}");
    }
}
