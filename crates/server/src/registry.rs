//! Open repositories, shared by every session of this process: one [`RepoHandle`] per
//! repository (its ref state and its object database), opened on first use and kept, so a warm
//! daemon answers `ls-remote` with one storage request (the log probe).
//!
//! What is kept is bounded for the whole process, whatever the number of repositories: the
//! block and delta-base caches are shared by all of them ([`ReadCaches`], sized by
//! [`OdbOptions`]), and the rest (pack indexes and metadata, remembered peeled values, ref
//! states) by a memory budget ([`Registry::with_memory_budget`], config `[cache] memory_mb`):
//! once the open repositories hold more, the least recently used ones that no session is using
//! are closed (the next use opens them again, a few storage requests). Repositories in use are
//! never closed, so the budget can be exceeded while they are: by one repository whose indexes
//! alone exceed it, say.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use swiftgit_config::sections::cache;
use swiftgit_repo::odb::{
    BlockCacheStats, IngestLimits, IngestProgress, IngestedPack, ObjectDb, OdbError, OdbOptions,
    ReadCaches,
};
use swiftgit_repo::refs::{LogError, RepoState};
use swiftgit_repo::{ObjectId, PackId, RepoError, RepoName, Repository, RepositoryOptions};
use swiftgit_storage::Storage;
use tokio::io::AsyncRead;
use tokio::sync::OnceCell;

use crate::maintenance::AutoMaintenance;
use crate::observer::{NoObserver, ServerObserver};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("cannot read the refs of {repo}: {error}")]
    Log { repo: String, error: LogError },
    #[error("cannot open the objects of {repo}: {error}")]
    Odb { repo: String, error: OdbError },
}

impl RegistryError {
    /// Whether the repository does not exist (as opposed to storage trouble).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Repo(RepoError::NotFound { .. }))
    }
}

/// Peeled values remembered per repository before the cache is emptied and starts again.
const MAX_CACHED_PEELS: usize = 100_000;

/// What a remembered peeled value is counted as (two ids, an option tag, the table's slot).
const PEEL_BYTES: usize = 64;
/// What a ref of the state is counted as (its name, id and tree node).
const REF_BYTES: usize = 128;
/// What an open repository costs besides its packs, peels and refs (its structures, locks, the
/// log's cached entries).
const HANDLE_BYTES: usize = 16 << 10;

/// The default budget of [`Registry::with_memory_budget`] (config `[cache] memory_mb`).
pub const DEFAULT_MEMORY_BUDGET: u64 = cache::MEMORY_MB.default_number() << 20;

/// One repository: its refs and its objects.
///
/// The object database learns a state's packs in the background: [`Registry::get`] starts
/// downloading the indexes of packs it does not know yet and returns without waiting, so the
/// ref advertisement goes out while they load; whatever reads objects first waits for them in
/// [`RepoHandle::objects`].
#[derive(Debug)]
pub struct RepoHandle {
    pub repo: Repository,
    odb: Arc<ObjectDb>,
    /// What each advertised object id peels to (see `session::advertise`); ids never change
    /// meaning, so entries never go stale.
    peeled: Mutex<HashMap<ObjectId, Option<ObjectId>>>,
    /// When the registry last handed this repository out (its clock's tick), for eviction.
    last_used: AtomicU64,
    /// The daemon's background maintenance, told of each push.
    maintenance: Option<Arc<AutoMaintenance>>,
}

impl RepoHandle {
    pub fn new(repo: Repository, odb: ObjectDb) -> RepoHandle {
        RepoHandle {
            repo,
            odb: Arc::new(odb),
            peeled: Mutex::new(HashMap::new()),
            last_used: AtomicU64::new(0),
            maintenance: None,
        }
    }

    /// After a push committed: lets background maintenance see whether the repository is due.
    pub fn pushed(&self) {
        if let Some(maintenance) = &self.maintenance {
            maintenance.after_push(&self.repo, &self.odb);
        }
    }

    /// An estimate of the memory this repository holds: its packs' indexes and metadata (exact),
    /// its remembered peeled values and its refs (per entry), and a fixed part. What the shared
    /// caches hold for it is not counted: they have budgets of their own.
    pub fn heap_bytes(&self) -> usize {
        let peels = self.peeled.lock().unwrap_or_else(|p| p.into_inner()).len();
        HANDLE_BYTES
            + self.odb.heap_bytes()
            + peels * PEEL_BYTES
            + self.repo.state().refs().len() * REF_BYTES
    }

