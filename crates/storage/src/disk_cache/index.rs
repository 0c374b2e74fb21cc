//! The in-memory index of complete copies: their sizes, which was used least recently, and the
//! byte budget they share with downloads in progress. Pure bookkeeping, no IO: the callers
//! remove the files of the keys it evicts.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    /// Position in [`Index::recency`].
    used: u64,
    /// Whether this process already refreshed the file's mtime (its recency after a restart).
    touched: bool,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub size: u64,
    /// The first use in this process: the caller refreshes the file's mtime.
    pub first_use: bool,
}

#[derive(Debug)]
pub(super) struct Index {
    budget: u64,
    entries: HashMap<String, Entry>,
    /// Use tick → key, oldest first.
    recency: BTreeMap<u64, String>,
    clock: u64,
    /// Bytes of complete copies.
    stored: u64,
    /// Bytes promised to downloads in progress.
    reserved: u64,
    /// Copies evicted so far.
    evictions: u64,
}

impl Index {
    pub fn new(budget: u64) -> Index {
        Index {
            budget,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
            stored: 0,
            reserved: 0,
            evictions: 0,
        }
    }

    /// Copies evicted to stay within the budget since the index was made.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn stored_bytes(&self) -> u64 {
        self.stored
    }

    pub fn files(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The copy of `key`, now the most recently used.
    pub fn lookup(&mut self, key: &str) -> Option<Hit> {
        let now = self.tick();
        let entry = self.entries.get_mut(key)?;
        let first_use = !entry.touched;
        entry.touched = true;
        self.recency.remove(&entry.used);
        entry.used = now;
        self.recency.insert(now, key.to_owned());
        Some(Hit {
            size: entry.size,
            first_use,
        })
    }

    /// Records a complete copy as the most recently used (`touched`: its mtime is fresh) and
    /// returns the keys evicted to stay within the budget — `key` itself if it alone is larger.
    pub fn insert(&mut self, key: &str, size: u64, touched: bool) -> Vec<String> {
        self.remove(key);
        let used = self.tick();
        self.entries.insert(
            key.to_owned(),
            Entry {
                size,
                used,
                touched,
            },
        );
        self.recency.insert(used, key.to_owned());
        self.stored += size;
        self.evict(0)
    }

    pub fn remove(&mut self, key: &str) -> Option<u64> {
        let entry = self.entries.remove(key)?;
        self.recency.remove(&entry.used);
        self.stored -= entry.size;
        Some(entry.size)
    }

    /// Removes every key starting with `prefix` and returns them.
    pub fn remove_prefix(&mut self, prefix: &str) -> Vec<String> {
        let keys: Vec<String> = self
            .entries
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect();
        for key in &keys {
            self.remove(key);
        }
        keys
    }

    /// Promises `size` bytes to a download, evicting least recently used copies to make room.
    /// `None` (nothing evicted) if `size` exceeds the whole budget.
    pub fn reserve(&mut self, size: u64) -> Option<Vec<String>> {
        if size > self.budget {
            return None;
        }
        let evicted = self.evict(size);
        self.reserved += size;
        Some(evicted)
    }

    /// Returns bytes promised by [`Self::reserve`].
    pub fn release(&mut self, size: u64) {
        self.reserved = self.reserved.saturating_sub(size);
    }

    /// Evicts least recently used copies until `incoming` more bytes fit.
    fn evict(&mut self, incoming: u64) -> Vec<String> {
        let mut evicted = Vec::new();
        while self.stored + self.reserved + incoming > self.budget {
            let Some((_, key)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&key) {
                self.stored -= entry.size;
            }
            evicted.push(key);
        }
        self.evictions += evicted.len() as u64;
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let mut index = Index::new(100);
        assert!(index.insert("a", 40, false).is_empty());
        assert!(index.insert("b", 40, false).is_empty());
        assert_eq!(index.lookup("a").map(|hit| hit.size), Some(40));
        assert_eq!(index.insert("c", 40, true), ["b"], "a was used after b");
        assert_eq!((index.files(), index.stored_bytes()), (2, 80));
        assert_eq!(index.lookup("b"), None);
        assert_eq!(
            index.lookup("c"),
            Some(Hit {
                size: 40,
                first_use: false
            })
        );
    }

    #[test]
    fn reservations_share_the_budget() {
        let mut index = Index::new(100);
        index.insert("a", 30, false);
        index.insert("b", 30, false);
        assert_eq!(index.reserve(101), None, "larger than the budget");
        assert_eq!(index.reserve(50), Some(vec!["a".to_owned()]));
        assert_eq!(index.reserve(20), Some(vec![]), "30 + 50 + 20 fit");
        assert_eq!(index.reserve(10), Some(vec!["b".to_owned()]));
        index.release(50);
        index.release(20);
        index.release(10);
        assert!(index.insert("c", 100, true).is_empty());
        assert_eq!(index.insert("d", 1, true), ["c"]);
    }

    #[test]
    fn first_use_is_reported_once_and_prefixes_are_removed() {
        let mut index = Index::new(100);
        index.insert("r/x", 1, false);
        index.insert("r/y", 1, false);
        index.insert("s/x", 1, false);
        assert!(index.lookup("r/x").is_some_and(|hit| hit.first_use));
        assert!(index.lookup("r/x").is_some_and(|hit| !hit.first_use));
        let mut removed = index.remove_prefix("r/");
        removed.sort();
        assert_eq!(removed, ["r/x", "r/y"]);
        assert_eq!((index.files(), index.stored_bytes()), (1, 1));
    }
}
