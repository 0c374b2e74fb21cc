//! Repository maintenance: repacking, pruning and log compaction, online (pushes and fetches go
//! on) and safe to kill at any point.
//!
//! A run ([`gc`]) holds the repository's maintenance lock (one run per repository across all
//! processes, see `swiftgit_repo::refs::sequence::maintenance`) and:
//!
//! 1. walks every object reachable from HEAD and the refs;
//! 2. chooses packs to roll up ([`select`]): the small ones that break a geometric progression
//!    (or all of them with `full`), garbage packs whose grace is over, and, when pruning
//!    everywhere, every pack holding an unreachable object;
//! 3. writes their reachable objects into one new pack and their unreachable ones into a
//!    garbage pack that stays live (readable) for the prune grace period, copying the stored
//!    entries ([`repack`]); both are complete in storage before anything names them;
//! 4. records in the ledger ([`ledger`]) what it is about to retire, then commits one state
//!    change: the new packs in, the rolled-up ones out. Every object of those is in a new pack
//!    unless the run drops it, so pushes that came in meanwhile stay whole and the change goes
//!    in on top of them; a run that drops objects commits only if no ref moved since the walk
//!    (if one did, it checks that nothing the ref now reaches is only in a pack being retired,
//!    and tries again);
//! 5. deletes what the ledger says is past its grace: retired packs, dropped garbage packs,
//!    packs no state names (killed pushes), and compacts the log ([`compact_log`]).
//!
//! A kill between any two steps leaves stored packs no state names (deleted by a later run
//! after the grace period) or a ledger record whose retirement never happened (void: the next
//! run deletes it); the state is always one the log holds, so the repository opens and serves.

pub mod auto;
mod compact_log;
pub mod ledger;
mod repack;
mod select;
pub mod stored;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use swiftgit_repo::odb::raw::{ObjectPosition, RawPacks};
use swiftgit_repo::odb::{IngestedPack, ObjectDb, OdbError};
use swiftgit_repo::refs::{CommitError, Head, LogError, RefValues, RepoState};
use swiftgit_repo::{ObjectId, PackId, RefTransaction, Rejection, Repository};
use swiftgit_storage::{Storage, StorageError};

pub use auto::{AutoMaintenance, Thresholds};
pub use compact_log::Compacted;
pub use ledger::LEDGER_PREFIX;

use crate::pack::{PackError, PackOptions};
use crate::walk::{ObjectSet, WalkError, WalkProgress, WalkRequest, walk};

/// git's `gc.pruneExpire`: how long unreachable objects stay readable.
pub const DEFAULT_PRUNE: Duration = Duration::from_secs(14 * 24 * 3600);
/// How long packs a repack replaced stay stored for readers that planned with them.
pub const DEFAULT_RETIRE_AFTER: Duration = Duration::from_secs(3600);
/// The least time a log entry is kept after a newer checkpoint covers it, whatever the prune
/// grace (see [`compact_log`]).
pub const LOG_GRACE_FLOOR: Duration = Duration::from_secs(3600);
/// How often a run catches up with pushes that moved refs before giving up.
const MAX_COMMIT_ROUNDS: u32 = 16;

/// What a run does.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// One pack of everything reachable, whatever the sizes (`--full`).
    pub full: bool,
    /// How long unreachable objects stay readable in a garbage pack, and packs no state names
    /// stay stored (`--prune`; zero: delete them now).
    pub prune: Duration,
    /// Rewrite every pack that holds unreachable objects (an explicit `--prune`), not only the
    /// packs rolled up for their size.
    pub prune_everywhere: bool,
    /// How long packs a repack replaced stay stored (at most `prune`).
    pub retire_after: Duration,
    /// How long a log entry stays after a newer checkpoint covers it (at least
    /// [`LOG_GRACE_FLOOR`] in the daemon and the command).
    pub log_grace: Duration,
    /// The packs left form a progression of this factor.
    pub geometric_factor: u64,
    /// The time the run takes as now (tests move it forward).
    pub now: Option<SystemTime>,
    /// How packs are read and written.
    pub pack: PackOptions,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            full: false,
            prune: DEFAULT_PRUNE,
            prune_everywhere: false,
            retire_after: DEFAULT_RETIRE_AFTER,
            log_grace: DEFAULT_PRUNE,
            geometric_factor: 2,
            now: None,
            pack: PackOptions::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Live packs before and after.
    pub packs_before: usize,
    pub packs_after: usize,
    /// Bytes of every stored pack file (`.pack`, `.idx`, `.meta`, live or not) before and after.
    pub stored_bytes_before: u64,
    pub stored_bytes_after: u64,
    /// Objects reachable from the refs.
    pub reachable: usize,
    /// Packs rolled up, and the objects written into the new pack and the garbage pack.
    pub rolled_up: usize,
    pub written: usize,
    pub garbage: usize,
    /// Unreachable objects dropped at once (grace zero, or an expired garbage pack).
    pub dropped: usize,
    /// Packs whose files were deleted, and stored packs no state names seen for the first time.
    pub packs_deleted: usize,
    pub orphans_found: usize,
    pub log: Compacted,
}

