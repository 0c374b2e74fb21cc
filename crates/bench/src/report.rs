//! Medians over runs, as Markdown tables and as JSON (`target/bench/results.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::life::LifeResults;
use crate::many_repos::ManyReposResults;
use crate::repos::Prepared;
use crate::scenario::{Op, PUSH_1_REPEATS, Sample, Variant};
use crate::servers::{ServerKind, StorageFigures, Target, Transport};

/// The machine, for the record.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub git_version: String,
    pub swift_version: Option<String>,
    pub swift_max_file_size: Option<u64>,
    /// The version an etcd member reports, when the `etcd` server ran.
    pub etcd_version: Option<String>,
    pub etcd_members: Option<usize>,
}

/// Everything one repository gave.
#[derive(Debug, Clone, Serialize)]
pub struct RepoResults {
    pub repo: Prepared,
    pub load_before: String,
    pub load_after: String,
    /// The highest 1-minute load average seen after each server's run.
    pub load_peak: f64,
    /// What the etcd coordinator adds to a push (see [`coordinator_push_cost`]).
    pub coordinator_push_cost: Option<CoordinatorPushCost>,
    pub medians: Vec<Median>,
    pub samples: Vec<Sample>,
}

/// What the etcd coordinator adds to a push: the median of `op` on `etcd` minus its median on
/// `swift` (the same Swift, the same pushes, no coordinator).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CoordinatorPushCost {
    /// push-1 (steady state, on a warm server) when both ran it, else push-10 (on a freshly
    /// started server: the first write's work included).
    pub op: Op,
    pub secs: f64,
}

/// The medians of one (server, operation, variant) over the samples that succeeded: one per
/// run, [`crate::scenario::PUSH_1_REPEATS`] per run for push-1.
#[derive(Debug, Clone, Serialize)]
pub struct Median {
    pub server: ServerKind,
    pub transport: Transport,
    pub op: Op,
    pub variant: Variant,
    /// Samples (runs, except for push-1) that succeeded and that failed.
    pub runs_ok: usize,
    pub runs_failed: usize,
    /// The first failure's message, if any run failed.
    pub error: Option<String>,
    pub secs: Option<f64>,
    /// `secs` divided by git daemon's for the same operation over the same transport (over
    /// git:// when git daemon did not run over this one).
    pub ratio_to_git: Option<f64>,
    pub cpu_secs: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub storage: Option<StorageFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub command: String,
    pub started_unix: u64,
    pub runs: u32,
    pub transports: Vec<Transport>,
    pub machine: Machine,
    pub repos: Vec<RepoResults>,
    /// The "many repositories" case, when it ran.
    pub many_repos: Option<ManyReposResults>,
    /// The "a repository's life" case, per repository, when it ran.
    pub life: Vec<LifeResults>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    median(values.map(|v| v as f64).collect()).map_or(0, |m| m.round() as u64)
}

fn median_storage(figures: &[StorageFigures]) -> Option<StorageFigures> {
    if figures.is_empty() {
        return None;
    }
    let m = |f: fn(&StorageFigures) -> u64| median_u64(figures.iter().map(f));
    let http: Vec<u64> = figures.iter().filter_map(|f| f.http_requests).collect();
    Some(StorageFigures {
        requests: m(|f| f.requests),
        gets: m(|f| f.gets),
        range_gets: m(|f| f.range_gets),
        heads: m(|f| f.heads),
        puts: m(|f| f.puts),
        deletes: m(|f| f.deletes),
        lists: m(|f| f.lists),
        container_ops: m(|f| f.container_ops),
        errors: m(|f| f.errors),
        bytes_read: m(|f| f.bytes_read),
        bytes_written: m(|f| f.bytes_written),
        http_requests: (!http.is_empty()).then(|| median_u64(http.into_iter())),
    })
}

