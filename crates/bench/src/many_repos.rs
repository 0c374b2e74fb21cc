//! The "many repositories" case: does a daemon's memory grow with the number of repositories
//! it has served? N repositories get the same small history (pushed a few at a time through a
//! daemon started for that), then one freshly started daemon serves a full clone of each in
//! turn, and its resident memory is read after every one. git daemon keeps nothing between
//! connections, so its series stays flat: the baseline is the peak of its per-connection
//! processes during one clone. swiftgit's figures are set beside its memory budget,
//! `150 MiB + [swift] cache_length + [cache] memory_mb`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use swiftgit_config::{Config, ConfigSource, StorageConfig, SwiftConfig};

use crate::cleanup::Cleanup;
use crate::command::{check_interrupted, run_timed};
use crate::procfs::{self, RssSampler};
use crate::repos::{Prepared, git};
use crate::servers::{ServerKind, Setup, Target, Transport};

/// Pushes at once while the repositories are filled.
const SETUP_PUSHES_AT_ONCE: usize = 4;

/// swiftgit's memory budget, MiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Budget {
    pub cache_length_mib: u64,
    pub memory_mb: u64,
    pub total_mib: u64,
}

impl Budget {
    pub const BASE_MIB: u64 = 150;
    /// `[cache] memory_mb` when the config does not set it.
    pub const DEFAULT_MEMORY_MB: u64 = 256;

    /// The budget of a daemon with the Swift config `swift_config` (`cache_length`; its
    /// default without one) and `[cache] memory_mb` (the benchmark writes it when given).
    pub fn of(swift_config: Option<&Path>, memory_mb: Option<u64>) -> anyhow::Result<Budget> {
        let mut cache_length_mib = SwiftConfig::DEFAULT_CACHE_LENGTH_MIB as u64;
        if let Some(path) = swift_config {
            let config = Config::load(&ConfigSource::File(path.to_owned()), |_| None)
                .with_context(|| format!("cannot load {}", path.display()))?;
            if let StorageConfig::Swift(swift) = config.storage {
                cache_length_mib = swift.cache_length_mib as u64;
            }
        }
        Ok(Budget::new(
            cache_length_mib,
            memory_mb.unwrap_or(Budget::DEFAULT_MEMORY_MB),
        ))
    }

    pub fn new(cache_length_mib: u64, memory_mb: u64) -> Budget {
        Budget {
            cache_length_mib,
            memory_mb,
            total_mib: Budget::BASE_MIB + cache_length_mib + memory_mb,
        }
    }
}

/// One repository served.
#[derive(Debug, Clone, Serialize)]
pub struct Served {
    /// Wall time of the clone; `None` if it failed.
    pub secs: Option<f64>,
    /// The server's memory (with its descendants) right after the clone.
    pub rss_after_kib: u64,
    /// The peak during the clone, sampled every 10 ms.
    pub peak_rss_kib: u64,
}

/// One target's run of the case.
#[derive(Debug, Clone, Serialize)]
pub struct ManyReposRun {
    pub target: Target,
    /// Time to create and fill every repository.
    pub setup_secs: f64,
    /// The memory of the daemon that took the pushes, after the last one.
    pub setup_rss_kib: Option<u64>,
    pub served: Vec<Served>,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// Every target's run.
#[derive(Debug, Clone, Serialize)]
pub struct ManyReposResults {
    pub repo: Prepared,
    pub repositories: usize,
    pub budget: Budget,
    pub runs: Vec<ManyReposRun>,
}

pub struct ManyRepos<'a> {
    pub setup: &'a Setup,
    pub cleanup: &'a mut Cleanup,
    pub repo: &'a Prepared,
    pub count: usize,
    pub timeout: Duration,
}

