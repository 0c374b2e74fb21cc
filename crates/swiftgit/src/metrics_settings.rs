//! The `[metrics]` section: where `swiftgit daemon` serves its Prometheus metrics and health
//! checks (`--metrics ADDR:PORT` overrides it; absent both, they are not served). Its key and
//! doc: [`swiftgit_config::sections::metrics`].

use swiftgit_config::sections::metrics;
use swiftgit_config::{Config, ConfigError};

/// Where to serve the metrics, if anywhere: the flag, else `[metrics] listen`.
pub fn listen(config: &Config, flag: Option<&str>) -> Result<Option<String>, ConfigError> {
    if let Some(address) = flag {
        return Ok(Some(address.to_owned()));
    }
    let reader = config.section(&metrics::TABLE);
    match reader.text(metrics::LISTEN) {
        Some(address) if !address.contains(':') => Err(reader.invalid(
            metrics::LISTEN,
            "expected ADDR:PORT, e.g. 127.0.0.1:9090 (port 0: any free one)",
        )),
        address => Ok(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::test_config as config;

    #[test]
    fn off_by_default_then_config_then_flag() {
        assert_eq!(listen(&config(""), None).unwrap(), None);
        let configured = config("[metrics]\nlisten = 127.0.0.1:9100\n");
        assert_eq!(
            listen(&configured, None).unwrap().as_deref(),
            Some("127.0.0.1:9100")
        );
        assert_eq!(
            listen(&configured, Some("0.0.0.0:0")).unwrap().as_deref(),
            Some("0.0.0.0:0"),
            "the flag wins"
        );
    }

    #[test]
    fn a_listen_without_port_is_refused() {
        let error = listen(&config("[metrics]\nlisten = localhost\n"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[metrics] listen"), "{error}");
    }
}