/// Medians of `samples`, with ratios to git daemon.
pub fn medians(samples: &[Sample]) -> Vec<Median> {
    let mut groups: BTreeMap<(ServerKind, Transport, Op, Variant), Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        let key = (sample.server, sample.transport, sample.op, sample.variant);
        groups.entry(key).or_default().push(sample);
    }
    let mut out: Vec<Median> = groups
        .into_iter()
        .map(|((server, transport, op, variant), group)| {
            let ok: Vec<&&Sample> = group.iter().filter(|s| s.secs.is_some()).collect();
            let storage: Vec<StorageFigures> = ok.iter().filter_map(|s| s.storage).collect();
            Median {
                server,
                transport,
                op,
                variant,
                runs_ok: ok.len(),
                runs_failed: group.len() - ok.len(),
                error: group.iter().find_map(|s| s.error.clone()),
                secs: median(ok.iter().filter_map(|s| s.secs).collect()),
                ratio_to_git: None,
                cpu_secs: median(ok.iter().filter_map(|s| s.cpu_secs).collect()),
                peak_rss_mib: median(
                    ok.iter()
                        .filter_map(|s| s.peak_rss_kib)
                        .map(|k| k as f64 / 1024.0)
                        .collect(),
                ),
                storage: median_storage(&storage),
            }
        })
        .collect();
    let git: BTreeMap<(Transport, Op), f64> = out
        .iter()
        .filter(|m| m.server == ServerKind::GitDaemon)
        .filter_map(|m| Some(((m.transport, m.op), m.secs?)))
        .collect();
    for m in &mut out {
        let baseline = (git.get(&(m.transport, m.op))).or_else(|| git.get(&(Transport::Git, m.op)));
        m.ratio_to_git = m.secs.zip(baseline).map(|(s, g)| s / g.max(1e-9));
    }
    out.sort_by_key(|m| (m.op, m.server, m.transport, m.variant));
    out
}

/// What the etcd coordinator adds to a push, from the medians over git://: `etcd` minus `swift` on
/// push-1 (one commit on a warm server: the steady state) when both succeeded there, else on
/// push-10 (on a freshly started server). `None` unless both succeeded on one of them.
pub fn coordinator_push_cost(medians: &[Median]) -> Option<CoordinatorPushCost> {
    let secs = |server: ServerKind, op: Op| {
        (medians.iter())
            .find(|m| m.server == server && m.transport == Transport::Git && m.op == op)
            .and_then(|m| m.secs)
    };
    [Op::Push1, Op::Push10].into_iter().find_map(|op| {
        let cost = secs(ServerKind::SwiftgitEtcd, op)? - secs(ServerKind::SwiftgitSwift, op)?;
        Some(CoordinatorPushCost { op, secs: cost })
    })
}

/// The note under the summary table on the coordinator's cost per push, with each run's time
/// (push-1: the median of its pushes) so that the noise can be judged beside the difference,
/// and the Swift HTTP requests of one push. push-10 runs on a fresh server, so its difference
/// includes what each does on its first write (without the coordinator: taking the writer
/// lease); push-1 leaves that out.
fn coordinator_note(results: &RepoResults, out: &mut String) {
    let Some(cost) = results.coordinator_push_cost else {
        return;
    };
    let runs = |server: ServerKind| {
        let mut by_run: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        let samples = (results.samples.iter())
            .filter(|s| s.server == server && s.transport == Transport::Git && s.op == cost.op);
        for sample in samples {
            if let Some(secs) = sample.secs {
                by_run.entry(sample.run).or_default().push(secs);
            }
        }
        (by_run.into_values())
            .filter_map(median)
            .map(|secs| format!("{:.1}", secs * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let requests = |server: ServerKind| {
        (results.medians.iter())
            .find(|m| m.server == server && m.transport == Transport::Git && m.op == cost.op)
            .and_then(|m| m.storage?.http_requests)
            .map_or("—".to_owned(), |n| n.to_string())
    };
    let (what, each_run) = match cost.op {
        Op::Push1 => (
            "push-1 (one commit, warm server)",
            "each run's median push-1",
        ),
        _ => (
            "push-10 (on a freshly started server, first write included)",
            "each run's push-10",
        ),
    };
    let _ = writeln!(
        out,
        "\ncoordinator cost per push: {what} etcd − swift = {:.1} ms (median); {each_run}: \
         swift {} ms, etcd {} ms; Swift HTTP requests per push (median): swift {}, etcd {}.",
        cost.secs * 1000.0,
        runs(ServerKind::SwiftgitSwift),
        runs(ServerKind::SwiftgitEtcd),
        requests(ServerKind::SwiftgitSwift),
        requests(ServerKind::SwiftgitEtcd),
    );
}

fn seconds(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.3} s")
    } else {
        format!("{secs:.1} s")
    }
}

fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib < 10.0 {
        format!("{mib:.2}")
    } else {
        format!("{mib:.0}")
    }
}

/// The column names of a (server, transport, variant).
fn column(server: ServerKind, transport: Transport, variant: Variant) -> String {
    let target = Target { server, transport };
    match (server, variant) {
        (ServerKind::GitDaemon, _) => target.to_string(),
        (_, Variant::Warm) => format!("{target} warm"),
        (_, _) => format!("{target} cold"),
    }
}

