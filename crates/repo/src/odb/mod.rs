//! The object database: a repository's objects as immutable packs in one storage container,
//! `objects/pack/pack-<sha>.pack` with its `.idx` (git's v2 index) and `.meta` (our per-pack
//! metadata: types, sizes, commit parents/trees/times, tag targets; see [`index::meta`]).
//!
//! [`ObjectDb`] keeps every known pack's index and metadata in memory (about 40 bytes per
//! object) and reads pack bytes through a block cache with ranged GETs; it is shared by all
//! sessions of a repository. [`ObjectDb::ingest`] turns a pushed pack stream into a stored pack;
//! which packs are live is not its business — the ref log decides, and tells it through
//! [`ObjectDb::add_packs`].
//!
//! Files by pipeline stage, in folders whose dependencies point one way, as gix-pack's do:
//! [`format`](mod@format) (pure bytes, no IO: pack and entry headers, bounded zlib, delta
//! application, commit and tag fields), [`index`] (the per-pack `.idx` and `.meta`, encoded and
//! decoded; on `format`), [`read`] (a loaded pack and the pack set, the caches, reading objects,
//! and [`raw`] entries; on `index` and `format`) and [`ingest`] (limits and progress, the scan
//! and resolve passes, the pipeline and upload; on all three). [`error`] is shared by all.
//! [`ObjectDb`] and its lookups stay here; `read` and `ingest` add their methods to it.
//!
//! Packs are written without `gix-pack`: its `Bundle::write_to_directory` offers no hook to see
//! each resolved object (the `.meta` would need a second full pass), inflates a zlib bomb to
//! its end before noticing the size, rewrites every thin pack entry by entry holding each
//! compressed entry in memory, and reports failures as messages rather than the variants a
//! push must be refused with. The formats are small and real `git` checks our output in tests.

mod error;
mod format;
mod index;
mod ingest;
mod read;

pub use read::raw;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_storage::Storage;
use tokio::sync::OnceCell;

pub use error::{OdbError, OdbErrorKind, Result};
pub use format::object_links::{CommitInfo, TagInfo};
pub use ingest::{IngestLimits, IngestProgress, IngestStage, IngestedPack};
pub use read::cache::MIN_BLOCK_BYTES;

use format::object_links;
use read::cache::CacheSpace;
pub use read::cache::{BlockCacheStats, ReadCaches};
use read::pack::{LoadedPack, PackSet};

use crate::PackId;

/// An object's type and content, deltas resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub data: Bytes,
}

/// An object's type and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectHeader {
    pub kind: Kind,
    pub size: u64,
}

/// How an [`ObjectDb`] reads and caches.
#[derive(Debug, Clone)]
pub struct OdbOptions {
    /// Block cache size in bytes (config `cache_length`, in MiB there).
    pub cache_bytes: u64,
    /// Block size (config `chunk_length`), raised to [`MIN_BLOCK_BYTES`].
    pub chunk_bytes: u64,
    /// Parallel storage requests per operation (config `concurrency`).
    pub concurrency: usize,
    /// Delta-base cache size in bytes (its bookkeeping included). The default, 8 MiB, walks
    /// the trees of a 49 000-commit history with no more CPU than 32 MiB did.
    pub delta_cache_bytes: u64,
    /// Largest object a read will inflate or build.
    pub max_object_bytes: u64,
    /// Longest delta chain a read will follow (stored packs come from us or from dulwich).
    pub max_delta_depth: u32,
    /// Where ingest spools packs (the system's temp directory if `None`). Needs room for the
    /// largest pack accepted.
    pub temp_dir: Option<PathBuf>,
}

impl Default for OdbOptions {
    /// The seed's configuration defaults: a 20 MiB cache, 12 228-byte chunks, 10 requests; an
    /// 8 MiB delta-base cache.
    fn default() -> Self {
        let limits = IngestLimits::default();
        OdbOptions {
            cache_bytes: 20 << 20,
            chunk_bytes: 12_228,
            concurrency: 10,
            delta_cache_bytes: 8 << 20,
            max_object_bytes: limits.max_object_bytes,
            max_delta_depth: limits.max_delta_depth,
            temp_dir: None,
        }
    }
}

/// A repository's objects, shared by all its sessions (`Arc<ObjectDb>`).
pub struct ObjectDb {
    storage: Arc<dyn Storage>,
    /// The container, and its key in the shared caches.
    space: CacheSpace,
    options: OdbOptions,
    /// Replaced whole when packs are added, so a lookup works on one consistent set.
    packs: RwLock<Arc<PackSet>>,
    /// The newest repository state (its `seq`) the set of packs reflects: a state older than
    /// that adds packs but forgets none (it does not know the packs pushed since). Read and
    /// written only under the write lock of `packs`.
    newest_seq: AtomicU64,
    /// Packs whose index is being downloaded, so that concurrent `add_packs` (a background
    /// prefetch and a session, say) download each once.
    loading: Mutex<HashMap<PackId, Arc<OnceCell<Arc<LoadedPack>>>>>,
    /// Shared with the other repositories of the process when opened with
    /// [`ObjectDb::open_shared`].
    caches: Arc<ReadCaches>,
}

