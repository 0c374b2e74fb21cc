//! `swiftgit-bench`: times the real git client against C `git daemon`, swiftgit on a local
//! directory, swiftgit on a real Swift and swiftgit on the same Swift with the etcd coordinator,
//! in the same run, on generated or existing repositories; prints Markdown tables and writes
//! `target/bench/results.json`. `swift` beside `etcd` shows what the coordinator costs a push:
//! per push in the steady state with `push-1` (one commit at a time on a warm server).
//!
//! It is a program that prints numbers beside a baseline, not a test: nothing in it asserts a
//! time. Layout: `generate` (deterministic fast-import streams), `repos` (prepared and cached
//! source repositories), `servers` (the four servers as child processes, over git:// or smart
//! HTTP), `http_backend` (git's HTTP baseline: `git http-backend` behind a CGI front that this
//! program runs as a child of its own), `swift_dev` and `etcd_dev` (the Swift and the etcd
//! cluster they use), `scenario` (the operations of one run), `many_repos` and `life` (the two
//! cases beside it: one daemon serving many repositories, one repository taking many pushes),
//! `procfs` (CPU and memory of a server), `report` (medians, tables), `cleanup` (the
//! repositories made on the servers, the run's etcd keys), `command` (child processes,
//! signals).

mod cleanup;
mod command;
mod etcd_dev;
mod generate;
mod http_backend;
mod life;
mod many_repos;
mod procfs;
mod report;
mod repos;
mod scenario;
mod servers;
mod swift_dev;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;

use crate::command::{check_interrupted, run};
use crate::life::{Life, LifeResults};
use crate::many_repos::{Budget, ManyRepos, ManyReposResults};
use crate::report::{Machine, RepoResults, Results};
use crate::scenario::{Op, Scenario};
use crate::servers::{ConfigOptions, ServerKind, Setup, Target, Transport};

#[derive(Debug, Parser)]
#[command(
    name = "swiftgit-bench",
    about = "Benchmark swiftgit against git daemon with the real git client",
    long_about = "Times initial push, clones (full, --depth 1, --filter=blob:none), incremental \
push and fetch, no-op fetch, ls-remote, 10 concurrent clones and pushes of one commit against C \
`git daemon`, swiftgit on a local directory, swiftgit on Swift and swiftgit on Swift with the \
etcd coordinator (cold: a freshly started daemon; warm: the same daemon again, or for the \
one-commit pushes, 5 in a row on a daemon that has served a fetch and a push). Reports medians, \
the ratio to git daemon, server CPU time and peak RSS, swiftgit's storage requests, and what the \
coordinator adds to a push. Everything listens on 127.0.0.1; servers stop with the benchmark."
)]
struct Cli {
    /// Generated repositories: small (~1k commits), medium (~50k commits, ~150 MB pack),
    /// large (a few files of 60-300 MiB). Comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "small")]
    sizes: Vec<String>,
    /// An existing repository to benchmark as well (cloned, never modified). Repeatable.
    #[arg(long = "repo", value_name = "PATH")]
    repos: Vec<PathBuf>,
    /// Runs per operation; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Servers: git (C git daemon), local (swiftgit, local directory), swift (swiftgit, Swift),
    /// etcd (swiftgit, the same Swift, with the etcd coordinator: $SWIFTGIT_TEST_ETCD, else
    /// `scripts/etcd-dev`, started if it does not run). Comma-separated. Default:
    /// git,local,swift, plus etcd unless no etcd can be had (then a warning, not a failure).
    #[arg(long, value_delimiter = ',')]
    servers: Option<Vec<String>>,
    /// Operations (default: all but the two cases): push-all, clone, clone-depth1,
    /// clone-filter, push-10, fetch-10, fetch-noop, ls-remote, clone-x10, push-1 (5 pushes of
    /// one new commit each on a warm server, each a sample). push-all and push-10 always run
    /// (unmeasured if left out) when any of these is selected: later operations need them.
    /// Cases, only when named: many-repos (one daemon serves --repositories repositories of
    /// the smallest prepared repository in turn; its memory after each) and life
    /// (--pushes one-commit pushes into each prepared repository, then push, fetch and clone
    /// on the warm daemon).
    #[arg(long, value_delimiter = ',')]
    ops: Vec<String>,
    /// Transports: git (git://), http (smart HTTP: swiftgit's --http, and `git http-backend`
    /// behind a CGI front for git). Comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "git")]
    transports: Vec<String>,
    /// many-repos: how many repositories one daemon serves.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    repositories: u64,
    /// life: how many one-commit pushes go into one repository.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pushes: u64,
    /// `[cache] memory_mb` of the swiftgit configs written (default: not written, so the
    /// daemon's default, 256).
    #[arg(long, value_name = "MB")]
    memory_mb: Option<u64>,
    /// Seed of the generated repositories.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// swiftgit config of the Swift to use. Default: $SWIFTGIT_TEST_CONFIG, else the one
    /// `scripts/swift-dev start` writes (it is started if it does not run).
    #[arg(long, value_name = "CONF")]
    swift_config: Option<PathBuf>,
    /// Seconds before one operation is killed and recorded as failed.
    #[arg(long, default_value_t = 1800)]
    op_timeout: u64,
    /// Do not run `cargo build --release -p swiftgit` first.
    #[arg(long)]
    no_build: bool,
    /// Keep the repositories made on the servers.
    #[arg(long)]
    keep: bool,
    /// Only prepare (generate or clone) the repositories and print what they hold.
    #[arg(long)]
    prepare_only: bool,
    /// Where results and caches go [default: <workspace>/target/bench].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The git client's environment: no user or system config, a config of our own.
#[derive(Debug, Clone)]
pub struct ClientEnv {
    home: PathBuf,
}

impl ClientEnv {
    fn new(home: PathBuf) -> anyhow::Result<ClientEnv> {
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Bench\n\temail = bench@bench.invalid\n[gc]\n\tauto = 0\n\
             [maintenance]\n\tauto = false\n[init]\n\tdefaultBranch = main\n\
             [advice]\n\tdetachedHead = false\n",
        )?;
        Ok(ClientEnv { home })
    }

