//! `swiftgit-bench`: times the real git client against C `git daemon`, swiftgit on a local
//! directory and swiftgit on a real Swift, in the same run, on generated or existing
//! repositories; prints Markdown tables and writes `target/bench/results.json`.
//!
//! It is a program that prints numbers beside a baseline, not a test: nothing in it asserts a
//! time. Layout: `generate` (deterministic fast-import streams), `repos` (prepared and cached
//! source repositories), `servers` (the three daemons as child processes), `scenario` (the
//! operations of one run), `procfs` (CPU and memory of a server), `report` (medians, tables),
//! `cleanup` (the repositories made on the servers), `command` (child processes, signals).

mod cleanup;
mod command;
mod generate;
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
use crate::report::{Machine, RepoResults, Results};
use crate::scenario::{Op, Scenario};
use crate::servers::{ServerKind, Setup};

#[derive(Debug, Parser)]
#[command(
    name = "swiftgit-bench",
    about = "Benchmark swiftgit against git daemon with the real git client",
    long_about = "Times initial push, clones (full, --depth 1, --filter=blob:none), incremental \
push and fetch, no-op fetch, ls-remote and 10 concurrent clones against C `git daemon`, swiftgit \
on a local directory and swiftgit on Swift (cold: a freshly started daemon; warm: the same \
daemon again). Reports medians, the ratio to git daemon, server CPU time and peak RSS, and \
swiftgit's storage requests. Everything listens on 127.0.0.1; servers stop with the benchmark."
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
    /// Servers: git (C git daemon), local (swiftgit, local directory), swift (swiftgit, Swift).
    #[arg(long, value_delimiter = ',', default_value = "git,local,swift")]
    servers: Vec<String>,
    /// Operations (default all): push-all, clone, clone-depth1, clone-filter, push-10,
    /// fetch-10, fetch-noop, ls-remote, clone-x10. The pushes always run (unmeasured if left
    /// out): later operations need them.
    #[arg(long, value_delimiter = ',')]
    ops: Vec<String>,
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
    let out = cli.out.clone().unwrap_or_else(|| root.join("target/bench"));
    let kinds: Vec<ServerKind> = (cli.servers.iter())
        .map(|s| ServerKind::parse(s))
        .collect::<anyhow::Result<_>>()?;
    let ops: Vec<Op> = if cli.ops.is_empty() {
        Op::ALL.to_vec()
    } else {
        (cli.ops.iter())
            .map(|k| Op::parse(k).with_context(|| format!("unknown operation `{k}`")))
            .collect::<anyhow::Result<_>>()?
    };
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

    let mut swift = None;
    if kinds.contains(&ServerKind::SwiftgitSwift) {
        swift = Some(swift_dev::SwiftDev::find(
            &root,
            cli.swift_config.as_deref(),
        )?);
    }
    let swift_config = swift.as_ref().map(|s| s.config.clone());
    let setup = Setup::new(swiftgit, work.clone(), env.clone(), swift_config.as_deref())?;
    let mut cleanup = cleanup::Cleanup::new(
        &work.join("git-daemon"),
        &setup.local_config,
        setup.swift_config.as_deref(),
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
    };
    let mut results = Results {
        command: std::iter::once("cargo run --release -p swiftgit-bench --".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        started_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        runs: cli.runs,
        machine,
        repos: Vec::new(),
    };
    for repo in &prepared {
        let load_before = procfs::load_average();
        let mut load_peak = 0.0_f64;
        let mut samples = Vec::new();
        for run_number in 1..=cli.runs {
            for &kind in &kinds {
                eprintln!(
                    "bench: {} run {run_number}/{}: {kind}",
                    repo.label, cli.runs
                );
                let mut scenario = Scenario {
                    setup: &setup,
                    cleanup: &mut cleanup,
                    repo,
                    ops: &ops,
                    timeout: Duration::from_secs(cli.op_timeout),
                };
                samples.extend(scenario.run(kind, run_number)?);
                load_peak = load_peak.max(procfs::load_1min());
            }
        }
        let repo_results = RepoResults {
            repo: repo.clone(),
            load_before,
            load_after: procfs::load_average(),
            load_peak,
            medians: report::medians(&samples),
            samples,
        };
        println!("{}", report::repo_markdown(&repo_results, cli.runs));
        results.repos.push(repo_results);
    }
    cleanup.delete_all()?;
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
    drop(swift);
    Ok(())
}
