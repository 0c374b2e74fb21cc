//! A full check of a repository's state log, for tests and for an operator's `fsck`: replays
//! every entry from the first (or, in a log that maintenance compacted, from the oldest
//! checkpoint kept), compares every checkpoint with the replay, and checks that every live
//! pack is stored. It reads the whole log, so it is slow on long logs.

use std::collections::BTreeSet;

use futures::StreamExt;
use swiftgit_storage::{ErrorKind, Storage};

use super::log::{self, CHECKPOINT_PREFIX};
use super::state::RepoState;
use super::{LogError, RefName};
use crate::PackId;

/// What [`verify_log`] found.
#[derive(Debug, Clone)]
pub struct LogReport {
    /// The state after the last entry; `None` if there is no log.
    pub state: Option<RepoState>,
    /// How many entries were replayed.
    pub entries: u64,
    /// The checkpoint the replay started from, when maintenance deleted the entries before it.
    pub compacted_to: Option<u64>,
    /// Entries whose recorded old value of a ref differs from the replay (a lost race).
    pub old_value_mismatches: Vec<(u64, RefName)>,
    /// Checkpoints whose contents differ from the replay at their seq.
    pub bad_checkpoints: Vec<u64>,
    /// Checkpoints listed past the end of the log.
    pub checkpoints_past_end: Vec<u64>,
    /// Live packs with a missing `.pack` or `.idx`.
    pub missing_packs: Vec<PackId>,
}

impl LogReport {
    /// No mismatch, no bad checkpoint, no missing pack.
    pub fn is_consistent(&self) -> bool {
        self.old_value_mismatches.is_empty()
            && self.bad_checkpoints.is_empty()
            && self.checkpoints_past_end.is_empty()
            && self.missing_packs.is_empty()
    }
}

/// Replays the log of `container` from entry 1 (or its oldest checkpoint, see the module
/// documentation). Errors if an entry or checkpoint is unreadable.
pub async fn verify_log(storage: &dyn Storage, container: &str) -> Result<LogReport, LogError> {
    let listed = storage
        .list(container, CHECKPOINT_PREFIX)
        .await
        .map_err(|e| LogError::storage(container, "list", CHECKPOINT_PREFIX, e))?;
    let checkpoints: BTreeSet<u64> = listed
        .iter()
        .filter_map(|meta| meta.name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok())
        .collect();

    let mut report = LogReport {
        state: None,
        entries: 0,
        compacted_to: None,
        old_value_mismatches: Vec::new(),
        bad_checkpoints: Vec::new(),
        checkpoints_past_end: Vec::new(),
        missing_packs: Vec::new(),
    };
    let mut state = RepoState::before_log();
    if let Some(&oldest) = checkpoints.first()
        && log::fetch_entry(storage, container, 1).await?.is_none()
        && let Some(checkpoint) = log::fetch_checkpoint(storage, container, oldest).await?
    {
        state = checkpoint;
        report.compacted_to = Some(oldest);
    }
    'replay: loop {
        let first = state.seq + 1;
        let wave: Vec<_> = futures::stream::iter(first..first + 32)
            .map(|seq| log::fetch_entry(storage, container, seq))
            .buffered(16)
            .collect()
            .await;
        for entry in wave {
            let Some(entry) = entry? else {
                break 'replay;
            };
            if state.seq == 0 && entry.reset.is_none() {
                return Err(LogError::Broken {
                    repo: container.to_owned(),
                    seq: entry.seq,
                    reason: "the first entry does not hold an initial state".into(),
                });
            }
            for name in state.apply(&entry) {
                report.old_value_mismatches.push((entry.seq, name));
            }
            report.entries += 1;
            if checkpoints.contains(&state.seq) {
                match log::fetch_checkpoint(storage, container, state.seq).await? {
                    Some(checkpoint) if checkpoint.same_contents(&state) => {}
                    _ => report.bad_checkpoints.push(state.seq),
                }
            }
        }
    }
    report.checkpoints_past_end = checkpoints.range(state.seq + 1..).copied().collect();
    if state.seq == 0 {
        return Ok(report);
    }
    for pack in &state.packs {
        for ext in ["pack", "idx"] {
            match storage.head(container, &pack.object_name(ext)).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    report.missing_packs.push(*pack);
                    break;
                }
                Err(e) => {
                    return Err(LogError::storage(
                        container,
                        "check",
                        pack.object_name(ext),
                        e,
                    ));
                }
            }
        }
    }
    report.state = Some(state);
    Ok(report)
}