/// Why a run failed. Nothing is lost: what it stored is not named by any state until its
/// commit, and it deletes only what the ledger and the state say is unused.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("repository {repo}: another maintenance run holds its lock; try again later")]
    Busy { repo: String },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("walking the repository's history failed: {0}")]
    Walk(#[from] WalkError),
    #[error("writing a pack failed: {0}")]
    Pack(PackError),
    #[error("storing a pack failed: {0}")]
    Odb(OdbError),
    #[error("cannot {action} {object}: {error}")]
    Storage {
        action: &'static str,
        object: String,
        error: StorageError,
    },
    #[error("{object} is unreadable: {reason}")]
    Corrupt { object: String, reason: String },
    #[error(
        "a ref moved during the run onto object {id}, which only a pack being retired holds; nothing was changed: run gc again"
    )]
    RefMovedOntoRetired { id: ObjectId },
    #[error("refs kept moving during the run ({rounds} rounds); nothing was changed: run gc again")]
    KeptMoving { rounds: u32 },
}

impl GcError {
    fn storage(action: &'static str, object: &str) -> impl FnOnce(StorageError) -> GcError {
        let object = object.to_owned();
        move |error| GcError::Storage {
            action,
            object,
            error,
        }
    }
}

/// Runs maintenance on `repo`, whose objects `odb` reads (see the module documentation).
/// [`GcError::Busy`] if another run holds the repository's maintenance lock.
pub async fn gc(
    repo: &Repository,
    odb: &ObjectDb,
    options: &GcOptions,
) -> Result<GcReport, GcError> {
    let container = repo.container();
    let now = options.now.unwrap_or_else(SystemTime::now);
    let Some(lock) = repo.lock_maintenance().await? else {
        return Err(GcError::Busy {
            repo: container.to_owned(),
        });
    };
    let outcome = gc_locked(repo, odb, options, now).await;
    // Before returning: `swiftgit gc` exits right after, which would leave an etcd lock behind
    // until its lease expired.
    lock.release().await;
    outcome
}

