//! `swiftgit list [--json]`: every repository of the storage with its refs, live packs, stored
//! size and last push.

use futures::StreamExt;
use serde::Serialize;
use swiftgit_config::Config;
use swiftgit_repo::refs::{LogEntry, log};
use swiftgit_repo::{RepoError, RepoName};
use swiftgit_server::maintenance::stored;

use super::{Store, time};

/// Log entries read back from the newest to find the last one that changed refs (maintenance
/// commits change only packs).
const ENTRIES_LOOKED_BACK: u64 = 16;
/// Repositories read at once.
const PARALLEL_REPOSITORIES: usize = 8;

/// One repository, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub refs: usize,
    /// Packs the state names.
    pub packs: usize,
    /// Bytes of every stored pack file (`.pack`, `.idx`, `.meta`), packs no state names
    /// included.
    pub size_bytes: u64,
    /// When the newest of the last few log entries that changed refs was written (its
    /// writer's clock), in milliseconds since the Unix epoch; `None` if none of them did.
    pub last_push_ms: Option<u64>,
    /// The same, as ISO 8601 in UTC.
    pub last_push: Option<String>,
}

pub async fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let store = Store::open(config).await?;
    let names = store.names(None).await?;
    let store_ref = &store;
    let results: Vec<(RepoName, anyhow::Result<Option<Listed>>)> = futures::stream::iter(names)
        .map(|name| async move {
            let listed = describe(store_ref, &name).await;
            (name, listed)
        })
        .buffered(PARALLEL_REPOSITORIES)
        .collect()
        .await;
    store.close().await;
    let mut listed = Vec::new();
    let mut failed = 0;
    for (name, result) in results {
        match result {
            Ok(Some(repository)) => listed.push(repository),
            Ok(None) => {}
            Err(error) => {
                failed += 1;
                eprintln!("swiftgit: {name}: {error:#}");
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
    } else {
        print!("{}", table(&listed));
    }
    match failed {
        0 => Ok(()),
        n => anyhow::bail!("{n} repositories could not be read"),
    }
}

/// `None` for a container that holds no repository.
async fn describe(store: &Store, name: &RepoName) -> anyhow::Result<Option<Listed>> {
    let repo = match store.repository(name).await {
        Ok(repo) => repo,
        Err(RepoError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let state = repo.state();
    let storage = store.storage.as_ref();
    let (packs, last_push_ms) = futures::join!(
        stored::list(storage, repo.container()),
        last_push(storage, repo.container(), state.seq())
    );
    let size_bytes = packs?.values().map(|files| files.bytes).sum();
    let last_push_ms = last_push_ms?;
    Ok(Some(Listed {
        name: name.to_string(),
        refs: state.refs().len(),
        packs: state.packs().len(),
        size_bytes,
        last_push_ms,
        last_push: last_push_ms.map(time::iso8601),
    }))
}

/// The time of the newest entry up to `seq` that changed refs, among the last
/// [`ENTRIES_LOOKED_BACK`]; stops at an entry no longer stored (compacted, or still only in the
/// coordinator).
async fn last_push(
    storage: &dyn swiftgit_storage::Storage,
    container: &str,
    seq: u64,
) -> anyhow::Result<Option<u64>> {
    let oldest = seq.saturating_sub(ENTRIES_LOOKED_BACK).max(1);
    for at in (oldest..=seq).rev() {
        let Some(entry) = log::fetch_entry(storage, container, at).await? else {
            return Ok(None);
        };
        if changes_refs(&entry) {
            return Ok(Some(entry.time_ms));
        }
    }
    Ok(None)
}

fn changes_refs(entry: &LogEntry) -> bool {
    !entry.refs.is_empty()
        || entry
            .reset
            .as_ref()
            .is_some_and(|reset| !reset.refs.is_empty())
}

/// Aligned columns, a header first.
fn table(listed: &[Listed]) -> String {
    let rows: Vec<[String; 5]> = listed
        .iter()
        .map(|repo| {
            [
                repo.name.clone(),
                repo.refs.to_string(),
                repo.packs.to_string(),
                human_bytes(repo.size_bytes),
                repo.last_push.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let header = ["NAME", "REFS", "PACKS", "SIZE", "LAST PUSH"].map(str::to_owned);
    let mut widths = header.clone().map(|cell| cell.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| match column {
                1..=3 => format!("{cell:>width$}"),
                _ => format!("{cell:<width$}"),
            })
            .collect();
        text += cells.join("  ").trim_end();
        text.push('\n');
    }
    text
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 << 20), "20.0 MiB");
    }

    #[test]
    fn columns_line_up() {
        let repo = Listed {
            name: "edeploy".to_owned(),
            refs: 12,
            packs: 3,
            size_bytes: 2048,
            last_push_ms: Some(0),
            last_push: Some(time::iso8601(0)),
        };
        assert_eq!(
            table(&[repo]),
            "NAME     REFS  PACKS     SIZE  LAST PUSH\n\
             edeploy    12      3  2.0 KiB  1970-01-01T00:00:00Z\n"
        );
    }
}
