//! The state log in a container: object names, and reading the newest state in few requests.
//!
//! Entry `n` is `swiftgit/log/<n, 20 digits>`; the log starts at entry 1, whose `reset` holds
//! the initial state. A checkpoint `swiftgit/checkpoint/<n>` holds the whole state after entry
//! `n`. `swiftgit/latest` is a [`Hint`]: the newest checkpoint and entry its writer knew of.
//!
//! Loading: read the hint; in parallel fetch its checkpoint, the entries after it up to the
//! hint's seq, and one probe past it; apply them in order; probe on (waves of parallel GETs)
//! until an entry is missing. Without a hint (a crash before the first was written, or an
//! eventually consistent store that lost it) the newest checkpoint comes from a listing of
//! `swiftgit/checkpoint/`, and without a checkpoint the log is replayed from entry 1. A log ends
//! at its first missing entry; entries are only ever created at `seq + 1` of a stored one.

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_storage::{ErrorKind, PutMode, Storage};

use super::LogError;
use super::format::{self, Hint};
use super::state::{LogEntry, RepoState};

pub const LOG_PREFIX: &str = "swiftgit/log/";
pub const CHECKPOINT_PREFIX: &str = "swiftgit/checkpoint/";
pub const HINT_NAME: &str = "swiftgit/latest";

/// How many log objects are fetched at once.
const PARALLEL_FETCHES: usize = 16;
/// Largest wave of speculative probes past the known end of the log.
const MAX_PROBE_WAVE: u64 = 16;
/// Entries fetched along with a checkpoint found by listing: as many as usually follow one.
const ENTRIES_AFTER_LISTED_CHECKPOINT: u64 = 8;

pub fn entry_name(seq: u64) -> String {
    format!("{LOG_PREFIX}{seq:020}")
}

pub fn checkpoint_name(seq: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{seq:020}")
}

/// A state read from the log, and the newest checkpoint the reader saw.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: RepoState,
    pub checkpoint: Option<u64>,
}

/// Reads the newest state of the log in `container`; `None` if there is no log (no entry 1 and
/// no checkpoint).
pub async fn load(storage: &dyn Storage, container: &str) -> Result<Option<Loaded>, LogError> {
    if let Some(hint) = read_hint(storage, container).await? {
        // One wave: the hint's checkpoint, the entries up to the hint's seq, one probe past it.
        let wave = hint.seq.saturating_sub(hint.checkpoint.unwrap_or(0)) + 1;
        match from_checkpoint(storage, container, hint.checkpoint, wave).await? {
            Some((state, false)) => return Ok(loaded(state, hint.checkpoint)),
            // The log goes on past the hint: the hint is stale.
            Some((state, true)) => {
                return jump_ahead(storage, container, state, hint.checkpoint).await;
            }
            None => tracing::warn!(
                repo = container,
                ?hint,
                "the hint names a checkpoint that is not stored; looking for another"
            ),
        }
    }
    let listed = newest_listed_checkpoint(storage, container).await?;
    // Without a checkpoint the log is short (or absent: a dulwich layout, a missing repository).
    let wave = if listed.is_some() {
        ENTRIES_AFTER_LISTED_CHECKPOINT
    } else {
        1
    };
    match from_checkpoint(storage, container, listed, wave).await? {
        Some((state, false)) => Ok(loaded(state, listed)),
        Some((state, true)) => {
            let state = catch_up(storage, container, state, 1).await?;
            Ok(loaded(state, listed))
        }
        None => {
            let state = catch_up(storage, container, RepoState::before_log(), 1).await?;
            Ok(loaded(state, None))
        }
    }
}

/// A state at least as new as entry `until`, for a reader that knows from elsewhere (a
/// coordinator) that the stored log reaches `until` and that checkpoints up to
/// `checkpoint_limit` are good: the newest checkpoint at or before `checkpoint_limit` (the
/// hint's, else a listing's) and, if it is older than `until`, the entries after it up to
/// `until`, all in parallel. The caller applies what follows the state's seq.
/// [`LogError::Broken`] if an entry up to `until` is missing.
pub async fn load_until(
    storage: &dyn Storage,
    container: &str,
    until: u64,
    checkpoint_limit: u64,
) -> Result<Loaded, LogError> {
    let limit = checkpoint_limit.max(until);
    let hinted = read_hint(storage, container)
        .await?
        .and_then(|hint| hint.checkpoint)
        .filter(|&seq| seq <= limit);
    let mut checkpoint = match hinted {
        Some(seq) => Some(seq),
        None if until == 0 => None,
        None => newest_listed_checkpoint_until(storage, container, limit).await?,
    };
    let state = loop {
        let first = checkpoint.unwrap_or(0) + 1;
        let base = async {
            match checkpoint {
                Some(seq) => fetch_checkpoint(storage, container, seq).await,
                None => Ok(Some(RepoState::before_log())),
            }
        };
        let wanted = (until + 1).saturating_sub(first);
        let (base, entries) = futures::join!(base, fetch_wave(storage, container, first, wanted));
        match base? {
            Some(mut state) => {
                apply_wave(container, &mut state, entries)?;
                break state;
            }
            // The hint named a checkpoint that is not stored: do without.
            None if hinted.is_some() && checkpoint == hinted => {
                checkpoint = newest_listed_checkpoint_until(storage, container, limit)
                    .await?
                    .filter(|&seq| Some(seq) != hinted);
            }
            None => checkpoint = None,
        }
    };
    if state.seq < until {
        return Err(LogError::Broken {
            repo: container.to_owned(),
            seq: state.seq + 1,
            reason: format!("the log should reach entry {until}, but this entry is not stored"),
        });
    }
    Ok(Loaded { state, checkpoint })
}

