//! [`Repository`]: one repository's container, its state log, and the process-wide commit lock.
//! Creating and opening live here; committing in `commit.rs`.

mod commit;
mod error;

pub use commit::Committed;
pub use error::{Existing, RepoError};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use swiftgit_storage::Storage;

use crate::name::RepoName;
use crate::refs::format::{self, Hint};
use crate::refs::lock::{self, CommitLock};
use crate::refs::{
    Append, Committer, CreateOnly, Head, LogEntry, LogError, RefName, RepoState, Snapshot, log,
};
use crate::seed;

/// How a [`Repository`] writes its log.
#[derive(Debug, Clone)]
pub struct RepositoryOptions {
    /// A checkpoint (the whole state) is written once this many entries follow the newest one;
    /// opening then reads at most this many entries past it. Default 8.
    pub checkpoint_interval: u64,
    /// The step that decides between concurrent writers. Default: [`CreateOnly`] with
    /// read-back.
    pub committer: Arc<dyn Committer>,
    /// How often a commit catches up and tries again when another writer took its entry before
    /// giving up with [`crate::refs::CommitError::Contention`]. Default 100.
    pub max_commit_attempts: u32,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        RepositoryOptions {
            checkpoint_interval: 8,
            committer: Arc::new(CreateOnly::default()),
            max_commit_attempts: 100,
        }
    }
}

/// A repository: a container holding packs and the state log. Cheap to clone (clones share the
/// cached state); keep one per repository and clone it rather than opening again, which costs a
/// few requests where [`Repository::refresh`] costs one.
///
/// The object database (`crate::odb`) is opened separately over [`Repository::storage`],
/// [`Repository::container`] and the packs of [`RepoState::packs`].
#[derive(Debug, Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Arc<dyn Storage>,
    name: RepoName,
    options: RepositoryOptions,
    lock: CommitLock,
    cache: Mutex<Cached>,
}

#[derive(Debug)]
struct Cached {
    state: Arc<RepoState>,
    /// The newest checkpoint this process knows of.
    checkpoint: Option<u64>,
}

impl Repository {
    /// Creates the repository `name` with HEAD → `refs/heads/<initial_branch>` (unborn), with
    /// default options. See [`Repository::init_with`].
    pub async fn init(
        storage: Arc<dyn Storage>,
        name: &RepoName,
        initial_branch: &str,
    ) -> Result<Repository, RepoError> {
        Repository::init_with(storage, name, initial_branch, RepositoryOptions::default()).await
    }

    /// Creates the container if needed and writes log entry 1 (HEAD → `refs/heads/<initial_branch>`,
    /// no refs, no packs). Fails with [`RepoError::AlreadyExists`] if the container already holds
    /// a swiftgit log, a dulwich layout or any object; with the committer's guarantee (see
    /// [`crate::refs::committer`]) exactly one of two concurrent `init`s succeeds.
    pub async fn init_with(
        storage: Arc<dyn Storage>,
        name: &RepoName,
        initial_branch: &str,
        options: RepositoryOptions,
    ) -> Result<Repository, RepoError> {
        let repo = name.as_str();
        let head = RefName::branch(initial_branch).map_err(|error| RepoError::InvalidBranch {
            repo: repo.to_owned(),
            error,
        })?;
        let created = storage
            .create_container(repo)
            .await
            .map_err(|error| RepoError::Storage {
                repo: repo.to_owned(),
                action: "create its container",
                error,
            })?;
        if !created && let Some(found) = existing_contents(storage.as_ref(), repo).await? {
            return Err(RepoError::AlreadyExists {
                repo: repo.to_owned(),
                found,
            });
        }
        let entry = LogEntry {
            seq: 1,
            time_ms: commit::now_ms(),
            nonce: rand::random(),
            reset: Some(Snapshot {
                head: Head::Symbolic(head),
                refs: BTreeMap::new(),
                packs: BTreeSet::new(),
                peeled: BTreeMap::new(),
            }),
            refs: Vec::new(),
            head: None,
            packs_added: Vec::new(),
            packs_removed: Vec::new(),
        };
        let bytes = Bytes::from(format::encode_entry(&entry));
        let appended = options
            .committer
            .append(storage.as_ref(), repo, 1, bytes)
            .await
            .map_err(|e| LogError::storage(repo, "write", log::entry_name(1), e))?;
        if appended == Append::Conflict {
            return Err(RepoError::AlreadyExists {
                repo: repo.to_owned(),
                found: Existing::Log,
            });
        }
        let mut state = RepoState::before_log();
        state.apply(&entry);
        let hint = Hint {
            checkpoint: None,
            seq: 1,
        };
        if let Err(e) = log::write_hint(storage.as_ref(), repo, hint).await {
            tracing::warn!(error = %e, "repository created, but its hint was not written");
        }
        Ok(Repository::new(storage, name.clone(), options, state, None))
    }

