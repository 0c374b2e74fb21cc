//! [`Counting`]: a storage that counts the calls made to another and the bytes they moved, so
//! that every backend — local directory and Swift alike — reports the same figures (for
//! benchmarks and the daemon's `--stats-file`).
//!
//! A call is counted when it starts, whatever its outcome; failed calls are also counted in
//! [`StorageStats::errors`]. Bytes are payload bytes only: what `put` stored (the object's size
//! as the backend reports it), what `get` streamed to its caller and what `get_range` returned.
//! Placed inside a [`crate::retry::Retrying`], each attempt counts as one call. A
//! `delete_many` is one call in [`StorageStats::bulk_deletes`] however many names it carries:
//! this wrapper cannot see how many requests the backend sent for it (on Swift,
//! `SwiftStorage::stats` counts those).
//!
//! Counters are relaxed atomics shared by every [`StorageCounters`] handle: cheap enough to
//! keep on always, and a snapshot taken while calls run may mix slightly different moments.
//! With [`Counting::with_observer`], each call is also timed and reported, with its kind and
//! outcome, to a [`StorageObserver`] (the daemon's metrics).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;

use crate::observer::{CallKind, StorageObserver};
use crate::{GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage};

/// What a [`Counting`] storage has been asked to do since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Calls of every kind (the sum of the per-kind counts below).
    pub requests: u64,
    /// Whole-object reads (`get`).
    pub gets: u64,
    /// Ranged reads (`get_range`).
    pub range_gets: u64,
    /// `head` calls.
    pub heads: u64,
    /// `put` calls.
    pub puts: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// `delete_many` calls, one each whatever the number of names.
    pub bulk_deletes: u64,
    /// Object listings (`list`; one call however many pages the backend reads).
    pub lists: u64,
    /// Container calls: create, exists, delete, list containers.
    pub container_ops: u64,
    /// Calls that returned an error (NotFound included).
    pub errors: u64,
    /// Payload bytes read: `get` bodies as streamed, `get_range` results.
    pub bytes_read: u64,
    /// Payload bytes stored by successful `put` calls.
    pub bytes_written: u64,
}

