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

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_etcd::{Compare, CompareOp, EtcdClient, RangeRequest, Txn, TxnOp, TxnOpResponse};
use swiftgit_storage::{ErrorKind, PutMode, Storage};

use self::keys::{EntryValue, HeadValue, Keys};
use super::archive::Archive;
use super::lease::{self, WriterRecord};
use super::{Append, AppendError, Coordinator, StateSequence};
use crate::name::RepoName;
use crate::refs::state::{LogEntry, RepoState, Snapshot};
use crate::refs::{LogError, format, log};
use crate::seed;

/// Entries larger than this are stored in the object store first and named in etcd.
const INLINE_MAX_BYTES: usize = 256 << 10;
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

    pub fn client(&self) -> &EtcdClient {
        &self.client
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
}

/// What the last read told about the repository's keys.
#[derive(Debug, Default, Clone)]
struct Seen {
    epoch: Option<String>,
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

/// One etcd read: head, archive position and the entries after a seq.
struct EtcdView {
    head: Option<HeadValue>,
    archived: u64,
    entries: Vec<(u64, Vec<u8>)>,
}

impl EtcdSequence {
    fn repo(&self) -> &str {
        self.archive.container()
    }

    fn coordinator_error(&self, action: &'static str, error: swiftgit_etcd::EtcdError) -> LogError {
        LogError::Coordinator {
            repo: self.repo().to_owned(),
            action,
            error: Box::new(error),
        }
    }

