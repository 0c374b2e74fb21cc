//! The writer lease of a repository without a coordinator: the object `swiftgit/writer` names
//! the one process allowed to commit, so that a second writing daemon on the same repository is
//! refused instead of racing the first (Swift's create-only writes are not atomic, so two
//! writers could both be told they created the same log entry, and one's push would be lost).
//!
//! - Before every commit the process reads the object (while the commit reads the newest state,
//!   so it costs no time). Free (absent, expired, or left by a dead process on this host): it
//!   writes its lease, reads it back, and commits. Its own: it commits (renewing the lease
//!   when a third of its lifetime has passed). Another live process's: the commit is refused with
//!   [`LogError::OtherWriter`]. A repository adopted by a coordinator (etcd) carries a
//!   coordinator record instead, and a process without one is refused with
//!   [`LogError::Coordinated`].
//! - While it holds leases, a heartbeat task renews them every third of their lifetime, for as
//!   long as the process committed to the repository within [`LeaseOptions::hold`]; then the
//!   lease is deleted so that another process may take over at once. A clean shutdown deletes
//!   every lease the process holds ([`LeaseHolder::release_all`]).
//!
//! Best effort: Swift's overwrites and reads are eventually consistent, so two processes that
//! take a free lease at the same instant can both believe they hold it until the next commit
//! (or heartbeat) shows one of them the other's record. Clocks of different hosts must agree within
//! the lease's lifetime.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swiftgit_storage::{ErrorKind, PutMode, Storage};

use super::super::LogError;

/// The lease object in every repository's container.
pub const WRITER_OBJECT: &str = "swiftgit/writer";
const FORMAT: &str = "swiftgit-writer/1";

/// A random token of this process, so that two processes with the same host name and pid (pid 1
/// in two containers, say) are still told apart.
static PROCESS_TOKEN: LazyLock<u64> = LazyLock::new(rand::random);

/// Who holds a lease: a process on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterIdentity {
    pub host: String,
    pub pid: u32,
    pub token: u64,
}

impl WriterIdentity {
    /// This process.
    pub fn of_this_process() -> WriterIdentity {
        WriterIdentity {
            host: host_name(),
            pid: std::process::id(),
            token: *PROCESS_TOKEN,
        }
    }

    /// Whether the process is certainly gone: it ran on this host and no process has its pid.
    fn is_dead_here(&self) -> bool {
        self.host == host_name() && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl fmt::Display for WriterIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, pid {}", self.host, self.pid)
    }
}

/// How long leases last and are kept.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// A lease not renewed for this long is free. Default 30 s.
    pub ttl: Duration,
    /// A lease is renewed while the process committed within this long. Default 10 minutes.
    pub hold: Duration,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            ttl: Duration::from_secs(30),
            hold: Duration::from_secs(600),
        }
    }
}

/// What the lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum WriterRecord {
    /// A process holds the repository until `renewed_ms + ttl_ms`.
    Process {
        host: String,
        pid: u32,
        token: String,
        renewed_ms: u64,
        ttl_ms: u64,
    },
    /// A coordinator decides every commit (written when it adopts the repository).
    Coordinated { coordinator: String },
}

#[derive(Serialize, Deserialize)]
struct RecordWire {
    format: String,
    #[serde(flatten)]
    record: WriterRecord,
}

pub(super) fn encode_record(record: &WriterRecord) -> Bytes {
    let wire = RecordWire {
        format: FORMAT.to_owned(),
        record: record.clone(),
    };
    Bytes::from(serde_json::to_vec(&wire).expect("holds because the record serializes infallibly"))
}

fn decode_record(bytes: &[u8]) -> Option<WriterRecord> {
    let wire: RecordWire = serde_json::from_slice(bytes).ok()?;
    (wire.format == FORMAT).then_some(wire.record)
}

/// A lease this process holds.
#[derive(Debug)]
struct Held {
    storage: Arc<dyn Storage>,
    renewed: Instant,
    last_commit: Instant,
}

/// The writer leases of this process, shared by the sequences of one [`super::SingleWriter`].
#[derive(Debug)]
pub struct LeaseHolder {
    identity: WriterIdentity,
    options: LeaseOptions,
    held: Mutex<HashMap<String, Held>>,
    heartbeat_started: std::sync::Once,
}

impl LeaseHolder {
    pub fn new(options: LeaseOptions) -> Arc<LeaseHolder> {
        Arc::new(LeaseHolder {
            identity: WriterIdentity::of_this_process(),
            options,
            held: Mutex::new(HashMap::new()),
            heartbeat_started: std::sync::Once::new(),
        })
    }

