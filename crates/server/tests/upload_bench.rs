//! Clone wall time: swiftgit's upload-pack (local directory, and Swift when
//! `SWIFTGIT_TEST_CONFIG` is set) beside C `git daemon` serving the same repository from a
//! local bare repository, measured in the same run. Prints numbers; asserts nothing about time.
//!
//! ```text
//! cargo test --release -p swiftgit-server --test upload_bench -- --ignored --nocapture
//! ```

mod upload_common;

use std::time::{Duration, Instant};

use swiftgit_server::session::upload_pack::UploadPackOptions;
use upload_common::fixture::History;
use upload_common::{Backend, Git, GitDaemon, UploadServer};

const RUNS: usize = 5;

/// Clones `url` `RUNS` times (bare, protocol `version`); the times, sorted.
fn clone_times(git: &Git, label: &str, url: &str, version: &str) -> Vec<Duration> {
    let config = format!("protocol.version={version}");
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|run| {
            let dir = git.path(&format!("bench-{label}-v{version}-{run}.git"));
            let started = Instant::now();
            git.ok(
                git.work.path(),
                &[
                    "-c",
                    &config,
                    "clone",
                    "-q",
                    "--bare",
                    url,
                    dir.to_str().unwrap(),
                ],
            );
            let elapsed = started.elapsed();
            std::fs::remove_dir_all(&dir).expect("remove the clone");
            elapsed
        })
        .collect();
    times.sort();
    times
}

fn report(label: &str, version: &str, times: &[Duration], requests: Option<u64>) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let requests = requests.map_or(String::new(), |r| {
        format!(", {:.1} Swift requests per clone", r as f64 / RUNS as f64)
    });
    println!(
        "{label:<28} v{version}: min {:7.1} ms  median {:7.1} ms  max {:7.1} ms{requests}",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture, preferably --release"]
fn clone_time_against_git_daemon() {
    for commits in bench_sizes() {
        let git = Git::new();
        let started = Instant::now();
        let history = History::create(&git, "source.git", commits);
        let size: u64 = std::fs::read_dir(history.bare.join("objects/pack"))
            .expect("the pack directory")
            .map(|entry| entry.expect("an entry").metadata().expect("metadata").len())
            .sum();
        println!(
            "\n{commits} commits, {} objects, packs {} KiB (built in {:?})",
            git.ok(&history.bare, &["rev-list", "--objects", "--all"])
                .lines()
                .count(),
            size / 1024,
            started.elapsed()
        );
        let daemon = GitDaemon::start(&git, git.work.path());
        for version in ["2", "0"] {
            let times = clone_times(&git, "git-daemon", &daemon.url("source.git"), version);
            report("C git daemon (local disk)", version, &times, None);
        }
        for backend in [Backend::Local, Backend::Swift] {
            let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default())
            else {
                continue;
            };
            let repo = server.import("bench", &git, &history.bare);
            let url = server.url(&repo);
            let label = match backend {
                Backend::Local => "swiftgit (local directory)",
                Backend::Swift => "swiftgit (Swift)",
            };
            for version in ["2", "0"] {
                let before = server.swift_requests();
                let times = clone_times(&git, label, &url, version);
                let requests = before.zip(server.swift_requests()).map(|(b, a)| a - b);
                report(label, version, &times, requests);
            }
        }
    }
}

/// Repository sizes to measure (`UPLOAD_BENCH_COMMITS=1000,10000` by default).
fn bench_sizes() -> Vec<usize> {
    std::env::var("UPLOAD_BENCH_COMMITS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}
