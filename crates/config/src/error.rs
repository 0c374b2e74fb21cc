//! Config errors: each names the file, and where it applies the section, key and bad value.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {}, line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {}: {}", path.display(), match key {
        Some(key) => format!("[{section}] has no value for `{key}`, which is required"),
        None => format!("no [{section}] section (or [local] for a local directory)"),
    })]
    Missing {
        path: PathBuf,
        section: String,
        key: Option<String>,
    },
    /// `value` is never a secret: keys holding secrets are not validated.
    #[error("config file {}, line {line}: [{section}] {key} = {value:?} is invalid: {reason}", path.display())]
    InvalidValue {
        path: PathBuf,
        line: usize,
        section: String,
        key: String,
        value: String,
        reason: String,
    },
    #[error("config file {}: {message}", path.display())]
    Conflict { path: PathBuf, message: String },
}
