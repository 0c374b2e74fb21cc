//! [`DiskCache`]: a storage that keeps local copies of immutable objects — git pack files — in a
//! directory, in front of a slower storage (Swift), within a byte budget. It also keeps the
//! packs' `.idx` and `.meta` when the object database offers the copies it read (`kept.rs`),
//! so that a restarted server loads them from the local disk.
//!
//! Which objects may be copied is a [`CacheRule`]: a name that never changes content (packs are
//! named by their checksum) so that a copy never goes stale. Reads of those objects go to the
//! local copy when there is one (a positioned read on the blocking pool). On a miss, ONE
//! download streams the whole object with a single GET into a temporary file
//! (`download.rs`), shared by every concurrent reader: a reader whose range is already on disk
//! reads it at once, one whose range is a little ahead waits for it, and one far ahead (or
//! stuck behind a stalled download) reads the inner storage. A finished download is checked
//! (its size and, for packs, the SHA-1 trailer) and renamed into place; one that fails leaves
//! its readers to the inner storage and the next read tries again. An object larger than the
//! budget, or failing its check, is passed through from then on.
//!
//! Copies are evicted least recently used first, whole, to keep their total within the budget
//! (`index.rs`); at startup the directory is scanned and the files' mtimes give their recency
//! (`layout.rs` has the directory layout). A local disk failure (full, not writable) logs one
//! warning and passes reads through for a minute. Every other method, and reads of other
//! objects, go straight to the inner storage; `delete`, `delete_many`, `put` and
//! `delete_container` also drop the local copies they make wrong.
//!
//! Several processes may share the directory: copies appear by an atomic rename and a process
//! adopts a copy another made when it misses. Each enforces the budget on the copies it knows
//! of, so together they may exceed it (by up to one budget per process).

mod activity;
mod download;
mod index;
mod kept;
mod layout;
mod options;
#[cfg(test)]
mod tests;

pub use activity::{DiskCacheActivity, DiskCacheMonitor};
pub use options::{
    CacheRule, Check, DEFAULT_DOWNLOAD_AFTER, DEFAULT_MAX_DOWNLOADS, DiskCacheOptions,
};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use crate::{
    ErrorKind, GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage, StorageError,
    clip_range,
};
use activity::Activity;
use download::{InFlight, Job, Progress};
use index::{Hit, Index};
use layout::Layout;

/// How long reads pass through after the local disk failed.
const DISK_PAUSE: Duration = Duration::from_secs(60);
/// Objects whose reads that went to the inner storage are counted at once, at most.
const MAX_READ_THROUGH: usize = 10_000;
/// Bytes per chunk when `get` streams a local copy.
const STREAM_CHUNK: u64 = 256 * 1024;

/// What a [`DiskCache`] holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Complete copies.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

/// State shared by the cache and its download tasks.
struct Shared {
    layout: Layout,
    budget: u64,
    max_downloads: usize,
    download_after: u32,
    /// False when the directory was unusable at startup: everything passes through.
    active: bool,
    state: Mutex<State>,
    activity: Activity,
}

struct State {
    index: Index,
    downloads: HashMap<String, InFlight>,
    /// Objects not worth another download (too large, or failing their check).
    passed: HashSet<String>,
    /// Reads that went to the inner storage, per object not downloaded yet (see
    /// [`DiskCacheOptions::download_after`]).
    read_through: HashMap<String, u32>,
    /// Offered copies being written (`kept.rs`), by key, with the offer's id.
    offers: HashMap<String, u64>,
    /// Reads pass through until then, after a disk failure.
    paused_until: Option<Instant>,
    /// A disk failure was logged as a warning and nothing succeeded since.
    disk_warned: bool,
    next_id: u64,
}

