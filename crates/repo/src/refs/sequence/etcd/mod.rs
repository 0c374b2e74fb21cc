//! [`Etcd`]: every state change of every repository decided by one etcd transaction, for any
//! number of writing processes on one object store.
//!
//! - **Append**: one transaction compares the repository's head with the head the writer read
//!   and writes the new head and the entry (see [`keys`]). The entry lives in etcd until it is
//!   copied into the object store's log, so a writer that dies after winning loses nothing:
//!   readers read the entry from etcd, and the next writer copies it. An entry too large for
//!   etcd (a push of 100 000 refs is ~13 MiB of JSON; etcd takes ≤ 1.5 MiB per request) is
//!   stored in the object store under a unique name first, and etcd holds a pointer to it.
//! - **Read**: one linearizable etcd request (a transaction of three ranges: head, archive
//!   position, entries after the reader's state) per read, so a request that starts after a
//!   push was acknowledged by any process sees it; entries no longer in etcd are read from the
//!   object store, where they were copied before being trimmed.
//! - **Unknown outcomes** (etcd's answer lost): the same transaction is sent again; it cannot
//!   apply twice (its compare fails once the head moved), and its failure branch returns the
//!   entry that won, whose nonce says whose it is.
//! - **Publish** (after the client was answered): copy the entries up to this one into the
//!   object store, advance `archived` and trim etcd's entries older than a window, write a
//!   checkpoint when due and the hint.
//! - **Adoption**: a repository etcd does not know yet (made before the coordinator, or by
//!   dulwich) is registered on first use by a transaction that creates its head only if absent,
//!   so exactly one of several racing processes adopts it. The repository's `swiftgit/writer`
//!   object then says it is coordinated, so that a process without the coordinator refuses to
//!   write it.

mod keys;
mod read;
mod write;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_etcd::{Compare, CompareOp, EtcdClient, RangeRequest, Txn, TxnOp, TxnOpResponse};
use swiftgit_storage::{ErrorKind, PutMode, Storage};

use self::keys::{EntryValue, HeadValue, Keys};
use super::archive::Archive;
use super::lease;
use super::maintenance::{self, MaintenanceLock};
use super::marker::{self, Marker};
use super::{Append, AppendError, Coordinator, Newest, StateSequence};
use crate::name::RepoName;
use crate::refs::state::{LogEntry, RepoState, Snapshot};
use crate::refs::{LogError, format, log};
use crate::seed;

/// Entries larger than this are stored in the object store first and named in etcd (keeping
/// etcd's database, which keeps every revision until it is compacted, small).
const INLINE_MAX_BYTES: usize = 64 << 10;
/// Committed entries allowed to wait in etcd for their copy into the object store; past this
/// an append first copies them, and is refused if it cannot.
const MAX_WAITING_COPIES: u64 = 256;
/// Entries read from etcd per request.
const RANGE_LIMIT: i64 = 512;
/// Entries read one by one from the object store before a reader loads from a checkpoint.
const MAX_ENTRIES_FETCHED: u64 = 64;

/// The etcd coordinator (see the module documentation).
#[derive(Debug, Clone)]
pub struct Etcd {
    client: EtcdClient,
    prefix: String,
    /// A checkpoint is written after every entry whose seq is a multiple of this. Default 8.
    pub checkpoint_interval: u64,
    /// Entries kept in etcd after they were copied into the object store, so that a reader a
    /// few pushes behind reads them in its one etcd request. Default 32.
    pub window: u64,
    /// Test-only failpoint: an append that won waits forever before answering, as a writer
    /// that dies between winning in etcd and finishing in the object store (a crash test then
    /// kills the process). Default off.
    pub pause_after_append: bool,
}

impl Etcd {
    /// The coordinator on `client`, its keys under `prefix` (`swiftgit/` by default).
    pub fn new(client: EtcdClient, prefix: &str) -> Etcd {
        Etcd {
            client,
            prefix: prefix.to_owned(),
            checkpoint_interval: 8,
            window: 32,
            pause_after_append: false,
        }
    }
}

#[async_trait::async_trait]
impl Coordinator for Etcd {
    fn sequence(&self, storage: Arc<dyn Storage>, name: &RepoName) -> Arc<dyn StateSequence> {
        Arc::new(EtcdSequence {
            client: self.client.clone(),
            keys: Keys::new(&self.prefix, name.as_str()),
            description: self.describe(),
            storage,
            archive: Archive::new(name.as_str(), self.checkpoint_interval),
            window: self.window.max(1),
            pause_after_append: self.pause_after_append,
            seen: Mutex::new(Seen::default()),
            archiving: tokio::sync::Mutex::new(()),
        })
    }

    fn describe(&self) -> String {
        format!(
            "etcd at {} (prefix {})",
            self.client.endpoints().join(","),
            self.prefix
        )
    }

    fn registration(&self, name: &RepoName) -> Option<String> {
        Some(Keys::new(&self.prefix, name.as_str()).base().to_owned())
    }

