//! What a push may send ([`IngestLimits`]) and how ingest reports its progress
//! ([`IngestProgress`], [`IngestStage`]). They live apart from the pipeline in
//! [`ingest`](super) so that its two passes, scan and resolve, depend on them and not on the
//! pipeline that runs them.

/// Bounds on what a push may send.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Largest pack accepted, in bytes. Default 4 GiB.
    pub max_pack_bytes: u64,
    /// Largest single object (and delta result). An object is held in memory only when it is a
    /// delta or a delta base (large lone blobs stream), so this bounds ingest memory. Default
    /// 1 GiB.
    pub max_object_bytes: u64,
    /// Longest delta chain accepted. Default 10 000: git writes chains of at most 50
    /// (`pack.depth`), 250 with `gc --aggressive` before git 2.18, but other writers and old
    /// repacks go deeper and git itself accepts any depth on receive; so the limit is far
    /// beyond what real packs hold, while still bounding how many inflates one cold read of a
    /// stored object may take. Chains are resolved without recursion at any depth.
    pub max_delta_depth: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_pack_bytes: 4 << 30,
            max_object_bytes: 1 << 30,
            max_delta_depth: 10_000,
        }
    }
}

/// Which phase a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStage {
    /// Objects scanned as the pack arrives (`total` from the pack header).
    Receiving,
    /// Objects resolved and hashed (`total` grows if a thin pack's bases are appended).
    Resolving,
}

/// Receives ingest progress, e.g. to send git's "Resolving deltas" lines on the side band.
/// Called from a worker thread after every object: keep it cheap (store to atomics).
pub trait IngestProgress: Send + Sync {
    fn report(&self, stage: IngestStage, done: u64, total: u64);
}

/// No progress reporting.
impl IngestProgress for () {
    fn report(&self, _: IngestStage, _: u64, _: u64) {}
}