    /// Opens the repository `name` with default options. See [`Repository::open_with`].
    pub async fn open(storage: Arc<dyn Storage>, name: &RepoName) -> Result<Repository, RepoError> {
        Repository::open_with(storage, name, RepositoryOptions::default()).await
    }

    /// Reads the newest state: from swiftgit's log (the hint, a checkpoint, the entries after
    /// it in parallel and one probe past them: a handful of requests), else from a dulwich
    /// layout (adopted into the log by the first commit). [`RepoError::NotFound`] if neither.
    pub async fn open_with(
        storage: Arc<dyn Storage>,
        name: &RepoName,
        options: RepositoryOptions,
    ) -> Result<Repository, RepoError> {
        let repo = name.as_str();
        if let Some(loaded) = log::load(storage.as_ref(), repo).await? {
            return Ok(Repository::new(
                storage,
                name.clone(),
                options,
                loaded.state,
                loaded.checkpoint,
            ));
        }
        if let Some(layout) = seed::load(storage.as_ref(), repo).await? {
            return Ok(Repository::new(
                storage,
                name.clone(),
                options,
                layout.state,
                None,
            ));
        }
        let container_exists =
            storage
                .container_exists(repo)
                .await
                .map_err(|error| RepoError::Storage {
                    repo: repo.to_owned(),
                    action: "check its container",
                    error,
                })?;
        Err(RepoError::NotFound {
            repo: repo.to_owned(),
            container_exists,
        })
    }

    fn new(
        storage: Arc<dyn Storage>,
        name: RepoName,
        options: RepositoryOptions,
        state: RepoState,
        checkpoint: Option<u64>,
    ) -> Repository {
        let lock = lock::commit_lock(name.as_str());
        Repository {
            inner: Arc::new(Inner {
                storage,
                name,
                options,
                lock,
                cache: Mutex::new(Cached {
                    state: Arc::new(state),
                    checkpoint,
                }),
            }),
        }
    }

    /// The repository's name (canonical: no `.git`).
    pub fn name(&self) -> &RepoName {
        &self.inner.name
    }

    /// The container holding the repository (its name).
    pub fn container(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The storage holding the container (for the object database).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The newest state this process has seen; no request. Call [`Repository::refresh`] to see
    /// other processes' commits.
    pub fn state(&self) -> Arc<RepoState> {
        self.cache().state.clone()
    }

    /// Catches up with the log: one request (a probe of the next entry) if nothing changed,
    /// otherwise the new entries (fetched in parallel waves) and one probe past them.
    pub async fn refresh(&self) -> Result<Arc<RepoState>, LogError> {
        let current = self.state();
        let storage = self.inner.storage.as_ref();
        let Some(next) = log::fetch_entry(storage, self.container(), current.seq + 1).await? else {
            return Ok(current);
        };
        let mut state = (*current).clone();
        if state.seq == 0 && next.reset.is_none() {
            return Err(LogError::Broken {
                repo: self.container().to_owned(),
                seq: next.seq,
                reason: "the first entry does not hold an initial state".into(),
            });
        }
        state.apply(&next);
        let state = log::catch_up(storage, self.container(), state, 1).await?;
        Ok(self.store(state, None))
    }

    /// Keeps `state` if it is newer than the cached one; returns the newest.
    fn store(&self, state: RepoState, checkpoint: Option<u64>) -> Arc<RepoState> {
        let mut cache = self.cache();
        if state.seq > cache.state.seq {
            cache.state = Arc::new(state);
        }
        cache.checkpoint = cache.checkpoint.max(checkpoint);
        cache.state.clone()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What an existing container holds, if anything: a log, a dulwich layout, other objects.
async fn existing_contents(
    storage: &dyn Storage,
    repo: &str,
) -> Result<Option<Existing>, RepoError> {
    let (hint, first) = futures::join!(
        log::read_hint(storage, repo),
        log::fetch_entry(storage, repo, 1)
    );
    if hint?.is_some() || first?.is_some() {
        return Ok(Some(Existing::Log));
    }
    if seed::detect(storage, repo).await? {
        return Ok(Some(Existing::DulwichLayout));
    }
    let listed = storage
        .list(repo, "")
        .await
        .map_err(|error| RepoError::Storage {
            repo: repo.to_owned(),
            action: "list its container",
            error,
        })?;
    Ok(listed
        .into_iter()
        .next()
        .map(|meta| Existing::Objects { example: meta.name }))
}
