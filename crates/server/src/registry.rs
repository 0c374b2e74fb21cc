//! Open repositories, shared by every session of this process: one [`RepoHandle`] per
//! repository (its ref state and its object database with their caches), opened on first use
//! and kept, so a warm daemon answers `ls-remote` with one storage request (the log probe).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use swiftgit_repo::odb::{ObjectDb, OdbError, OdbOptions};
use swiftgit_repo::refs::{LogError, RepoState};
use swiftgit_repo::{ObjectId, RepoError, RepoName, Repository};
use swiftgit_storage::Storage;
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
#[derive(Debug)]
pub struct RepoHandle {
    pub repo: Repository,
    pub odb: ObjectDb,
    /// What each advertised object id peels to (see `session::advertise`); ids never change
    /// meaning, so entries never go stale.
    peeled: Mutex<HashMap<ObjectId, Option<ObjectId>>>,
}

impl RepoHandle {
    pub fn new(repo: Repository, odb: ObjectDb) -> RepoHandle {
        RepoHandle {
            repo,
            odb,
            peeled: Mutex::new(HashMap::new()),
        }
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

    /// Reads the newest state (one storage request when nothing changed) and makes the object
    /// database know every pack it names.
    pub async fn refresh(&self) -> Result<Arc<RepoState>, RegistryError> {
        let state = self
            .repo
            .refresh()
            .await
            .map_err(|error| RegistryError::Log {
                repo: self.repo.name().to_string(),
                error,
            })?;
        self.sync_packs(&state).await?;
        Ok(state)
    }

    /// Loads the indexes of packs in `state` that the object database does not know yet.
    pub async fn sync_packs(&self, state: &RepoState) -> Result<(), RegistryError> {
        let known = self.odb.packs();
        let missing: Vec<_> = state
            .packs()
            .iter()
            .filter(|p| !known.contains(p))
            .copied()
            .collect();
        if !missing.is_empty() {
            self.odb
                .add_packs(&missing)
                .await
                .map_err(|error| RegistryError::Odb {
                    repo: self.repo.name().to_string(),
                    error,
                })?;
        }
        Ok(())
    }
}

type Slot = Arc<OnceCell<Arc<RepoHandle>>>;

/// The repositories of one storage account.
#[derive(Debug)]
pub struct Registry {
    storage: Arc<dyn Storage>,
    odb_options: OdbOptions,
    open: Mutex<HashMap<RepoName, Slot>>,
}

impl Registry {
    pub fn new(storage: Arc<dyn Storage>, odb_options: OdbOptions) -> Registry {
        Registry {
            storage,
            odb_options,
            open: Mutex::new(HashMap::new()),
        }
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
        let repo = Repository::open(self.storage.clone(), name).await?;
        let state = repo.state();
        let packs: Vec<_> = state.packs().iter().copied().collect();
        let odb = ObjectDb::open(
            self.storage.clone(),
            repo.container().to_string(),
            &packs,
            self.odb_options.clone(),
        )
        .await
        .map_err(|error| RegistryError::Odb {
            repo: name.to_string(),
            error,
        })?;
        tracing::debug!(repo = %name, packs = packs.len(), "opened repository");
        Ok(Arc::new(RepoHandle::new(repo, odb)))
    }
}
