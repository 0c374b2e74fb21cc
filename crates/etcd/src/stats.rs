//! Counters of the transactions that write ([`EtcdClient::txn`](crate::EtcdClient::txn) with
//! a write in either branch): how many took their success branch, how many their failure
//! branch (a compare that did not hold: another writer got there first), how many failed.
//! Relaxed atomics shared by every clone of a client; read for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// The writing transactions of one client (and its clones) so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnStats {
    /// The compares held: the success branch ran.
    pub committed: u64,
    /// A compare did not hold: the failure branch ran (for a compare-and-swap, a conflict).
    pub conflicts: u64,
    /// No answer, or an error (the outcome may be unknown).
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct TxnCounters {
    committed: AtomicU64,
    conflicts: AtomicU64,
    errors: AtomicU64,
}

impl TxnCounters {
    /// Counts one writing transaction's outcome: `Some(succeeded)` or `None` for an error.
    pub(crate) fn count(&self, succeeded: Option<bool>) {
        let counter = match succeeded {
            Some(true) => &self.committed,
            Some(false) => &self.conflicts,
            None => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TxnStats {
        TxnStats {
            committed: self.committed.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