/// [`gc`] once it holds the lock.
async fn gc_locked(
    repo: &Repository,
    odb: &ObjectDb,
    options: &GcOptions,
    now: SystemTime,
) -> Result<GcReport, GcError> {
    let container = repo.container();
    let storage = repo.storage().as_ref();
    let state = repo.refresh().await?;
    odb.set_packs(state.seq(), &packs_of(&state))
        .await
        .map_err(GcError::Odb)?;
    let (stored, records) = futures::try_join!(
        stored::list(storage, container),
        ledger::read_all(storage, container)
    )?;
    let mut report = GcReport {
        packs_before: state.packs().len(),
        stored_bytes_before: stored.values().map(|files| files.bytes).sum(),
        ..GcReport::default()
    };

    // A record whose retired packs are still live belongs to a run that died before its commit.
    let (void, records): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|record| record.retired.iter().any(|p| state.packs().contains(p)));
    let void: Vec<String> = void.into_iter().map(|record| record.name).collect();
    delete_all(storage, container, &void).await?;

    let walked = walk(
        odb,
        &WalkRequest {
            wants: roots(&state),
            ..WalkRequest::default()
        },
        &WalkProgress::default(),
    )
    .await?;
    let reachable = walked.objects;
    report.reachable = reachable.len();
    let view = reachable.packs().clone();

    let roll = choose(&state, &view, &reachable, &stored, &records, options, now);
    let split = split_objects(&view, &reachable, &roll, options);
    report.dropped = split.dropped;
    let mut ingested = Vec::new();
    let mut retired: BTreeSet<PackId> = roll.all.clone();
    let mut added = Vec::new();
    let mut garbage_added = BTreeSet::new();
    for (objects, is_garbage) in [(&split.keep, false), (&split.garbage, true)] {
        let Some(pack) = repack::store_pack(odb, objects, &options.pack).await? else {
            continue;
        };
        let id = pack.pack_id().expect("holds because the pack is not empty");
        if !retired.remove(&id) {
            added.push(id);
            if is_garbage {
                garbage_added.insert(id);
            }
        }
        if is_garbage {
            report.garbage = objects.len();
        } else {
            report.written = objects.len();
        }
        ingested.push(pack);
    }
    report.rolled_up = retired.len();

    let mut record = ledger::Record::new(now);
    let live = if retired.is_empty() && added.is_empty() {
        state.packs().clone()
    } else {
        record.retired = retired.clone();
        record.garbage = garbage_added;
        ledger::write(storage, container, &record).await?;
        let plan = Repack {
            walked: &state,
            retired: &retired,
            added: &added,
            ingested: &ingested,
            drops: split.dropped > 0,
        };
        let committed = commit(repo, odb, &plan).await?;
        for pack in &ingested {
            odb.add_ingested(pack, committed.seq());
        }
        odb.set_packs(committed.seq(), &packs_of(&committed))
            .await
            .map_err(GcError::Odb)?;
        committed.packs().clone()
    };
    report.packs_after = live.len();

    let mut records = records;
    if !record.is_empty() {
        records.push(record);
    }
    sweep(
        storage,
        container,
        &live,
        &stored,
        &records,
        &added,
        options,
        now,
        &mut report,
    )
    .await?;
    report.log = compact_log::compact(storage, container, options.log_grace, now).await?;
    report.stored_bytes_after = stored::list(storage, container)
        .await?
        .values()
        .map(|files| files.bytes)
        .sum();
    Ok(report)
}

/// Every object a state's refs and HEAD name.
fn roots(state: &RepoState) -> Vec<ObjectId> {
    let mut roots: BTreeSet<ObjectId> = state.refs().values().copied().collect();
    if let Head::Detached(id) = state.head() {
        roots.insert(*id);
    }
    roots.into_iter().collect()
}

fn packs_of(state: &RepoState) -> Vec<PackId> {
    state.packs().iter().copied().collect()
}

/// The packs a run rolls up.
struct Roll {
    all: BTreeSet<PackId>,
    /// Of those, garbage packs whose grace is over: their unreachable objects go.
    expired: BTreeSet<PackId>,
}

fn choose(
    state: &RepoState,
    view: &RawPacks,
    reachable: &ObjectSet,
    stored: &stored::StoredPacks,
    records: &[ledger::Record],
    options: &GcOptions,
    now: SystemTime,
) -> Roll {
    let ranks = ranks(view);
    let mut garbage: BTreeMap<PackId, bool> = BTreeMap::new();
    for record in records {
        for pack in record.garbage.iter().filter(|p| state.packs().contains(p)) {
            garbage.insert(*pack, record.older_than(options.prune, now));
        }
    }
    let candidates: Vec<(PackId, u64)> = (state.packs().iter())
        .filter(|pack| !garbage.contains_key(pack) && ranks.contains_key(pack))
        .map(|pack| {
            let bytes = stored.get(pack).and_then(|files| files.pack_bytes);
            (*pack, bytes.unwrap_or(u64::MAX))
        })
        .collect();
    let mut all: BTreeSet<PackId> = if options.full {
        candidates.iter().map(|&(pack, _)| pack).collect()
    } else {
        select::geometric(&candidates, options.geometric_factor)
            .into_iter()
            .collect()
    };
    if options.prune_everywhere {
        for &(pack, _) in &candidates {
            if !all.contains(&pack) && holds_unreachable(view, ranks[&pack], reachable) {
                all.insert(pack);
            }
        }
    }
    let expired: BTreeSet<PackId> = (garbage.iter())
        .filter(|&(pack, &expired)| expired && ranks.contains_key(pack))
        .map(|(pack, _)| *pack)
        .collect();
    // Rewriting one pack alone gains nothing unless it sheds unreachable objects.
    if all.len() == 1
        && expired.is_empty()
        && all
            .iter()
            .all(|pack| !holds_unreachable(view, ranks[pack], reachable))
    {
        all.clear();
    }
    all.extend(expired.iter().copied());
    Roll { all, expired }
}

