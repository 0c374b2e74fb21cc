//! The "a repository's life" case: N pushes of one commit each, in sequence, into one
//! repository on one daemon, as a team's server sees them; then, on that same warm daemon, a
//! push of one commit, a fetch of one commit and a full clone, beside git daemon's. It shows
//! whether a push slows down as pushes pile up (swiftgit writes a pack per push; git daemon's
//! `receive-pack` unpacks small pushes into loose objects and runs `git maintenance run
//! --auto` itself — its repository here keeps git's default `gc.auto`, unlike the others of
//! the benchmark), and what reads cost once they have.
//!
//! The client is one non-bare clone of the history; each push adds one line to one file,
//! commits (`git add`, `git commit`: untimed) and pushes (timed). The server is not waited
//! for between pushes; its storage counters are read around the whole sequence.
//!
//! The same warm operations also run right after the initial push, before the sequence: a
//! server whose maintenance keeps up (swiftgit's daemon runs it after pushes by default) does
//! them as fast after the N pushes as before them, and stores about as much.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::cleanup::Cleanup;
use crate::command::{check_interrupted, run, run_timed};
use crate::procfs;
use crate::repos::{Prepared, git};
use crate::scenario::measure_one;
use crate::servers::{Server, ServerKind, Setup, StorageFigures, Target};

/// How many times each operation on the warm server runs (push-1 and fetch-1; clones 3).
const WARM_REPEATS: usize = 5;
const CLONE_REPEATS: usize = 3;
/// Consecutive failed pushes after which the sequence stops.
const GIVE_UP_AFTER: usize = 10;
/// The file each push changes.
const CHANGED_FILE: &str = "bench-life/log.txt";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarmOp {
    Push1,
    Fetch1,
    Clone,
}

impl WarmOp {
    const ALL: [WarmOp; 3] = [WarmOp::Push1, WarmOp::Fetch1, WarmOp::Clone];

    fn label(self) -> &'static str {
        match self {
            WarmOp::Push1 => "push 1 commit",
            WarmOp::Fetch1 => "fetch 1 commit",
            WarmOp::Clone => "full clone",
        }
    }
}

/// One measurement on the warm server.
#[derive(Debug, Clone, Serialize)]
pub struct WarmSample {
    pub op: WarmOp,
    pub secs: Option<f64>,
    pub error: Option<String>,
    pub cpu_secs: Option<f64>,
    pub storage: Option<StorageFigures>,
}

/// What the repository holds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stored {
    /// Files under `objects/` (git) or objects in the container (swiftgit).
    pub files: u64,
    pub packs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// git only: loose objects.
    pub loose_objects: Option<u64>,
}

/// One target's run of the case.
#[derive(Debug, Clone, Serialize)]
pub struct LifeRun {
    pub target: Target,
    /// Every push's wall time, in order; `None` for a failed one.
    pub pushes: Vec<Option<f64>>,
    pub failed: usize,
    pub first_error: Option<String>,
    /// swiftgit: storage calls during the whole sequence.
    pub storage: Option<StorageFigures>,
    /// The server's memory (with its descendants) after the sequence.
    pub rss_after_kib: u64,
    pub stored: Option<Stored>,
    pub warm: Vec<WarmSample>,
    /// The same operations right after the initial push, and what was stored then.
    pub early: Vec<WarmSample>,
    pub stored_early: Option<Stored>,
    /// Full clones of the final history pushed at once into a fresh repository on the same
    /// daemon: what a clone of that much history costs without the pushes' packs.
    pub at_once: Vec<WarmSample>,
}

/// Every target's run on one repository.
#[derive(Debug, Clone, Serialize)]
pub struct LifeResults {
    pub repo: String,
    pub pushes: usize,
    pub runs: Vec<LifeRun>,
}

pub struct Life<'a> {
    pub setup: &'a Setup,
    pub cleanup: &'a mut Cleanup,
    pub repo: &'a Prepared,
    pub pushes: usize,
    pub timeout: Duration,
}

