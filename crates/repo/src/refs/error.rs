//! Errors of reading and writing the state log, and of commits.

use swiftgit_storage::StorageError;

use super::Rejection;
use super::format::FormatError;
use crate::PackId;

/// The state log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The storage failed; `error.is_temporary()` says whether trying again may help. (The
    /// message includes `error`'s, so it is not also reported as the `source()`.)
    #[error("repository {repo}: cannot {action} {object}: {error}")]
    Storage {
        repo: String,
        action: &'static str,
        object: String,
        error: StorageError,
    },
    /// An object of the log is not what swiftgit writes there.
    #[error("repository {repo}: {object} is unreadable: {reason}")]
    Corrupt {
        repo: String,
        object: String,
        reason: FormatError,
    },
    /// The log itself is inconsistent (an entry with the wrong number, a log without a start).
    #[error("repository {repo}: state log broken at seq {seq}: {reason}")]
    Broken {
        repo: String,
        seq: u64,
        reason: String,
    },
}

impl LogError {
    pub(crate) fn storage(
        repo: &str,
        action: &'static str,
        object: impl Into<String>,
        error: StorageError,
    ) -> LogError {
        LogError::Storage {
            repo: repo.to_owned(),
            action,
            object: object.into(),
            error,
        }
    }
}

/// A commit did not happen. Nothing of the transaction was written, except as stated below.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// An expectation did not hold against the state at `seq` (or the transaction contradicts
    /// itself); the whole transaction was rejected. Refresh and decide again.
    #[error("repository {repo}: transaction rejected at seq {seq}: {rejection}")]
    Rejected {
        repo: String,
        seq: u64,
        rejection: Rejection,
    },
    /// A pack to add is not stored: upload `.pack` and `.idx` before committing.
    #[error(
        "repository {repo}: cannot add {pack}: {object} is not stored (upload packs before committing)"
    )]
    PackNotStored {
        repo: String,
        pack: PackId,
        object: String,
    },
    /// Other writers kept taking the next entry; the transaction was not written.
    #[error(
        "repository {repo}: gave up after {attempts} attempts (last at seq {seq}): other writers kept committing first"
    )]
    Contention {
        repo: String,
        seq: u64,
        attempts: u32,
    },
    /// Reading or writing the log failed. If the failure came while writing the entry the
    /// transaction may or may not have been committed: refresh to find out.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl CommitError {
    /// The reason of a [`CommitError::Rejected`].
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            CommitError::Rejected { rejection, .. } => Some(rejection),
            _ => None,
        }
    }
}