/// The seq of the newest checkpoint at or before `until` in a listing (eventually consistent
/// on Swift); a missing container has none.
async fn newest_listed_checkpoint_until(
    storage: &dyn Storage,
    container: &str,
    until: u64,
) -> Result<Option<u64>, LogError> {
    let listed = match storage.list(container, CHECKPOINT_PREFIX).await {
        Ok(listed) => listed,
        // No container: no checkpoint (and no log, as the caller finds out).
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::storage(container, "list", CHECKPOINT_PREFIX, e)),
    };
    Ok(listed
        .iter()
        .filter_map(|meta| {
            meta.name
                .strip_prefix(CHECKPOINT_PREFIX)?
                .parse::<u64>()
                .ok()
        })
        .filter(|&seq| seq <= until)
        .max())
}

/// Catches up from `state`, first jumping to the newest listed checkpoint if it is further on.
async fn jump_ahead(
    storage: &dyn Storage,
    container: &str,
    mut state: RepoState,
    mut checkpoint: Option<u64>,
) -> Result<Option<Loaded>, LogError> {
    let listed = newest_listed_checkpoint(storage, container).await?;
    if let Some(newer) = listed.filter(|&seq| seq > state.seq) {
        let jump = from_checkpoint(
            storage,
            container,
            Some(newer),
            ENTRIES_AFTER_LISTED_CHECKPOINT,
        );
        match jump.await? {
            Some((jumped, false)) => return Ok(loaded(jumped, Some(newer))),
            Some((jumped, true)) => (state, checkpoint) = (jumped, Some(newer)),
            None => {}
        }
    }
    let state = catch_up(storage, container, state, 1).await?;
    Ok(loaded(state, checkpoint))
}

/// In parallel: checkpoint `checkpoint` (`None`: start before the log) and the `wave` entries
/// after it; applied in order. `None` if the checkpoint is not stored; with the state, whether
/// every entry of the wave was there (so the log may go on).
async fn from_checkpoint(
    storage: &dyn Storage,
    container: &str,
    checkpoint: Option<u64>,
    wave: u64,
) -> Result<Option<(RepoState, bool)>, LogError> {
    let base = async {
        match checkpoint {
            Some(seq) => fetch_checkpoint(storage, container, seq).await,
            None => Ok(Some(RepoState::before_log())),
        }
    };
    let first = checkpoint.unwrap_or(0) + 1;
    let (base, entries) = futures::join!(base, fetch_wave(storage, container, first, wave.max(1)));
    let Some(mut state) = base? else {
        return Ok(None);
    };
    let complete = apply_wave(container, &mut state, entries)?;
    Ok(Some((state, complete)))
}

fn loaded(state: RepoState, checkpoint: Option<u64>) -> Option<Loaded> {
    (state.seq > 0).then_some(Loaded { state, checkpoint })
}

/// Applies every entry stored after `state`, probing in waves that start at `first_wave`
/// entries (1 for a refresh: an unchanged log then costs exactly one request).
pub async fn catch_up(
    storage: &dyn Storage,
    container: &str,
    mut state: RepoState,
    first_wave: u64,
) -> Result<RepoState, LogError> {
    let mut wave = first_wave.max(1);
    loop {
        let entries = fetch_wave(storage, container, state.seq + 1, wave).await;
        if !apply_wave(container, &mut state, entries)? {
            return Ok(state);
        }
        wave = (wave * 2).clamp(4, MAX_PROBE_WAVE);
    }
}

/// Applies fetched entries in order; `true` if all were present (the log may go on).
fn apply_wave(
    container: &str,
    state: &mut RepoState,
    entries: Vec<Result<Option<LogEntry>, LogError>>,
) -> Result<bool, LogError> {
    for entry in entries {
        let Some(entry) = entry? else {
            return Ok(false);
        };
        apply_logged(container, state, &entry)?;
    }
    Ok(true)
}