impl StorageStats {
    /// What happened between `earlier` and `self` (both snapshots of the same counters).
    pub fn since(&self, earlier: &StorageStats) -> StorageStats {
        StorageStats {
            requests: self.requests.saturating_sub(earlier.requests),
            gets: self.gets.saturating_sub(earlier.gets),
            range_gets: self.range_gets.saturating_sub(earlier.range_gets),
            heads: self.heads.saturating_sub(earlier.heads),
            puts: self.puts.saturating_sub(earlier.puts),
            deletes: self.deletes.saturating_sub(earlier.deletes),
            bulk_deletes: self.bulk_deletes.saturating_sub(earlier.bulk_deletes),
            lists: self.lists.saturating_sub(earlier.lists),
            container_ops: self.container_ops.saturating_sub(earlier.container_ops),
            errors: self.errors.saturating_sub(earlier.errors),
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    range_gets: AtomicU64,
    heads: AtomicU64,
    puts: AtomicU64,
    deletes: AtomicU64,
    bulk_deletes: AtomicU64,
    lists: AtomicU64,
    container_ops: AtomicU64,
    errors: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// A handle on the counters of one [`Counting`] storage; cheap to clone, usable after the
/// storage itself was moved behind an `Arc<dyn Storage>`.
#[derive(Debug, Clone, Default)]
pub struct StorageCounters(Arc<Counters>);

impl StorageCounters {
    /// The totals so far.
    pub fn snapshot(&self) -> StorageStats {
        let c = &self.0;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (gets, range_gets, heads) = (load(&c.gets), load(&c.range_gets), load(&c.heads));
        let (puts, deletes, lists) = (load(&c.puts), load(&c.deletes), load(&c.lists));
        let (bulk_deletes, container_ops) = (load(&c.bulk_deletes), load(&c.container_ops));
        StorageStats {
            requests: gets
                + range_gets
                + heads
                + puts
                + deletes
                + bulk_deletes
                + lists
                + container_ops,
            gets,
            range_gets,
            heads,
            puts,
            deletes,
            bulk_deletes,
            lists,
            container_ops,
            errors: load(&c.errors),
            bytes_read: load(&c.bytes_read),
            bytes_written: load(&c.bytes_written),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one call on `counter` and, once it is done, its failure if it failed.
    async fn call<T>(&self, counter: &AtomicU64, op: impl Future<Output = Result<T>>) -> Result<T> {
        Self::add(counter, 1);
        let result = op.await;
        if result.is_err() {
            Self::add(&self.0.errors, 1);
        }
        result
    }
}

/// A storage that counts what it forwards to another. Each method has exactly the inner
/// storage's atomicity, consistency and errors.
pub struct Counting<S> {
    inner: S,
    counters: StorageCounters,
    observer: Option<Arc<dyn StorageObserver>>,
}

impl<S> Counting<S> {
    /// Counts one call of `kind` on `counter` (see [`StorageCounters::call`]) and tells the
    /// observer, if any, how it ended and how long it took.
    async fn call<T>(
        &self,
        kind: CallKind,
        counter: &AtomicU64,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let Some(observer) = &self.observer else {
            return self.counters.call(counter, op).await;
        };
        let started = Instant::now();
        let result = self.counters.call(counter, op).await;
        let outcome = match &result {
            Ok(_) => Ok(()),
            Err(error) => Err(error.kind()),
        };
        observer.call(kind, outcome, started.elapsed());
        result
    }
}

impl<S: fmt::Debug> fmt::Debug for Counting<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting")
            .field("inner", &self.inner)
            .field("stats", &self.counters.snapshot())
            .finish()
    }
}

impl<S: Storage> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            counters: StorageCounters::default(),
            observer: None,
        }
    }

    /// Also reports each call, timed, to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn StorageObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// A handle that keeps reading this storage's counters.
    pub fn counters(&self) -> StorageCounters {
        self.counters.clone()
    }

