//! Writing a repository's state through etcd: the append transaction, settling its lost
//! answers, and copying entries into the object store's log afterwards.

use super::*;

impl EtcdSequence {
    /// The append transaction of `entry` after `base`, whose entry value is `value`.
    pub(super) fn append_txn(
        &self,
        base: &RepoState,
        entry: &LogEntry,
        value: Vec<u8>,
        epoch: &str,
    ) -> Txn {
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
    pub(super) fn entry_value(entry: &LogEntry) -> (Vec<u8>, Option<(String, Bytes)>) {
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

    /// The epoch to append with: the registration of the state this sequence returned last, a
    /// new one for a registration.
    pub(super) async fn epoch_for(&self, base: &RepoState) -> Result<String, LogError> {
        if base.seq == 0 {
            return Ok(HeadValue::new_epoch());
        }
        if let Some(epoch) = self.seen().state_epoch.clone() {
            return Ok(epoch);
        }
        let snapshot = self.snapshot(base.seq).await?;
        snapshot
            .head
            .map(|head| head.epoch)
            .ok_or_else(|| self.corrupt(&self.keys.head, "the repository is not registered"))
    }

    /// Before an append after `base`: if too many committed entries wait to be copied into the
    /// object store (it was down, or copies fail), copy them first, and refuse the append if
    /// that fails, rather than letting etcd fill up.
    pub(super) async fn keep_copies_up(&self, base: &RepoState) -> Result<(), LogError> {
        let waiting = base.seq.saturating_sub(self.seen().archived);
        if waiting < MAX_WAITING_COPIES {
            return Ok(());
        }
        self.archive_through(base.seq)
            .await
            .map_err(|error| LogError::CopiesBehind {
                repo: self.repo().to_owned(),
                waiting,
                error: Box::new(error),
            })
    }

    /// Whether the entry stored at `entry.seq` (etcd's value `found`, or the object store's
    /// copy once trimmed from etcd) is `entry`.
    pub(super) async fn is_ours(
        &self,
        entry: &LogEntry,
        found: Option<Vec<u8>>,
    ) -> Result<bool, LogError> {
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
    pub(super) async fn archive_through(&self, seq: u64) -> Result<(), LogError> {
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
    pub(super) async fn copy_entry(&self, seq: u64, value: &[u8]) -> Result<(), LogError> {
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
        let found = async { self.storage.get(repo, &name).await?.bytes().await };
        let found = found
            .await
            .map_err(|e| LogError::storage(repo, "read", name.clone(), e))?;
        if found == bytes {
            return Ok(());
        }
        // Never lose what was there: it may be a push a process without the coordinator
        // acknowledged. Keep it beside the log, then put etcd's entry in place.
        let displaced = format!("{name}.displaced-{:016x}", rand::random::<u64>());
        self.storage
            .put(repo, &displaced, found.into(), PutMode::Create)
            .await
            .map_err(|e| LogError::storage(repo, "keep", displaced.clone(), e))?;
        tracing::error!(
            repo,
            seq,
            displaced,
            "the object store held another entry at this seq (written by a process without the coordinator); it is kept under the displaced name and replaced with etcd's"
        );
        self.storage
            .put(repo, &name, bytes.into(), PutMode::Overwrite)
            .await
            .map(|_| ())
            .map_err(|e| LogError::storage(repo, "copy", name, e))
    }
}
