//! One run of every operation against one server, in an order where each builds on the last:
//! initial push into a fresh empty repository, the clones, the incremental push, the fetches,
//! ls-remote, the ten concurrent clones and the one-commit pushes.
//!
//! Every read operation runs on a freshly started server ("cold": nothing cached, a swiftgit
//! daemon has not authenticated or read an index yet) and then again on the same server
//! ("warm"). `git daemon` starts a process per connection and keeps nothing between requests,
//! so it runs once. The initial and the incremental push run once on a fresh server, so they
//! include what a daemon does at its first write (without the etcd coordinator: taking the
//! writer lease). The one-commit pushes (push-1) measure the steady state instead: on a fresh
//! server, an untimed fetch and an untimed push of one commit, then [`PUSH_1_REPEATS`] pushes
//! of one new commit each, every one a sample. They run last, so that the commits they add do
//! not change what the other operations see. A failed operation is recorded with its error
//! and the run goes on.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::cleanup::Cleanup;
use crate::command::{check_interrupted, command, run, run_timed};
use crate::procfs::{self, RssSampler};
use crate::repos::{Prepared, git};
use crate::servers::{Server, ServerKind, Setup, StorageFigures, Target, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    PushAll,
    Clone,
    CloneDepth1,
    CloneFilter,
    Push10,
    Fetch10,
    FetchNoop,
    LsRemote,
    CloneX10,
    Push1,
}

/// How many one-commit pushes (push-1) one run measures, each a sample.
pub const PUSH_1_REPEATS: usize = 5;

impl Op {
    pub const ALL: [Op; 10] = [
        Op::PushAll,
        Op::Clone,
        Op::CloneDepth1,
        Op::CloneFilter,
        Op::Push10,
        Op::Fetch10,
        Op::FetchNoop,
        Op::LsRemote,
        Op::CloneX10,
        Op::Push1,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Op::PushAll => "push-all",
            Op::Clone => "clone",
            Op::CloneDepth1 => "clone-depth1",
            Op::CloneFilter => "clone-filter",
            Op::Push10 => "push-10",
            Op::Fetch10 => "fetch-10",
            Op::FetchNoop => "fetch-noop",
            Op::LsRemote => "ls-remote",
            Op::CloneX10 => "clone-x10",
            Op::Push1 => "push-1",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Op::PushAll => "initial push (all branches + tags)",
            Op::Clone => "full clone",
            Op::CloneDepth1 => "clone --depth 1",
            Op::CloneFilter => "clone --filter=blob:none",
            Op::Push10 => "push 10 commits",
            Op::Fetch10 => "fetch 10 commits",
            Op::FetchNoop => "no-op fetch",
            Op::LsRemote => "ls-remote",
            Op::CloneX10 => "10 clones at once",
            Op::Push1 => "push 1 commit (warm)",
        }
    }

    pub fn parse(key: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.key() == key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The only measurement: push-all and push-10 on a fresh server; everything on git
    /// daemon, which keeps nothing between connections.
    Once,
    /// On a freshly started server.
    Cold,
    /// On a server that has served this repository already: a read again, or a one-commit
    /// push after an untimed fetch and push.
    Warm,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub server: ServerKind,
    pub transport: Transport,
    pub op: Op,
    pub variant: Variant,
    pub run: u32,
    /// Wall time of the client command(s); `None` if it failed.
    pub secs: Option<f64>,
    pub error: Option<String>,
    /// Server CPU time (user + system, reaped children included).
    pub cpu_secs: Option<f64>,
    /// Peak resident memory of the server and its descendants during the operation.
    pub peak_rss_kib: Option<u64>,
    /// swiftgit only: storage calls and bytes during the operation.
    pub storage: Option<StorageFigures>,
}

pub struct Scenario<'a> {
    pub setup: &'a Setup,
    pub cleanup: &'a mut Cleanup,
    pub repo: &'a Prepared,
    pub ops: &'a [Op],
    pub timeout: Duration,
}

const FETCH_REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

impl Scenario<'_> {
    /// Every selected operation once (twice, cold and warm) against `target`. Fails only when
    /// interrupted or when the repository cannot be made or removed.
    pub fn run(&mut self, target: Target, run_number: u32) -> anyhow::Result<Vec<Sample>> {
        let kind = target.server;
        let label: String = (self.repo.label.chars())
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        // The server in the name: `swift` and `etcd` share one Swift account.
        let name = format!(
            "bench-{label}-{}-{}-{run_number}",
            target.key(),
            std::process::id()
        );
        self.setup
            .create_repo(kind, &name, &self.repo.head_branch)?;
        self.cleanup.made(kind, &name);
        let client = self.setup.work.join(format!("client-{}", target.key()));
        crate::repos::remove(&client)?;
        std::fs::create_dir_all(&client)?;
        let mut ctx = RunContext {
            scenario: self,
            kind,
            transport: target.transport,
            run: run_number,
            name,
            client,
            samples: Vec::new(),
        };
        ctx.all()?;
        let RunContext {
            samples, client, ..
        } = ctx;
        crate::repos::remove(&client)?;
        self.cleanup.delete_all()?;
        Ok(samples)
    }
}

