//! Reading a repository's state from etcd: one linearizable snapshot (head, archive
//! position, the entries after a state), the entries it names, the state built from them and
//! the object store's log, and the adoption of repositories etcd does not know yet.

use super::*;

/// One etcd read: head, archive position and the entries after a seq.
pub(super) struct EtcdView {
    pub(super) head: Option<HeadValue>,
    pub(super) archived: u64,
    pub(super) entries: Vec<(u64, Vec<u8>)>,
}

impl EtcdSequence {
    /// One linearizable read of the head, `archived` and the entries after `after` (all of
    /// them: more requests if there are over [`RANGE_LIMIT`]).
    pub(super) async fn snapshot(&self, after: u64) -> Result<EtcdView, LogError> {
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
            seen.archived = seen.archived.max(archived);
        }
        Ok(EtcdView {
            head,
            archived,
            entries: collected,
        })
    }

    /// The entry an etcd value holds (reading a pointer's object).
    pub(super) async fn entry_of(&self, seq: u64, value: &[u8]) -> Result<LogEntry, LogError> {
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

    /// [`StateSequence::read`]: one etcd snapshot, then the state it names. A repository etcd
    /// does not know is adopted; one whose registration changed since `known` was read (it was
    /// deleted and registered again) is read afresh and returned as [`Newest::Replaced`].
    pub(super) async fn read_from(&self, known: Option<&RepoState>) -> Result<Newest, LogError> {
        let after = known.map_or(0, |state| state.seq);
        let mut snapshot = self.snapshot(after).await?;
        if snapshot.head.is_none() {
            if known.is_some() {
                return Err(self.not_registered());
            }
            if !self.adopt().await? {
                return Ok(Newest::Absent);
            }
            snapshot = self.snapshot(after).await?;
        }
        let Some(head) = snapshot.head.clone() else {
            return Err(self.not_registered());
        };
        match known {
            Some(known) => {
                let epoch = self.seen().state_epoch.clone();
                if epoch.is_some_and(|epoch| epoch != head.epoch) {
                    tracing::warn!(
                        repo = self.repo(),
                        "the repository was registered again since it was read: reading it afresh"
                    );
                    return Ok(match Box::pin(self.read_from(None)).await? {
                        Newest::State(state) => Newest::Replaced(state),
                        other => other,
                    });
                }
                if head.seq == known.seq {
                    return Ok(Newest::Unchanged);
                }
                if head.seq < known.seq {
                    return Err(self.corrupt(
                        &self.keys.head,
                        format!("it went back from entry {} to {}", known.seq, head.seq),
                    ));
                }
            }
            None => {
                if !self.check_marker(&head).await? {
                    return Ok(Newest::Absent);
                }
            }
        }
        let state = self.build(known, snapshot, head.clone()).await?;
        self.seen().state_epoch = Some(head.epoch);
        Ok(Newest::State(state))
    }

    fn not_registered(&self) -> LogError {
        LogError::NotRegistered {
            repo: self.repo().to_owned(),
            coordinator: self.description.clone(),
        }
    }

    /// Whether the container carries etcd's registration `head` (see [`marker`]): `false` if
    /// the container is gone (a stale registration: no repository), an error if it carries
    /// another one or none. A registration left pending by a process that died is completed.
    async fn check_marker(&self, head: &HeadValue) -> Result<bool, LogError> {
        let storage = self.storage.as_ref();
        let repo = self.repo();
        let elsewhere = |reason: String| LogError::RegisteredElsewhere {
            repo: repo.to_owned(),
            coordinator: self.description.clone(),
            reason,
        };
        match marker::read(storage, repo).await? {
            Some(found) if found.epoch == head.epoch => Ok(true),
            Some(found) if found.epoch == marker::PENDING => {
                self.mark_coordinated(&head.epoch).await?;
                Ok(true)
            }
            Some(found) => Err(elsewhere(format!(
                "the container's {} names registration {:?}, etcd's is {:?}",
                marker::MARKER_OBJECT,
                found.epoch,
                head.epoch
            ))),
            None => {
                let exists = storage
                    .container_exists(repo)
                    .await
                    .map_err(|e| LogError::storage(repo, "check", "its container", e))?;
                if !exists {
                    tracing::warn!(repo, "etcd registers a repository whose container is gone");
                    return Ok(false);
                }
                Err(elsewhere(format!(
                    "the container has no {}",
                    marker::MARKER_OBJECT
                )))
            }
        }
    }

    /// Registers a repository etcd does not know: a log in the object store is adopted at its
    /// newest entry; a dulwich layout by appending its state as entry 1. `false` if there is
    /// nothing to adopt. Refused while a process without a coordinator holds the writer lease
    /// (it could commit an entry that etcd would then overwrite).
    pub(super) async fn adopt(&self) -> Result<bool, LogError> {
        let storage = self.storage.as_ref();
        let repo = self.repo();
        if let Some(loaded) = log::load(storage, repo).await? {
            self.refuse_while_written_without_coordinator().await?;
            self.archive.note_checkpoint(loaded.checkpoint);
            self.mark_coordinated(marker::PENDING).await?;
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
            // Every adopter marks the container with the registration that won.
            if let Some(winner) = self.snapshot(head.seq).await?.head {
                self.mark_coordinated(&winner.epoch).await?;
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

    async fn refuse_while_written_without_coordinator(&self) -> Result<(), LogError> {
        let found = lease::read_record(self.storage.as_ref(), self.repo()).await?;
        match found.and_then(|record| record.live_holder()) {
            Some(holder) => Err(LogError::AdoptionRefused {
                repo: self.repo().to_owned(),
                host: holder.host,
                pid: holder.pid,
            }),
            None => Ok(()),
        }
    }

    /// Tells processes without a coordinator that this repository has one, and which
    /// registration (`epoch`, or [`marker::PENDING`]) its container belongs to.
    pub(super) async fn mark_coordinated(&self, epoch: &str) -> Result<(), LogError> {
        let marker = Marker::new(&self.description, epoch);
        marker::write(self.storage.as_ref(), self.repo(), &marker).await
    }

    /// The state after `head`, from `known` (or nothing) and one etcd snapshot.
    pub(super) async fn build(
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
                    log::apply_logged(repo, &mut state, &entry)?;
                }
                state
            }
            _ => {
                let loaded =
                    log::load_until(self.storage.as_ref(), repo, stored_until, head.seq).await?;
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
            log::apply_logged(repo, &mut state, &entry)?;
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
}
