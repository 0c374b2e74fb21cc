//! `swiftgit fsck NAME|--all [--repair] [--json]`: checks that a repository can serve what its
//! state promises.
//!
//! - every live pack (one its state names): the `.idx` and `.meta` load and verify, the `.pack`
//!   is read whole and matches its trailer, its name and its index's object count;
//! - connectivity, as `git fsck --connectivity-only`: every ref's object is present and the
//!   walk from all refs (and a detached HEAD) finds every commit, tree, blob and tag they reach;
//! - orphans: stored packs no state names, each with what the maintenance ledger says of it
//!   (retired by a repack and deleted after a grace period, or seen unnamed since some time).
//!   They are listed, not counted as problems: a killed push leaves one, and `swiftgit gc`
//!   deletes it after the prune grace.
//!
//! With `--repair`, a repository with problems is repaired where it can be (see
//! [`super::repair`]) and checked again; the report is the second check's.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde::Serialize;
use swiftgit_config::Config;
use swiftgit_repo::odb::ObjectDb;
use swiftgit_repo::refs::{Head, RepoState};
use swiftgit_repo::{ObjectId, PackId, RepoError, Repository};
use swiftgit_server::maintenance::ledger::{self, Record};
use swiftgit_server::maintenance::stored::{self, StoredPacks};
use swiftgit_server::walk::{WalkProgress, WalkRequest, walk};

use super::list::human_bytes;
use super::{Store, pack_check, repair, time};

/// Packs checked at once.
const PARALLEL_PACKS: usize = 4;

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct FsckRequest {
    /// One repository, or `None` for every one.
    pub name: Option<String>,
    pub repair: bool,
    pub json: bool,
}

/// What fsck found in one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    pub name: String,
    /// The state checked (its log entry).
    pub seq: u64,
    pub refs: usize,
    /// The live packs.
    pub packs: Vec<PackReport>,
    /// Objects the refs reach, when the walk got through.
    pub reachable_objects: Option<usize>,
    /// What is wrong; empty means the repository is sound.
    pub problems: Vec<String>,
    pub orphans: Vec<OrphanReport>,
    /// What `--repair` did (before the check this report is of).
    pub repaired: Vec<String>,
}

impl FsckReport {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One live pack.
#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    pub pack: String,
    pub objects: Option<usize>,
    pub bytes: Option<u64>,
    pub problem: Option<String>,
}

/// A stored pack no state names.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanReport {
    pub pack: String,
    pub bytes: u64,
    pub note: String,
}

/// A check's findings, for the report and for a repair.
pub struct Checked {
    pub report: FsckReport,
    pub state: std::sync::Arc<RepoState>,
    /// Live packs that are sound, and those that are not.
    pub good: Vec<PackId>,
    pub bad: Vec<PackId>,
    pub stored: StoredPacks,
}

pub async fn run(config: &Config, request: &FsckRequest) -> anyhow::Result<()> {
    let store = Store::open(config).await?;
    let names = store.names(request.name.as_deref()).await?;
    let mut reports = Vec::new();
    let mut failed = 0;
    for name in &names {
        let repo = match store.repository(name).await {
            Ok(repo) => repo,
            // With --all, a container that holds no repository is not one to check.
            Err(RepoError::NotFound { .. }) if request.name.is_none() => continue,
            Err(error) => {
                failed += 1;
                eprintln!("swiftgit: {name}: {:#}", anyhow::Error::from(error));
                continue;
            }
        };
        match fsck(&store, &repo, request.repair).await {
            Ok(report) => {
                if !request.json {
                    print!("{}", describe(&report));
                }
                reports.push(report);
            }
            Err(error) => {
                failed += 1;
                eprintln!("swiftgit: {name}: {error:#}");
            }
        }
    }
    store.close().await;
    if request.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    let unsound = reports.iter().filter(|report| !report.is_sound()).count();
    match (unsound, failed) {
        (0, 0) => Ok(()),
        (0, n) => anyhow::bail!("{n} repositories could not be checked"),
        (n, 0) => anyhow::bail!(
            "fsck found problems in {n} of {} repositories",
            reports.len()
        ),
        (n, m) => {
            anyhow::bail!("fsck found problems in {n} repositories, and {m} could not be checked")
        }
    }
}

/// Checks `repo`; with `repair`, repairs what it can and checks again.
pub async fn fsck(store: &Store, repo: &Repository, repair: bool) -> anyhow::Result<FsckReport> {
    let checked = check(store, repo).await?;
    if !repair || checked.report.is_sound() {
        return Ok(checked.report);
    }
    let repaired = repair::repair(store, repo, &checked).await?;
    let mut again = check(store, repo).await?.report;
    again.repaired = repaired;
    Ok(again)
}

