//! Config errors: each names the file, and where it applies the section, key and bad value.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `error` is printed, not chained as a source, so it appears once.
    #[error("cannot read config file {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
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
    #[error("{0}")]
    InvalidValue(Box<InvalidValue>),
    #[error("config file {}: {message}", path.display())]
    Conflict { path: PathBuf, message: String },
}

/// A value that does not fit its key. `value` is never a secret: keys holding secrets are not
/// validated.
#[derive(Debug, thiserror::Error)]
#[error("config file {}, line {line}: [{section}] {key} = {value:?} is invalid: {reason}", path.display())]
pub struct InvalidValue {
    pub path: PathBuf,
    pub line: usize,
    pub section: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}
