//! The repository state — refs, HEAD and the set of live packs, one value: [`RepoState`] — kept
//! as an append-only log of immutable entries in the repository's container.
//!
//! - [`name`]: ref names, checked like `git check-ref-format`.
//! - [`state`]: [`RepoState`], [`Head`] and the log entries that move a state forward.
//! - [`transaction`]: what a caller asks to change ([`RefTransaction`]) and why it is rejected.
//! - [`format`]: the bytes of entries, checkpoints and the hint (versioned JSON; no IO).
//! - [`log`]: where those objects live and how the newest state is read in a few requests.
//! - [`sequence`]: the seam that owns a repository's state sequence — reading the newest state,
//!   appending at an expected head, resolving lost answers — with the object store alone
//!   ([`sequence::SingleWriter`]) or etcd deciding; and the per-repository commit locks.
//! - [`verify`]: a full replay of a log, for tests and `fsck`.
//!
//! Committing (see [`crate::Repository::commit`]) takes the process's lock for the repository,
//! reads the newest state, checks every expectation of the transaction, and appends entry
//! `seq + 1` through the sequence; if another writer's entry came first the commit reads on and
//! checks again. The pack list lives in the log and is never taken from a container listing.

mod error;
pub mod format;
pub mod log;
mod name;
pub mod sequence;
pub mod state;
pub mod transaction;
pub mod verify;

pub use error::{CommitError, LogError};
pub use name::{RefName, RefNameError, RefNameRule};
pub use state::{Head, LogEntry, Peeled, RefChange, RepoState, Snapshot};
pub use transaction::{Expected, New, RefTransaction, RefUpdate, RefValues, Rejection};
pub use verify::{LogReport, verify_log};
