//! What a [`DiskCache`](super::DiskCache) did, for metrics: hits and misses counted with
//! relaxed atomics as reads happen, evictions kept by the index, read through a
//! [`DiskCacheMonitor`] that outlives the cache's move behind an `Arc<dyn Storage>`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{DiskCacheStats, Shared};

/// What a [`DiskCache`] did since it was opened (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCacheActivity {
    /// Reads of cacheable objects (packs, kept indexes) answered from a local copy or a
    /// download in progress.
    pub hits: u64,
    /// Reads of cacheable objects that went to the inner storage.
    pub misses: u64,
    /// Bytes the hits returned.
    pub hit_bytes: u64,
    /// Copies removed to stay within the budget.
    pub evictions: u64,
    /// The budget, in bytes.
    pub budget_bytes: u64,
}

/// Relaxed atomics, one add per read.
#[derive(Debug, Default)]
pub(super) struct Activity {
    hits: AtomicU64,
    misses: AtomicU64,
    hit_bytes: AtomicU64,
}

impl Activity {
    pub(super) fn hit(&self, bytes: u64) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.hit_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads a [`DiskCache`]'s figures after the cache itself moved behind an `Arc<dyn Storage>`.
#[derive(Clone)]
pub struct DiskCacheMonitor(pub(super) Arc<Shared>);

impl fmt::Debug for DiskCacheMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DiskCacheMonitor")
            .field(&self.0.layout.root())
            .finish()
    }
}

impl DiskCacheMonitor {
    /// What the cache holds now.
    pub fn stats(&self) -> DiskCacheStats {
        self.0.stats()
    }

    /// What it did so far.
    pub fn activity(&self) -> DiskCacheActivity {
        let evictions = self.0.lock().index.evictions();
        let a = &self.0.activity;
        DiskCacheActivity {
            hits: a.hits.load(Ordering::Relaxed),
            misses: a.misses.load(Ordering::Relaxed),
            hit_bytes: a.hit_bytes.load(Ordering::Relaxed),
            evictions,
            budget_bytes: self.0.budget,
        }
    }
}