fn ranks(view: &RawPacks) -> BTreeMap<PackId, u32> {
    (0..view.len() as u32)
        .filter_map(|rank| Some((view.pack_id(rank)?, rank)))
        .collect()
}

/// Whether the pack at `rank` holds an object that is unreachable (and not also in a newer
/// pack, which would be its place in the view).
fn holds_unreachable(view: &RawPacks, rank: u32, reachable: &ObjectSet) -> bool {
    positions(view, rank).any(|at| !reachable.contains(at) && canonical(view, at))
}

fn positions(view: &RawPacks, rank: u32) -> impl Iterator<Item = ObjectPosition> + '_ {
    (0..view.pack_len(rank) as u32).map(move |index| ObjectPosition { pack: rank, index })
}

/// Whether `at` is its object's position in the view (the newest pack holding it).
fn canonical(view: &RawPacks, at: ObjectPosition) -> bool {
    view.position_of(&view.id_at(at)) == Some(at)
}

/// The objects of the rolled-up packs, split.
struct Split {
    /// Reachable: the new pack.
    keep: ObjectSet,
    /// Unreachable, kept readable for the grace period: the garbage pack.
    garbage: ObjectSet,
    /// Unreachable and dropped now.
    dropped: usize,
}

fn split_objects(
    view: &RawPacks,
    reachable: &ObjectSet,
    roll: &Roll,
    options: &GcOptions,
) -> Split {
    let ranks = ranks(view);
    let mut split = Split {
        keep: ObjectSet::new(view.clone()),
        garbage: ObjectSet::new(view.clone()),
        dropped: 0,
    };
    for pack in &roll.all {
        let rank = ranks[pack];
        let expired = roll.expired.contains(pack);
        for at in positions(view, rank) {
            if reachable.contains(at) {
                split.keep.insert(at);
            } else if !canonical(view, at) {
                // A newer pack holds it: kept there, or handled with that pack.
            } else if expired || options.prune.is_zero() {
                split.dropped += 1;
            } else {
                split.garbage.insert(at);
            }
        }
    }
    split
}

/// What a run commits.
struct Repack<'a> {
    /// The state the walk started from.
    walked: &'a RepoState,
    retired: &'a BTreeSet<PackId>,
    added: &'a [PackId],
    ingested: &'a [IngestedPack],
    /// Whether some objects of the retired packs are in none of the added ones.
    drops: bool,
}