impl Shared {
    fn stats(&self) -> DiskCacheStats {
        let state = self.lock();
        DiskCacheStats {
            files: state.index.files(),
            bytes: state.index.stored_bytes(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; if something did, the bookkeeping is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pauses the cache after the local disk failed; warns once until a download succeeds.
    fn disk_trouble(&self, what: &str, error: &io::Error) {
        let mut state = self.lock();
        state.paused_until = Some(Instant::now() + DISK_PAUSE);
        let warned = std::mem::replace(&mut state.disk_warned, true);
        drop(state);
        let dir = self.layout.root().display();
        if warned {
            tracing::debug!(%dir, %error, "disk cache: cannot {what}");
        } else {
            tracing::warn!(
                %dir, %error,
                "disk cache: cannot {what}; reads go to storage for {} s (check the disk)",
                DISK_PAUSE.as_secs()
            );
        }
    }

    /// Removes the copies of `keys` from the disk.
    async fn remove_files(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let paths: Vec<PathBuf> = keys.iter().map(|key| self.layout.path(key)).collect();
        let _ = tokio::task::spawn_blocking(move || remove_paths(&paths)).await;
    }
}

fn remove_paths(paths: &[PathBuf]) {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => tracing::debug!(path = %path.display(), "evicted from the disk cache"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "cannot remove"),
        }
    }
}

/// What a read of a cached object does.
enum Plan {
    Read(Hit),
    Follow(watch::Receiver<Progress>),
    PassThrough,
}

/// A storage that keeps local copies of another's immutable objects; see the module doc. Every
/// method has the inner storage's atomicity, consistency and errors; reads of a copy return
/// exactly the bytes the inner storage returns.
pub struct DiskCache<S> {
    inner: Arc<S>,
    rule: CacheRule,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for DiskCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("DiskCache")
            .field("inner", &self.inner)
            .field("dir", &self.shared.layout.root())
            .field("budget_bytes", &self.shared.budget)
            .field("stored_bytes", &state.index.stored_bytes())
            .finish()
    }
}

