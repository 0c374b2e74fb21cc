//! Log compaction: the entries and checkpoints that the newest old-enough checkpoint makes
//! unnecessary are deleted, so that the log stays a handful of objects past its newest
//! checkpoint whatever the repository's history.
//!
//! The kept checkpoint `K` is the newest one written more than the grace period ago; every
//! entry up to `K` (with its large-entry copies `swiftgit/log/<seq>.<nonce>`) and every older
//! checkpoint go. Readers start from the newest checkpoint (the hint's, or a listing's), so
//! nothing they read is deleted; the grace period covers a reader that read the hint just
//! before and a writer that read its state long ago (it could otherwise create an entry
//! whose name was freed).

use std::time::{Duration, SystemTime};

use swiftgit_repo::refs::log::{CHECKPOINT_PREFIX, LOG_PREFIX, checkpoint_name};
use swiftgit_storage::{ErrorKind, Storage};

use super::ledger::millis;
use super::{GcError, delete_all};

/// What a compaction deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The checkpoint the log now starts at, if any was old enough.
    pub kept_checkpoint: Option<u64>,
    pub entries_deleted: u64,
    pub checkpoints_deleted: u64,
}

/// Compacts the log of `container` (see the module documentation).
pub async fn compact(
    storage: &dyn Storage,
    container: &str,
    grace: Duration,
    now: SystemTime,
) -> Result<Compacted, GcError> {
    let listed = storage
        .list(container, CHECKPOINT_PREFIX)
        .await
        .map_err(GcError::storage("list", CHECKPOINT_PREFIX))?;
    let mut checkpoints: Vec<u64> = listed
        .iter()
        .filter_map(|meta| meta.name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok())
        .collect();
    checkpoints.sort_unstable();
    let deadline = millis(now).saturating_sub(grace.as_millis() as u64);
    // Checkpoints are written in order, so their times rise with their seq: search.
    let (mut old_enough, mut too_new) = (None, checkpoints.len());
    let mut low = 0;
    while low < too_new {
        let middle = low + (too_new - low) / 2;
        match checkpoint_time(storage, container, checkpoints[middle]).await? {
            Some(time) if time <= deadline => {
                old_enough = Some(middle);
                low = middle + 1;
            }
            // Too new, or deleted since the listing: look before it.
            _ => too_new = middle,
        }
    }
    let Some(kept) = old_enough else {
        return Ok(Compacted::default());
    };
    let kept_seq = checkpoints[kept];
    // Older checkpoints first: a reader never starts from one whose entries are gone.
    let old_checkpoints: Vec<String> = checkpoints[..kept]
        .iter()
        .map(|&seq| checkpoint_name(seq))
        .collect();
    let checkpoints_deleted = delete_all(storage, container, &old_checkpoints).await?;
    let entries = storage
        .list(container, LOG_PREFIX)
        .await
        .map_err(GcError::storage("list", LOG_PREFIX))?;
    let old_entries: Vec<String> = entries
        .into_iter()
        .filter(|meta| entry_seq(&meta.name).is_some_and(|seq| seq <= kept_seq))
        .map(|meta| meta.name)
        .collect();
    let entries_deleted = delete_all(storage, container, &old_entries).await?;
    Ok(Compacted {
        kept_checkpoint: Some(kept_seq),
        entries_deleted,
        checkpoints_deleted,
    })
}

/// `swiftgit/log/<seq>` or `swiftgit/log/<seq>.<nonce>` → seq.
fn entry_seq(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(LOG_PREFIX)?;
    let digits = rest.split_once('.').map_or(rest, |(seq, _)| seq);
    digits.parse().ok()
}

/// When checkpoint `seq` was written (its `time_ms`); `None` if it is gone.
async fn checkpoint_time(
    storage: &dyn Storage,
    container: &str,
    seq: u64,
) -> Result<Option<u64>, GcError> {
    let name = checkpoint_name(seq);
    let bytes = match storage.get(container, &name).await {
        Ok(found) => found.bytes().await,
        Err(error) => Err(error),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(GcError::storage("read", &name)(error)),
    };
    #[derive(serde::Deserialize)]
    struct Time {
        time_ms: u64,
    }
    let time: Time = serde_json::from_slice(&bytes).map_err(|e| GcError::Corrupt {
        object: name.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(time.time_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_give_their_seq() {
        assert_eq!(entry_seq("swiftgit/log/00000000000000000042"), Some(42));
        assert_eq!(
            entry_seq("swiftgit/log/00000000000000000042.00ff00ff00ff00ff"),
            Some(42)
        );
        assert_eq!(entry_seq("swiftgit/log/x"), None);
        assert_eq!(entry_seq("swiftgit/checkpoint/00000000000000000042"), None);
    }
}