    /// The totals so far.
    pub fn stats(&self) -> StorageStats {
        self.counters.snapshot()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<S: Storage> Storage for Counting<S> {
    async fn create_container(&self, container: &str) -> Result<bool> {
        let c = &self.counters;
        self.call(
            CallKind::Container,
            &c.0.container_ops,
            self.inner.create_container(container),
        )
        .await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        let c = &self.counters;
        self.call(
            CallKind::Container,
            &c.0.container_ops,
            self.inner.container_exists(container),
        )
        .await
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        let c = &self.counters;
        self.call(
            CallKind::Container,
            &c.0.container_ops,
            self.inner.delete_container(container),
        )
        .await
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        let c = &self.counters;
        self.call(
            CallKind::Container,
            &c.0.container_ops,
            self.inner.list_containers(),
        )
        .await
    }

    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let c = &self.counters;
        let put = self.inner.put(container, name, payload, mode);
        let meta = self.call(CallKind::Put, &c.0.puts, put).await?;
        StorageCounters::add(&c.0.bytes_written, meta.size);
        Ok(meta)
    }

    /// Counts the body's bytes as the caller reads them: a body dropped early counts only
    /// what was read.
    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let c = &self.counters;
        let result = self
            .call(CallKind::Get, &c.0.gets, self.inner.get(container, name))
            .await?;
        let counters = self.counters.clone();
        let body = result
            .body
            .inspect_ok(move |chunk| {
                StorageCounters::add(&counters.0.bytes_read, chunk.len() as u64)
            })
            .inspect_err({
                let counters = self.counters.clone();
                move |_| StorageCounters::add(&counters.0.errors, 1)
            });
        Ok(GetResult {
            meta: result.meta,
            body: Box::pin(body),
        })
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        let c = &self.counters;
        let read = self.inner.get_range(container, name, range);
        let bytes = self.call(CallKind::GetRange, &c.0.range_gets, read).await?;
        StorageCounters::add(&c.0.bytes_read, bytes.len() as u64);
        Ok(bytes)
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        let c = &self.counters;
        self.call(CallKind::Head, &c.0.heads, self.inner.head(container, name))
            .await
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        let c = &self.counters;
        self.call(
            CallKind::Delete,
            &c.0.deletes,
            self.inner.delete(container, name),
        )
        .await
    }

    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        let c = &self.counters;
        self.call(
            CallKind::DeleteMany,
            &c.0.bulk_deletes,
            self.inner.delete_many(container, names),
        )
        .await
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let c = &self.counters;
        self.call(
            CallKind::List,
            &c.0.lists,
            self.inner.list(container, prefix),
        )
        .await
    }

    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
        self.inner.offer_copy(container, name, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::memory::MemoryStorage;

    #[tokio::test]
    async fn counts_calls_bytes_and_errors() {
        let storage = Counting::new(MemoryStorage::new());
        let counters = storage.counters();
        storage.create_container("c").await.expect("memory");
        storage
            .put("c", "o", "0123456789".into(), PutMode::Create)
            .await
            .expect("put");
        let body = storage.get("c", "o").await.expect("get").bytes().await;
        assert_eq!(body.expect("body").len(), 10);
        let range = storage.get_range("c", "o", 2..5).await.expect("range");
        assert_eq!(&range[..], b"234");
        let missing = storage.head("c", "nope").await.expect_err("missing");
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let conflict = storage.put("c", "o", "x".into(), PutMode::Create).await;
        assert_eq!(
            conflict.expect_err("taken").kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(storage.list("c", "").await.expect("list").len(), 1);
        storage.delete("c", "o").await.expect("delete");
        let names = ["o".to_string(), "p".to_string()];
        assert_eq!(storage.delete_many("c", &names).await.expect("bulk"), 0);

        let stats = counters.snapshot();
        assert_eq!(
            stats,
            StorageStats {
                requests: 9,
                gets: 1,
                range_gets: 1,
                heads: 1,
                puts: 2,
                deletes: 1,
                bulk_deletes: 1,
                lists: 1,
                container_ops: 1,
                errors: 2,
                bytes_read: 13,
                bytes_written: 10,
            }
        );
        assert_eq!(storage.stats(), stats, "the storage and a handle agree");
    }

    #[tokio::test]
    async fn the_observer_hears_each_call_with_its_status_class() {
        let recorder = Arc::new(crate::observer::Recorder::default());
        let storage = Counting::new(MemoryStorage::new()).with_observer(recorder.clone());
        storage.create_container("c").await.expect("memory");
        storage
            .put("c", "o", "x".into(), PutMode::Create)
            .await
            .expect("put");
        let taken = storage.put("c", "o", "x".into(), PutMode::Create).await;
        assert!(taken.is_err());
        storage
            .get_range("c", "missing", 0..1)
            .await
            .expect_err("absent");
        let calls = recorder.calls.lock().expect("not poisoned").clone();
        assert_eq!(
            calls,
            [
                (CallKind::Container, "success"),
                (CallKind::Put, "success"),
                (CallKind::Put, "conflict"),
                (CallKind::GetRange, "not_found"),
            ]
        );
        assert_eq!(storage.stats().requests, 4, "the counters still count");
    }

    #[tokio::test]
    async fn deltas_between_snapshots() {
        let storage = Counting::new(MemoryStorage::new());
        storage.create_container("c").await.expect("memory");
        let before = storage.stats();
        storage
            .put("c", "a", "abc".into(), PutMode::Overwrite)
            .await
            .expect("put");
        let delta = storage.stats().since(&before);
        assert_eq!((delta.requests, delta.puts, delta.bytes_written), (1, 1, 3));
        assert_eq!(delta.container_ops, 0);
    }
}