/// Untimed work against a fresh server (given its URL) before an operation's measurements.
type WarmUp<'w, Ctx> = &'w dyn Fn(&Ctx, &str) -> anyhow::Result<()>;

struct RunContext<'s, 'a> {
    scenario: &'s Scenario<'a>,
    kind: ServerKind,
    transport: Transport,
    run: u32,
    name: String,
    client: PathBuf,
    samples: Vec<Sample>,
}

impl RunContext<'_, '_> {
    fn selected(&self, op: Op) -> bool {
        self.scenario.ops.contains(&op)
    }

    fn variants(&self, op: Op) -> &'static [Variant] {
        match (self.kind, op) {
            (ServerKind::GitDaemon, Op::Push1) => &[Variant::Once; PUSH_1_REPEATS],
            (_, Op::Push1) => &[Variant::Warm; PUSH_1_REPEATS],
            (ServerKind::GitDaemon, _) | (_, Op::PushAll | Op::Push10) => &[Variant::Once],
            _ => &[Variant::Cold, Variant::Warm],
        }
    }

    fn git(&self) -> Command {
        git(&self.scenario.setup.env)
    }

    fn all(&mut self) -> anyhow::Result<()> {
        let repo = self.scenario.repo;
        let src = repo.src();
        // The pushes always run: later operations need their result.
        self.measure(Op::PushAll, |ctx, url, _| {
            let mut push = ctx.git();
            push.arg("-C").arg(&src).args(["push", "-q", url]);
            push.args(["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
            Ok(vec![push])
        })?;
        for op in [Op::Clone, Op::CloneDepth1, Op::CloneFilter] {
            let extra: &[&str] = match op {
                Op::CloneDepth1 => &["--depth", "1"],
                Op::CloneFilter => &["--filter=blob:none"],
                _ => &[],
            };
            self.measure(op, |ctx, url, _| {
                Ok(vec![ctx.clone_command(url, extra, "clone")?])
            })?;
        }
        let head = &repo.head_branch;
        self.measure(Op::Push10, |ctx, url, _| {
            let mut push = ctx.git();
            let refspec = format!("refs/bench/inc:refs/heads/{head}");
            push.arg("-C").arg(&src).args(["push", "-q", url, &refspec]);
            Ok(vec![push])
        })?;
        let base = repo.client_base();
        self.measure(Op::Fetch10, |ctx, url, variant| {
            let dest = ctx.fetch_dir(variant);
            crate::repos::remove(&dest)?;
            run(command("cp").arg("-a").arg(&base).arg(&dest))?;
            Ok(vec![ctx.fetch_command(&dest, url)])
        })?;
        self.measure(Op::FetchNoop, |ctx, url, _| {
            let dest = ctx.fetch_dir(Variant::Warm);
            if !dest.exists() {
                run(command("cp").arg("-a").arg(&base).arg(&dest))?;
                run(&mut ctx.fetch_command(&dest, url))?;
            }
            Ok(vec![ctx.fetch_command(&dest, url)])
        })?;
        self.measure(Op::LsRemote, |ctx, url, _| {
            let mut ls = ctx.git();
            ls.args(["ls-remote", url]);
            Ok(vec![ls])
        })?;
        self.measure(Op::CloneX10, |ctx, url, _| {
            (0..10)
                .map(|i| ctx.clone_command(url, &[], &format!("clone-{i}")))
                .collect()
        })?;
        // The client of the one-commit pushes: a copy of the client base that fetches what
        // push-10 added (the warm-up's fetch), then commits on top of the head branch.
        let push_1 = self.client.join("push-1.git");
        let commits = Cell::new(0);
        let push_1_command = |ctx: &Self, url: &str| -> anyhow::Result<Command> {
            commits.set(commits.get() + 1);
            crate::repos::add_commit(&ctx.scenario.setup.env, &push_1, head, commits.get())?;
            let refspec = format!("refs/heads/{head}:refs/heads/{head}");
            let mut push = ctx.git();
            push.arg("-C")
                .arg(&push_1)
                .args(["push", "-q", url, &refspec]);
            Ok(push)
        };
        let warm_up = |ctx: &Self, url: &str| -> anyhow::Result<()> {
            crate::repos::remove(&push_1)?;
            run(command("cp").arg("-a").arg(&base).arg(&push_1))?;
            run(&mut ctx.fetch_command(&push_1, url))?;
            run(&mut push_1_command(ctx, url)?)?;
            Ok(())
        };
        self.measure_after(Op::Push1, Some(&warm_up), |ctx, url, _| {
            Ok(vec![push_1_command(ctx, url)?])
        })?;
        Ok(())
    }

    fn fetch_dir(&self, variant: Variant) -> PathBuf {
        let key = if variant == Variant::Cold {
            "cold"
        } else {
            "warm"
        };
        self.client.join(format!("fetch-{key}.git"))
    }

    fn fetch_command(&self, dest: &Path, url: &str) -> Command {
        let mut fetch = self.git();
        fetch.arg("-C").arg(dest).args(["fetch", "-q", url]);
        fetch.args(FETCH_REFSPECS);
        fetch
    }

    /// `git clone --bare` (no checkout: the client's checkout costs the same for every
    /// server) into a fresh `dir`.
    fn clone_command(&self, url: &str, extra: &[&str], dir: &str) -> anyhow::Result<Command> {
        let dest = self.client.join(dir);
        crate::repos::remove(&dest)?;
        let mut clone = self.git();
        clone
            .args(["clone", "-q", "--bare"])
            .args(extra)
            .arg(url)
            .arg(&dest);
        Ok(clone)
    }

    /// Starts a fresh server and measures `op` in each of its variants. `prepare` does the
    /// untimed set-up of one measurement and returns the commands to time.
    fn measure(
        &mut self,
        op: Op,
        prepare: impl Fn(&Self, &str, Variant) -> anyhow::Result<Vec<Command>>,
    ) -> anyhow::Result<()> {
        self.measure_after(op, None, prepare)
    }

    /// [`Self::measure`], with `warm_up` (untimed) run against the fresh server first: when
    /// it fails, every variant is recorded as failed.
    fn measure_after(
        &mut self,
        op: Op,
        warm_up: Option<WarmUp<'_, Self>>,
        prepare: impl Fn(&Self, &str, Variant) -> anyhow::Result<Vec<Command>>,
    ) -> anyhow::Result<()> {
        check_interrupted()?;
        let always = matches!(op, Op::PushAll | Op::Push10);
        if !self.selected(op) && !always {
            return Ok(());
        }
        let server = self.scenario.setup.start(self.kind, self.transport);
        let server = match server {
            Ok(server) => server,
            Err(error) => {
                for &variant in self.variants(op) {
                    self.record(op, variant, Err(format!("server: {error:#}")), None);
                }
                return Ok(());
            }
        };
        let url = server.url(&self.name);
        if let Some(warm_up) = warm_up
            && let Err(error) = warm_up(self, &url)
        {
            for &variant in self.variants(op) {
                self.record(op, variant, Err(format!("warm-up: {error:#}")), None);
            }
            return Ok(());
        }
        for (i, &variant) in self.variants(op).iter().enumerate() {
            let commands = match prepare(self, &url, variant) {
                Ok(commands) => commands,
                Err(error) => {
                    self.record(op, variant, Err(format!("set-up: {error:#}")), None);
                    continue;
                }
            };
            let fresh = i == 0 && warm_up.is_none();
            let (result, figures) = measure_one(&server, fresh, commands, self.scenario.timeout);
            self.record(op, variant, result, Some(figures));
            check_interrupted()?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        op: Op,
        variant: Variant,
        result: Result<f64, String>,
        server: Option<ServerFigures>,
    ) {
        if !self.selected(op) {
            return;
        }
        let server = server.unwrap_or_default();
        let (secs, error) = match result {
            Ok(secs) => (Some(secs), None),
            Err(error) => (None, Some(error)),
        };
        if let Some(error) = &error {
            eprintln!(
                "bench:   {} {} ({variant:?}) FAILED: {error}",
                self.kind,
                op.key()
            );
        }
        self.samples.push(Sample {
            server: self.kind,
            transport: self.transport,
            op,
            variant,
            run: self.run,
            secs,
            error,
            cpu_secs: server.cpu_secs,
            peak_rss_kib: server.peak_rss_kib,
            storage: server.storage,
        });
    }
}

/// What the server did during one measurement.
#[derive(Debug, Default)]
pub struct ServerFigures {
    pub cpu_secs: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    pub storage: Option<StorageFigures>,
}

/// Times `commands` against `server`, reading its CPU time, memory and storage counters
/// around them. `fresh`: the server has served nothing yet, so its own high-water mark
/// (`VmHWM`) is this operation's peak.
pub fn measure_one(
    server: &Server,
    fresh: bool,
    commands: Vec<Command>,
    timeout: Duration,
) -> (Result<f64, String>, ServerFigures) {
    server.settle();
    let cpu_before = procfs::cpu_seconds(server.pid);
    let storage_before = server.storage();
    let sampler = RssSampler::start(server.pid);
    let result = run_timed(commands, timeout).map(|d| d.as_secs_f64());
    server.settle();
    let mut peak = sampler.stop();
    if fresh && server.kind != ServerKind::GitDaemon {
        peak = peak.max(procfs::status_kib(server.pid, "VmHWM").unwrap_or(0));
    }
    let cpu_after = procfs::cpu_seconds(server.pid);
    let figures = ServerFigures {
        cpu_secs: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        peak_rss_kib: Some(peak),
        storage: storage_before
            .zip(server.storage())
            .map(|(before, after)| after.since(&before)),
    };
    (result, figures)
}
