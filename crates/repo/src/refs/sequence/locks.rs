//! The commit locks of one process: one per repository, so that the process never races
//! itself. The table belongs to whoever opens repositories (the server's registry keeps one for
//! all of them) and is handed to every [`crate::Repository`] through its options; two
//! repository values of one name opened with the same table share the lock.
//!
//! Entries are weak: a lock lives as long as a repository value holds it, so a table that
//! served a million repositories holds only the locks of those still open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// A repository's commit lock.
pub type CommitLock = Arc<tokio::sync::Mutex<()>>;

/// The table of commit locks, keyed by repository (container) name. Clones share the table.
#[derive(Debug, Clone, Default)]
pub struct CommitLocks {
    locks: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
}

impl CommitLocks {
    /// The commit lock of `repo`, shared with every other holder of this table.
    pub fn get(&self, repo: &str) -> CommitLock {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(lock) = locks.get(repo).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() >= 64 && locks.len().is_power_of_two() {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = CommitLock::default();
        locks.insert(repo.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_of_one_table_share_a_lock() {
        let table = CommitLocks::default();
        let a = table.get("a");
        let b = table.clone().get("a");
        let c = table.get("c");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(
            !Arc::ptr_eq(&a, &CommitLocks::default().get("a")),
            "another table is another process's view"
        );
        drop((a, b));
        let again = table.get("a");
        assert!(again.try_lock().is_ok());
    }
}
