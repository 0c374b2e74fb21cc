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
    /// The coordinator (etcd) could not be asked or answered with an error; nothing was decided
    /// unless the caller says the outcome is unknown.
    #[error("repository {repo}: cannot {action}: {error}")]
    Coordinator {
        repo: String,
        action: &'static str,
        error: Box<swiftgit_etcd::EtcdError>,
    },
    /// The coordinator holds something swiftgit does not write there.
    #[error("repository {repo}: the coordinator's {key} is unreadable: {reason}")]
    CoordinatorCorrupt {
        repo: String,
        key: String,
        reason: String,
    },
    /// Without a coordinator, another live process holds the repository's writer lease.
    #[error(
        "repository {repo} is written by another swiftgit process ({host}, pid {pid}) without a coordinator; configure [coordinator]"
    )]
    OtherWriter {
        repo: String,
        host: String,
        pid: u32,
    },
    /// Without a coordinator, a repository that a coordinator decides for may not be written.
    #[error(
        "repository {repo} is coordinated by {coordinator}; this process has no [coordinator] section and may only read it"
    )]
    Coordinated { repo: String, coordinator: String },
    /// The coordinator registers a repository of this name, but not the one in this container.
    #[error(
        "repository {repo}: {coordinator} registers a repository of this name, but this container was not adopted by that registration ({reason}); if several Swift accounts share one etcd, give each its own etcd_prefix; if the container was deleted and made again, remove the stale registration"
    )]
    RegisteredElsewhere {
        repo: String,
        coordinator: String,
        reason: String,
    },
    /// A coordinated process may not adopt a repository that a process without a coordinator
    /// still writes.
    #[error(
        "repository {repo} is written by a swiftgit process without a coordinator ({host}, pid {pid}); stop it, or wait for its writer lease to expire, before a process with [coordinator] adopts the repository"
    )]
    AdoptionRefused {
        repo: String,
        host: String,
        pid: u32,
    },
    /// The coordinator's registration of the repository disappeared while it was served.
    #[error("repository {repo} is no longer registered with {coordinator} (was it deleted?)")]
    NotRegistered { repo: String, coordinator: String },
    /// Too many committed entries wait in the coordinator to be copied into the object store:
    /// new commits are refused until the copies catch up.
    #[error(
        "repository {repo}: {waiting} committed entries are not copied into the object store yet ({error}); pushes resume once the object store takes them"
    )]
    CopiesBehind {
        repo: String,
        waiting: u64,
        error: Box<LogError>,
    },
    /// A dulwich layout could not be read.
    #[error(transparent)]
    Seed(#[from] crate::seed::SeedError),
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
