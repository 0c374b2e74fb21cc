//! The writer lease of a repository without a coordinator: the object `swiftgit/writer` names
//! the one process allowed to commit, so that a second writing daemon on the same repository is
//! refused instead of racing the first (Swift's create-only writes are not atomic, so two
//! writers could both be told they created the same log entry, and one's push would be lost).
//!
//! - Before a commit the process reads the object, unless it did so in the last
//!   [`LeaseOptions::verify_interval`] (a push reads it while its pack is received, so that its
//!   commit does not wait for it). Free (absent, expired, or left by a dead process on this host): it
//!   writes its lease, reads it back, and commits (reading its log entry back too). Its own: it
//!   commits (renewing the lease when half of its lifetime has passed). Another live process's: the commit is refused with
//!   [`LogError::OtherWriter`]. A repository adopted by a coordinator (etcd) carries a
//!   coordinator record instead, and a process without one is refused with
//!   [`LogError::Coordinated`].
//! - While it holds leases, a heartbeat task renews them every third of their lifetime, for as
//!   long as the process committed to the repository within [`LeaseOptions::hold`]; then the
//!   lease is deleted so that another process may take over at once. A clean shutdown deletes
//!   every lease the process holds ([`LeaseHolder::release_all`]).
//!
//! - While it holds the lease and has verified it within the verify interval, no other process
//!   can have appended: the newest entry it wrote or read meanwhile is the log's head
//!   ([`LeaseHolder::knows_head`]), and reading the state costs no request.
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

/// Who holds a lease: a process on a host, in a pid namespace of one boot of a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WriterIdentity {
    pub host: String,
    pub pid: u32,
    pub token: u64,
    /// The kernel's boot id and the pid namespace, so that a process in another container
    /// with the same host name is never taken for a dead one.
    pub boot: String,
}

impl WriterIdentity {
    /// This process.
    pub fn of_this_process() -> WriterIdentity {
        WriterIdentity {
            host: host_name(),
            pid: std::process::id(),
            token: *PROCESS_TOKEN,
            boot: boot_and_namespace(),
        }
    }

    /// Whether the process is certainly gone: it ran on this host, in this boot and pid
    /// namespace, and no process has its pid.
    fn is_dead_here(&self) -> bool {
        !self.boot.is_empty()
            && self.host == host_name()
            && self.boot == boot_and_namespace()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
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
    /// A commit within this long of the last read of the lease object (by a commit, the push
    /// that is about to commit, or the heartbeat) does not read it again. Default 2 s.
    pub verify_interval: Duration,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            ttl: Duration::from_secs(30),
            hold: Duration::from_secs(600),
            verify_interval: Duration::from_secs(2),
        }
    }
}

/// What the lease object says: a process holds the repository until `renewed_ms + ttl_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WriterRecord {
    host: String,
    pid: u32,
    token: String,
    #[serde(default)]
    boot: String,
    renewed_ms: u64,
    ttl_ms: u64,
}

impl WriterRecord {
    fn holder(&self) -> WriterIdentity {
        WriterIdentity {
            host: self.host.clone(),
            pid: self.pid,
            token: u64::from_str_radix(&self.token, 16).unwrap_or(0),
            boot: self.boot.clone(),
        }
    }

    /// Another process that may still be writing: its lease has not expired and it is not
    /// known to be dead. `None` if the lease is free.
    pub(super) fn live_holder(&self) -> Option<WriterIdentity> {
        let holder = self.holder();
        let expired = now_ms() > self.renewed_ms.saturating_add(self.ttl_ms);
        (!expired && !holder.is_dead_here()).then_some(holder)
    }
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

/// What [`LeaseHolder::acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This process held the lease already.
    Held,
    /// This process took the lease just now (it was free): another process may have taken it
    /// at the same instant, so the commit reads its entry back.
    Taken,
}

