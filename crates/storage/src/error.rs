//! The one error type every backend maps into: a kind a caller can match on, whether a retry can
//! help, and a message with the container and object it concerns.

use std::fmt;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What went wrong, as a caller needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object or container does not exist.
    NotFound,
    /// `PutMode::Create` found the name taken.
    AlreadyExists,
    /// A condition of the request did not hold.
    Precondition,
    /// A range starting at or past the end of the object.
    RangeNotSatisfiable,
    /// Credentials were refused (after one re-authentication).
    Unauthorized,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The service is down, slow or overloaded (5xx, timeouts, connection errors).
    Unavailable,
    /// The request itself is wrong (a bad name, say): retrying cannot help.
    Invalid,
    /// A local IO error.
    Io,
    /// Anything else the service answered.
    Other,
}

impl ErrorKind {
    /// Whether retrying the same request later may succeed.
    pub fn is_temporary(self) -> bool {
        matches!(self, ErrorKind::Unavailable)
    }
}

#[derive(Debug)]
pub struct StorageError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    not_sent: bool,
}

impl StorageError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
            source: None,
            not_sent: false,
        }
    }

    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StorageError {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
            not_sent: false,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn is_temporary(&self) -> bool {
        self.kind.is_temporary()
    }

    /// Marks the failure as one whose request never reached the service (a refused
    /// connection, say), so nothing can have changed: even a non-idempotent write may be
    /// repeated (see [`crate::retry`]).
    pub fn mark_not_sent(mut self) -> Self {
        self.not_sent = true;
        self
    }

    /// Whether the failed operation provably changed nothing in the store.
    pub fn is_not_sent(&self) -> bool {
        self.not_sent
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(container: &str, name: &str) -> Self {
        StorageError::new(
            ErrorKind::NotFound,
            format!("{container}/{name} does not exist"),
        )
    }

    pub fn container_not_found(container: &str) -> Self {
        StorageError::new(
            ErrorKind::NotFound,
            format!("container {container} does not exist"),
        )
    }

    pub fn already_exists(container: &str, name: &str) -> Self {
        StorageError::new(
            ErrorKind::AlreadyExists,
            format!("{container}/{name} already exists"),
        )
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
            let mut next = source.source();
            while let Some(cause) = next {
                write!(f, ": {cause}")?;
                next = cause.source();
            }
        }
        Ok(())
    }
}

/// `Display` already prints the whole chain of causes, so `source()` is left empty: wrapping
/// errors that print their source too would otherwise repeat it.
impl std::error::Error for StorageError {}