    /// The object database, once it holds every pack of `state` (loading those it lacks, or
    /// waiting for the background load of them) and no pack a newer state retired.
    pub async fn objects(&self, state: &RepoState) -> Result<&ObjectDb, RegistryError> {
        let (seq, packs) = self.live_packs(state);
        self.odb
            .set_packs(seq, &packs)
            .await
            .map_err(|error| RegistryError::Odb {
                repo: self.repo.name().to_string(),
                error,
            })?;
        Ok(&self.odb)
    }

    /// Ingests a pushed pack (see [`ObjectDb::ingest_with_bases`]); the packs of `state`, which
    /// a thin pack's bases are looked up in, finish loading while the pack is read.
    pub async fn ingest(
        &self,
        state: &RepoState,
        pack: impl AsyncRead + Unpin + Send,
        limits: &IngestLimits,
        progress: Arc<dyn IngestProgress>,
    ) -> Result<IngestedPack, OdbError> {
        let (_, live) = self.live_packs(state);
        self.odb
            .ingest_with_bases(pack, limits, progress, &live)
            .await
    }

    /// The packs of `state`, or of the newest state this process knows if that is newer: a
    /// session that read its state before a repack must not load the packs the repack
    /// retired (their files go after a grace period), and the new packs hold its objects.
    fn live_packs(&self, state: &RepoState) -> (u64, Vec<PackId>) {
        let newest = self.repo.state();
        let live = if newest.seq() > state.seq() {
            newest.as_ref()
        } else {
            state
        };
        (live.seq(), live.packs().iter().copied().collect())
    }

    /// Makes a pack that a push just committed readable, without downloading its index.
    pub fn add_ingested(&self, pack: &IngestedPack) {
        // The repository's state is at least the one the push committed.
        self.odb.add_ingested(pack, self.repo.state().seq());
    }

    /// Starts loading the indexes of the packs of `state` the object database lacks, in a task
    /// of its own: it goes on if the session that started it ends, and a failure is only
    /// logged (the session that needs the objects tries again and reports it).
    fn prefetch(&self, state: &RepoState) {
        let (_, packs) = self.live_packs(state);
        if self.odb.missing(&packs).is_empty() {
            return;
        }
        let odb = Arc::clone(&self.odb);
        let repo = self.repo.name().to_string();
        tokio::spawn(async move {
            if let Err(error) = odb.add_packs(&packs).await {
                tracing::debug!(%repo, %error, "loading pack indexes in the background failed");
            }
        });
    }

    /// The remembered peeled value of `id`: `Some(None)` for a known non-tag.
    pub fn cached_peel(&self, id: &ObjectId) -> Option<Option<ObjectId>> {
        self.peeled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
    }

    pub fn remember_peel(&self, id: ObjectId, peeled: Option<ObjectId>) {
        let mut cache = self.peeled.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_PEELS {
            cache.clear();
        }
        cache.insert(id, peeled);
    }

    /// Reads the newest state (one storage request when nothing changed) and starts loading
    /// the indexes of packs it names that the object database does not know yet.
    pub async fn refresh(&self) -> Result<Arc<RepoState>, RegistryError> {
        let state = self
            .repo
            .refresh()
            .await
            .map_err(|error| RegistryError::Log {
                repo: self.repo.name().to_string(),
                error,
            })?;
        self.prefetch(&state);
        Ok(state)
    }
}

type Slot = Arc<OnceCell<Arc<RepoHandle>>>;

/// The repositories of one storage account, with what they share in this process: the
/// coordinator that orders their states and the table of their commit locks (in
/// [`RepositoryOptions`]), the read caches, and the memory budget (see the module doc).
#[derive(Debug)]
pub struct Registry {
    storage: Arc<dyn Storage>,
    odb_options: OdbOptions,
    repository_options: RepositoryOptions,
    caches: Arc<ReadCaches>,
    memory_budget: u64,
    open: Mutex<HashMap<RepoName, Slot>>,
    /// Ticks once per [`Registry::get`]: the order in which repositories were last used.
    clock: AtomicU64,
    /// Background maintenance after pushes (off unless set).
    maintenance: Option<Arc<AutoMaintenance>>,
    /// Hears of the requests, connections and pushes of the transports that serve it.
    observer: Arc<dyn ServerObserver>,
}