/// Commits the repack: `added` in, `retired` out.
///
/// When every object of the retired packs is in an added pack (kept or garbage), any state a
/// push made meanwhile reads the same objects after the switch: the commit goes in whatever the
/// refs became, like a push to other refs. When the run drops objects, it commits only if no
/// ref moved onto one of them: the check and the commit hold the repository's commit lock, so
/// this process's pushes wait for them (milliseconds) rather than make the run start over;
/// another process's push in between makes it check again.
async fn commit(
    repo: &Repository,
    odb: &ObjectDb,
    plan: &Repack<'_>,
) -> Result<RepoState, GcError> {
    let packs_switched = || {
        let mut transaction = RefTransaction::new();
        for pack in plan.added {
            transaction = transaction.with_pack_just_stored(*pack);
        }
        for pack in plan.retired {
            transaction = transaction.with_pack_removed(*pack);
        }
        transaction
    };
    if !plan.drops {
        let committed = repo.commit(packs_switched()).await?;
        return Ok((*committed.state).clone());
    }
    let mut base = plan.walked.clone();
    for round in 1..=MAX_COMMIT_ROUNDS {
        let held = repo.hold_commits().await;
        let newest = repo.refresh().await?;
        if RefValues::from(&*newest) != RefValues::from(&base) {
            tracing::debug!(
                repo = repo.container(),
                round,
                seq = newest.seq(),
                "refs moved during maintenance; checking what they reach"
            );
            check_moved(odb, &base, &newest, plan.retired, plan.ingested).await?;
            base = (*newest).clone();
        }
        let transaction = packs_switched().with_refs_unchanged(RefValues::from(&base));
        match repo.commit_held(&held, transaction).await {
            Ok(committed) => return Ok((*committed.state).clone()),
            // Another process's push came in between.
            Err(error) if error.rejection() == Some(&Rejection::RefsMoved) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(GcError::KeptMoving {
        rounds: MAX_COMMIT_ROUNDS,
    })
}

/// Fails if an object reachable from `newer`'s refs but not from `base`'s is held only by
/// packs being retired (and not by the packs the run wrote).
async fn check_moved(
    odb: &ObjectDb,
    base: &RepoState,
    newer: &RepoState,
    retired: &BTreeSet<PackId>,
    ingested: &[IngestedPack],
) -> Result<(), GcError> {
    odb.add_packs(&packs_of(newer))
        .await
        .map_err(GcError::Odb)?;
    let old_roots: BTreeSet<ObjectId> = roots(base).into_iter().collect();
    let request = WalkRequest {
        wants: roots(newer)
            .into_iter()
            .filter(|id| !old_roots.contains(id))
            .collect(),
        haves: old_roots
            .into_iter()
            .filter(|id| odb.contains(id))
            .collect(),
        ..WalkRequest::default()
    };
    let walked = walk(odb, &request, &WalkProgress::default()).await?;
    let view = walked.objects.packs();
    for (pack, rank) in ranks(view) {
        if !retired.contains(&pack) {
            continue;
        }
        for (at, _) in view.entries_by_offset(rank, |at| walked.objects.contains(at)) {
            let id = view.id_at(at);
            if !ingested.iter().any(|written| written.contains(&id)) {
                return Err(GcError::RefMovedOntoRetired { id });
            }
        }
    }
    Ok(())
}

/// Deletes what the ledger says is past its grace, records packs no state names, and deletes
/// the records that are done.
#[allow(clippy::too_many_arguments)]
async fn sweep(
    storage: &dyn Storage,
    container: &str,
    live: &BTreeSet<PackId>,
    stored: &stored::StoredPacks,
    records: &[ledger::Record],
    added: &[PackId],
    options: &GcOptions,
    now: SystemTime,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let retire_grace = options.retire_after.min(options.prune);
    let mut delete: BTreeSet<PackId> = BTreeSet::new();
    let mut known: BTreeSet<PackId> = added.iter().copied().collect();
    let mut first_seen: BTreeMap<PackId, &ledger::Record> = BTreeMap::new();
    for record in records {
        for pack in &record.retired {
            known.insert(*pack);
            if !live.contains(pack) && record.older_than(retire_grace, now) {
                delete.insert(*pack);
            }
        }
        known.extend(record.garbage.iter().copied());
        for pack in &record.orphans {
            first_seen.entry(*pack).or_insert(record);
        }
    }
    let mut orphans = ledger::Record::new(now);
    for pack in stored.keys() {
        if live.contains(pack) || known.contains(pack) {
            continue;
        }
        match first_seen.get(pack) {
            Some(record) if record.older_than(options.prune, now) => {
                delete.insert(*pack);
            }
            Some(_) => {}
            None => {
                orphans.orphans.insert(*pack);
            }
        }
    }
    let names: Vec<String> = delete
        .iter()
        .flat_map(|pack| stored::names_of(*pack, stored))
        .collect();
    delete_all(storage, container, &names).await?;
    report.packs_deleted = delete.len();
    report.orphans_found = orphans.orphans.len();

    let gone = |pack: &PackId| {
        !live.contains(pack) && (delete.contains(pack) || !stored.contains_key(pack))
    };
    let done: Vec<String> = records
        .iter()
        .filter(|record| {
            record
                .retired
                .iter()
                .all(|p| !live.contains(p) && delete.contains(p))
                && record.garbage.iter().all(|p| !live.contains(p))
                && record.orphans.iter().all(|p| live.contains(p) || gone(p))
        })
        .map(|record| record.name.clone())
        .collect();
    if !orphans.is_empty() {
        ledger::write(storage, container, &orphans).await?;
    }
    delete_all(storage, container, &done).await?;
    Ok(())
}

/// Deletes `names` in as few requests as the storage allows (Swift's bulk-delete middleware
/// when the cluster offers it); an absent name counts as deleted. Returns how many were deleted.
async fn delete_all(
    storage: &dyn Storage,
    container: &str,
    names: &[String],
) -> Result<u64, GcError> {
    storage
        .delete_many(container, names)
        .await
        .map_err(|error| {
            let first = names.first().map(String::as_str).unwrap_or_default();
            let what = format!("{} objects from {first}", names.len());
            GcError::storage("delete", &what)(error)
        })
}