impl ManyRepos<'_> {
    /// The case on `kind`, served over each of `transports` by its own fresh daemon (the
    /// repositories are filled once). Fails only when interrupted or when the repositories
    /// cannot be removed.
    pub fn run(
        &mut self,
        kind: ServerKind,
        transports: &[Transport],
    ) -> anyhow::Result<Vec<ManyReposRun>> {
        let names: Vec<String> = (0..self.count)
            .map(|i| format!("bench-many-{}-{}-{i:04}", kind.key(), std::process::id()))
            .collect();
        for name in &names {
            self.cleanup.made(kind, name);
        }
        eprintln!(
            "bench: many-repos: {kind}: filling {} repositories",
            self.count
        );
        let started = Instant::now();
        let (setup_rss_kib, setup_error) = match self.fill(kind, &names) {
            Ok(rss) => (rss, None),
            Err(error) => (None, Some(format!("set-up: {error:#}"))),
        };
        let setup_secs = started.elapsed().as_secs_f64();
        let mut runs = Vec::new();
        for &transport in transports {
            check_interrupted()?;
            let target = Target {
                server: kind,
                transport,
            };
            eprintln!("bench: many-repos: {target}: serving them in turn");
            let mut run = ManyReposRun {
                target,
                setup_secs,
                setup_rss_kib,
                served: Vec::new(),
                failed: 0,
                first_error: setup_error.clone(),
            };
            if let Err(error) = self.serve(target, &names, &mut run) {
                run.first_error.get_or_insert(format!("{error:#}"));
            }
            runs.push(run);
        }
        self.cleanup.delete_all()?;
        Ok(runs)
    }

    /// Creates every repository and pushes the history into it, a few at a time, through a
    /// daemon of its own; returns that daemon's memory afterwards.
    fn fill(&self, kind: ServerKind, names: &[String]) -> anyhow::Result<Option<u64>> {
        let (setup, repo, timeout) = (self.setup, self.repo, self.timeout);
        let server = setup.start(kind, Transport::Git)?;
        let src = repo.src();
        let fill_one = |name: &str| -> anyhow::Result<()> {
            check_interrupted()?;
            setup.create_repo(kind, name, &repo.head_branch)?;
            let mut push = git(&setup.env);
            push.arg("-C")
                .arg(&src)
                .args(["push", "-q", &server.url(name)])
                .args(["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
            run_timed(vec![push], timeout).map_err(|e| anyhow::anyhow!("push to {name}: {e}"))?;
            Ok(())
        };
        let results: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..SETUP_PUSHES_AT_ONCE)
                .map(|worker| {
                    let fill_one = &fill_one;
                    scope.spawn(move || {
                        (names.iter().skip(worker).step_by(SETUP_PUSHES_AT_ONCE))
                            .map(|name| fill_one(name))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            (workers.into_iter())
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        results.into_iter().collect::<anyhow::Result<()>>()?;
        server.settle();
        Ok(Some(procfs::tree_rss_kib(server.pid)))
    }

    /// One fresh daemon clones every repository in turn; its memory after each.
    fn serve(
        &self,
        target: Target,
        names: &[String],
        run: &mut ManyReposRun,
    ) -> anyhow::Result<()> {
        let server = self.setup.start(target.server, target.transport)?;
        let dest = self.setup.work.join("many-repos-client");
        for name in names {
            check_interrupted()?;
            crate::repos::remove(&dest)?;
            let mut clone = git(&self.setup.env);
            clone
                .args(["clone", "-q", "--bare", &server.url(name)])
                .arg(&dest);
            let sampler = RssSampler::start(server.pid);
            let result = run_timed(vec![clone], self.timeout);
            let peak_rss_kib = sampler.stop();
            let rss_after_kib = procfs::tree_rss_kib(server.pid);
            if let Err(error) = &result {
                run.failed += 1;
                run.first_error
                    .get_or_insert_with(|| format!("clone of {name}: {error}"));
            }
            run.served.push(Served {
                secs: result.ok().map(|d| d.as_secs_f64()),
                rss_after_kib,
                peak_rss_kib,
            });
        }
        crate::repos::remove(&dest)?;
        Ok(())
    }
}

/// The served entry after `percent` % of the repositories (at least the first).
fn after_percent(served: &[Served], percent: usize) -> Option<&Served> {
    let index = (served.len() * percent).div_ceil(100).max(1);
    served.get(index - 1)
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

/// The case's Markdown: one row per target.
pub fn markdown(results: &ManyReposResults) -> String {
    let (budget, repo) = (results.budget, &results.repo);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### many repositories — {} repositories holding {} ({} commits, pack {:.2} MiB)\n",
        results.repositories,
        repo.label,
        repo.commits,
        repo.pack_bytes as f64 / f64::from(1 << 20)
    );
    let _ = writeln!(
        out,
        "Each repository got one push of the whole history ({SETUP_PUSHES_AT_ONCE} at a time, \
         through a daemon started for that), then one freshly started daemon served a full \
         clone (`--bare`) of each in turn. **RSS after k** is the server's `VmRSS` (with its \
         descendants) right after the k-th clone; git daemon's per-connection processes have \
         exited by then, so for it the **peak during a clone** (its processes added up, \
         sampled every 10 ms) is the figure to compare. swiftgit's budget: {} MiB + \
         cache_length {} MiB + memory_mb {} = **{} MiB**.\n",
        Budget::BASE_MIB,
        budget.cache_length_mib,
        budget.memory_mb,
        budget.total_mib
    );
    let n = results.repositories;
    let _ = writeln!(
        out,
        "| server | RSS after 1 | after {} | after {} | after {} | peak during a clone | \
         growth per repository | median clone | pusher's RSS after {n} pushes | set-up | failed |",
        n.div_ceil(10).max(1),
        n.div_ceil(2).max(1),
        n
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for run in &results.runs {
        let at = |percent| {
            after_percent(&run.served, percent).map_or("—".to_owned(), |s| mib(s.rss_after_kib))
        };
        let peak = run.served.iter().map(|s| s.peak_rss_kib).max();
        let growth = match (run.served.first(), run.served.last()) {
            (Some(first), Some(last)) if run.served.len() > 1 => format!(
                "{:+.2} MiB",
                (last.rss_after_kib as f64 - first.rss_after_kib as f64)
                    / 1024.0
                    / (run.served.len() - 1) as f64
            ),
            _ => "—".to_owned(),
        };
        let mut times: Vec<f64> = run.served.iter().filter_map(|s| s.secs).collect();
        times.sort_by(f64::total_cmp);
        let median = times
            .get(times.len() / 2)
            .map_or("—".to_owned(), |s| format!("{s:.3} s"));
        let failed = match &run.first_error {
            Some(error) => format!(
                "{} ({})",
                run.failed,
                error.chars().take(60).collect::<String>().replace('|', "/")
            ),
            None => run.failed.to_string(),
        };
        let over = |kib: u64| {
            if run.target.server != ServerKind::GitDaemon && kib > budget.total_mib * 1024 {
                " (over budget)"
            } else {
                ""
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {}{} | {growth} | {median} | {} | {:.0} s | {failed} |",
            run.target,
            at(0),
            at(10),
            at(50),
            at(100),
            peak.map_or("—".to_owned(), mib),
            peak.map_or("", over),
            run.setup_rss_kib.map_or("—".to_owned(), mib),
            run.setup_secs,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_repository_after_a_share_of_them() {
        let served: Vec<Served> = (1..=20)
            .map(|i| Served {
                secs: Some(0.1),
                rss_after_kib: i,
                peak_rss_kib: i,
            })
            .collect();
        let at = |p| after_percent(&served, p).map(|s| s.rss_after_kib);
        assert_eq!(
            (at(0), at(10), at(50), at(100)),
            (Some(1), Some(2), Some(10), Some(20))
        );
        assert!(after_percent(&[], 50).is_none());
    }
}