impl Registry {
    /// A registry whose repositories have one writing process (this one) and no coordinator.
    pub fn new(storage: Arc<dyn Storage>, odb_options: OdbOptions) -> Registry {
        Registry::with_options(storage, odb_options, RepositoryOptions::default())
    }

    pub fn with_options(
        storage: Arc<dyn Storage>,
        odb_options: OdbOptions,
        repository_options: RepositoryOptions,
    ) -> Registry {
        Registry {
            caches: ReadCaches::new(&odb_options),
            storage,
            odb_options,
            repository_options,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            open: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            maintenance: None,
            observer: Arc::new(NoObserver),
        }
    }

    /// Sets the budget of what open repositories keep besides the shared caches (default
    /// [`DEFAULT_MEMORY_BUDGET`]); see the module doc.
    pub fn with_memory_budget(mut self, bytes: u64) -> Registry {
        self.memory_budget = bytes;
        self
    }

    /// Runs maintenance in the background after pushes, as `maintenance` decides.
    pub fn with_maintenance(mut self, maintenance: Arc<AutoMaintenance>) -> Registry {
        self.maintenance = Some(maintenance);
        self
    }

    /// Tells `observer` of every request, connection and push served from this registry
    /// (default: [`NoObserver`]).
    pub fn with_observer(mut self, observer: Arc<dyn ServerObserver>) -> Registry {
        self.observer = observer;
        self
    }

    /// Who hears of the requests served from this registry.
    pub fn observer(&self) -> &Arc<dyn ServerObserver> {
        &self.observer
    }

    /// The block cache's counters (shared by every repository of the registry).
    pub fn block_cache_stats(&self) -> BlockCacheStats {
        self.caches.block_stats()
    }

    /// How the registry opens repositories (its coordinator and commit locks): a repository
    /// opened elsewhere in this process with these options shares their locks.
    pub fn repository_options(&self) -> &RepositoryOptions {
        &self.repository_options
    }

