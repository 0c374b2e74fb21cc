//! The seam that owns a repository's state sequence: which state is the newest, and which of
//! several writers' entries becomes the next one.
//!
//! A [`Coordinator`] serves every repository of one storage account and hands out one
//! [`StateSequence`] per repository. A sequence does four things, and nothing else reads or
//! decides the order of states:
//!
//! - **read** the newest state (from a state the caller already has, or from nothing when a
//!   repository is opened; repositories made before the coordinator, or by dulwich, are adopted
//!   here);
//! - **append** an entry at an expected head: exactly one of any number of concurrent appends
//!   after the same state wins;
//! - **resolve** an append whose answer was lost (it may or may not have happened);
//! - **publish** what readers use but nobody waits for (checkpoints, the hint, a copy of the
//!   entry in the object store) after a commit.
//!
//! Two coordinators exist:
//! - [`SingleWriter`] keeps the sequence in the object store alone (the log of
//!   [`super::log`]): exact on the memory and local backends; on Swift, whose create-only
//!   writes are not atomic, correct for one writing process at a time (any number of read-only
//!   ones may serve beside it).
//! - `Etcd` (in [`etcd`]) decides every append with one etcd transaction and copies entries
//!   into the object store afterwards: any number of writing processes.
//!
//! Commits in one process are serialised by the repository's commit lock ([`CommitLocks`]),
//! owned by whoever opens repositories (the server's registry), so a process never races
//! itself and the coordinator only decides between processes.

mod archive;
pub mod etcd;
mod lease;
mod locks;
pub mod maintenance;
mod marker;
mod single_writer;

pub use etcd::Etcd;
pub use lease::{Lease, LeaseHolder, LeaseOptions, WRITER_OBJECT};
pub use locks::{CommitLock, CommitLocks};
pub use maintenance::MaintenanceLock;
pub use marker::MARKER_OBJECT;
pub use single_writer::SingleWriter;

use std::fmt;
use std::sync::Arc;

use swiftgit_storage::Storage;

use super::LogError;
use super::state::{LogEntry, RepoState};
use crate::name::RepoName;

/// The outcome of [`StateSequence::append`] and [`StateSequence::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// The entry is now the entry after the base state: the commit happened.
    Appended,
    /// Another writer's entry follows the base state: nothing was written; read and retry.
    Conflict,
}

/// What [`StateSequence::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Newest {
    /// The state the caller knows is the newest.
    Unchanged,
    /// A newer state (or, when opening, the state).
    State(RepoState),
    /// The repository was deleted and made again since the caller's state was read: this is
    /// the new one's state, which replaces the caller's whatever its seq.
    Replaced(RepoState),
    /// There is no repository.
    Absent,
}

impl Newest {
    /// The state read, if any (`Unchanged` has none to give).
    pub fn into_state(self) -> Option<RepoState> {
        match self {
            Newest::State(state) | Newest::Replaced(state) => Some(state),
            Newest::Unchanged | Newest::Absent => None,
        }
    }
}

/// An append that failed.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AppendError {
    pub error: LogError,
    /// The request may have been applied (its answer was lost): call
    /// [`StateSequence::resolve`] to find out. `false`: it certainly was not.
    pub outcome_unknown: bool,
}

impl AppendError {
    /// A failure after which the entry may or may not be stored.
    pub fn unknown(error: LogError) -> AppendError {
        AppendError {
            error,
            outcome_unknown: true,
        }
    }

    /// A failure that wrote nothing.
    pub fn not_applied(error: LogError) -> AppendError {
        AppendError {
            error,
            outcome_unknown: false,
        }
    }
}

/// One repository's state sequence (see the module documentation).
#[async_trait::async_trait]
pub trait StateSequence: Send + Sync + fmt::Debug {
    /// The newest state, reading on from `known` (a state of this repository the caller
    /// already holds) or from nothing (`None`: opening). [`Newest::Unchanged`] when `known` is
    /// still the newest; [`Newest::Absent`] when there is no repository to read (no log, no
    /// dulwich layout, nothing registered).
    ///
    /// Consistency: the coordinator's. With etcd a read that starts after an append was
    /// acknowledged (by any process) returns that append or a newer state; with the object
    /// store alone, what the store's reads of new object names give (immediate on memory and
    /// local storage, in practice on Swift).
    async fn read(&self, known: Option<&RepoState>) -> Result<Newest, LogError>;

    /// Checks, before a commit, that this process may write the repository (see
    /// [`SingleWriter`]'s writer lease); called while the commit reads the newest state.
    async fn check_writer(&self) -> Result<(), LogError> {
        Ok(())
    }

    /// Makes `entry` (whose `seq` is `base.seq() + 1`) the entry after `base`, if and only if
    /// `base` is still the newest state.
    ///
    /// Atomicity: of any number of concurrent appends after the same `base`, at most one
    /// returns [`Append::Appended`]; the others return [`Append::Conflict`]. An error with
    /// `outcome_unknown` means the entry may be stored: settle it with
    /// [`StateSequence::resolve`] before deciding anything else.
    async fn append(&self, base: &RepoState, entry: &LogEntry) -> Result<Append, AppendError>;

    /// Settles an append of `entry` after `base` whose outcome was unknown: [`Append::Appended`]
    /// if the entry after `base` is `entry` (its nonce makes its bytes unique), else
    /// [`Append::Conflict`], and never a later change of mind. An error leaves it unknown.
    async fn resolve(&self, base: &RepoState, entry: &LogEntry) -> Result<Append, AppendError>;

    /// After an append of `entry` produced `state`: the work that readers benefit from but
    /// nobody has to wait for (checkpoints, the hint, the entry's copy in the object store).
    /// Failures are logged, never returned: every reader and writer completes what is missing.
    async fn publish(&self, state: &RepoState, entry: &LogEntry);

    /// Whether [`StateSequence::publish`] may run after the client was answered (in a task of
    /// its own). With the object store alone the hint and checkpoints are cheap to leave out;
    /// with etcd the entry lives in etcd until it is copied.
    fn publish_in_background(&self) -> bool {
        false
    }
}

/// Where the state sequences of one storage account's repositories are decided.
#[async_trait::async_trait]
pub trait Coordinator: Send + Sync + fmt::Debug {
    /// The sequence of repository `name`, whose container is in `storage`. Cheap; one per open
    /// repository.
    fn sequence(&self, storage: Arc<dyn Storage>, name: &RepoName) -> Arc<dyn StateSequence>;

    /// What decides, for messages: `"the object store (one writing process)"`, `"etcd at …"`.
    fn describe(&self) -> String;

    /// Where the coordinator keeps repository `name`'s registration, for messages about stale
    /// ones (`None`: it keeps none apart from the object store).
    fn registration(&self, _name: &RepoName) -> Option<String> {
        None
    }

    /// Takes repository `name`'s maintenance lock (see [`maintenance`]): at most one holder
    /// across every process writing the repository. `None` if a run holds it; an error if
    /// this process may not write the repository (another holds the writer lease) or the
    /// coordinator cannot be asked.
    async fn lock_maintenance(
        &self,
        storage: Arc<dyn Storage>,
        name: &RepoName,
    ) -> Result<Option<MaintenanceLock>, LogError>;

    /// Gives up what this process holds (writer leases) when it stops serving.
    async fn shutdown(&self) {}
}
