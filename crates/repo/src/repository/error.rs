//! Errors of creating and opening a repository.

use std::fmt;

use swiftgit_storage::StorageError;

use crate::refs::{LogError, RefNameError};

/// What an existing container already holds, found by [`crate::Repository::init`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// A swiftgit state log.
    Log,
    /// A repository laid out by dulwich's Swift backend.
    DulwichLayout,
    /// Other objects (one of them named).
    Objects { example: String },
    /// Nothing in the container, but the coordinator registers the name already.
    Registered {
        coordinator: String,
        key: Option<String>,
    },
}

impl fmt::Display for Existing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Existing::Log => f.write_str("it holds a swiftgit repository"),
            Existing::DulwichLayout => f.write_str("it holds a repository made by dulwich"),
            Existing::Objects { example } => {
                write!(f, "its container is not empty (it holds {example:?})")
            }
            Existing::Registered { coordinator, key } => {
                write!(
                    f,
                    "{coordinator} already registers it: another init made it at the same time, or a registration was left behind when its container was deleted"
                )?;
                match key {
                    Some(key) => write!(f, " (remove that with `etcdctl del --prefix {key}`)"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A repository could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No repository of that name: no container, or a container without a swiftgit log or a
    /// dulwich layout (`container_exists` says which).
    #[error("repository {repo} does not exist{}", if *container_exists { " (its container exists but holds no repository)" } else { "" })]
    NotFound {
        repo: String,
        container_exists: bool,
    },
    /// `init` found something in the container; nothing was written.
    #[error("cannot create repository {repo}: {found}")]
    AlreadyExists { repo: String, found: Existing },
    #[error("cannot create repository {repo}: invalid initial branch: {error}")]
    InvalidBranch { repo: String, error: RefNameError },
    #[error("repository {repo}: cannot {action}: {error}")]
    Storage {
        repo: String,
        action: &'static str,
        error: StorageError,
    },
    #[error(transparent)]
    Log(#[from] LogError),
}
