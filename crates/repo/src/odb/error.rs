//! The object database's one error type. Each bad input has its own variant with the pack offset
//! (and object id where one is known) so that a push can be refused with a message that says what
//! was wrong and where; [`OdbError::kind`] groups them for callers that only branch on the class.

use std::sync::Arc;

use gix_hash::ObjectId;
use swiftgit_storage::StorageError;

use crate::PackId;

pub type Result<T, E = OdbError> = std::result::Result<T, E>;

/// The class of an [`OdbError`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdbErrorKind {
    /// The pack (received or stored) is malformed or inconsistent.
    Corrupt,
    /// The input is well-formed but exceeds a configured limit.
    Limit,
    /// An object that must exist does not.
    NotFound,
    /// The storage backend failed; see [`StorageError::is_temporary`] on the source.
    Storage,
    /// A local file (the spool directory) failed.
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum OdbError {
    /// The stream ended inside the pack.
    #[error("pack is truncated: the stream ended at offset {offset} while reading {what}")]
    Truncated { offset: u64, what: &'static str },

    /// The first 12 bytes are not a version 2 or 3 pack header.
    #[error("not a pack: {detail}")]
    BadHeader { detail: String },

    /// The stream ended (with a valid trailer) before the number of objects the header promised.
    #[error("pack header declares {declared} objects but the pack holds only {found}")]
    ObjectCountMismatch { declared: u32, found: u32 },

    /// The trailing SHA-1 does not match the bytes before it.
    #[error("pack checksum mismatch: the trailer says {expected}, the content hashes to {actual}")]
    ChecksumMismatch {
        expected: ObjectId,
        actual: ObjectId,
    },

    /// Bytes follow the pack trailer.
    #[error("unexpected data after the pack trailer at offset {offset}")]
    TrailingData { offset: u64 },

    /// An entry's header or compressed data is malformed.
    #[error("corrupt pack entry at offset {offset}: {detail}")]
    CorruptEntry { offset: u64, detail: String },

    /// An entry's zlib stream produces more bytes than its header declares (a "zlib bomb").
    #[error("pack entry at offset {offset} inflates past its declared size of {declared} bytes")]
    InflatesPastDeclaredSize { offset: u64, declared: u64 },

    /// An OFS_DELTA whose base offset is not the start of an earlier entry (including itself).
    #[error(
        "delta at offset {offset} names base offset {base_offset}, which is not an earlier entry"
    )]
    BadDeltaBase { offset: u64, base_offset: u64 },

    /// A REF_DELTA whose base is neither in the pack nor in the repository (a thin pack whose
    /// base we lack, or deltas that refer to each other in a cycle).
    #[error(
        "delta at offset {offset} needs base object {base_id}, which is neither in the pack nor in the repository"
    )]
    MissingBase { offset: u64, base_id: ObjectId },

    /// Delta instructions that do not fit their base or their declared result.
    #[error("bad delta at offset {offset}: {detail}")]
    BadDelta { offset: u64, detail: String },

    /// A resolved object whose content cannot be what its type says (unparsable commit or
    /// tree, SHA-1 collision attack).
    #[error("object {id} at offset {offset} is corrupt: {detail}")]
    CorruptObject {
        id: ObjectId,
        offset: u64,
        detail: String,
    },

    /// A delta chain longer than [`IngestLimits::max_delta_depth`](super::IngestLimits).
    #[error("delta chain at offset {offset} is {depth} deltas deep, over the limit of {limit}")]
    DeltaTooDeep { offset: u64, depth: u32, limit: u32 },

    /// The pack is larger than [`IngestLimits::max_pack_bytes`](super::IngestLimits).
    #[error("pack exceeds the limit of {limit} bytes")]
    PackTooLarge { limit: u64 },

    /// An object larger than [`IngestLimits::max_object_bytes`](super::IngestLimits).
    #[error("object at offset {offset} is {size} bytes, over the limit of {limit}")]
    ObjectTooLarge { offset: u64, size: u64, limit: u64 },

    /// A stored pack, index or metadata file is inconsistent.
    #[error("stored {pack} is corrupt: {detail}")]
    CorruptStored { pack: PackId, detail: String },

    /// An object that should exist does not (e.g. a delta base named by a stored pack).
    #[error("object {id} not found")]
    NotFound { id: ObjectId },

    #[error("storage failed while {context}")]
    Storage {
        context: String,
        #[source]
        source: StorageError,
    },

    #[error("local file operation failed while {context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A bug: a worker thread panicked or was cancelled. Never expected on any input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OdbError {
    /// The class of this error.
    pub fn kind(&self) -> OdbErrorKind {
        use OdbError::*;
        match self {
            Truncated { .. }
            | BadHeader { .. }
            | ObjectCountMismatch { .. }
            | ChecksumMismatch { .. }
            | TrailingData { .. }
            | CorruptEntry { .. }
            | InflatesPastDeclaredSize { .. }
            | BadDeltaBase { .. }
            | BadDelta { .. }
            | CorruptObject { .. }
            | CorruptStored { .. }
            | Internal(_) => OdbErrorKind::Corrupt,
            MissingBase { .. } | NotFound { .. } => OdbErrorKind::NotFound,
            DeltaTooDeep { .. } | PackTooLarge { .. } | ObjectTooLarge { .. } => {
                OdbErrorKind::Limit
            }
            Storage { .. } => OdbErrorKind::Storage,
            Io { .. } => OdbErrorKind::Io,
        }
    }

    pub(crate) fn storage(context: impl Into<String>, source: StorageError) -> Self {
        OdbError::Storage {
            context: context.into(),
            source,
        }
    }

    /// A storage error shared by the merged callers of one cache miss.
    pub(crate) fn shared_storage(context: impl Into<String>, source: Arc<StorageError>) -> Self {
        OdbError::Storage {
            context: context.into(),
            source: StorageError::new(source.kind(), source.to_string()),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        OdbError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn entry(offset: u64, detail: impl Into<String>) -> Self {
        OdbError::CorruptEntry {
            offset,
            detail: detail.into(),
        }
    }
}