    /// Makes sure this process holds the lease of `repo` before a commit (see the module doc).
    /// Reads the lease object every time (the commit reads the newest state meanwhile), so that
    /// of two processes that took a free lease together the one whose record was overwritten is
    /// refused at its next commit; writes it when it is not this process's or is due for
    /// renewal.
    pub async fn acquire(
        self: &Arc<Self>,
        storage: &Arc<dyn Storage>,
        repo: &str,
    ) -> Result<(), LogError> {
        let found = read_record(storage.as_ref(), repo).await?;
        self.check(repo, found.as_ref())?;
        let now = Instant::now();
        let ours = found.as_ref().is_some_and(|record| self.is_mine(record));
        let fresh = ours
            && self
                .held()
                .get(repo)
                .is_some_and(|lease| now.duration_since(lease.renewed) < self.options.ttl / 3);
        if !fresh {
            write_record(storage.as_ref(), repo, &self.record()).await?;
        }
        if !ours {
            // Of two processes that took a free lease together, the later write wins and the
            // other one finds out here (or at its next commit).
            let back = read_record(storage.as_ref(), repo).await?;
            self.check(repo, back.as_ref())?;
            tracing::info!(repo, "took the writer lease ({WRITER_OBJECT})");
        }
        let mut held = self.held();
        let lease = held.entry(repo.to_owned()).or_insert_with(|| Held {
            storage: Arc::clone(storage),
            renewed: now,
            last_commit: now,
        });
        lease.last_commit = now;
        if !fresh {
            lease.renewed = now;
        }
        drop(held);
        self.start_heartbeat();
        Ok(())
    }

    fn is_mine(&self, record: &WriterRecord) -> bool {
        matches!(record, WriterRecord::Process { host, pid, token, .. }
            if *host == self.identity.host
                && *pid == self.identity.pid
                && u64::from_str_radix(token, 16).ok() == Some(self.identity.token))
    }

    /// Deletes every lease this process holds (at shutdown), so that another process may take
    /// over at once.
    pub async fn release_all(&self) {
        let held: Vec<(String, Held)> = self.held().drain().collect();
        for (repo, lease) in held {
            self.release(&repo, lease.storage.as_ref()).await;
        }
    }

    /// `Ok` if `found` lets this process write `repo`.
    fn check(&self, repo: &str, found: Option<&WriterRecord>) -> Result<(), LogError> {
        let Some(found) = found else {
            return Ok(());
        };
        match found {
            WriterRecord::Coordinated { coordinator } => Err(LogError::Coordinated {
                repo: repo.to_owned(),
                coordinator: coordinator.clone(),
            }),
            WriterRecord::Process {
                host,
                pid,
                token,
                renewed_ms,
                ttl_ms,
            } => {
                let other = WriterIdentity {
                    host: host.clone(),
                    pid: *pid,
                    token: u64::from_str_radix(token, 16).unwrap_or(0),
                };
                if other == self.identity {
                    return Ok(());
                }
                let expired = now_ms() > renewed_ms.saturating_add(*ttl_ms);
                if expired || other.is_dead_here() {
                    tracing::info!(repo, previous = %other, expired, "the writer lease is free");
                    return Ok(());
                }
                Err(LogError::OtherWriter {
                    repo: repo.to_owned(),
                    host: other.host,
                    pid: other.pid,
                })
            }
        }
    }

    fn record(&self) -> WriterRecord {
        WriterRecord::Process {
            host: self.identity.host.clone(),
            pid: self.identity.pid,
            token: format!("{:016x}", self.identity.token),
            renewed_ms: now_ms(),
            ttl_ms: self.options.ttl.as_millis() as u64,
        }
    }

    fn start_heartbeat(self: &Arc<Self>) {
        self.heartbeat_started.call_once(|| {
            let holder = Arc::downgrade(self);
            let period = self.options.ttl / 3;
            tokio::spawn(heartbeat(holder, period));
        });
    }

    /// One heartbeat: renews the leases still in use, releases the others, and drops those
    /// another process took.
    async fn beat(&self) {
        let now = Instant::now();
        let due: Vec<(String, Arc<dyn Storage>, bool)> = self
            .held()
            .iter()
            .map(|(repo, lease)| {
                let keep = now.duration_since(lease.last_commit) < self.options.hold;
                (repo.clone(), Arc::clone(&lease.storage), keep)
            })
            .collect();
        for (repo, storage, keep) in due {
            if !keep {
                let lease = self.held().remove(&repo);
                if let Some(lease) = lease {
                    self.release(&repo, lease.storage.as_ref()).await;
                }
                continue;
            }
            let renewed = async {
                let found = read_record(storage.as_ref(), &repo).await?;
                self.check(&repo, found.as_ref())?;
                if !found.as_ref().is_some_and(|record| self.is_mine(record)) {
                    // Gone: released by an operator, or the repository was deleted.
                    return Ok(false);
                }
                write_record(storage.as_ref(), &repo, &self.record()).await?;
                Ok(true)
            };
            match renewed.await {
                Ok(true) => {
                    if let Some(lease) = self.held().get_mut(&repo) {
                        lease.renewed = now;
                    }
                }
                Ok(false) => {
                    tracing::info!(repo, "the writer lease object is gone; not renewing it");
                    self.held().remove(&repo);
                }
                Err(error @ (LogError::OtherWriter { .. } | LogError::Coordinated { .. })) => {
                    tracing::error!(%error, "lost the writer lease");
                    self.held().remove(&repo);
                }
                Err(error) => tracing::warn!(%error, "cannot renew the writer lease"),
            }
        }
    }