/// A lease this process holds.
#[derive(Debug)]
struct Held {
    storage: Arc<dyn Storage>,
    renewed: Instant,
    /// When the lease object was last read and found to be this process's.
    verified: Instant,
    last_commit: Instant,
    /// The newest seq this process wrote or read while holding the lease (see
    /// [`LeaseHolder::knows_head`]); forgotten when an append finds the log moved.
    head: Option<u64>,
}

/// The writer leases of this process, shared by the sequences of one [`super::SingleWriter`].
#[derive(Debug)]
pub struct LeaseHolder {
    identity: WriterIdentity,
    options: LeaseOptions,
    held: Mutex<HashMap<String, Held>>,
    /// Repositories a heartbeat found coordinated: refused from then on.
    coordinated: Mutex<HashMap<String, String>>,
    heartbeat_started: std::sync::Once,
}

impl LeaseHolder {
    pub fn new(options: LeaseOptions) -> Arc<LeaseHolder> {
        Arc::new(LeaseHolder {
            identity: WriterIdentity::of_this_process(),
            options,
            held: Mutex::new(HashMap::new()),
            coordinated: Mutex::new(HashMap::new()),
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
    ) -> Result<Lease, LogError> {
        if let Some(coordinator) = self.coordinated_repos().get(repo) {
            return Err(LogError::Coordinated {
                repo: repo.to_owned(),
                coordinator: coordinator.clone(),
            });
        }
        let now = Instant::now();
        if let Some(lease) = self.held().get_mut(repo)
            && now.duration_since(lease.verified) < self.options.verify_interval
            && now.duration_since(lease.renewed) < self.options.ttl / 2
        {
            lease.last_commit = now;
            return Ok(Lease::Held);
        }
        let found = read_record(storage.as_ref(), repo).await?;
        self.check(repo, found.as_ref())?;
        let ours = found.as_ref().is_some_and(|record| self.is_mine(record));
        if !ours {
            check_not_coordinated(storage.as_ref(), repo).await?;
        }
        let fresh = ours
            && self
                .held()
                .get(repo)
                .is_some_and(|lease| now.duration_since(lease.renewed) < self.options.ttl / 2);
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
            verified: now,
            last_commit: now,
            head: None,
        });
        if !ours {
            // Taken now: what this process saw before may be behind the last holder's writes.
            lease.head = None;
        }
        lease.last_commit = now;
        lease.verified = now;
        if !fresh {
            lease.renewed = now;
        }
        drop(held);
        self.start_heartbeat();
        Ok(if ours { Lease::Held } else { Lease::Taken })
    }

    /// Whether `seq` is the head of `repo`'s log: this process holds the lease, verified it
    /// within the verify interval (so no other process can have appended since), and `seq` is
    /// the newest entry it wrote or read while holding it.
    pub fn knows_head(&self, repo: &str, seq: u64) -> bool {
        let now = Instant::now();
        self.held().get(repo).is_some_and(|lease| {
            lease.head == Some(seq)
                && now.duration_since(lease.verified) < self.options.verify_interval
                && now.duration_since(lease.renewed) < self.options.ttl / 2
        })
    }

    /// Records that entry `seq` of `repo` exists (written or read by this process), if it holds
    /// the lease.
    pub fn note_head(&self, repo: &str, seq: u64) {
        if let Some(lease) = self.held().get_mut(repo) {
            lease.head = Some(lease.head.map_or(seq, |head| head.max(seq)));
        }
    }

    /// Forgets the head of `repo`: an append found its entry taken (the log moved without this
    /// process), or its outcome is unknown.
    pub fn forget_head(&self, repo: &str) {
        if let Some(lease) = self.held().get_mut(repo) {
            lease.head = None;
        }
    }

    fn is_mine(&self, record: &WriterRecord) -> bool {
        let holder = record.holder();
        holder.host == self.identity.host
            && holder.pid == self.identity.pid
            && holder.token == self.identity.token
    }

