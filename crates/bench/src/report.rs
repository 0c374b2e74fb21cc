//! Medians over runs, as Markdown tables and as JSON (`target/bench/results.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::repos::Prepared;
use crate::scenario::{Op, Sample, Variant};
use crate::servers::{ServerKind, StorageFigures};

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
}

/// Everything one repository gave.
#[derive(Debug, Clone, Serialize)]
pub struct RepoResults {
    pub repo: Prepared,
    pub load_before: String,
    pub load_after: String,
    /// The highest 1-minute load average seen after each server's run.
    pub load_peak: f64,
    pub medians: Vec<Median>,
    pub samples: Vec<Sample>,
}

/// The medians of one (server, operation, variant) over the runs that succeeded.
#[derive(Debug, Clone, Serialize)]
pub struct Median {
    pub server: ServerKind,
    pub op: Op,
    pub variant: Variant,
    pub runs_ok: usize,
    pub runs_failed: usize,
    /// The first failure's message, if any run failed.
    pub error: Option<String>,
    pub secs: Option<f64>,
    /// `secs` divided by git daemon's for the same operation.
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
    pub machine: Machine,
    pub repos: Vec<RepoResults>,
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
    let mut groups: BTreeMap<(ServerKind, Op, Variant), Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        let key = (sample.server, sample.op, sample.variant);
        groups.entry(key).or_default().push(sample);
    }
    let mut out: Vec<Median> = groups
        .into_iter()
        .map(|((server, op, variant), group)| {
            let ok: Vec<&&Sample> = group.iter().filter(|s| s.secs.is_some()).collect();
            let storage: Vec<StorageFigures> = ok.iter().filter_map(|s| s.storage).collect();
            Median {
                server,
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
    let git: BTreeMap<Op, f64> = out
        .iter()
        .filter(|m| m.server == ServerKind::GitDaemon)
        .filter_map(|m| Some((m.op, m.secs?)))
        .collect();
    for m in &mut out {
        m.ratio_to_git = m.secs.zip(git.get(&m.op)).map(|(s, g)| s / g.max(1e-9));
    }
    out.sort_by_key(|m| (m.op, m.server, m.variant));
    out
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

/// The column names of a (server, variant) pair.
fn column(server: ServerKind, variant: Variant) -> String {
    match (server, variant) {
        (ServerKind::GitDaemon, _) => "git daemon".to_owned(),
        (server, Variant::Warm) => format!("{server} warm"),
        (server, _) => format!("{server} cold"),
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
    let mut columns: Vec<(ServerKind, Variant)> = Vec::new();
    for m in medians {
        let key = match (m.server, m.variant) {
            (ServerKind::GitDaemon, _) => (m.server, Variant::Once),
            (server, Variant::Warm) => (server, Variant::Warm),
            (server, _) => (server, Variant::Cold),
        };
        if !columns.contains(&key) {
            columns.push(key);
        }
    }
    columns.sort();
    let _ = write!(out, "| operation |");
    for (server, variant) in &columns {
        let _ = write!(out, " {} |", column(*server, *variant));
    }
    let _ = write!(out, "\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for op in Op::ALL {
        if !medians.iter().any(|m| m.op == op) {
            continue;
        }
        let _ = write!(out, "| {} |", op.label());
        for (server, variant) in &columns {
            let cell = medians.iter().find(|m| {
                m.op == op
                    && m.server == *server
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
         (get/range/put/head/list) | read MiB | written MiB | Swift HTTP requests | runs ok |\n",
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
            column(m.server, m.variant),
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
    let _ = writeln!(
        out,
        "Source: {}. Medians of {runs} run(s). Load average (1/5/15 min) before: {}, after: {}; \
         highest 1-min load after a server's run: {:.2}.\n",
        r.source, results.load_before, results.load_after, results.load_peak
    );
    summary_table(&results.medians, &mut out);
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
        "Machine: {} CPUs ({}), {:.1} GiB RAM, Linux {}; {}; Swift {}{}.\n",
        m.cpus,
        m.cpu_model,
        m.memory_gib,
        m.kernel,
        m.git_version,
        m.swift_version.as_deref().unwrap_or("not used"),
        m.swift_max_file_size
            .map(|s| format!(" (max_file_size {} MiB)", s >> 20))
            .unwrap_or_default(),
    );
    for repo in &results.repos {
        out.push_str(&repo_markdown(repo, results.runs));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(server: ServerKind, variant: Variant, secs: Option<f64>) -> Sample {
        Sample {
            server,
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
}
