//! Open repositories, shared by every session of this process: one [`RepoHandle`] per
//! repository (its ref state and its object database with their caches), opened on first use
//! and kept, so a warm daemon answers `ls-remote` with one storage request (the log probe).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use swiftgit_repo::odb::{
    IngestLimits, IngestProgress, IngestedPack, ObjectDb, OdbError, OdbOptions,
};
use swiftgit_repo::refs::{LogError, RepoState};
use swiftgit_repo::{ObjectId, RepoError, RepoName, Repository, RepositoryOptions};
use swiftgit_storage::Storage;
use tokio::io::AsyncRead;
use tokio::sync::OnceCell;

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
}

impl RepoHandle {
    pub fn new(repo: Repository, odb: ObjectDb) -> RepoHandle {
        RepoHandle {
            repo,
            odb: Arc::new(odb),
            peeled: Mutex::new(HashMap::new()),
        }
    }

    /// The object database, once it holds every pack of `state` (loading those it lacks, or
    /// waiting for the background load of them).
    pub async fn objects(&self, state: &RepoState) -> Result<&ObjectDb, RegistryError> {
        let packs: Vec<_> = state.packs().iter().copied().collect();
        self.odb
            .add_packs(&packs)
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
        let live: Vec<_> = state.packs().iter().copied().collect();
        self.odb
            .ingest_with_bases(pack, limits, progress, &live)
            .await
    }

    /// Makes a pack that a push just committed readable, without downloading its index.
    pub fn add_ingested(&self, pack: &IngestedPack) {
        self.odb.add_ingested(pack);
    }

    /// Starts loading the indexes of the packs of `state` the object database lacks, in a task
    /// of its own: it goes on if the session that started it ends, and a failure is only
    /// logged (the session that needs the objects tries again and reports it).
    fn prefetch(&self, state: &RepoState) {
        let packs: Vec<_> = state.packs().iter().copied().collect();
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
/// [`RepositoryOptions`]).
#[derive(Debug)]
pub struct Registry {
    storage: Arc<dyn Storage>,
    odb_options: OdbOptions,
    repository_options: RepositoryOptions,
    open: Mutex<HashMap<RepoName, Slot>>,
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
            storage,
            odb_options,
            repository_options,
            open: Mutex::new(HashMap::new()),
        }
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
        if !fresh {
            handle.refresh().await?;
        }
        Ok(handle)
    }

    /// How many repositories are open (or being opened).
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    async fn open_handle(&self, name: &RepoName) -> Result<Arc<RepoHandle>, RegistryError> {
        let repo =
            Repository::open_with(self.storage.clone(), name, self.repository_options.clone())
                .await?;
        let state = repo.state();
        let odb = ObjectDb::open(
            self.storage.clone(),
            repo.container().to_string(),
            &[],
            self.odb_options.clone(),
        )
        .await
        .map_err(|error| RegistryError::Odb {
            repo: name.to_string(),
            error,
        })?;
        tracing::debug!(repo = %name, packs = state.packs().len(), "opened repository");
        let handle = Arc::new(RepoHandle::new(repo, odb));
        handle.prefetch(&state);
        Ok(handle)
    }
}
