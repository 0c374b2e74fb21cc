//! Request and byte counters for benchmarks: relaxed atomics, cheap enough to keep always on.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`super::SwiftStorage`] has done since it was connected. Counts are totals over all
/// clones of the storage; each is a relaxed atomic, so a snapshot taken while requests run may
/// mix slightly different moments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwiftStats {
    /// HTTP requests sent or attempted, auth and `/info` included.
    pub requests: u64,
    /// Request body bytes handed to the connection (uploads, manifests, auth documents).
    pub bytes_sent: u64,
    /// Response body bytes read (downloads, listings, auth documents).
    pub bytes_received: u64,
    /// Authentications attempted: the first one and every re-authentication after a 401.
    pub auths: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    auths: AtomicU64,
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: u64) {
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn auth(&self) {
        self.auths.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SwiftStats {
        SwiftStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            auths: self.auths.load(Ordering::Relaxed),
        }
    }
}