/// Applies `entry` to `state`, logging an error if the entry's recorded old values differ from
/// the state: two writers raced for one entry and one of them lost what it was told it wrote
/// (only a store without compare-and-swap, written by several processes, allows that).
/// [`LogError::Broken`] if the log's first entry does not hold an initial state.
pub(crate) fn apply_logged(
    container: &str,
    state: &mut RepoState,
    entry: &LogEntry,
) -> Result<(), LogError> {
    if state.seq == 0 && entry.reset.is_none() {
        return Err(LogError::Broken {
            repo: container.to_owned(),
            seq: entry.seq,
            reason: "the first entry does not hold an initial state".into(),
        });
    }
    let mismatches = state.apply(entry);
    if !mismatches.is_empty() {
        tracing::error!(
            repo = container,
            seq = entry.seq,
            refs = ?mismatches,
            "log entry recorded old values that differ from the replayed state (a lost race between writers; run one writing process per repository or configure [coordinator])"
        );
    }
    Ok(())
}

async fn fetch_wave(
    storage: &dyn Storage,
    container: &str,
    first: u64,
    count: u64,
) -> Vec<Result<Option<LogEntry>, LogError>> {
    futures::stream::iter(first..first + count)
        .map(|seq| fetch_entry(storage, container, seq))
        .buffered(PARALLEL_FETCHES)
        .collect()
        .await
}

/// Entry `seq`, or `None` if it is not stored.
pub async fn fetch_entry(
    storage: &dyn Storage,
    container: &str,
    seq: u64,
) -> Result<Option<LogEntry>, LogError> {
    let name = entry_name(seq);
    let Some(bytes) = get_optional(storage, container, &name).await? else {
        return Ok(None);
    };
    let entry = format::decode_entry(&bytes).map_err(|reason| LogError::Corrupt {
        repo: container.to_owned(),
        object: name.clone(),
        reason,
    })?;
    if entry.seq != seq {
        return Err(LogError::Broken {
            repo: container.to_owned(),
            seq,
            reason: format!("{name} says it is entry {}", entry.seq),
        });
    }
    Ok(Some(entry))
}

/// Checkpoint `seq`, or `None` if it is not stored.
pub async fn fetch_checkpoint(
    storage: &dyn Storage,
    container: &str,
    seq: u64,
) -> Result<Option<RepoState>, LogError> {
    let name = checkpoint_name(seq);
    let Some(bytes) = get_optional(storage, container, &name).await? else {
        return Ok(None);
    };
    let state = format::decode_checkpoint(&bytes).map_err(|reason| LogError::Corrupt {
        repo: container.to_owned(),
        object: name.clone(),
        reason,
    })?;
    if state.seq != seq {
        return Err(LogError::Broken {
            repo: container.to_owned(),
            seq,
            reason: format!("{name} says it follows entry {}", state.seq),
        });
    }
    Ok(Some(state))
}

/// The hint, or `None` if it is missing or unreadable (it is only a hint).
pub async fn read_hint(storage: &dyn Storage, container: &str) -> Result<Option<Hint>, LogError> {
    let Some(bytes) = get_optional(storage, container, HINT_NAME).await? else {
        return Ok(None);
    };
    match format::decode_hint(&bytes) {
        Ok(hint) => Ok(Some(hint)),
        Err(e) => {
            tracing::warn!(repo = container, error = %e, "ignoring an unreadable {HINT_NAME}");
            Ok(None)
        }
    }
}

/// The seq of the newest checkpoint in a listing (eventually consistent on Swift).
pub async fn newest_listed_checkpoint(
    storage: &dyn Storage,
    container: &str,
) -> Result<Option<u64>, LogError> {
    newest_listed_checkpoint_until(storage, container, u64::MAX).await
}

/// Stores the checkpoint of `state`. Create-only: a checkpoint is immutable.
pub async fn write_checkpoint(
    storage: &dyn Storage,
    container: &str,
    state: &RepoState,
    time_ms: u64,
) -> Result<(), LogError> {
    let name = checkpoint_name(state.seq);
    let bytes = Bytes::from(format::encode_checkpoint(state, time_ms));
    match storage
        .put(container, &name, bytes.into(), PutMode::Create)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LogError::storage(container, "write", name, e)),
    }
}

/// Overwrites the hint.
pub async fn write_hint(
    storage: &dyn Storage,
    container: &str,
    hint: Hint,
) -> Result<(), LogError> {
    let bytes = Bytes::from(format::encode_hint(hint));
    storage
        .put(container, HINT_NAME, bytes.into(), PutMode::Overwrite)
        .await
        .map(|_| ())
        .map_err(|e| LogError::storage(container, "write", HINT_NAME, e))
}

async fn get_optional(
    storage: &dyn Storage,
    container: &str,
    name: &str,
) -> Result<Option<Bytes>, LogError> {
    let read = async { storage.get(container, name).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::storage(container, "read", name, e)),
    }
}