    /// Deletes the lease object of `repo` if it is still this process's.
    async fn release(&self, repo: &str, storage: &dyn Storage) {
        match read_record(storage, repo).await {
            Ok(Some(record)) if self.is_mine(&record) => {
                if let Err(error) = storage.delete(repo, WRITER_OBJECT).await
                    && error.kind() != ErrorKind::NotFound
                {
                    tracing::warn!(repo, %error, "cannot release the writer lease");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot release the writer lease"),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn heartbeat(holder: Weak<LeaseHolder>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(holder) = holder.upgrade() else {
            return;
        };
        holder.beat().await;
    }
}

/// The lease object of `repo`; `None` if it is absent or unreadable (then it is overwritten).
pub(super) async fn read_record(
    storage: &dyn Storage,
    repo: &str,
) -> Result<Option<WriterRecord>, LogError> {
    let read = async { storage.get(repo, WRITER_OBJECT).await?.bytes().await };
    match read.await {
        Ok(bytes) => {
            let record = decode_record(&bytes);
            if record.is_none() {
                tracing::warn!(repo, "ignoring an unreadable {WRITER_OBJECT}");
            }
            Ok(record)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::storage(repo, "read", WRITER_OBJECT, e)),
    }
}

pub(super) async fn write_record(
    storage: &dyn Storage,
    repo: &str,
    record: &WriterRecord,
) -> Result<(), LogError> {
    storage
        .put(
            repo,
            WRITER_OBJECT,
            encode_record(record).into(),
            PutMode::Overwrite,
        )
        .await
        .map(|_| ())
        .map_err(|e| LogError::storage(repo, "write", WRITER_OBJECT, e))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let records = [
            WriterRecord::Process {
                host: "h".into(),
                pid: 7,
                token: "00000000000000ff".into(),
                renewed_ms: 1,
                ttl_ms: 30_000,
            },
            WriterRecord::Coordinated {
                coordinator: "etcd (prefix swiftgit/)".into(),
            },
        ];
        for record in records {
            assert_eq!(decode_record(&encode_record(&record)), Some(record));
        }
        assert_eq!(decode_record(b"{\"format\":\"swiftgit-writer/9\"}"), None);
        assert_eq!(decode_record(b"garbage"), None);
    }

    #[test]
    fn a_live_process_holds_and_a_dead_or_expired_one_does_not() {
        let holder = LeaseHolder::new(LeaseOptions::default());
        let me = &holder.identity;
        let record = |host: &str, pid: u32, token: u64, renewed_ms: u64| WriterRecord::Process {
            host: host.into(),
            pid,
            token: format!("{token:016x}"),
            renewed_ms,
            ttl_ms: 30_000,
        };
        let now = now_ms();
        assert!(holder.check("r", None).is_ok());
        assert!(
            holder
                .check("r", Some(&record(&me.host, me.pid, me.token, now)))
                .is_ok()
        );
        let other = record("elsewhere", 42, 1, now);
        let error = holder.check("r", Some(&other)).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "repository r is written by another swiftgit process (elsewhere, pid 42) without a \
             coordinator; configure [coordinator]"
        );
        assert!(
            holder
                .check("r", Some(&record("elsewhere", 42, 1, now - 31_000)))
                .is_ok(),
            "expired"
        );
        // pid 1 lives on every host; a pid beyond pid_max cannot.
        assert!(
            holder
                .check("r", Some(&record(&me.host, 1, 1, now)))
                .is_err()
        );
        assert!(
            holder
                .check("r", Some(&record(&me.host, u32::MAX, 1, now)))
                .is_ok(),
            "a dead process on this host"
        );
        let coordinated = WriterRecord::Coordinated {
            coordinator: "etcd".into(),
        };
        assert!(matches!(
            holder.check("r", Some(&coordinated)),
            Err(LogError::Coordinated { .. })
        ));
    }
}