    /// When serving stops: waits for the commits' background publishing (with etcd, their
    /// copies into the object store), then gives up what the coordinator holds for this
    /// process (writer leases).
    pub async fn shutdown(&self) {
        let handles: Vec<Arc<RepoHandle>> = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.values()
                .filter_map(|slot| slot.get().cloned())
                .collect()
        };
        if let Some(maintenance) = &self.maintenance {
            maintenance.shutdown().await;
        }
        for handle in handles {
            handle.repo.published().await;
        }
        self.repository_options.coordinator.shutdown().await;
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The repository `name`, opened on first use (concurrent first uses open it once), with
    /// its state refreshed. A name that fails to open (a missing repository, say) is not
    /// remembered, so probing random names does not grow the registry.
    pub async fn get(&self, name: &RepoName) -> Result<Arc<RepoHandle>, RegistryError> {
        let slot = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.entry(name.clone()).or_default().clone()
        };
        let mut fresh = false;
        let opened = slot
            .get_or_try_init(|| async {
                fresh = true;
                self.open_handle(name).await
            })
            .await;
        let handle = match opened {
            Ok(handle) => handle.clone(),
            Err(error) => {
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                if open.get(name).is_some_and(|s| s.get().is_none()) {
                    open.remove(name);
                }
                return Err(error);
            }
        };
        handle.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.trim();
        if !fresh {
            handle.refresh().await?;
        }
        Ok(handle)
    }

    /// How many repositories are open (or being opened).
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The memory the open repositories hold, by [`RepoHandle::heap_bytes`].
    pub fn heap_bytes(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values()
            .filter_map(|slot| slot.get())
            .map(|handle| handle.heap_bytes())
            .sum()
    }

    /// Closes the least recently used repositories no one is using until the open ones hold
    /// no more than the budget (or only repositories in use are left). A repository is in use
    /// while a session holds its handle or is being handed it, and while its commits are
    /// published in the background (a clean shutdown waits for those).
    fn trim(&self) {
        let closed: Vec<Slot> = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let mut total = 0u64;
            let mut idle = Vec::new();
            for (name, slot) in open.iter() {
                let Some(handle) = slot.get() else { continue };
                let bytes = handle.heap_bytes() as u64;
                total += bytes;
                let unused = Arc::strong_count(slot) == 1 && Arc::strong_count(handle) == 1;
                if unused && !handle.repo.is_publishing() {
                    idle.push((
                        handle.last_used.load(Ordering::Relaxed),
                        bytes,
                        name.clone(),
                    ));
                }
            }
            if total <= self.memory_budget {
                return;
            }
            idle.sort_unstable_by_key(|(tick, ..)| *tick);
            let mut closed = Vec::new();
            for (_, bytes, name) in idle {
                if total <= self.memory_budget {
                    break;
                }
                closed.extend(open.remove(&name));
                total -= bytes;
            }
            tracing::debug!(
                closed = closed.len(),
                open = open.len(),
                held_bytes = total,
                budget = self.memory_budget,
                "closed repositories over the memory budget"
            );
            closed
        };
        // Freed here, outside the lock.
        drop(closed);
    }

    async fn open_handle(&self, name: &RepoName) -> Result<Arc<RepoHandle>, RegistryError> {
        let repo =
            Repository::open_with(self.storage.clone(), name, self.repository_options.clone())
                .await?;
        let state = repo.state();
        let odb = ObjectDb::open_shared(
            self.storage.clone(),
            repo.container().to_string(),
            &[],
            self.odb_options.clone(),
            Arc::clone(&self.caches),
        )
        .await
        .map_err(|error| RegistryError::Odb {
            repo: name.to_string(),
            error,
        })?;
        tracing::debug!(repo = %name, packs = state.packs().len(), "opened repository");
        let mut handle = RepoHandle::new(repo, odb);
        handle.maintenance = self.maintenance.clone();
        let handle = Arc::new(handle);
        handle.prefetch(&state);
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use swiftgit_storage::memory::MemoryStorage;

    use super::*;

    /// A registry over `count` empty repositories `r0`, `r1`, … whose budget holds about four
    /// of them.
    async fn registry(count: usize) -> (Registry, Vec<RepoName>) {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut names = Vec::new();
        for n in 0..count {
            let name = RepoName::new(&format!("r{n}")).expect("a valid name");
            Repository::init(Arc::clone(&storage), &name, "main")
                .await
                .expect("init");
            names.push(name);
        }
        let budget = 4 * HANDLE_BYTES as u64 + 2048;
        let registry = Registry::new(storage, OdbOptions::default()).with_memory_budget(budget);
        (registry, names)
    }

    #[tokio::test]
    async fn repositories_beyond_the_budget_are_closed_least_recently_used_first() {
        let (registry, names) = registry(20).await;
        let (first, rest) = names.split_first().expect("20 names");
        let kept = registry.get(first).await.expect("open");
        drop(kept);
        for name in rest {
            registry.get(name).await.expect("open");
            // The first repository is the most recently used but one after each of these.
            let again = registry.get(first).await.expect("open");
            drop(again);
            assert!(registry.open_count() <= 5, "{}", registry.open_count());
            assert!(registry.heap_bytes() as u64 <= registry.memory_budget + 2048);
        }
        let open: Vec<_> = {
            let open = registry.open.lock().unwrap();
            open.keys().cloned().collect()
        };
        assert!(open.contains(first), "{open:?}");
        assert!(open.contains(names.last().unwrap()), "{open:?}");
        assert!(!open.contains(&names[1]), "{open:?}");
    }

    #[tokio::test]
    async fn a_repository_in_use_stays_open_and_a_closed_one_opens_again() {
        let (registry, names) = registry(12).await;
        let held = registry.get(&names[0]).await.expect("open");
        for name in &names[1..] {
            drop(registry.get(name).await.expect("open"));
        }
        let again = registry.get(&names[0]).await.expect("open");
        assert!(Arc::ptr_eq(&held, &again), "a repository in use was closed");
        drop((held, again));
        for name in &names {
            let handle = registry.get(name).await.expect("opens again");
            assert_eq!(handle.refresh().await.expect("state").refs().len(), 0);
        }
        assert!(registry.open_count() <= 5, "{}", registry.open_count());
    }
}