impl std::fmt::Debug for ObjectDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectDb")
            .field("container", &self.space.container)
            .field("packs", &self.snapshot().packs.len())
            .finish_non_exhaustive()
    }
}

impl ObjectDb {
    /// Opens the object database of `container` holding `packs`, downloading their `.idx` and
    /// `.meta` files (up to `options.concurrency` at once). Fails if any is missing or corrupt
    /// (a missing `.meta` is tolerated). Reads only; nothing is written. Its caches are its
    /// own, of the sizes `options` gives.
    pub async fn open(
        storage: Arc<dyn Storage>,
        container: String,
        packs: &[PackId],
        options: OdbOptions,
    ) -> Result<ObjectDb> {
        let caches = ReadCaches::new(&options);
        ObjectDb::open_shared(storage, container, packs, options, caches).await
    }

    /// [`ObjectDb::open`] with caches shared with other databases (those of one process): their
    /// sizes are the caches', not `options`'s.
    pub async fn open_shared(
        storage: Arc<dyn Storage>,
        container: String,
        packs: &[PackId],
        options: OdbOptions,
        caches: Arc<ReadCaches>,
    ) -> Result<ObjectDb> {
        let db = ObjectDb {
            caches,
            storage,
            space: CacheSpace::new(&container),
            options,
            packs: RwLock::new(Arc::new(PackSet::default())),
            newest_seq: AtomicU64::new(0),
            loading: Mutex::new(HashMap::new()),
        };
        db.add_packs(packs).await?;
        Ok(db)
    }