    fn corrupt(&self, key: &[u8], reason: impl Into<String>) -> LogError {
        LogError::CoordinatorCorrupt {
            repo: self.repo().to_owned(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason: reason.into(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One linearizable read of the head, `archived` and the entries after `after` (all of
    /// them: more requests if there are over [`RANGE_LIMIT`]).
    async fn snapshot(&self, after: u64) -> Result<EtcdView, LogError> {
        let txn = Txn::new()
            .on_success(TxnOp::range(RangeRequest::key(self.keys.head.clone())))
            .on_success(TxnOp::range(RangeRequest::key(self.keys.archived.clone())))
            .on_success(TxnOp::range(
                RangeRequest::from_key_to(self.keys.entry(after + 1), self.keys.log_end())
                    .with_limit(RANGE_LIMIT),
            ));
        let response = self
            .client
            .txn(txn)
            .await
            .map_err(|e| self.coordinator_error("read its state", e))?;
        let mut ranges = response.responses.into_iter().map(|r| match r {
            TxnOpResponse::Range(range) => Some(range),
            _ => None,
        });
        let (Some(Some(head)), Some(Some(archived)), Some(Some(mut entries))) =
            (ranges.next(), ranges.next(), ranges.next())
        else {
            return Err(self.corrupt(&self.keys.head, "etcd answered a read with other responses"));
        };
        let head = match head.kvs.first() {
            Some(kv) => {
                Some(HeadValue::decode(&kv.value).map_err(|r| self.corrupt(&self.keys.head, r))?)
            }
            None => None,
        };
        let archived = match archived.kvs.first() {
            Some(kv) => keys::decode_archived(&kv.value)
                .map_err(|r| self.corrupt(&self.keys.archived, r))?,
            None => 0,
        };
        let mut collected = Vec::new();
        loop {
            let more = entries.more;
            let mut last = None;
            for kv in entries.kvs {
                let seq = self
                    .keys
                    .seq_of(&kv.key)
                    .ok_or_else(|| self.corrupt(&kv.key, "not a log key"))?;
                last = Some(seq);
                collected.push((seq, kv.value));
            }
            let (true, Some(last)) = (more, last) else {
                break;
            };
            // Entries appended after this snapshot's head are left for the next read.
            if head.as_ref().is_some_and(|h| last >= h.seq) {
                break;
            }
            entries = self
                .client
                .range(
                    RangeRequest::from_key_to(self.keys.entry(last + 1), self.keys.log_end())
                        .with_limit(RANGE_LIMIT),
                )
                .await
                .map_err(|e| self.coordinator_error("read its state", e))?;
        }
        if let Some(head) = &head {
            collected.retain(|(seq, _)| *seq <= head.seq);
            let mut seen = self.seen();
            seen.epoch = Some(head.epoch.clone());
            seen.archived = seen.archived.max(archived);
        }
        Ok(EtcdView {
            head,
            archived,
            entries: collected,
        })
    }

    /// The entry an etcd value holds (reading a pointer's object).
    async fn entry_of(&self, seq: u64, value: &[u8]) -> Result<LogEntry, LogError> {
        let key = self.keys.entry(seq);
        let entry = match keys::decode_entry_value(value)
            .map_err(|e| self.corrupt(&key, e.to_string()))?
        {
            EntryValue::Inline(entry) => *entry,
            EntryValue::Pointer(object) => {
                let read = async { self.storage.get(self.repo(), &object).await?.bytes().await };
                let bytes = read
                    .await
                    .map_err(|e| LogError::storage(self.repo(), "read", object.clone(), e))?;
                format::decode_entry(&bytes).map_err(|reason| LogError::Corrupt {
                    repo: self.repo().to_owned(),
                    object,
                    reason,
                })?
            }
        };
        if entry.seq != seq {
            return Err(self.corrupt(&key, format!("it holds entry {}", entry.seq)));
        }
        Ok(entry)
    }

    /// Registers a repository etcd does not know: a log in the object store is adopted at its
    /// newest entry; a dulwich layout by appending its state as entry 1. `false` if there is
    /// nothing to adopt.
    async fn adopt(&self) -> Result<bool, LogError> {
        let storage = self.storage.as_ref();
        let repo = self.repo();
        if let Some(loaded) = log::load(storage, repo).await? {
            self.archive.note_checkpoint(loaded.checkpoint);
            self.mark_coordinated().await?;
            let head = HeadValue {
                seq: loaded.state.seq,
                epoch: HeadValue::new_epoch(),
            };
            let txn = Txn::new()
                .when(Compare::absent(self.keys.head.clone()))
                .on_success(TxnOp::put(self.keys.head.clone(), head.encode()))
                .on_success(TxnOp::put(
                    self.keys.archived.clone(),
                    head.seq.to_string().into_bytes(),
                ));
            let response = self
                .client
                .txn(txn)
                .await
                .map_err(|e| self.coordinator_error("register it", e))?;
            if response.succeeded {
                tracing::info!(
                    repo,
                    seq = head.seq,
                    "adopted the repository's log into etcd"
                );
            }
            return Ok(true);
        }
        let Some(layout) = seed::load(storage, repo).await? else {
            return Ok(false);
        };
        let entry = LogEntry {
            seq: 1,
            time_ms: crate::repository::now_ms(),
            nonce: rand::random(),
            reset: Some(Snapshot::from(&layout.state)),
            refs: Vec::new(),
            head: None,
            packs_added: Vec::new(),
            packs_removed: Vec::new(),
        };
        let base = RepoState::before_log();
        let appended = match self.append(&base, &entry).await {
            Ok(appended) => appended,
            Err(e) if e.outcome_unknown => {
                self.resolve(&base, &entry).await.map_err(|_| e.error)?
            }
            Err(e) => return Err(e.error),
        };
        if appended == Append::Appended {
            tracing::info!(repo, "adopted a dulwich layout into etcd as entry 1");
        }
        Ok(true)
    }

    /// Tells processes without a coordinator that this repository has one.
    async fn mark_coordinated(&self) -> Result<(), LogError> {
        let record = WriterRecord::Coordinated {
            coordinator: self.description.clone(),
        };
        lease::write_record(self.storage.as_ref(), self.repo(), &record).await
    }

    /// The state after `head`, from `known` (or nothing) and one etcd snapshot.
    async fn build(
        &self,
        known: Option<&RepoState>,
        snapshot: EtcdView,
        head: HeadValue,
    ) -> Result<RepoState, LogError> {
        let repo = self.repo();
        let start = known.map_or(0, |state| state.seq);
        let first_in_etcd = snapshot
            .entries
            .first()
            .map_or(head.seq + 1, |(seq, _)| *seq);
        // Entries before the first one in etcd were copied into the object store (trimmed
        // entries are always archived ones).
        let stored_until = first_in_etcd - 1;
        if stored_until > start && stored_until > snapshot.archived {
            return Err(LogError::Broken {
                repo: repo.to_owned(),
                seq: snapshot.archived + 1,
                reason: format!(
                    "etcd holds entries from {first_in_etcd} on, but the object store only up to {}",
                    snapshot.archived
                ),
            });
        }
        let mut state = match known {
            Some(known) if stored_until - start <= MAX_ENTRIES_FETCHED => {
                let fetched: Vec<_> = futures::stream::iter(start + 1..=stored_until)
                    .map(|seq| log::fetch_entry(self.storage.as_ref(), repo, seq))
                    .buffered(16)
                    .collect()
                    .await;
                let mut state = known.clone();
                for (seq, entry) in (start + 1..).zip(fetched) {
                    let entry = entry?.ok_or_else(|| LogError::Broken {
                        repo: repo.to_owned(),
                        seq,
                        reason: "the entry is neither in etcd nor in the object store".into(),
                    })?;
                    log::apply_logged(repo, &mut state, &entry);
                }
                state
            }
            _ => {
                let loaded = log::load_until(self.storage.as_ref(), repo, stored_until).await?;
                self.archive.note_checkpoint(loaded.checkpoint);
                loaded.state
            }
        };
        for (seq, value) in &snapshot.entries {
            if *seq <= state.seq {
                continue;
            }
            if *seq != state.seq + 1 {
                return Err(LogError::Broken {
                    repo: repo.to_owned(),
                    seq: state.seq + 1,
                    reason: "the entry is missing from etcd".into(),
                });
            }
            let entry = self.entry_of(*seq, value).await?;
            if state.seq == 0 && entry.reset.is_none() {
                return Err(LogError::Broken {
                    repo: repo.to_owned(),
                    seq: 1,
                    reason: "the first entry does not hold an initial state".into(),
                });
            }
            log::apply_logged(repo, &mut state, &entry);
        }
        if state.seq != head.seq {
            return Err(LogError::Broken {
                repo: repo.to_owned(),
                seq: state.seq + 1,
                reason: format!(
                    "etcd's head is entry {}, but the entries end here",
                    head.seq
                ),
            });
        }
        Ok(state)
    }

    /// The append transaction of `entry` after `base`, whose entry value is `value`.
    fn append_txn(&self, base: &RepoState, entry: &LogEntry, value: Vec<u8>, epoch: &str) -> Txn {
        let next = HeadValue {
            seq: entry.seq,
            epoch: epoch.to_owned(),
        };
        let compare = if base.seq == 0 {
            Compare::absent(self.keys.head.clone())
        } else {
            let expected = HeadValue {
                seq: base.seq,
                epoch: epoch.to_owned(),
            };
            Compare::value(self.keys.head.clone(), CompareOp::Equal, expected.encode())
        };
        let mut txn = Txn::new()
            .when(compare)
            .on_success(TxnOp::put(self.keys.head.clone(), next.encode()))
            .on_success(TxnOp::put(self.keys.entry(entry.seq), value))
            .on_failure(TxnOp::range(RangeRequest::key(self.keys.entry(entry.seq))));
        if base.seq == 0 {
            txn = txn.on_success(TxnOp::put(self.keys.archived.clone(), b"0".to_vec()));
        }
        txn
    }

    /// The value an entry is stored under in etcd (without uploading a large one's copy).
    fn entry_value(entry: &LogEntry) -> (Vec<u8>, Option<(String, Bytes)>) {
        let bytes = format::encode_entry(entry);
        if bytes.len() <= INLINE_MAX_BYTES {
            return (bytes, None);
        }
        let object = keys::pointer_object(entry);
        (
            keys::encode_pointer(&object),
            Some((object, Bytes::from(bytes))),
        )
    }

    /// The epoch to append with: the one read last, a new one for a registration.
    async fn epoch_for(&self, base: &RepoState) -> Result<String, LogError> {
        if base.seq == 0 {
            return Ok(HeadValue::new_epoch());
        }
        if let Some(epoch) = self.seen().epoch.clone() {
            return Ok(epoch);
        }
        let snapshot = self.snapshot(base.seq).await?;
        snapshot
            .head
            .map(|head| head.epoch)
            .ok_or_else(|| self.corrupt(&self.keys.head, "the repository is not registered"))
    }

    /// Whether the entry stored at `entry.seq` (etcd's value `found`, or the object store's
    /// copy once trimmed from etcd) is `entry`.
    async fn is_ours(&self, entry: &LogEntry, found: Option<Vec<u8>>) -> Result<bool, LogError> {
        let stored = match found {
            Some(value) => self.entry_of(entry.seq, &value).await?,
            None => match log::fetch_entry(self.storage.as_ref(), self.repo(), entry.seq).await? {
                Some(stored) => stored,
                None => {
                    return Err(LogError::Broken {
                        repo: self.repo().to_owned(),
                        seq: entry.seq,
                        reason: "the outcome of appending this entry is unknown".into(),
                    });
                }
            },
        };
        Ok(stored.nonce == entry.nonce && &stored == entry)
    }

    /// Copies the entries up to `seq` (and any newer ones etcd holds) into the object store,
    /// advances `archived` and trims etcd's entries older than the window. One archiver at a
    /// time in a process: the others then find their entries archived already.
    async fn archive_through(&self, seq: u64) -> Result<(), LogError> {
        let repo = self.repo();
        let _one_at_a_time = self.archiving.lock().await;
        // A failed compare means another process advanced `archived`: progress, so go on
        // until this entry is archived (a bound only against a livelock).
        for _ in 0..1_000 {
            let from = self.seen().archived;
            if from >= seq {
                return Ok(());
            }
            let snapshot = self.snapshot(from).await?;
            let archived = snapshot.archived;
            if archived >= seq {
                return Ok(());
            }
            let pending: Vec<_> = snapshot
                .entries
                .into_iter()
                .filter(|(s, _)| *s > archived)
                .collect();
            if pending.first().map(|(s, _)| *s) != Some(archived + 1) {
                return Err(LogError::Broken {
                    repo: repo.to_owned(),
                    seq: archived + 1,
                    reason: "an entry to copy into the object store is missing from etcd".into(),
                });
            }
            let through = pending.last().map_or(archived, |(s, _)| *s);
            let copies: Vec<_> = futures::stream::iter(pending)
                .map(|(s, value)| async move { self.copy_entry(s, &value).await })
                .buffer_unordered(8)
                .collect()
                .await;
            copies.into_iter().collect::<Result<Vec<()>, LogError>>()?;
            // Registration writes `archived`, so it exists whenever the head does.
            let compare = Compare::value(
                self.keys.archived.clone(),
                CompareOp::Equal,
                archived.to_string().into_bytes(),
            );
            let mut txn = Txn::new().when(compare).on_success(TxnOp::put(
                self.keys.archived.clone(),
                through.to_string().into_bytes(),
            ));
            if through > self.window {
                txn = txn.on_success(TxnOp::DeleteRange {
                    key: self.keys.entry(0),
                    range_end: Some(self.keys.entry(through - self.window + 1)),
                });
            }
            let response = self
                .client
                .txn(txn)
                .await
                .map_err(|e| self.coordinator_error("record its archive position", e))?;

            if response.succeeded {
                let mut seen = self.seen();
                seen.archived = seen.archived.max(through);
                return Ok(());
            }
            // Another process archived meanwhile: look again.
            let mut seen = self.seen();
            seen.archived = seen.archived.max(archived);
        }
        Ok(())
    }

    /// Makes entry `seq` (etcd's `value`) the object store's entry `seq`.
    async fn copy_entry(&self, seq: u64, value: &[u8]) -> Result<(), LogError> {
        let repo = self.repo();
        let entry = self.entry_of(seq, value).await?;
        let bytes = Bytes::from(format::encode_entry(&entry));
        let name = log::entry_name(seq);
        match self
            .storage
            .put(repo, &name, bytes.clone().into(), PutMode::Create)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LogError::storage(repo, "copy", name, e)),
        }
        // Another copier, or a process that wrote without the coordinator.
        if log::fetch_entry(self.storage.as_ref(), repo, seq)
            .await?
            .as_ref()
            == Some(&entry)
        {
            return Ok(());
        }
        tracing::error!(
            repo,
            seq,
            "the object store held another entry at this seq (written by a process without the coordinator); replacing it with etcd's"
        );
        self.storage
            .put(repo, &name, bytes.into(), PutMode::Overwrite)
            .await
            .map(|_| ())
            .map_err(|e| LogError::storage(repo, "copy", name, e))
    }
}

#[async_trait::async_trait]
impl StateSequence for EtcdSequence {
    async fn read(&self, known: Option<&RepoState>) -> Result<Option<RepoState>, LogError> {
        let after = known.map_or(0, |state| state.seq);
        let mut snapshot = self.snapshot(after).await?;
        if snapshot.head.is_none() {
            if known.is_some() {
                return Err(self.corrupt(&self.keys.head, "the repository is no longer registered"));
            }
            if !self.adopt().await? {
                return Ok(None);
            }
            snapshot = self.snapshot(after).await?;
        }
        let Some(head) = snapshot.head.clone() else {
            return Err(self.corrupt(&self.keys.head, "missing right after registration"));
        };
        if let Some(known) = known {
            if head.seq == known.seq {
                return Ok(Some(known.clone()));
            }
            if head.seq < known.seq {
                return Err(self.corrupt(
                    &self.keys.head,
                    format!("it went back from entry {} to {}", known.seq, head.seq),
                ));
            }
        }
        self.build(known, snapshot, head).await.map(Some)
    }

    async fn append(&self, base: &RepoState, entry: &LogEntry) -> Result<Append, AppendError> {
        debug_assert_eq!(entry.seq, base.seq + 1);
        let epoch = self
            .epoch_for(base)
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
            self.mark_coordinated()
                .await
                .map_err(AppendError::not_applied)?;
        }
        let txn = self.append_txn(base, entry, value, &epoch);
        match self.client.txn(txn).await {
            Ok(response) if response.succeeded => {
                self.seen().epoch = Some(epoch);
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
            self.seen().epoch = Some(epoch);
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
            self.seen().epoch = None;
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
