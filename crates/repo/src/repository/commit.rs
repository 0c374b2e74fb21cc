//! [`Repository::commit`]: the commit protocol.
//!
//! 1. Check what does not depend on the state (duplicate refs, contradictions), and that every
//!    added pack's `.pack` and `.idx` are stored.
//! 2. Take the process's commit lock for the repository, so the process never races itself.
//! 3. Catch up with the log (one request if nothing changed).
//! 4. Check every expectation against that state; any failure rejects the whole transaction.
//! 5. Have the [`crate::refs::Committer`] make the changes entry `seq + 1`. If another writer
//!    took that entry, catch up and go back to 4. If the append failed without an answer, read
//!    the entry back: its random nonce tells whether it is ours.
//! 6. Write a checkpoint if one is due, then the hint. Both are optimisations: a failure is
//!    logged, not returned, and readers do without them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_storage::ErrorKind;

use super::Repository;
use crate::PackId;
use crate::refs::format::{self, Hint};
use crate::refs::{
    Append, CommitError, LogEntry, LogError, RefTransaction, RepoState, Snapshot, log,
};

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
    /// Commits `transaction` all or nothing, as log entry `seq + 1` of the newest state.
    ///
    /// Errors: [`CommitError::Rejected`] if an expectation does not hold (naming the ref, the
    /// expected and the actual value) or the transaction contradicts itself — nothing is written;
    /// [`CommitError::PackNotStored`] if an added pack is not uploaded;
    /// [`CommitError::Contention`] if other writers took the next entry
    /// [`super::RepositoryOptions::max_commit_attempts`] times in a row;
    /// [`CommitError::Log`] for storage failures (if it happened while writing the entry, the
    /// outcome is unknown: refresh to see).
    ///
    /// Atomicity: concurrent commits in one process are serialised. Across processes the
    /// guarantee is the [`crate::refs::Committer`]'s: exact on memory and local storage, not on
    /// Swift with the default committer.
    pub async fn commit(&self, transaction: RefTransaction) -> Result<Committed, CommitError> {
        let repo = self.container();
        transaction
            .validate()
            .map_err(|rejection| CommitError::Rejected {
                repo: repo.to_owned(),
                seq: self.state().seq,
                rejection,
            })?;
        self.check_packs_stored(&transaction.packs_added).await?;

        let lock = self.inner.lock.clone();
        let _guard = lock.lock().await;
        let mut state = self.refresh().await?;
        let options = &self.inner.options;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let changes = transaction
                .plan(&state)
                .map_err(|rejection| CommitError::Rejected {
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
            let bytes = Bytes::from(format::encode_entry(&entry));
            let outcome = match options
                .committer
                .append(self.storage().as_ref(), repo, entry.seq, bytes.clone())
                .await
            {
                Ok(outcome) => outcome,
                Err(e) => self.settle_unknown_outcome(entry.seq, &bytes, e).await?,
            };
            match outcome {
                Append::Appended => {
                    let mut next = (*state).clone();
                    next.apply(&entry);
                    let state = self.after_append(next, entry.time_ms).await;
                    return Ok(Committed {
                        state,
                        written: true,
                    });
                }
                Append::Conflict if attempts >= options.max_commit_attempts => {
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
                }
            }
        }
    }

    /// After a failed append (say its answer was lost), reads entry `seq` back: our bytes (the
    /// nonce makes them unique) mean the commit happened, someone else's that it lost. If the
    /// entry is missing or unreadable the outcome stays unknown and `error` is returned.
    async fn settle_unknown_outcome(
        &self,
        seq: u64,
        entry: &Bytes,
        error: swiftgit_storage::StorageError,
    ) -> Result<Append, LogError> {
        let name = log::entry_name(seq);
        let stored = async {
            self.storage()
                .get(self.container(), &name)
                .await?
                .bytes()
                .await
        };
        match stored.await {
            Ok(stored) if stored == *entry => Ok(Append::Appended),
            Ok(_) => Ok(Append::Conflict),
            Err(_) => Err(LogError::storage(self.container(), "write", name, error)),
        }
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

    /// Writes a checkpoint if one is due and then the hint; caches `state`.
    async fn after_append(&self, state: RepoState, time_ms: u64) -> Arc<RepoState> {
        let repo = self.container();
        let storage = self.storage().as_ref();
        let mut checkpoint = self.cache().checkpoint;
        if state.seq - checkpoint.unwrap_or(0) >= self.inner.options.checkpoint_interval.max(1) {
            match log::write_checkpoint(storage, repo, &state, time_ms).await {
                Ok(()) => checkpoint = Some(state.seq),
                Err(e) => {
                    tracing::warn!(error = %e, "committed, but the checkpoint was not written")
                }
            }
        }
        let hint = Hint {
            checkpoint,
            seq: state.seq,
        };
        if let Err(e) = log::write_hint(storage, repo, hint).await {
            tracing::warn!(error = %e, "committed, but the hint was not updated");
        }
        self.store(state, checkpoint)
    }
}

pub(super) fn now_ms() -> u64 {
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