    pub fn apply(&self, command: &mut Command) {
        command
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_PROTOCOL");
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(http_backend::SUBCOMMAND) {
        return match http_backend::serve(&args[2..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("swiftgit-bench {}: {e:#}", http_backend::SUBCOMMAND);
                std::process::ExitCode::FAILURE
            }
        };
    }
    command::install_signal_handlers();
    match run_bench(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swiftgit-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_bench(cli: Cli) -> anyhow::Result<()> {
    let root = workspace_root().canonicalize()?;
    // Absolute: git runs with `-C` in directories under it, given paths under it.
    let out = match &cli.out {
        Some(out) => std::path::absolute(out)?,
        None => root.join("target/bench"),
    };
    let mut kinds: Vec<ServerKind> = match &cli.servers {
        Some(names) => (names.iter())
            .map(|s| ServerKind::parse(s))
            .collect::<anyhow::Result<_>>()?,
        None => vec![
            ServerKind::GitDaemon,
            ServerKind::SwiftgitLocal,
            ServerKind::SwiftgitSwift,
        ],
    };
    let many_repos = cli.ops.iter().any(|k| k == "many-repos");
    let life = cli.ops.iter().any(|k| k == "life");
    let ops: Vec<Op> = if cli.ops.is_empty() {
        Op::ALL.to_vec()
    } else {
        (cli.ops.iter())
            .filter(|k| !matches!(k.as_str(), "many-repos" | "life"))
            .map(|k| Op::parse(k).with_context(|| format!("unknown operation `{k}`")))
            .collect::<anyhow::Result<_>>()?
    };
    let mut transports: Vec<Transport> = (cli.transports.iter())
        .map(|t| Transport::parse(t))
        .collect::<anyhow::Result<_>>()?;
    transports.sort();
    transports.dedup();
    let targets: Vec<Target> = (kinds.iter())
        .flat_map(|&server| (transports.iter()).map(move |&transport| Target { server, transport }))
        .collect();
    if !cli.no_build {
        eprintln!("bench: cargo build --release -p swiftgit");
        let status = command::command("cargo")
            .current_dir(&root)
            .args(["build", "--release", "-p", "swiftgit"])
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build --release -p swiftgit failed");
        }
    }
    let swiftgit = root.join("target/release/swiftgit");
    if !swiftgit.exists() {
        bail!(
            "{} is missing: build it (drop --no-build)",
            swiftgit.display()
        );
    }
    let work = out.join("work");
    repos::remove(&work)?;
    let env = ClientEnv::new(work.join("home"))?;

    let mut prepared = Vec::new();
    let cache = out.join("repos");
    std::fs::create_dir_all(&cache)?;
    for size in &cli.sizes {
        check_interrupted()?;
        prepared.push(repos::generated(&env, &cache, size, cli.seed)?);
    }
    for path in &cli.repos {
        check_interrupted()?;
        prepared.push(repos::existing(&env, &cache, path)?);
    }
    if cli.prepare_only {
        for repo in &prepared {
            println!("{}", serde_json::to_string(repo)?);
        }
        return Ok(());
    }

    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Declared before `cleanup` so that they are dropped (stopped) after it.
    let etcd = find_etcd(&root, &cli, &mut kinds, started_unix)?;
    let mut swift = None;
    if kinds.iter().any(|k| k.uses_swift()) {
        swift = Some(swift_dev::SwiftDev::find(
            &root,
            cli.swift_config.as_deref(),
        )?);
    }
    let swift_config = swift.as_ref().map(|s| s.config.clone());
    let setup = Setup::new(
        swiftgit,
        work.clone(),
        env.clone(),
        swift_config.as_deref(),
        etcd.as_ref(),
        ConfigOptions {
            http: transports.contains(&Transport::Http),
            memory_mb: cli.memory_mb,
        },
    )?;
    let mut cleanup = cleanup::Cleanup::new(
        &work.join("git-daemon"),
        &setup.local_config,
        setup.swift_config.as_deref(),
        etcd.as_ref(),
        cli.keep,
    )?;

    let machine = Machine {
        cpus: procfs::cpu_count(),
        cpu_model: procfs::cpu_model(),
        memory_gib: procfs::memory_gib(),
        kernel: procfs::kernel(),
        git_version: run(Command::new("git").arg("--version"))?.trim().to_owned(),
        swift_version: swift.as_ref().and_then(|s| s.version.clone()),
        swift_max_file_size: swift.as_ref().and_then(|s| s.max_file_size),
        etcd_version: etcd.as_ref().and_then(|e| e.version.clone()),
        etcd_members: etcd.as_ref().map(|e| e.endpoints.len()),
    };
    let mut results = Results {
        command: std::iter::once("cargo run --release -p swiftgit-bench --".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        started_unix,
        runs: cli.runs,
        transports: transports.clone(),
        machine,
        repos: Vec::new(),
        many_repos: None,
        life: Vec::new(),
    };
    if transports.contains(&Transport::Http) {
        println!("{}\n", report::HTTP_NOTE);
    }
    for repo in &prepared {
        if ops.is_empty() {
            break;
        }
        let load_before = procfs::load_average();
        let mut load_peak = 0.0_f64;
        let mut samples = Vec::new();
        for run_number in 1..=cli.runs {
            for &target in &targets {
                eprintln!(
                    "bench: {} run {run_number}/{}: {target}",
                    repo.label, cli.runs
                );
                let mut scenario = Scenario {
                    setup: &setup,
                    cleanup: &mut cleanup,
                    repo,
                    ops: &ops,
                    timeout: Duration::from_secs(cli.op_timeout),
                };
                samples.extend(scenario.run(target, run_number)?);
                load_peak = load_peak.max(procfs::load_1min());
            }
        }
        let medians = report::medians(&samples);
        let repo_results = RepoResults {
            repo: repo.clone(),
            load_before,
            load_after: procfs::load_average(),
            load_peak,
            coordinator_push_cost: report::coordinator_push_cost(&medians),
            medians,
            samples,
        };
        println!("{}", report::repo_markdown(&repo_results, cli.runs));
        results.repos.push(repo_results);
    }
    let timeout = Duration::from_secs(cli.op_timeout);
    if many_repos && let Some(repo) = prepared.iter().min_by_key(|r| r.pack_bytes) {
        let mut case = ManyRepos {
            setup: &setup,
            cleanup: &mut cleanup,
            repo,
            count: cli.repositories as usize,
            timeout,
        };
        let mut runs = Vec::new();
        for &kind in &kinds {
            runs.extend(case.run(kind, &transports)?);
        }
        let case_results = ManyReposResults {
            repo: repo.clone(),
            repositories: case.count,
            budget: Budget::of(setup.swift_config.as_deref(), cli.memory_mb)?,
            runs,
        };
        println!("{}", many_repos::markdown(&case_results));
        results.many_repos = Some(case_results);
    }
    if life {
        for repo in &prepared {
            let mut case = Life {
                setup: &setup,
                cleanup: &mut cleanup,
                repo,
                pushes: cli.pushes as usize,
                timeout,
            };
            let mut runs = Vec::new();
            for &target in &targets {
                runs.push(case.run(target)?);
            }
            let case_results = LifeResults {
                repo: repo.label.clone(),
                pushes: case.pushes,
                runs,
            };
            println!("{}", life::markdown(&case_results));
            results.life.push(case_results);
        }
    }
    cleanup.finish()?;
    let markdown = report::markdown(&results);
    std::fs::write(out.join("results.md"), &markdown)?;
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(out.join("results.json"), &json)?;
    std::fs::write(
        out.join(format!("results-{}.json", results.started_unix)),
        &json,
    )?;
    eprintln!(
        "bench: wrote {} and {}",
        out.join("results.md").display(),
        out.join("results.json").display()
    );
    drop(cleanup);
    drop(etcd);
    drop(swift);
    Ok(())
}

/// The etcd cluster, when `kinds` has `etcd` or the servers are the default ones. Asked for
/// by name, a failure to get one fails the run; by default, it is a warning and `etcd` is not
/// added to `kinds`.
fn find_etcd(
    root: &Path,
    cli: &Cli,
    kinds: &mut Vec<ServerKind>,
    started_unix: u64,
) -> anyhow::Result<Option<etcd_dev::EtcdDev>> {
    let by_default = cli.servers.is_none();
    if !by_default && !kinds.contains(&ServerKind::SwiftgitEtcd) {
        return Ok(None);
    }
    match etcd_dev::EtcdDev::find(root, started_unix) {
        Ok(etcd) => {
            if by_default {
                kinds.push(ServerKind::SwiftgitEtcd);
            }
            Ok(Some(etcd))
        }
        Err(error) if by_default => {
            eprintln!("bench: warning: no etcd, so no `etcd` server in this run: {error:#}");
            Ok(None)
        }
        Err(error) => Err(error.context("the `etcd` server needs an etcd cluster")),
    }
}
