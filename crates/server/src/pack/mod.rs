//! Pack generation for fetches: the objects a walk selected, written to the client as a version
//! 2 pack while it streams out, reusing the stored entries wherever the client can read them.
//!
//! Objects are written in storage order — by pack (newest first), then offset — so copying is a
//! sequential read of the stored packs ([`reader`]). Each stored entry is examined as it arrives:
//!
//! - a whole object is copied as it is (header and zlib stream);
//! - a delta whose base is in this pack already is copied with its base reference rewritten:
//!   an OFS_DELTA distance recomputed for the new layout (or a REF_DELTA without `ofs-delta`);
//! - a delta whose base comes later in this pack from the same stored pack is sent as REF_DELTA
//!   (index-pack resolves forward references; storage order keeps them acyclic);
//! - a delta whose base is not sent becomes a thin-pack REF_DELTA if the client asked for
//!   thin packs and is known to have the base, and is otherwise sent whole: resolved through
//!   [`ObjectDb::find`](swiftgit_repo::odb::ObjectDb::find) and deflated at a fast level
//!   (large objects on the blocking pool).
//!
//! Nothing is held whole in memory: entries are copied in slices of the spans being read, and
//! [`output`] frames and writes as it goes. The trailer is the SHA-1 of everything written.

pub mod encode;
pub mod output;
pub mod reader;
mod write;

pub use output::PackOutput;
pub use write::{PackError, PackRequest, PackStats, write_pack};

/// How packs are read and written.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// Longest read of stored pack bytes (one range GET).
    pub span_bytes: u64,
    /// Reads ahead of the writer; memory is about `span_bytes × spans_in_flight` per fetch.
    pub spans_in_flight: usize,
    /// Spans shorter than this go through the block cache.
    pub cached_below: u64,
    /// zlib level for objects sent whole (1 is fast, as git's default `pack.compression` is
    /// for loose objects).
    pub compression: u32,
    /// Objects larger than this are deflated on the blocking pool.
    pub inline_deflate_below: usize,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            span_bytes: 1 << 20,
            spans_in_flight: 4,
            cached_below: 256 * 1024,
            compression: 1,
            inline_deflate_below: 64 * 1024,
        }
    }
}
