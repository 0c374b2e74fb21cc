//! A Git repository kept in object storage (one container per repository).
//!
//! - [`name`]: which repository names are valid.
//! - [`odb`]: the object database: immutable packs with their `.idx` and per-pack metadata,
//!   ingested from a push and read by object id through a block cache.
//! - [`refs`]: the repository state (refs, HEAD, the list of live packs) as an append-only log
//!   of immutable entries with checkpoints; multi-ref transactions commit all or nothing; the
//!   coordinator that decides the order of states (the object store alone, or etcd).
//! - [`seed`]: repositories laid out by dulwich's Swift backend, served as they are and adopted
//!   into the log on their first write.
//! - [`Repository`] (`repository/`): creating and opening a repository, reading its state and
//!   committing ref transactions.

pub mod name;
pub mod odb;
pub mod refs;
mod repository;
pub mod seed;

pub use gix_hash::ObjectId;
pub use name::{RepoName, RepoNameError};
pub use refs::{
    CommitError, Expected, Head, LogError, New, RefName, RefTransaction, RefUpdate, RefValues,
    Rejection, RepoState,
};
pub use repository::{CommitsHeld, Committed, Existing, RepoError, Repository, RepositoryOptions};

/// A pack, named by its trailing checksum: its objects are stored as
/// `objects/pack/pack-<hex>.pack`, `.idx` and `.meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackId(pub ObjectId);

impl PackId {
    /// The storage name of this pack's file with extension `ext` (`pack`, `idx`, `meta`, `info`).
    pub fn object_name(&self, ext: &str) -> String {
        format!("objects/pack/pack-{}.{ext}", self.0)
    }
}

impl std::fmt::Display for PackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pack-{}", self.0)
    }
}