    /// Adds packs committed since (idempotent: known packs are skipped, and a pack another
    /// caller is loading is waited for, not downloaded again). Atomic for readers: a lookup
    /// sees all of the new packs or none; on error none is added.
    pub async fn add_packs(&self, packs: &[PackId]) -> Result<()> {
        let wanted = self.missing(packs);
        if wanted.is_empty() {
            return Ok(());
        }
        let loaded: Vec<Arc<LoadedPack>> = futures::stream::iter(wanted)
            .map(|id| self.load_once(id))
            .buffered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        let ids: Vec<PackId> = loaded.iter().map(|pack| pack.id).collect();
        self.insert_packs(loaded);
        let mut loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            loading.remove(&id);
        }
        Ok(())
    }

    /// Which of `packs` this database does not hold yet (in order, without repeats).
    pub fn missing(&self, packs: &[PackId]) -> Vec<PackId> {
        let known = self.snapshot();
        let mut missing: Vec<PackId> = Vec::new();
        for id in packs {
            if !known.packs.iter().any(|pack| pack.id == *id) && !missing.contains(id) {
                missing.push(*id);
            }
        }
        missing
    }

    /// Loads pack `id`, or waits for the caller already loading it. A failed load is not
    /// remembered: the next caller tries again.
    async fn load_once(&self, id: PackId) -> Result<Arc<LoadedPack>> {
        let cell = {
            let mut loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
            // Under the lock: a loader inserts its pack before it drops the pack's cell, so a
            // pack is always in one of the two.
            if let Some(pack) = self.snapshot().packs.iter().find(|pack| pack.id == id) {
                return Ok(Arc::clone(pack));
            }
            loading.entry(id).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            LoadedPack::load(&*self.storage, &self.space.container, id)
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
    }

    /// Makes the database read exactly `packs`, the packs of the repository's state `seq`:
    /// loads those it lacks (as [`ObjectDb::add_packs`]) and forgets the others (packs a
    /// repack retired, whose files are deleted after a grace period). A state older than one
    /// the database already reflects (a push committed since, see
    /// [`ObjectDb::add_ingested`]) forgets nothing: its list lacks the newer packs. Readers
    /// that took a snapshot before keep theirs.
    pub async fn set_packs(&self, seq: u64, packs: &[PackId]) -> Result<()> {
        self.add_packs(packs).await?;
        let mut guard = self
            .packs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seq < self.newest_seq.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.newest_seq.store(seq, Ordering::Relaxed);
        if guard.packs.iter().all(|pack| packs.contains(&pack.id)) {
            return Ok(());
        }
        let kept = (guard.packs.iter())
            .filter(|pack| packs.contains(&pack.id))
            .cloned()
            .collect();
        *guard = Arc::new(PackSet { packs: kept });
        Ok(())
    }

    /// Adds a pack that [`ObjectDb::ingest`] stored, once the caller has committed it in the
    /// repository's state `seq` (or a newer one), without downloading its index again.
    /// Idempotent; an empty pack adds nothing.
    pub fn add_ingested(&self, pack: &IngestedPack, seq: u64) {
        let mut guard = self
            .packs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.newest_seq.fetch_max(seq, Ordering::Relaxed);
        Self::insert_into(&mut guard, pack.loaded().into_iter().cloned().collect());
    }

    fn insert_packs(&self, new: Vec<Arc<LoadedPack>>) {
        let mut guard = self
            .packs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::insert_into(&mut guard, new);
    }

    /// Puts the packs of `new` that `set` lacks in front of it (newest first).
    fn insert_into(set: &mut Arc<PackSet>, new: Vec<Arc<LoadedPack>>) {
        let mut packs: Vec<Arc<LoadedPack>> = Vec::with_capacity(set.packs.len() + new.len());
        for pack in new {
            if !set
                .packs
                .iter()
                .chain(&packs)
                .any(|known| known.id == pack.id)
            {
                packs.push(pack);
            }
        }
        if packs.is_empty() {
            return;
        }
        packs.extend(set.packs.iter().cloned());
        *set = Arc::new(PackSet { packs });
    }

    /// The memory this database holds for its packs (indexes and metadata). Its caches, shared
    /// or not, are not counted.
    pub fn heap_bytes(&self) -> usize {
        self.snapshot()
            .packs
            .iter()
            .map(|pack| pack.heap_bytes())
            .sum()
    }

    /// The packs this database reads with their sizes in bytes, newest first (a snapshot).
    pub fn pack_sizes(&self) -> Vec<(PackId, u64)> {
        self.snapshot()
            .packs
            .iter()
            .map(|pack| (pack.id, pack.size))
            .collect()
    }

    /// The packs this database reads, newest first (a snapshot).
    pub fn packs(&self) -> Vec<PackId> {
        self.snapshot().packs.iter().map(|pack| pack.id).collect()
    }

    /// Whether any pack holds `id`. In memory, no IO.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.snapshot().contains_id(id)
    }

    /// The object `id`, deltas resolved, or `None` if no pack holds it. Reads only; works on
    /// one snapshot of the pack set, and packs never change, so the result is consistent.
    pub async fn find(&self, id: &ObjectId) -> Result<Option<Object>> {
        self.find_in(&self.snapshot(), id).await
    }

    async fn find_in(&self, packs: &PackSet, id: &ObjectId) -> Result<Option<Object>> {
        let Some((pack, at)) = packs.locate(id.as_slice()) else {
            return Ok(None);
        };
        let offset = pack.index.offset_at(at);
        self.read_at(packs, pack, offset).await.map(Some)
    }

    /// Type and size of `id`: from memory for packs with metadata, else by reading it. Reads
    /// only.
    pub async fn find_header(&self, id: &ObjectId) -> Result<Option<ObjectHeader>> {
        let packs = self.snapshot();
        let Some((pack, at)) = packs.locate(id.as_slice()) else {
            return Ok(None);
        };
        let (kind, size) = match pack.meta.as_ref().and_then(|meta| meta.header_at(at)) {
            Some(header) => header,
            None => {
                self.header_at(&packs, pack, pack.index.offset_at(at))
                    .await?
            }
        };
        Ok(Some(ObjectHeader { kind, size }))
    }

    /// Tree, parents and committer time of commit `id`; `None` if it is absent or not a commit.
    /// From memory for packs with metadata, else by reading the commit. Reads only.
    pub async fn commit_info(&self, id: &ObjectId) -> Result<Option<CommitInfo>> {
        let packs = self.snapshot();
        let Some((pack, at)) = packs.locate(id.as_slice()) else {
            return Ok(None);
        };
        if let Some(meta) = &pack.meta {
            return Ok(meta.commit_at(at));
        }
        let object = self.read_at(&packs, pack, pack.index.offset_at(at)).await?;
        if object.kind != Kind::Commit {
            return Ok(None);
        }
        object_links::parse_commit(&object.data)
            .map(Some)
            .map_err(|detail| OdbError::CorruptStored {
                pack: pack.id,
                detail: format!("commit {id}: {detail}"),
            })
    }

    /// Target and target type of annotated tag `id`; `None` if absent or not a tag. Reads only.
    pub async fn tag_info(&self, id: &ObjectId) -> Result<Option<TagInfo>> {
        let packs = self.snapshot();
        let Some((pack, at)) = packs.locate(id.as_slice()) else {
            return Ok(None);
        };
        if let Some(meta) = &pack.meta {
            return Ok(meta.tag_at(at));
        }
        let object = self.read_at(&packs, pack, pack.index.offset_at(at)).await?;
        if object.kind != Kind::Tag {
            return Ok(None);
        }
        object_links::parse_tag(&object.data)
            .map(Some)
            .map_err(|detail| OdbError::CorruptStored {
                pack: pack.id,
                detail: format!("tag {id}: {detail}"),
            })
    }
}