fn failure_cell(m: &Median) -> String {
    let error = m.error.as_deref().unwrap_or("failed");
    let short: String = error.chars().take(60).collect();
    format!("FAIL: {}", short.replace('|', "/"))
}

/// The summary: one row per operation, one column per server and variant: median time and
/// the ratio to git daemon.
fn summary_table(medians: &[Median], out: &mut String) {
    let mut columns: Vec<(ServerKind, Transport, Variant)> = Vec::new();
    for m in medians {
        let key = match (m.server, m.variant) {
            (ServerKind::GitDaemon, _) => (m.server, m.transport, Variant::Once),
            (server, Variant::Warm) => (server, m.transport, Variant::Warm),
            (server, _) => (server, m.transport, Variant::Cold),
        };
        if !columns.contains(&key) {
            columns.push(key);
        }
    }
    columns.sort();
    let _ = write!(out, "| operation |");
    for (server, transport, variant) in &columns {
        let _ = write!(out, " {} |", column(*server, *transport, *variant));
    }
    let _ = write!(out, "\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for op in Op::ALL {
        if !medians.iter().any(|m| m.op == op) {
            continue;
        }
        let _ = write!(out, "| {} |", op.label());
        for (server, transport, variant) in &columns {
            let cell = medians.iter().find(|m| {
                m.op == op
                    && m.server == *server
                    && m.transport == *transport
                    && (m.variant == *variant
                        || (*variant == Variant::Cold && m.variant == Variant::Once))
            });
            let text = match cell {
                None => "—".to_owned(),
                Some(m) => match (m.secs, m.ratio_to_git) {
                    (None, _) => failure_cell(m),
                    (Some(s), Some(r)) if *server != ServerKind::GitDaemon => {
                        format!("{} ({r:.1}×)", seconds(s))
                    }
                    (Some(s), _) => seconds(s),
                },
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
}

/// Every figure of every (server, operation, variant).
fn detail_table(medians: &[Median], out: &mut String) {
    out.push_str(
        "| operation | server | time | × git | server CPU s | peak RSS MiB | storage requests \
         (get/range/put/head/list) | read MiB | written MiB | Swift HTTP requests | samples ok |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for m in medians {
        let time = m.secs.map_or_else(|| failure_cell(m), seconds);
        let ratio = m.ratio_to_git.map_or("—".to_owned(), |r| format!("{r:.2}"));
        let cpu = m.cpu_secs.map_or("—".to_owned(), |c| format!("{c:.2}"));
        let rss = m.peak_rss_mib.map_or("—".to_owned(), |r| format!("{r:.0}"));
        let (requests, read, written, http) = match &m.storage {
            None => (
                "—".to_owned(),
                "—".to_owned(),
                "—".to_owned(),
                "—".to_owned(),
            ),
            Some(s) => (
                format!(
                    "{} ({}/{}/{}/{}/{})",
                    s.requests, s.gets, s.range_gets, s.puts, s.heads, s.lists
                ),
                mib(s.bytes_read),
                mib(s.bytes_written),
                s.http_requests.map_or("—".to_owned(), |h| h.to_string()),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {time} | {ratio} | {cpu} | {rss} | {requests} | {read} | {written} | \
             {http} | {}/{} |",
            m.op.label(),
            column(m.server, m.transport, m.variant),
            m.runs_ok,
            m.runs_ok + m.runs_failed,
        );
    }
}

/// The Markdown report of one repository.
pub fn repo_markdown(results: &RepoResults, runs: u32) -> String {
    let r = &results.repo;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} — {} commits, {} branches, {} tags, {} files at HEAD, pack {} MiB\n",
        r.label,
        r.commits,
        r.branches,
        r.tags,
        r.files_at_head,
        mib(r.pack_bytes)
    );
    let push_1 = if results.medians.iter().any(|m| m.op == Op::Push1) {
        format!(
            " ({}: the median of {PUSH_1_REPEATS} pushes per run, one new commit each, on a \
             server that has already served a fetch and a push of the repository)",
            Op::Push1.label()
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "Source: {}. Medians of {runs} run(s){push_1}. Load average (1/5/15 min) before: {}, \
         after: {}; highest 1-min load after a server's run: {:.2}.\n",
        r.source, results.load_before, results.load_after, results.load_peak
    );
    summary_table(&results.medians, &mut out);
    coordinator_note(results, &mut out);
    out.push('\n');
    detail_table(&results.medians, &mut out);
    out
}

/// The whole report: the machine, then each repository.
pub fn markdown(results: &Results) -> String {
    let m = &results.machine;
    let mut out = String::new();
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(out, "Command: `{}`\n", results.command);
    let _ = writeln!(
        out,
        "Machine: {} CPUs ({}), {:.1} GiB RAM, Linux {}; {}; Swift {}{}{}.\n",
        m.cpus,
        m.cpu_model,
        m.memory_gib,
        m.kernel,
        m.git_version,
        m.swift_version.as_deref().unwrap_or("not used"),
        m.swift_max_file_size
            .map(|s| format!(" (max_file_size {} MiB)", s >> 20))
            .unwrap_or_default(),
        m.etcd_version
            .as_ref()
            .map(|v| format!(
                "; etcd {v} ({} members on this machine)",
                m.etcd_members.unwrap_or(0)
            ))
            .unwrap_or_default(),
    );
    if results.transports.contains(&Transport::Http) {
        out.push_str(HTTP_NOTE);
        out.push_str("\n\n");
    }
    for repo in &results.repos {
        out.push_str(&repo_markdown(repo, results.runs));
        out.push('\n');
    }
    if let Some(many_repos) = &results.many_repos {
        out.push_str(&crate::many_repos::markdown(many_repos));
        out.push('\n');
    }
    for life in &results.life {
        out.push_str(&crate::life::markdown(life));
        out.push('\n');
    }
    out
}

/// How the HTTP columns were measured.
pub const HTTP_NOTE: &str = "Over HTTP (`… http` columns): swiftgit's own smart HTTP server \
(`--http`), as a user of its users file (the password in the URL; git's first request of each \
command gets a 401 and is sent again with it, as with any credentials), beside `git http-backend` \
behind this benchmark's minimal CGI front (no authentication; one request per connection), \
whose figures add up the front and the processes it starts. × git divides by git daemon over \
the same transport.";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(server: ServerKind, variant: Variant, secs: Option<f64>) -> Sample {
        Sample {
            server,
            transport: Transport::Git,
            op: Op::Clone,
            variant,
            run: 0,
            secs,
            error: secs.is_none().then(|| "fatal: boom".to_owned()),
            cpu_secs: Some(0.1),
            peak_rss_kib: Some(2048),
            storage: None,
        }
    }

    #[test]
    fn medians_ratios_and_failures() {
        let samples = vec![
            sample(ServerKind::GitDaemon, Variant::Once, Some(1.0)),
            sample(ServerKind::GitDaemon, Variant::Once, Some(3.0)),
            sample(ServerKind::GitDaemon, Variant::Once, Some(2.0)),
            sample(ServerKind::SwiftgitLocal, Variant::Cold, Some(4.0)),
            sample(ServerKind::SwiftgitLocal, Variant::Cold, None),
            sample(ServerKind::SwiftgitSwift, Variant::Warm, None),
        ];
        let medians = medians(&samples);
        let git = &medians[0];
        assert_eq!((git.secs, git.runs_ok), (Some(2.0), 3));
        let local = medians
            .iter()
            .find(|m| m.server == ServerKind::SwiftgitLocal)
            .expect("local");
        assert_eq!((local.secs, local.ratio_to_git), (Some(4.0), Some(2.0)));
        assert_eq!((local.runs_ok, local.runs_failed), (1, 1));
        let swift = medians.last().expect("swift");
        assert_eq!(swift.secs, None);
        let mut table = String::new();
        summary_table(&medians, &mut table);
        assert!(table.contains("| full clone | 2.000 s | 4.000 s (2.0×) | FAIL: fatal: boom |"));
    }

    #[test]
    fn the_coordinator_cost_is_etcd_minus_swift_on_push_10() {
        let push = |server, secs| Sample {
            op: Op::Push10,
            ..sample(server, Variant::Once, Some(secs))
        };
        let samples = vec![
            push(ServerKind::GitDaemon, 0.050),
            push(ServerKind::SwiftgitSwift, 0.120),
            push(ServerKind::SwiftgitSwift, 0.100),
            push(ServerKind::SwiftgitSwift, 0.300),
            push(ServerKind::SwiftgitEtcd, 0.140),
            push(ServerKind::SwiftgitEtcd, 0.126),
            push(ServerKind::SwiftgitEtcd, 0.131),
        ];
        let medians = medians(&samples);
        let cost = coordinator_push_cost(&medians).expect("both pushed");
        assert_eq!(cost.op, Op::Push10);
        assert!((cost.secs - 0.011).abs() < 1e-9, "{cost:?}");
        let mut table = String::new();
        summary_table(&medians, &mut table);
        assert!(
            table.starts_with(
                "| operation | git daemon | swiftgit swift cold | swiftgit swift+etcd cold |"
            ),
            "{table}"
        );
        assert!(table.contains("| push 10 commits | 0.050 s | 0.120 s (2.4×) | 0.131 s (2.6×) |"));
        let without_etcd: Vec<Median> = (medians.into_iter())
            .filter(|m| m.server != ServerKind::SwiftgitEtcd)
            .collect();
        assert!(coordinator_push_cost(&without_etcd).is_none());
    }

    #[test]
    fn the_coordinator_cost_is_on_push_1_when_both_ran_it() {
        let push = |server, op, variant, run, secs: Option<f64>| Sample {
            op,
            run,
            storage: secs.map(|_| StorageFigures {
                http_requests: Some(if server == ServerKind::SwiftgitEtcd {
                    9
                } else {
                    7
                }),
                ..StorageFigures::default()
            }),
            ..sample(server, variant, secs)
        };
        let mut samples = vec![
            push(
                ServerKind::SwiftgitSwift,
                Op::Push10,
                Variant::Once,
                1,
                Some(0.120),
            ),
            push(
                ServerKind::SwiftgitEtcd,
                Op::Push10,
                Variant::Once,
                1,
                Some(0.200),
            ),
        ];
        // Two runs of five one-commit pushes each; etcd is 3 ms slower in the median.
        for (run, times) in [(1, [30, 31, 29, 40, 30]), (2, [28, 29, 30, 30, 31])] {
            for ms in times {
                let secs = f64::from(ms) / 1000.0;
                samples.push(push(
                    ServerKind::GitDaemon,
                    Op::Push1,
                    Variant::Once,
                    run,
                    Some(0.010),
                ));
                samples.push(push(
                    ServerKind::SwiftgitSwift,
                    Op::Push1,
                    Variant::Warm,
                    run,
                    Some(secs),
                ));
                samples.push(push(
                    ServerKind::SwiftgitEtcd,
                    Op::Push1,
                    Variant::Warm,
                    run,
                    Some(secs + 0.003),
                ));
            }
        }
        let medians = medians(&samples);
        let cost = coordinator_push_cost(&medians).expect("both pushed");
        assert_eq!(cost.op, Op::Push1);
        assert!((cost.secs - 0.003).abs() < 1e-9, "{cost:?}");
        let swift = (medians.iter())
            .find(|m| m.server == ServerKind::SwiftgitSwift && m.op == Op::Push1)
            .expect("swift push-1");
        assert_eq!((swift.secs, swift.runs_ok), (Some(0.030), 10));
        let mut table = String::new();
        summary_table(&medians, &mut table);
        assert!(
            table.contains(
                "| push 1 commit (warm) | 0.010 s | — | 0.030 s (3.0×) | — | 0.033 s (3.3×) |"
            ),
            "{table}"
        );
        let results = RepoResults {
            repo: Prepared {
                label: "small".to_owned(),
                source: "generated".to_owned(),
                dir: Default::default(),
                head_branch: "main".to_owned(),
                commits: 1,
                branches: 1,
                tags: 0,
                files_at_head: 1,
                pack_bytes: 0,
                prepare_secs: 0.0,
            },
            load_before: String::new(),
            load_after: String::new(),
            load_peak: 0.0,
            coordinator_push_cost: Some(cost),
            medians,
            samples: samples.clone(),
        };
        let mut note = String::new();
        coordinator_note(&results, &mut note);
        assert!(
            note.contains(
                "push-1 (one commit, warm server) etcd − swift = 3.0 ms (median); each run's \
                 median push-1: swift 30.0, 30.0 ms, etcd 33.0, 33.0 ms; Swift HTTP requests per \
                 push (median): swift 7, etcd 9."
            ),
            "{note}"
        );

        // When the etcd server's one-commit pushes failed, push-10 stands in.
        samples.retain(|s| !(s.server == ServerKind::SwiftgitEtcd && s.op == Op::Push1));
        samples.push(push(
            ServerKind::SwiftgitEtcd,
            Op::Push1,
            Variant::Warm,
            1,
            None,
        ));
        let cost = coordinator_push_cost(&super::medians(&samples)).expect("both pushed 10");
        assert_eq!(cost.op, Op::Push10);
        assert!((cost.secs - 0.080).abs() < 1e-9, "{cost:?}");
    }
}