impl<S: Storage + 'static> DiskCache<S> {
    /// Opens the cache: creates the directory, removes the temporary files of processes that
    /// are gone, and takes over the copies found there (evicting the oldest beyond the budget).
    /// Blocking. A directory that cannot be made, written or read, or that belongs to another
    /// user, is logged as a warning and the cache passes every read through
    /// ([`Self::is_active`] says which).
    pub fn open(inner: S, options: DiskCacheOptions) -> DiskCache<S> {
        let layout = Layout::new(&options.dir, &options.cluster);
        let mut index = Index::new(options.budget_bytes);
        let active = match layout.open() {
            Ok(mut found) => {
                found.sort_by_key(|file| file.modified);
                let mut evicted = Vec::new();
                for file in found {
                    evicted.extend(index.insert(&file.key, file.size, false));
                }
                let paths: Vec<PathBuf> = evicted.iter().map(|key| layout.path(key)).collect();
                remove_paths(&paths);
                true
            }
            Err(error) => {
                tracing::warn!(
                    dir = %layout.root().display(), %error,
                    "disk cache: cannot use the directory; reads go to storage"
                );
                false
            }
        };
        DiskCache {
            inner: Arc::new(inner),
            rule: options.rule,
            shared: Arc::new(Shared {
                layout,
                budget: options.budget_bytes,
                max_downloads: options.max_downloads.max(1),
                download_after: options.download_after,
                active,
                state: Mutex::new(State {
                    index,
                    downloads: HashMap::new(),
                    passed: HashSet::new(),
                    read_through: HashMap::new(),
                    offers: HashMap::new(),
                    paused_until: None,
                    disk_warned: false,
                    next_id: 0,
                }),
                activity: Activity::default(),
            }),
        }
    }

    /// Whether the directory could be used when the cache was opened.
    pub fn is_active(&self) -> bool {
        self.shared.active
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// This cluster's directory: `<dir>/<16 hex digits>`.
    pub fn dir(&self) -> &Path {
        self.shared.layout.root()
    }

    pub fn stats(&self) -> DiskCacheStats {
        self.shared.stats()
    }

    /// A handle on the cache's figures.
    pub fn monitor(&self) -> DiskCacheMonitor {
        DiskCacheMonitor(Arc::clone(&self.shared))
    }

    /// Decides how to read `key`, starting a download if there is none and the object was
    /// read from the inner storage often enough already.
    fn plan(&self, container: &str, name: &str, key: &str, check: Check) -> Plan {
        let mut state = self.shared.lock();
        if let Some(hit) = state.index.lookup(key) {
            return Plan::Read(hit);
        }
        if let Some(download) = state.downloads.get(key) {
            return Plan::Follow(download.progress.clone());
        }
        let paused = state
            .paused_until
            .is_some_and(|until| until > Instant::now());
        if paused
            || !self.shared.active
            || state.passed.contains(key)
            || state.downloads.len() >= self.shared.max_downloads
        {
            return Plan::PassThrough;
        }
        if state.read_through.len() >= MAX_READ_THROUGH && !state.read_through.contains_key(key) {
            // Packs read a few times each and never again: start counting afresh.
            state.read_through.clear();
        }
        let read = state.read_through.entry(key.to_owned()).or_default();
        if *read < self.shared.download_after {
            *read += 1;
            return Plan::PassThrough;
        }
        state.read_through.remove(key);
        state.next_id += 1;
        let (sender, progress) = watch::channel(Progress::Starting);
        let job = Job {
            shared: Arc::clone(&self.shared),
            inner: Arc::clone(&self.inner),
            container: container.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            check,
            progress: sender,
            id: state.next_id,
            invalidated: Arc::new(AtomicBool::new(false)),
        };
        state.downloads.insert(
            key.to_owned(),
            InFlight {
                id: job.id,
                progress: progress.clone(),
                invalidated: Arc::clone(&job.invalidated),
            },
        );
        tokio::spawn(download::run(job));
        Plan::Follow(progress)
    }

    /// Reads `range` of the copy of `key`; `Ok(None)` if the copy is gone or unreadable.
    async fn read_copy(
        &self,
        key: &str,
        hit: Hit,
        range: Range<u64>,
        container: &str,
        name: &str,
    ) -> Result<Option<Bytes>> {
        let range = clip_range(range, hit.size, container, name)?;
        let path = self.shared.layout.path(key);
        let read = tokio::task::spawn_blocking(move || {
            let file = File::open(&path)?;
            if hit.first_use {
                // Best effort: the mtime is the copy's recency after a restart.
                let _ = file.set_modified(SystemTime::now());
            }
            let mut buf = vec![0; (range.end - range.start) as usize];
            file.read_exact_at(&mut buf, range.start)?;
            Ok::<_, io::Error>(Bytes::from(buf))
        })
        .await
        .map_err(io::Error::other)
        .and_then(|read| read);
        match read {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) => {
                self.shared.lock().index.remove(key);
                match error.kind() {
                    // Evicted by another process.
                    io::ErrorKind::NotFound => {}
                    // Shorter than it was: not a copy to keep.
                    io::ErrorKind::UnexpectedEof => {
                        self.shared.remove_files(vec![key.to_owned()]).await
                    }
                    _ => self.shared.disk_trouble("read a cached file", &error),
                }
                Ok(None)
            }
        }
    }

    /// Opens the copy of `key` as a stream, if there is one.
    async fn stream_copy(&self, key: &str, container: &str, name: &str) -> Option<GetResult> {
        let hit = self.shared.lock().index.lookup(key)?;
        let path = self.shared.layout.path(key);
        let opened = tokio::task::spawn_blocking(move || {
            let file = File::open(path)?;
            if hit.first_use {
                // Best effort: the mtime is the copy's recency after a restart.
                let _ = file.set_modified(SystemTime::now());
            }
            Ok::<_, io::Error>(file)
        })
        .await;
        let Ok(Ok(file)) = opened else {
            self.shared.lock().index.remove(key);
            return None;
        };
        let (file, size) = (Arc::new(file), hit.size);
        let what = format!("cannot read the cached copy of {container}/{name}");
        let body = futures::stream::try_unfold(0u64, move |at| {
            let (file, what) = (Arc::clone(&file), what.clone());
            async move {
                if at >= size {
                    return Ok(None);
                }
                let end = (at + STREAM_CHUNK).min(size);
                let bytes = download::read_at(file, at..end)
                    .await
                    .map_err(|e| StorageError::with_source(ErrorKind::Io, what, e))?;
                Ok(Some((bytes, end)))
            }
        });
        Some(GetResult {
            meta: ObjectMeta {
                name: name.to_owned(),
                size,
            },
            body: Box::pin(body),
        })
    }

    /// Forgets and removes the copy of `key`, and makes a download in progress discard its
    /// copy: the object was deleted or overwritten.
    async fn invalidate(&self, key: &str) {
        self.invalidate_all(vec![key.to_owned()]).await;
    }

    /// [`Self::invalidate`] for several keys: one lock, one blocking task.
    async fn invalidate_all(&self, keys: Vec<String>) {
        {
            let mut state = self.shared.lock();
            for key in &keys {
                state.passed.remove(key);
                state.read_through.remove(key);
                state.offers.remove(key);
                if let Some(download) = state.downloads.remove(key) {
                    download.invalidated.store(true, Ordering::SeqCst);
                }
                state.index.remove(key);
            }
        }
        self.shared.remove_files(keys).await;
    }

    /// Whether a copy of `name` may exist: a cached pack or a kept index.
    fn may_copy(&self, name: &str) -> bool {
        self.rule.check(name).is_some() || self.rule.keeps(name)
    }
}