impl Life<'_> {
    /// The case against `target`. Fails only when interrupted or when the repository cannot
    /// be made or removed.
    pub fn run(&mut self, target: Target) -> anyhow::Result<LifeRun> {
        let kind = target.server;
        let name = format!("bench-life-{}-{}", target.key(), std::process::id());
        let head = &self.repo.head_branch;
        self.setup.create_repo(kind, &name, head)?;
        self.cleanup.made(kind, &name);
        let mut life_run = LifeRun {
            target,
            pushes: Vec::new(),
            failed: 0,
            first_error: None,
            storage: None,
            rss_after_kib: 0,
            stored: None,
            warm: Vec::new(),
            early: Vec::new(),
            stored_early: None,
            at_once: Vec::new(),
        };
        let client = self.setup.work.join(format!("life-{}", target.key()));
        crate::repos::remove(&client)?;
        if let Err(error) = self.live(target, &name, &client, &mut life_run) {
            eprintln!("bench:   {target} life FAILED: {error:#}");
            life_run.first_error.get_or_insert(format!("{error:#}"));
        }
        crate::repos::remove(&client)?;
        self.cleanup.delete_all()?;
        Ok(life_run)
    }

    fn live(
        &mut self,
        target: Target,
        name: &str,
        client: &Path,
        life_run: &mut LifeRun,
    ) -> anyhow::Result<()> {
        let setup = self.setup;
        let head = &self.repo.head_branch;
        if target.server == ServerKind::GitDaemon {
            // The client's config turns automatic gc off; a server's repository has it on.
            let bare = setup.work.join("git-daemon").join(format!("{name}.git"));
            for (key, value) in [("gc.auto", "6700"), ("maintenance.auto", "true")] {
                run(git(&setup.env)
                    .arg("-C")
                    .arg(&bare)
                    .args(["config", key, value]))?;
            }
        }
        let server = setup.start(target.server, target.transport)?;
        let url = server.url(name);
        let mut push_all = git(&setup.env);
        push_all
            .arg("-C")
            .arg(self.repo.src())
            .args(["push", "-q", &url])
            .args(["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
        run(&mut push_all).context("the initial push")?;
        let work = client.join("work");
        std::fs::create_dir_all(client)?;
        run(git(&setup.env)
            .args(["clone", "-q", "-b", head])
            .arg(self.repo.client_base())
            .arg(&work))?;
        std::fs::create_dir_all(work.join(Path::new(CHANGED_FILE).parent().expect("a dir")))?;
        let mut commits = 0;
        // Commits one more change; returns the push to time.
        let mut push_command = || -> anyhow::Result<std::process::Command> {
            commits += 1;
            commit_one(setup, &work, commits)?;
            let mut push = git(&setup.env);
            let refspec = format!("HEAD:refs/heads/{head}");
            push.arg("-C")
                .arg(&work)
                .args(["push", "-q", &url, &refspec]);
            Ok(push)
        };

        // The warm server right after the initial push.
        life_run.early = self.warm(&server, &url, client, "early", &mut push_command)?;
        life_run.stored_early = self.stored_or_say(target, name);

        eprintln!("bench: life: {target}: {} one-commit pushes", self.pushes);
        server.settle();
        let storage_before = server.storage();
        let mut failed_in_a_row = 0;
        for i in 0..self.pushes {
            check_interrupted()?;
            let result = push_command()
                .map_err(|e| format!("{e:#}"))
                .and_then(|push| run_timed(vec![push], self.timeout).map(|d| d.as_secs_f64()));
            match result {
                Ok(secs) => {
                    failed_in_a_row = 0;
                    life_run.pushes.push(Some(secs));
                }
                Err(error) => {
                    life_run.failed += 1;
                    life_run.pushes.push(None);
                    life_run
                        .first_error
                        .get_or_insert_with(|| format!("push {}: {error}", i + 1));
                    failed_in_a_row += 1;
                    if failed_in_a_row == GIVE_UP_AFTER {
                        anyhow::bail!("{GIVE_UP_AFTER} pushes in a row failed: {error}");
                    }
                }
            }
            if (i + 1) % 100 == 0 {
                eprintln!("bench: life: {target}: {} pushes", i + 1);
            }
        }
        server.settle();
        life_run.storage = storage_before
            .zip(server.storage())
            .map(|(before, after)| after.since(&before));
        life_run.rss_after_kib = procfs::tree_rss_kib(server.pid);

        life_run.warm = self.warm(&server, &url, client, "after", &mut push_command)?;
        life_run.stored = self.stored_or_say(target, name);

        // The same history pushed at once into a fresh repository, cloned.
        let fresh = format!("{name}-at-once");
        setup.create_repo(target.server, &fresh, head)?;
        self.cleanup.made(target.server, &fresh);
        let fresh_url = server.url(&fresh);
        let mirror = client.join("mirror.git");
        run(git(&setup.env)
            .args(["clone", "-q", "--mirror", &url])
            .arg(&mirror))?;
        run(git(&setup.env)
            .arg("-C")
            .arg(&mirror)
            .args(["push", "-q", "--mirror", &fresh_url]))
        .context("pushing the history at once")?;
        crate::repos::remove(&mirror)?;
        for i in 0..CLONE_REPEATS {
            check_interrupted()?;
            let dest = client.join(format!("clone-at-once-{i}.git"));
            let mut clone = git(&setup.env);
            clone.args(["clone", "-q", "--bare", &fresh_url]).arg(&dest);
            life_run
                .at_once
                .push(measured(&server, WarmOp::Clone, Ok(clone), self.timeout));
            crate::repos::remove(&dest)?;
        }
        Ok(())
    }

    /// The warm operations: push-1 and fetch-1 in turn, then full clones.
    fn warm(
        &self,
        server: &Server,
        url: &str,
        client: &Path,
        label: &str,
        push_command: &mut dyn FnMut() -> anyhow::Result<std::process::Command>,
    ) -> anyhow::Result<Vec<WarmSample>> {
        let setup = self.setup;
        let mut samples = Vec::new();
        let fetched = client.join(format!("fetch-{label}.git"));
        run(git(&setup.env)
            .args(["clone", "-q", "--bare", url])
            .arg(&fetched))?;
        for _ in 0..WARM_REPEATS {
            check_interrupted()?;
            let push = push_command();
            samples.push(measured(server, WarmOp::Push1, push, self.timeout));
            let mut fetch = git(&setup.env);
            fetch.arg("-C").arg(&fetched).args(["fetch", "-q", url]);
            fetch.args(["+refs/heads/*:refs/heads/*"]);
            samples.push(measured(server, WarmOp::Fetch1, Ok(fetch), self.timeout));
        }
        for i in 0..CLONE_REPEATS {
            check_interrupted()?;
            let dest = client.join(format!("clone-{label}-{i}.git"));
            let mut clone = git(&setup.env);
            clone.args(["clone", "-q", "--bare", url]).arg(&dest);
            samples.push(measured(server, WarmOp::Clone, Ok(clone), self.timeout));
            crate::repos::remove(&dest)?;
        }
        crate::repos::remove(&fetched)?;
        Ok(samples)
    }

    fn stored_or_say(&mut self, target: Target, name: &str) -> Option<Stored> {
        match self.stored(target.server, name) {
            Ok(stored) => Some(stored),
            Err(error) => {
                eprintln!("bench: life: {target}: cannot count what is stored: {error:#}");
                None
            }
        }
    }

    /// What the repository `name` holds on `kind`.
    fn stored(&mut self, kind: ServerKind, name: &str) -> anyhow::Result<Stored> {
        if kind != ServerKind::GitDaemon {
            let objects = self.cleanup.list_objects(kind, name)?;
            return Ok(Stored {
                files: objects.len() as u64,
                packs: objects.iter().filter(|(n, _)| n.ends_with(".pack")).count() as u64,
                bytes: objects.iter().map(|(_, size)| size).sum(),
                loose_objects: None,
            });
        }
        let bare = self
            .setup
            .work
            .join("git-daemon")
            .join(format!("{name}.git"));
        let counts = run(git(&self.setup.env)
            .arg("-C")
            .arg(&bare)
            .args(["count-objects", "-v"]))?;
        let count = |key: &str| {
            counts.lines().find_map(|line| {
                line.strip_prefix(key)?
                    .strip_prefix(": ")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        let (files, bytes) = count_files(&bare.join("objects"))?;
        Ok(Stored {
            files,
            packs: count("packs").unwrap_or(0),
            bytes,
            loose_objects: count("count"),
        })
    }
}

/// Adds line `number` to [`CHANGED_FILE`] of the checkout `work` and commits it.
fn commit_one(setup: &Setup, work: &Path, number: usize) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.join(CHANGED_FILE))?;
    writeln!(file, "Push {number} of the repository's life.")?;
    run(git(&setup.env)
        .arg("-C")
        .arg(work)
        .args(["add", CHANGED_FILE]))?;
    run(git(&setup.env)
        .arg("-C")
        .arg(work)
        .args(["commit", "-q", "-m"])
        .arg(format!("Life push {number}")))?;
    Ok(())
}

/// Times `command` (made by the caller, or the error of making it) on the warm `server`.
fn measured(
    server: &Server,
    op: WarmOp,
    command: anyhow::Result<std::process::Command>,
    timeout: Duration,
) -> WarmSample {
    let (result, figures) = match command {
        Ok(command) => {
            let (result, figures) = measure_one(server, false, vec![command], timeout);
            (result, Some(figures))
        }
        Err(error) => (Err(format!("set-up: {error:#}")), None),
    };
    let figures = figures.unwrap_or_default();
    WarmSample {
        op,
        secs: result.as_ref().ok().copied(),
        error: result.err(),
        cpu_secs: figures.cpu_secs,
        storage: figures.storage,
    }
}

/// Files under `dir`, and their bytes.
fn count_files(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut count, mut bytes) = (0, 0);
    let mut queue: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(next) = queue.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                queue.push(entry.path());
            } else {
                count += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((count, bytes))
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}

fn ms(secs: Option<f64>) -> String {
    secs.map_or("—".to_owned(), |s| format!("{:.0}", s * 1000.0))
}

/// The median of a warm operation among `samples`.
fn median_of(samples: &[WarmSample], op: WarmOp) -> Option<f64> {
    median(samples.iter().filter(|s| s.op == op).filter_map(|s| s.secs))
}

/// The median of a warm operation on one run, after the pushes.
fn warm_median(run: &LifeRun, op: WarmOp) -> Option<f64> {
    median_of(&run.warm, op)
}

fn stored_cell(stored: Option<Stored>) -> String {
    stored.map_or("—".to_owned(), |s| {
        let mib = s.bytes as f64 / (1 << 20) as f64;
        match s.loose_objects {
            Some(loose) => format!("{} ({loose} loose) / {} / {mib:.1}", s.files, s.packs),
            None => format!("{} / {} / {mib:.1}", s.files, s.packs),
        }
    })
}

/// The case's Markdown: the pushes, then the warm server beside git daemon.
pub fn markdown(results: &LifeResults) -> String {
    let mut out = String::new();
    let n = results.pushes;
    let _ = writeln!(
        out,
        "### a repository's life — {n} one-commit pushes into {}\n",
        results.repo
    );
    let _ = writeln!(
        out,
        "One daemon per server took the history, then {n} pushes of one new commit each in \
         sequence (times in ms; the client's commit is not timed). git daemon's repository \
         keeps git's default automatic gc. **stored**: files under `objects/` (git: loose \
         objects in brackets) or objects in the container (swiftgit), packs, MiB.\n"
    );
    out.push_str(
        "| server | first 5 pushes | last 5 pushes | median of the first 10 | median of the \
         last 10 | median of all | slowest | total s | storage requests per push | Swift HTTP \
         per push | RSS after MiB | stored: files / packs / MiB | failed |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for run in &results.runs {
        let listed = |pushes: &[Option<f64>]| -> String {
            let times: Vec<String> = pushes.iter().map(|s| ms(*s)).collect();
            times.join(", ")
        };
        let first5 = listed(&run.pushes[..run.pushes.len().min(5)]);
        let last5 = listed(&run.pushes[run.pushes.len().saturating_sub(5)..]);
        let ok = |pushes: &[Option<f64>]| median(pushes.iter().flatten().copied());
        let last10 = &run.pushes[run.pushes.len().saturating_sub(10)..];
        let slowest = run.pushes.iter().flatten().copied().reduce(f64::max);
        let total: f64 = run.pushes.iter().flatten().sum();
        let per_push = |value: Option<u64>| {
            value.map_or("—".to_owned(), |v| {
                format!("{:.1}", v as f64 / run.pushes.len().max(1) as f64)
            })
        };
        let stored = stored_cell(run.stored);
        let failed = match &run.first_error {
            Some(error) => format!(
                "{} ({})",
                run.failed,
                error.chars().take(60).collect::<String>().replace('|', "/")
            ),
            None => run.failed.to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {first5} | {last5} | {} | {} | {} | {} | {total:.1} | {} | {} | {:.0} | \
             {stored} | {failed} |",
            run.target,
            ms(ok(&run.pushes[..run.pushes.len().min(10)])),
            ms(ok(last10)),
            ms(ok(&run.pushes)),
            ms(slowest),
            per_push(run.storage.map(|s| s.requests)),
            per_push(run.storage.and_then(|s| s.http_requests)),
            run.rss_after_kib as f64 / 1024.0,
        );
    }
    let _ = writeln!(
        out,
        "\nAfterwards, on the same warm daemon (medians of {WARM_REPEATS}, clones of \
         {CLONE_REPEATS}; × git divides by git daemon over the same transport, or over git:// \
         when it did not run over this one):\n"
    );
    out.push_str("| operation |");
    for run in &results.runs {
        let _ = write!(out, " {} |", run.target);
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(results.runs.len()));
    out.push('\n');
    for op in WarmOp::ALL {
        let _ = write!(out, "| {} |", op.label());
        for run in &results.runs {
            let baseline = (results.runs.iter())
                .filter(|r| r.target.server == ServerKind::GitDaemon)
                .find(|r| r.target.transport == run.target.transport)
                .or_else(|| {
                    (results.runs.iter()).find(|r| r.target.server == ServerKind::GitDaemon)
                })
                .and_then(|r| warm_median(r, op));
            let cell = match (warm_median(run, op), baseline) {
                (None, _) => "FAIL".to_owned(),
                (Some(s), Some(g)) if run.target.server != ServerKind::GitDaemon => {
                    format!("{:.3} s ({:.1}×)", s, s / g.max(1e-9))
                }
                (Some(s), _) => format!("{s:.3} s"),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nThe same operations right after the initial push, before the {n} pushes (same \
         daemon), and after ÷ before; **stored**: files / packs / MiB:\n"
    );
    out.push_str("| operation |");
    for run in &results.runs {
        let _ = write!(out, " {} |", run.target);
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(results.runs.len()));
    out.push('\n');
    for op in WarmOp::ALL {
        let _ = write!(out, "| {} |", op.label());
        for run in &results.runs {
            let cell = match (median_of(&run.early, op), warm_median(run, op)) {
                (Some(before), Some(after)) => format!(
                    "{before:.3} → {after:.3} s ({:.2}×)",
                    after / before.max(1e-9)
                ),
                _ => "—".to_owned(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push_str("| full clone of the same history pushed at once, and after ÷ that |");
    for run in &results.runs {
        let cell = match (
            median_of(&run.at_once, WarmOp::Clone),
            warm_median(run, WarmOp::Clone),
        ) {
            (Some(at_once), Some(after)) => {
                format!("{at_once:.3} s ({:.2}×)", after / at_once.max(1e-9))
            }
            _ => "—".to_owned(),
        };
        let _ = write!(out, " {cell} |");
    }
    out.push('\n');
    out.push_str("| stored |");
    for run in &results.runs {
        let _ = write!(
            out,
            " {} → {} |",
            stored_cell(run.stored_early),
            stored_cell(run.stored)
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }
}
