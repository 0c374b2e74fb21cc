//! [`Repository`]: one repository's container, its state sequence (see
//! [`crate::refs::sequence`]) and its commit lock. Creating and opening live here; committing in
//! `commit.rs`.

mod commit;
mod error;

pub(crate) use commit::now_ms;
pub use commit::{CommitsHeld, Committed};
pub use error::{Existing, RepoError};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use swiftgit_storage::Storage;

use crate::name::RepoName;
use crate::refs::sequence::{
    Append, CommitLock, CommitLocks, Coordinator, MARKER_OBJECT, MaintenanceLock, Newest,
    SingleWriter, StateSequence, WRITER_OBJECT,
};
use crate::refs::{Head, LogEntry, LogError, RefName, RepoState, Snapshot, log};
use crate::seed;

/// How a [`Repository`] orders and writes its states.
#[derive(Debug, Clone)]
pub struct RepositoryOptions {
    /// Where the repository's state sequence is decided. Default: [`SingleWriter`] (the object
    /// store alone, one writing process).
    pub coordinator: Arc<dyn Coordinator>,
    /// The commit locks of this process: repository values opened with clones of one table
    /// serialise their commits. Default: a new table (so share one options value, or the
    /// table, between the repositories of one process).
    pub locks: CommitLocks,
    /// How often a commit catches up and tries again when another writer took its entry before
    /// giving up with [`crate::refs::CommitError::Contention`]. Default 100.
    pub max_commit_attempts: u32,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        RepositoryOptions {
            coordinator: Arc::new(SingleWriter::default()),
            locks: CommitLocks::default(),
            max_commit_attempts: 100,
        }
    }
}

impl RepositoryOptions {
    /// Default options with `coordinator`.
    pub fn with_coordinator(coordinator: Arc<dyn Coordinator>) -> RepositoryOptions {
        RepositoryOptions {
            coordinator,
            ..RepositoryOptions::default()
        }
    }
}

/// A repository: a container holding packs, and its state sequence. Cheap to clone (clones share
/// the cached state); keep one per repository and clone it rather than opening again, which
/// costs a few requests where [`Repository::refresh`] costs one.
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
    sequence: Arc<dyn StateSequence>,
    coordinator: Arc<dyn Coordinator>,
    max_commit_attempts: u32,
    lock: CommitLock,
    state: Mutex<Arc<RepoState>>,
    /// Background publishing of commits not known to be finished.
    publishing: Mutex<Vec<tokio::task::JoinHandle<()>>>,
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

    /// Creates the container if needed and appends entry 1 (HEAD → `refs/heads/<initial_branch>`,
    /// no refs, no packs) as the first state of the sequence. Fails with
    /// [`RepoError::AlreadyExists`] if the container already holds a swiftgit log, a dulwich
    /// layout or any object, or the coordinator already knows the repository; with the
    /// coordinator's guarantee exactly one of two concurrent `init`s succeeds.
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
        let sequence = options.coordinator.sequence(storage.clone(), name);
        let base = RepoState::before_log();
        let appended = match sequence.append(&base, &entry).await {
            Ok(appended) => appended,
            Err(e) if e.outcome_unknown => sequence
                .resolve(&base, &entry)
                .await
                .map_err(|_| RepoError::Log(e.error))?,
            Err(e) => return Err(RepoError::Log(e.error)),
        };
        if appended == Append::Conflict {
            let key = options.coordinator.registration(name);
            let found = match key {
                // The container holds nothing: the coordinator knew the name already.
                Some(_) => Existing::Registered {
                    coordinator: options.coordinator.describe(),
                    key,
                },
                None => Existing::Log,
            };
            return Err(RepoError::AlreadyExists {
                repo: repo.to_owned(),
                found,
            });
        }
        let mut state = base;
        state.apply(&entry);
        sequence.publish(&state, &entry).await;
        Ok(Repository::new(
            storage,
            name.clone(),
            &options,
            sequence,
            state,
        ))
    }

    /// Opens the repository `name` with default options. See [`Repository::open_with`].
    pub async fn open(storage: Arc<dyn Storage>, name: &RepoName) -> Result<Repository, RepoError> {
        Repository::open_with(storage, name, RepositoryOptions::default()).await
    }

    /// Reads the newest state through the coordinator: from swiftgit's log (the hint, a
    /// checkpoint, the entries after it in parallel and one probe past them: a handful of
    /// requests), else from a dulwich layout (adopted into the log by the first commit, or at
    /// once by a coordinator). [`RepoError::NotFound`] if neither.
    pub async fn open_with(
        storage: Arc<dyn Storage>,
        name: &RepoName,
        options: RepositoryOptions,
    ) -> Result<Repository, RepoError> {
        let repo = name.as_str();
        let sequence = options.coordinator.sequence(storage.clone(), name);
        if let Some(state) = sequence.read(None).await?.into_state() {
            return Ok(Repository::new(
                storage,
                name.clone(),
                &options,
                sequence,
                state,
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
        options: &RepositoryOptions,
        sequence: Arc<dyn StateSequence>,
        state: RepoState,
    ) -> Repository {
        let lock = options.locks.get(name.as_str());
        Repository {
            inner: Arc::new(Inner {
                storage,
                name,
                sequence,
                coordinator: Arc::clone(&options.coordinator),
                max_commit_attempts: options.max_commit_attempts,
                lock,
                state: Mutex::new(Arc::new(state)),
                publishing: Mutex::new(Vec::new()),
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

    /// Takes the repository's maintenance lock (see [`crate::refs::sequence::maintenance`]):
    /// `None` while another run, here or in another process, holds it.
    pub async fn lock_maintenance(&self) -> Result<Option<MaintenanceLock>, LogError> {
        self.inner
            .coordinator
            .lock_maintenance(Arc::clone(&self.inner.storage), &self.inner.name)
            .await
    }

    /// The newest state this process has seen; no request. Call [`Repository::refresh`] to see
    /// other processes' commits.
    pub fn state(&self) -> Arc<RepoState> {
        self.cached().clone()
    }

    /// Reads the newest state through the coordinator: one request if nothing changed (a probe
    /// of the next entry in the object store, or one etcd read), otherwise the new entries.
    pub async fn refresh(&self) -> Result<Arc<RepoState>, LogError> {
        let current = self.state();
        match self.inner.sequence.read(Some(&current)).await? {
            Newest::State(state) if state.seq > current.seq => Ok(self.store(state)),
            Newest::Replaced(state) => {
                let state = Arc::new(state);
                *self.cached() = Arc::clone(&state);
                Ok(state)
            }
            _ => Ok(current),
        }
    }

    /// Keeps `state` if it is newer than the cached one; returns the newest.
    fn store(&self, state: RepoState) -> Arc<RepoState> {
        let mut cached = self.cached();
        if state.seq > cached.seq {
            *cached = Arc::new(state);
        }
        cached.clone()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Arc<RepoState>> {
        self.inner
            .state
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
    if seed::detect(storage, repo).await.map_err(LogError::from)? {
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
    // A marker or a writer lease left by an init that failed (a stale registration, say) does
    // not make a repository.
    Ok(listed
        .into_iter()
        .find(|meta| meta.name != MARKER_OBJECT && meta.name != WRITER_OBJECT)
        .map(|meta| Existing::Objects { example: meta.name }))
}