    /// A key under the repository's prefix, created only if absent and attached to an etcd
    /// lease this process keeps alive.
    async fn lock_maintenance(
        &self,
        _storage: Arc<dyn Storage>,
        name: &RepoName,
    ) -> Result<Option<MaintenanceLock>, LogError> {
        let key = Keys::new(&self.prefix, name.as_str()).maintenance;
        maintenance::lock_in_etcd(&self.client, name.as_str(), key).await
    }
}

/// What reads told about the repository's keys.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// The registration (epoch) of the newest state this sequence returned; appends compare
    /// with it, so that a process that read a repository before it was deleted and registered
    /// again never appends to the new one.
    state_epoch: Option<String>,
    /// Every entry up to this one is in the object store (a lower bound).
    archived: u64,
}

/// One repository's sequence in etcd.
#[derive(Debug)]
struct EtcdSequence {
    client: EtcdClient,
    keys: Keys,
    description: String,
    storage: Arc<dyn Storage>,
    archive: Archive,
    window: u64,
    pause_after_append: bool,
    seen: Mutex<Seen>,
    archiving: tokio::sync::Mutex<()>,
}

impl EtcdSequence {
    pub(super) fn repo(&self) -> &str {
        self.archive.container()
    }

    pub(super) fn coordinator_error(
        &self,
        action: &'static str,
        error: swiftgit_etcd::EtcdError,
    ) -> LogError {
        LogError::Coordinator {
            repo: self.repo().to_owned(),
            action,
            error: Box::new(error),
        }
    }

    pub(super) fn corrupt(&self, key: &[u8], reason: impl Into<String>) -> LogError {
        LogError::CoordinatorCorrupt {
            repo: self.repo().to_owned(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason: reason.into(),
        }
    }

    pub(super) fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl StateSequence for EtcdSequence {
    async fn read(&self, known: Option<&RepoState>) -> Result<Newest, LogError> {
        self.read_from(known).await
    }

    async fn append(&self, base: &RepoState, entry: &LogEntry) -> Result<Append, AppendError> {
        debug_assert_eq!(entry.seq, base.seq + 1);
        let epoch = self
            .epoch_for(base)
            .await
            .map_err(AppendError::not_applied)?;
        self.keep_copies_up(base)
            .await
            .map_err(AppendError::not_applied)?;
        let (value, large) = Self::entry_value(entry);
        if let Some((object, bytes)) = large {
            self.storage
                .put(self.repo(), &object, bytes.into(), PutMode::Overwrite)
                .await
                .map_err(|e| {
                    AppendError::not_applied(LogError::storage(self.repo(), "write", object, e))
                })?;
        }
        if base.seq == 0 {
            self.mark_coordinated(marker::PENDING)
                .await
                .map_err(AppendError::not_applied)?;
        }
        let txn = self.append_txn(base, entry, value, &epoch);
        match self.client.txn(txn).await {
            Ok(response) if response.succeeded => {
                self.seen().state_epoch = Some(epoch.clone());
                if base.seq == 0
                    && let Err(error) = self.mark_coordinated(&epoch).await
                {
                    // The next process to open the repository completes it.
                    tracing::warn!(%error, "registered, but the container's marker was not completed");
                }
                if self.pause_after_append {
                    tracing::warn!(
                        repo = self.repo(),
                        seq = entry.seq,
                        "failpoint: pausing after an append that won"
                    );
                    std::future::pending::<()>().await;
                }
                Ok(Append::Appended)
            }
            Ok(_) => Ok(Append::Conflict),
            Err(e) => {
                let unknown = e.outcome_unknown();
                let error = self.coordinator_error("append to its state", e);
                Err(AppendError {
                    error,
                    outcome_unknown: unknown,
                })
            }
        }
    }

    async fn resolve(&self, base: &RepoState, entry: &LogEntry) -> Result<Append, AppendError> {
        let epoch = self.epoch_for(base).await.map_err(AppendError::unknown)?;
        let (value, _) = Self::entry_value(entry);
        // The same transaction again: it cannot apply twice, and if it fails the entry that
        // won comes back with the answer.
        let txn = self.append_txn(base, entry, value, &epoch);
        let response = self
            .client
            .txn(txn)
            .await
            .map_err(|e| AppendError::unknown(self.coordinator_error("settle an append", e)))?;
        if response.succeeded {
            self.seen().state_epoch = Some(epoch);
            return Ok(Append::Appended);
        }
        let found = response.responses.into_iter().find_map(|r| match r {
            TxnOpResponse::Range(range) => range.kvs.into_iter().next().map(|kv| kv.value),
            _ => None,
        });
        let ours = self
            .is_ours(entry, found)
            .await
            .map_err(AppendError::unknown)?;
        if ours && base.seq == 0 {
            // Registered by the first attempt, with another epoch: the next read learns it.
            self.seen().state_epoch = None;
        }
        Ok(if ours {
            Append::Appended
        } else {
            Append::Conflict
        })
    }

    async fn publish(&self, state: &RepoState, entry: &LogEntry) {
        if let Err(error) = self.archive_through(entry.seq).await {
            tracing::warn!(
                %error,
                "committed, but the entry was not copied into the object store yet (the next writer copies it)"
            );
            return;
        }
        self.archive
            .publish(self.storage.as_ref(), state, entry.time_ms)
            .await;
    }

    fn publish_in_background(&self) -> bool {
        true
    }
}
