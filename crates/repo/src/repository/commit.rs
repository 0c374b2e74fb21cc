//! [`Repository::commit`]: the commit protocol.
//!
//! 1. Check what does not depend on the state (duplicate refs, contradictions), and that every
//!    added pack's `.pack` and `.idx` are stored.
//! 2. Take the repository's commit lock, so the process never races itself.
//! 3. Check that this process may write (the writer lease without a coordinator; a push does
//!    it while its pack is received, see [`Repository::prepare_commit`]).
//! 4. Check every expectation against the newest state this process knows (no request: the
//!    request that commits read it when it started); any failure rejects the whole transaction.
//! 5. Have the [`StateSequence`] append the changes after that state. If another writer's entry
//!    came first, read on and go back to 4. If the append's answer was lost, the sequence
//!    resolves it (the entry's random nonce tells whether the stored one is ours).
//! 6. Publish (checkpoint, hint, the entry's copy in the object store): before answering with
//!    the object store alone, after it with a coordinator whose entries wait in it until copied.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use swiftgit_storage::ErrorKind;

use super::Repository;
use crate::PackId;
use crate::refs::sequence::{Append, StateSequence};
use crate::refs::{CommitError, LogEntry, LogError, RefTransaction, RepoState, Snapshot};

/// The commit lock of a repository, held (see [`Repository::hold_commits`]).
#[derive(Debug)]
pub struct CommitsHeld {
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

/// A successful commit.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The state after the commit. Its `seq` is the transaction's entry, unless `written` is
    /// false.
    pub state: Arc<RepoState>,
    /// False if the transaction changed nothing (every expectation held and every new value was
    /// already in place): then no entry was written.
    pub written: bool,
}

impl Repository {
    /// Commits `transaction` all or nothing, as the entry after the newest state.
    ///
    /// Errors: [`CommitError::Rejected`] if an expectation does not hold (naming the ref, the
    /// expected and the actual value) or the transaction contradicts itself — nothing is written;
    /// [`CommitError::PackNotStored`] if an added pack is not uploaded;
    /// [`CommitError::Contention`] if other writers took the next entry
    /// [`super::RepositoryOptions::max_commit_attempts`] times in a row;
    /// [`CommitError::Log`] for storage or coordinator failures, or when this process may not
    /// write (another writer holds the lease): if it happened while appending, the outcome is
    /// unknown (refresh to see).
    ///
    /// Atomicity: concurrent commits in one process are serialised by the commit lock; across
    /// processes the guarantee is the coordinator's (see [`crate::refs::sequence`]).
    pub async fn commit(&self, transaction: RefTransaction) -> Result<Committed, CommitError> {
        self.check_transaction(&transaction).await?;
        let lock = self.inner.lock.clone();
        let _guard = lock.lock().await;
        self.commit_locked(transaction).await
    }

    /// Takes the repository's commit lock until the value is dropped: the commits of this
    /// process wait meanwhile, so a caller can read the newest state, check something against
    /// it and commit with [`Repository::commit_held`] without a push of this process coming
    /// in between (a repack checking that no ref moved onto what it retires).
    pub async fn hold_commits(&self) -> CommitsHeld {
        CommitsHeld {
            _guard: Arc::clone(&self.inner.lock).lock_owned().await,
        }
    }

    /// [`Repository::commit`] while holding the commit lock (see [`Repository::hold_commits`]).
    pub async fn commit_held(
        &self,
        _held: &CommitsHeld,
        transaction: RefTransaction,
    ) -> Result<Committed, CommitError> {
        self.check_transaction(&transaction).await?;
        self.commit_locked(transaction).await
    }

    /// Step 1: what does not need the lock.
    async fn check_transaction(&self, transaction: &RefTransaction) -> Result<(), CommitError> {
        let repo = self.container();
        transaction
            .validate()
            .map_err(|rejection| CommitError::Rejected {
                repo: repo.to_owned(),
                seq: self.state().seq,
                rejection,
            })?;
        let unchecked: Vec<PackId> = (transaction.packs_added.iter())
            .filter(|pack| !transaction.packs_just_stored.contains(pack))
            .copied()
            .collect();
        self.check_packs_stored(&unchecked).await
    }

