//! The repository state — refs, HEAD and the set of live packs, one value: [`RepoState`] — kept
//! as an append-only log of immutable entries in the repository's container.
//!
//! - [`name`]: ref names, checked like `git check-ref-format`.
//! - [`state`]: [`RepoState`], [`Head`] and the log entries that move a state forward.
//! - [`transaction`]: what a caller asks to change ([`RefTransaction`]) and why it is rejected.
//! - [`format`]: the bytes of entries, checkpoints and the hint (versioned JSON; no IO).
//! - [`log`]: where those objects live and how the newest state is read in a few requests.
//! - [`committer`]: the one step that decides between writers, behind a trait so that a real
//!   coordinator can take it over.
//! - [`lock`]: the per-repository commit lock inside one process.
//! - [`verify`]: a full replay of a log, for tests and `fsck`.
//!
//! Committing (see [`crate::Repository::commit`]) takes the process's lock for the repository,
//! catches up with the log, checks every expectation of the transaction, and creates entry
//! `seq + 1`; if another writer created it first the commit catches up and checks again. The
//! pack list lives in the log and is never taken from a container listing.

pub mod committer;
mod error;
pub mod format;
pub mod lock;
pub mod log;
mod name;
pub mod state;
pub mod transaction;
pub mod verify;

pub use committer::{Append, Committer, CreateOnly};
pub use error::{CommitError, LogError};
pub use name::{RefName, RefNameError, RefNameRule};
pub use state::{Head, LogEntry, Peeled, RefChange, RepoState, Snapshot};
pub use transaction::{Expected, New, RefTransaction, RefUpdate, Rejection};
pub use verify::{LogReport, verify_log};