#[async_trait::async_trait]
impl<S: Storage + 'static> Storage for DiskCache<S> {
    async fn create_container(&self, container: &str) -> Result<bool> {
        self.inner.create_container(container).await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.inner.container_exists(container).await
    }

    /// Also removes the container's local copies.
    async fn delete_container(&self, container: &str) -> Result<()> {
        let result = self.inner.delete_container(container).await;
        let prefix = Layout::container_prefix(container);
        {
            let mut state = self.shared.lock();
            state.index.remove_prefix(&prefix);
            state.passed.retain(|key| !key.starts_with(&prefix));
            state
                .read_through
                .retain(|key, _| !key.starts_with(&prefix));
            state.offers.retain(|key, _| !key.starts_with(&prefix));
            state.downloads.retain(|key, download| {
                let keep = !key.starts_with(&prefix);
                if !keep {
                    download.invalidated.store(true, Ordering::SeqCst);
                }
                keep
            });
        }
        let dir = self.shared.layout.container_dir(container);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        result
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        self.inner.list_containers().await
    }

    /// Also drops a local copy of the name, which may now be stale.
    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let meta = self.inner.put(container, name, payload, mode).await?;
        if self.may_copy(name) {
            self.invalidate(&Layout::key(container, name)).await;
        }
        Ok(meta)
    }

    /// From the local copy when there is a complete one (a kept copy passing its trailer
    /// check); otherwise from the inner storage (a whole-object read starts no download).
    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        if self.rule.keeps(name) {
            if let Some(bytes) = kept::read(&self.shared, &Layout::key(container, name)).await {
                self.shared.activity.hit(bytes.len() as u64);
                let meta = ObjectMeta {
                    name: name.to_owned(),
                    size: bytes.len() as u64,
                };
                return Ok(GetResult {
                    meta,
                    body: Box::pin(futures::stream::once(async move { Ok(bytes) })),
                });
            }
            self.shared.activity.miss();
            return self.inner.get(container, name).await;
        }
        if self.rule.check(name).is_none() {
            return self.inner.get(container, name).await;
        }
        let key = Layout::key(container, name);
        if let Some(copy) = self.stream_copy(&key, container, name).await {
            self.shared.activity.hit(copy.meta.size);
            return Ok(copy);
        }
        self.shared.activity.miss();
        self.inner.get(container, name).await
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        let Some(check) = self.rule.check(name) else {
            return self.inner.get_range(container, name, range).await;
        };
        if range.is_empty() {
            return self.inner.get_range(container, name, range).await;
        }
        let key = Layout::key(container, name);
        // A second round when a copy vanished under us (evicted by another process).
        for _ in 0..2 {
            match self.plan(container, name, &key, check) {
                Plan::Read(hit) => {
                    let copy = self.read_copy(&key, hit, range.clone(), container, name);
                    if let Some(bytes) = copy.await? {
                        self.shared.activity.hit(bytes.len() as u64);
                        return Ok(bytes);
                    }
                }
                Plan::Follow(progress) => {
                    let followed = download::follow(progress, range.clone(), container, name);
                    if let Some(bytes) = followed.await? {
                        self.shared.activity.hit(bytes.len() as u64);
                        return Ok(bytes);
                    }
                    break;
                }
                Plan::PassThrough => break,
            }
        }
        self.shared.activity.miss();
        self.inner.get_range(container, name, range).await
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        self.inner.head(container, name).await
    }

    /// Also removes a local copy, even when the inner storage had nothing to delete.
    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        let result = self.inner.delete(container, name).await;
        if self.may_copy(name) {
            self.invalidate(&Layout::key(container, name)).await;
        }
        result
    }

    /// Also removes the local copies of the names, even when the inner storage fails (it may
    /// have deleted some of them).
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        let result = self.inner.delete_many(container, names).await;
        let keys: Vec<String> = names
            .iter()
            .filter(|name| self.may_copy(name))
            .map(|name| Layout::key(container, name))
            .collect();
        if !keys.is_empty() {
            self.invalidate_all(keys).await;
        }
        result
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.inner.list(container, prefix).await
    }

    /// Keeps a copy of a pack's `.idx` or `.meta` (see [`CacheRule::keeps`]), in the background.
    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
        if self.rule.keeps(name) {
            kept::offer(&self.shared, container, name, bytes);
        }
    }
}
