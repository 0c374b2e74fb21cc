//! One commit lock per repository per process, so that a process never races itself: every
//! [`crate::Repository`] value opened on the same container shares it.
//!
//! Keyed by container name alone, not by storage: two storages with a container of the same name
//! in one process (tests, mostly) then serialise their commits needlessly, which costs a little
//! waiting and never correctness.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

pub type CommitLock = Arc<tokio::sync::Mutex<()>>;

static LOCKS: LazyLock<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// The commit lock of `container`, shared with every other holder in this process.
pub fn commit_lock(container: &str) -> CommitLock {
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(lock) = locks.get(container).and_then(Weak::upgrade) {
        return lock;
    }
    if locks.len() >= 64 && locks.len().is_power_of_two() {
        locks.retain(|_, lock| lock.strong_count() > 0);
    }
    let lock = CommitLock::default();
    locks.insert(container.to_owned(), Arc::downgrade(&lock));
    lock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_of_one_container_share_a_lock() {
        let a = commit_lock("lock-test-a");
        let b = commit_lock("lock-test-a");
        let c = commit_lock("lock-test-c");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        drop((a, b));
        let again = commit_lock("lock-test-a");
        assert!(again.try_lock().is_ok());
    }
}