/// One check of the newest state of `repo`.
pub async fn check(store: &Store, repo: &Repository) -> anyhow::Result<Checked> {
    let container = repo.container();
    let storage = store.storage.as_ref();
    let state = repo.refresh().await?;
    let (stored, records) = futures::try_join!(
        stored::list(storage, container),
        ledger::read_all(storage, container)
    )?;
    let mut report = FsckReport {
        name: repo.name().to_string(),
        seq: state.seq(),
        refs: state.refs().len(),
        ..FsckReport::default()
    };

    let odb = store.object_db(repo, &[]).await?;
    let odb_ref = &odb;
    let checks: Vec<(PackId, Result<pack_check::GoodPack, String>)> =
        futures::stream::iter(state.packs().iter().copied())
            .map(|pack| async move {
                let checked = pack_check::check(odb_ref, storage, container, pack).await;
                (pack, checked)
            })
            .buffered(PARALLEL_PACKS)
            .collect()
            .await;
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (pack, checked) in checks {
        report.packs.push(match checked {
            Ok(found) => {
                good.push(pack);
                PackReport {
                    pack: pack.to_string(),
                    objects: Some(found.objects),
                    bytes: Some(found.pack_bytes),
                    problem: None,
                }
            }
            Err(problem) => {
                bad.push(pack);
                report.problems.push(format!("{pack}: {problem}"));
                PackReport {
                    pack: pack.to_string(),
                    objects: None,
                    bytes: None,
                    problem: Some(problem),
                }
            }
        });
    }

    let (reachable, missing) = connectivity(&odb, &state).await;
    report.reachable_objects = reachable;
    report.problems.extend(missing);
    report.orphans = orphans(&state, &stored, &records);
    Ok(Checked {
        report,
        state,
        good,
        bad,
        stored,
    })
}

/// Objects the refs reach, or the problems that stopped the walk: each ref whose object is
/// absent, then the first object missing or unreadable below the others.
pub async fn connectivity(odb: &ObjectDb, state: &RepoState) -> (Option<usize>, Vec<String>) {
    let mut problems = Vec::new();
    let mut roots = BTreeSet::new();
    for (name, id) in named_roots(state) {
        if odb.contains(&id) {
            roots.insert(id);
        } else {
            problems.push(format!("{name} names {id}, which is missing"));
        }
    }
    let request = WalkRequest {
        wants: roots.into_iter().collect(),
        ..WalkRequest::default()
    };
    match walk(odb, &request, &WalkProgress::default()).await {
        Ok(walked) if problems.is_empty() => (Some(walked.objects.len()), problems),
        Ok(_) => (None, problems),
        Err(error) => {
            problems.push(format!("the history the refs reach is incomplete: {error}"));
            (None, problems)
        }
    }
}

/// Every ref and a detached HEAD, with the object each names.
pub fn named_roots(state: &RepoState) -> Vec<(String, ObjectId)> {
    let mut roots: Vec<(String, ObjectId)> = state
        .refs()
        .iter()
        .map(|(name, id)| (name.to_string(), *id))
        .collect();
    if let Head::Detached(id) = state.head() {
        roots.push(("HEAD".to_owned(), *id));
    }
    roots
}

/// The stored packs `state` does not name, with what the ledger says of each.
fn orphans(state: &RepoState, stored: &StoredPacks, records: &[Record]) -> Vec<OrphanReport> {
    let mut notes: BTreeMap<PackId, String> = BTreeMap::new();
    for record in records {
        let when = time::iso8601(record.time_ms);
        for pack in &record.retired {
            notes.insert(
                *pack,
                format!("retired by a repack at {when}; maintenance deletes it after retire_after"),
            );
        }
        for pack in &record.garbage {
            notes.insert(
                *pack,
                format!("unreachable objects set aside at {when}, since dropped"),
            );
        }
        for pack in &record.orphans {
            notes.entry(*pack).or_insert_with(|| {
                format!(
                    "no state names it (seen by maintenance since {when}; deleted after the prune grace)"
                )
            });
        }
    }
    stored
        .iter()
        .filter(|(pack, _)| !state.packs().contains(pack))
        .map(|(pack, files)| OrphanReport {
            pack: pack.to_string(),
            bytes: files.bytes,
            note: notes.remove(pack).unwrap_or_else(|| {
                "no state names it: left by a killed push, or by one that lost a race \
                 (`fsck --repair` re-adopts it if the refs need its objects)"
                    .to_owned()
            }),
        })
        .collect()
}

/// The text report of one repository.
pub fn describe(report: &FsckReport) -> String {
    let mut text = String::new();
    for action in &report.repaired {
        text += &format!("{}: repaired: {action}\n", report.name);
    }
    let bytes: u64 = report.packs.iter().filter_map(|pack| pack.bytes).sum();
    let reachable = report
        .reachable_objects
        .map_or_else(String::new, |n| format!(", {n} objects reachable"));
    let verdict = match report.problems.len() {
        0 => "OK".to_owned(),
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    text += &format!(
        "{}: {verdict} (state {}: {} refs, {} packs of {}{reachable})\n",
        report.name,
        report.seq,
        report.refs,
        report.packs.len(),
        human_bytes(bytes),
    );
    for problem in &report.problems {
        text += &format!("  problem: {problem}\n");
    }
    for orphan in &report.orphans {
        text += &format!(
            "  orphan: {} ({}): {}\n",
            orphan.pack,
            human_bytes(orphan.bytes),
            orphan.note
        );
    }
    text
}
