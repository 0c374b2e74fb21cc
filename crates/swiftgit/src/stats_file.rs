//! `swiftgit daemon --stats-file PATH`: the storage counters as a small JSON document that a
//! benchmark or a monitoring script can read at any time.
//!
//! The file is written once the daemon listens, rewritten within [`PERIOD`] of any change and
//! once more at shutdown. Each write goes to `PATH.tmp` first and is renamed over `PATH`, so a
//! reader never sees half a file. The figures are totals since the daemon started:
//!
//! ```json
//! {"pid":4242,"backend":"swift","updated_unix_ms":1767225600000,
//!  "storage":{"requests":12,"gets":1,"range_gets":6,"heads":0,"puts":0,"deletes":0,
//!             "bulk_deletes":0,"lists":1,"container_ops":1,"errors":0,"bytes_read":5300212,
//!             "bytes_written":0},
//!  "swift":{"requests":14,"bytes_sent":96,"bytes_received":5300930,"auths":1}}
//! ```
//!
//! `storage` counts calls of the storage interface (each retry attempt is one call) and their
//! payload bytes, the same on every backend (see `swiftgit_storage::counting`). `swift`, present
//! only on Swift, counts HTTP requests as sent: auth, `/info`, listing pages and large-object
//! segments included. A reader subtracts two snapshots to get what one request cost.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::json;
use swiftgit_storage::counting::{StorageCounters, StorageStats};
use swiftgit_storage::swift::{SwiftStats, SwiftStorage};

/// The longest a change waits before the file shows it.
pub const PERIOD: Duration = Duration::from_millis(50);

/// The counters of one open backend.
#[derive(Debug, Clone)]
pub struct Usage {
    counters: StorageCounters,
    swift: Option<SwiftStorage>,
}

/// One reading of [`Usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    storage: StorageStats,
    swift: Option<SwiftStats>,
}

impl Usage {
    pub fn local(counters: StorageCounters) -> Usage {
        Usage {
            counters,
            swift: None,
        }
    }

    pub fn swift(counters: StorageCounters, swift: SwiftStorage) -> Usage {
        Usage {
            counters,
            swift: Some(swift),
        }
    }

    /// The storage counters and, on Swift, the storage whose HTTP counters to read.
    pub fn parts(&self) -> (StorageCounters, Option<SwiftStorage>) {
        (self.counters.clone(), self.swift.clone())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            storage: self.counters.snapshot(),
            swift: self.swift.as_ref().map(SwiftStorage::stats),
        }
    }
}

fn render(snapshot: &Snapshot) -> String {
    let s = &snapshot.storage;
    let updated_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let document = json!({
        "pid": std::process::id(),
        "backend": if snapshot.swift.is_some() { "swift" } else { "local" },
        "updated_unix_ms": updated_unix_ms,
        "storage": {
            "requests": s.requests,
            "gets": s.gets,
            "range_gets": s.range_gets,
            "heads": s.heads,
            "puts": s.puts,
            "deletes": s.deletes,
            "bulk_deletes": s.bulk_deletes,
            "lists": s.lists,
            "container_ops": s.container_ops,
            "errors": s.errors,
            "bytes_read": s.bytes_read,
            "bytes_written": s.bytes_written,
        },
        "swift": snapshot.swift.map(|w| json!({
            "requests": w.requests,
            "bytes_sent": w.bytes_sent,
            "bytes_received": w.bytes_received,
            "auths": w.auths,
        })),
    });
    format!("{document}\n")
}

/// Writes `PATH.tmp`, then renames it over `PATH`.
async fn write(path: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, render(snapshot))
        .await
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// Keeps `path` up to date until dropped (abort it) — call [`write_final`] afterwards.
/// The first write must succeed (a bad path is the user's error); later failures are logged.
pub async fn start(path: PathBuf, usage: Usage) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut last = usage.snapshot();
    write(&path, &last).await?;
    Ok(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = usage.snapshot();
            if now == last {
                continue;
            }
            match write(&path, &now).await {
                Ok(()) => last = now,
                Err(error) => tracing::warn!("stats file: {error:#}"),
            }
        }
    }))
}

/// The last write, at shutdown.
pub async fn write_final(path: &Path, usage: &Usage) {
    if let Err(error) = write(path, &usage.snapshot()).await {
        tracing::warn!("stats file: {error:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_of_json() {
        let snapshot = Snapshot {
            storage: StorageStats {
                requests: 4,
                range_gets: 2,
                lists: 1,
                bulk_deletes: 1,
                bytes_read: 70,
                ..StorageStats::default()
            },
            swift: None,
        };
        let text = render(&snapshot);
        assert_eq!(text.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["backend"], "local");
        assert_eq!(value["storage"]["requests"], 4);
        assert_eq!(value["storage"]["range_gets"], 2);
        assert_eq!(value["storage"]["bulk_deletes"], 1);
        assert_eq!(value["storage"]["bytes_read"], 70);
        assert!(value["swift"].is_null());
    }

    #[tokio::test]
    async fn rewrites_the_file_when_counters_change() {
        use swiftgit_storage::counting::Counting;
        use swiftgit_storage::memory::MemoryStorage;
        use swiftgit_storage::{PutMode, Storage};

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stats.json");
        let storage = Counting::new(MemoryStorage::new());
        let usage = Usage::local(storage.counters());
        let task = start(path.clone(), usage.clone())
            .await
            .expect("first write");
        let read = |path: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(path).expect("file")).expect("json")
        };
        assert_eq!(read(&path)["storage"]["requests"], 0);

        storage.create_container("c").await.expect("memory");
        storage
            .put("c", "o", "12345".into(), PutMode::Create)
            .await
            .expect("put");
        tokio::time::sleep(PERIOD * 4).await;
        let value = read(&path);
        assert_eq!(value["storage"]["requests"], 2);
        assert_eq!(value["storage"]["bytes_written"], 5);

        task.abort();
        storage.head("c", "o").await.expect("head");
        write_final(&path, &usage).await;
        assert_eq!(read(&path)["storage"]["heads"], 1);
        assert!(!dir.path().join("stats.json.tmp").exists());
    }
}