    /// Steps 3 to 6, under the commit lock.
    async fn commit_locked(&self, transaction: RefTransaction) -> Result<Committed, CommitError> {
        let repo = self.container();
        let sequence = &self.inner.sequence;
        sequence.check_writer().await?;
        // Against the newest state this process knows (a request read it when it started):
        // the append itself finds out whether another process wrote meanwhile. Only an answer
        // given without appending (a rejection, nothing to change) needs a fresh read first.
        let mut state = self.state();
        let mut fresh = false;
        let mut attempts = 0;
        loop {
            let planned = transaction.plan(&state);
            if !fresh && planned.as_ref().map_or(true, |changes| changes.is_empty()) {
                state = self.refresh().await?;
                fresh = true;
                continue;
            }
            attempts += 1;
            let changes = planned.map_err(|rejection| CommitError::Rejected {
                repo: repo.to_owned(),
                seq: state.seq,
                rejection,
            })?;
            if changes.is_empty() {
                return Ok(Committed {
                    state,
                    written: false,
                });
            }
            let entry = LogEntry {
                seq: state.seq + 1,
                time_ms: now_ms(),
                nonce: rand::random(),
                // A dulwich layout enters the log with the entry that first changes it.
                reset: (state.seq == 0).then(|| Snapshot::from(state.as_ref())),
                refs: changes.refs,
                head: changes.head,
                packs_added: changes.packs_added,
                packs_removed: changes.packs_removed,
            };
            match append(sequence.as_ref(), &state, &entry).await? {
                Append::Appended => {
                    let mut next = (*state).clone();
                    next.apply(&entry);
                    let state = self.store(next);
                    self.publish(&state, entry).await;
                    return Ok(Committed {
                        state,
                        written: true,
                    });
                }
                Append::Conflict if attempts >= self.inner.max_commit_attempts => {
                    return Err(CommitError::Contention {
                        repo: repo.to_owned(),
                        seq: entry.seq,
                        attempts,
                    });
                }
                Append::Conflict => {
                    tracing::debug!(
                        repo,
                        seq = entry.seq,
                        attempts,
                        "another writer took the entry; catching up"
                    );
                    if attempts > 1 {
                        backoff(attempts).await;
                    }
                    state = self.refresh().await?;
                    fresh = true;
                }
            }
        }
    }

    /// Optional, before a commit: the checks that do not depend on the transaction (this
    /// process may write the repository: the writer lease without a coordinator), so that a
    /// caller can overlap them with other work (a push, with receiving its pack). The commit
    /// does not repeat them for a couple of seconds.
    pub async fn prepare_commit(&self) -> Result<(), LogError> {
        self.inner.sequence.check_writer().await
    }

    /// Publishes a committed entry, now or (if the sequence allows) in a task of its own that
    /// [`Repository::published`] waits for.
    async fn publish(&self, state: &Arc<RepoState>, entry: LogEntry) {
        let sequence = Arc::clone(&self.inner.sequence);
        if !sequence.publish_in_background() {
            sequence.publish(state, &entry).await;
            return;
        }
        let state = Arc::clone(state);
        let task = tokio::spawn(async move { sequence.publish(&state, &entry).await });
        let mut publishing = self.publishing();
        publishing.retain(|task| !task.is_finished());
        publishing.push(task);
    }

    /// Waits until every commit's background publishing (checkpoints, the hint, with etcd the
    /// entry's copy in the object store) is done: for a clean shutdown, and for tests that count
    /// requests.
    pub async fn published(&self) {
        let tasks: Vec<_> = self.publishing().drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Whether a commit's background publishing may still be running (see
    /// [`Repository::published`]).
    pub fn is_publishing(&self) -> bool {
        self.publishing().iter().any(|task| !task.is_finished())
    }

    fn publishing(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.inner
            .publishing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks (in parallel) that each added pack not already live has its `.pack` and `.idx`.
    async fn check_packs_stored(&self, packs: &[PackId]) -> Result<(), CommitError> {
        let live = self.state();
        let repo = self.container();
        let storage = self.storage().as_ref();
        let names: Vec<(PackId, String)> = packs
            .iter()
            .filter(|pack| !live.packs.contains(pack))
            .flat_map(|pack| ["pack", "idx"].map(|ext| (*pack, pack.object_name(ext))))
            .collect();
        let checks: Vec<_> = futures::stream::iter(names)
            .map(|(pack, name)| async move {
                let found = storage.head(repo, &name).await;
                (pack, name, found)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (pack, object, found) in checks {
            match found {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(CommitError::PackNotStored {
                        repo: repo.to_owned(),
                        pack,
                        object,
                    });
                }
                Err(e) => return Err(LogError::storage(repo, "check", object, e).into()),
            }
        }
        Ok(())
    }
}

/// Appends `entry` after `base`, settling an unknown outcome; the error of the append if it
/// stays unknown.
async fn append(
    sequence: &dyn StateSequence,
    base: &RepoState,
    entry: &LogEntry,
) -> Result<Append, LogError> {
    match sequence.append(base, entry).await {
        Ok(outcome) => Ok(outcome),
        Err(e) if e.outcome_unknown => match sequence.resolve(base, entry).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => Err(e.error),
        },
        Err(e) => Err(e.error),
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random pause growing with the number of lost races, at most 64 ms.
async fn backoff(attempts: u32) {
    let ceiling = 1u64 << attempts.min(6);
    let pause = rand::random_range(1..=ceiling);
    tokio::time::sleep(Duration::from_millis(pause)).await;
}