    fn coordinated_repos(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.coordinated
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        if self.is_mine(found) {
            return Ok(());
        }
        match found.live_holder() {
            None => {
                tracing::info!(repo, previous = %found.holder(), "the writer lease is free");
                Ok(())
            }
            Some(other) => Err(LogError::OtherWriter {
                repo: repo.to_owned(),
                host: other.host,
                pid: other.pid,
            }),
        }
    }

    fn record(&self) -> WriterRecord {
        WriterRecord {
            host: self.identity.host.clone(),
            pid: self.identity.pid,
            token: format!("{:016x}", self.identity.token),
            boot: self.identity.boot.clone(),
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
                check_not_coordinated(storage.as_ref(), &repo).await?;
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
                        lease.verified = now;
                    }
                }
                Ok(false) => {
                    tracing::info!(repo, "the writer lease object is gone; not renewing it");
                    self.held().remove(&repo);
                }
                Err(LogError::Coordinated { repo, coordinator }) => {
                    tracing::error!(
                        repo,
                        coordinator,
                        "a coordinator adopted the repository: this process no longer writes it"
                    );
                    self.held().remove(&repo);
                    self.coordinated_repos().insert(repo, coordinator);
                }
                Err(error @ LogError::OtherWriter { .. }) => {
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

/// [`LogError::Coordinated`] if a coordinator registered `repo` (see [`super::marker`]).
async fn check_not_coordinated(storage: &dyn Storage, repo: &str) -> Result<(), LogError> {
    match super::marker::read(storage, repo).await? {
        Some(marker) => Err(LogError::Coordinated {
            repo: repo.to_owned(),
            coordinator: marker.coordinator,
        }),
        None => Ok(()),
    }
}

/// `<boot id>/<pid namespace>`, or empty where Linux's `/proc` does not say.
fn boot_and_namespace() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|link| link.to_string_lossy().into_owned())
        .unwrap_or_default();
    if boot.trim().is_empty() || namespace.is_empty() {
        return String::new();
    }
    format!("{}/{namespace}", boot.trim())
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

    fn record(host: &str, pid: u32, token: u64, boot: &str, renewed_ms: u64) -> WriterRecord {
        WriterRecord {
            host: host.into(),
            pid,
            token: format!("{token:016x}"),
            boot: boot.into(),
            renewed_ms,
            ttl_ms: 30_000,
        }
    }

    #[test]
    fn records_round_trip() {
        let record = record("h", 7, 255, "b/ns", 1);
        assert_eq!(decode_record(&encode_record(&record)), Some(record));
        assert_eq!(decode_record(b"{\"format\":\"swiftgit-writer/9\"}"), None);
        assert_eq!(decode_record(b"garbage"), None);
    }

    #[test]
    fn a_live_process_holds_and_a_dead_or_expired_one_does_not() {
        let holder = LeaseHolder::new(LeaseOptions::default());
        let me = holder.identity.clone();
        let now = now_ms();
        assert!(holder.check("r", None).is_ok());
        assert!(
            holder
                .check(
                    "r",
                    Some(&record(&me.host, me.pid, me.token, &me.boot, now))
                )
                .is_ok()
        );
        let error = holder
            .check("r", Some(&record("elsewhere", 42, 1, "x", now)))
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "repository r is written by another swiftgit process (elsewhere, pid 42) without a \
             coordinator; configure [coordinator]"
        );
        assert!(
            holder
                .check("r", Some(&record("elsewhere", 42, 1, "x", now - 31_000)))
                .is_ok(),
            "expired"
        );
        // pid 1 lives on every host; a pid beyond pid_max cannot.
        assert!(
            holder
                .check("r", Some(&record(&me.host, 1, 1, &me.boot, now)))
                .is_err()
        );
        assert!(
            holder
                .check("r", Some(&record(&me.host, u32::MAX, 1, &me.boot, now)))
                .is_ok(),
            "a dead process on this host"
        );
        assert!(
            holder
                .check(
                    "r",
                    Some(&record(&me.host, u32::MAX, 1, "another/namespace", now))
                )
                .is_err(),
            "a process in another pid namespace with the same host name is not known dead"
        );
    }
}
