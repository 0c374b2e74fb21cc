//! Maintenance locks: at most one maintenance run (repack, prune, log compaction) per
//! repository at a time, across every process that writes it.
//!
//! With the object store alone only the process holding a repository's writer lease may
//! commit, so the lock is that lease plus a lock inside the process. With etcd the lock is a
//! key created only if absent and attached to an etcd lease that a task keeps alive: a process
//! that dies loses it when the lease expires.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use swiftgit_etcd::{Compare, EtcdClient, LeaseId, Txn, TxnOp};

use crate::refs::LogError;

/// Lifetime of an etcd maintenance lease; renewed every third of it.
const LEASE_TTL_SECS: i64 = 30;

/// A held maintenance lock. [`MaintenanceLock::release`] gives it back and, in etcd, waits
/// until etcd knows; dropping it releases it too (at once in the process, in the background in
/// etcd, where a process that exits right after may leave the key until its lease expires).
#[derive(Debug)]
pub struct MaintenanceLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Local(#[allow(dead_code, reason = "held for its Drop")] LocalGuard),
    Etcd(EtcdGuard),
}

impl MaintenanceLock {
    /// Releases the lock, in etcd before returning (a failure there is logged: the key goes
    /// when its lease expires).
    pub async fn release(self) {
        if let Held::Etcd(mut guard) = self.held {
            guard.revoke().await;
        }
    }
}

/// The repositories of this process under maintenance.
#[derive(Debug, Clone, Default)]
pub struct LocalMaintenance {
    running: Arc<Mutex<HashSet<String>>>,
}

#[derive(Debug)]
struct LocalGuard {
    running: Arc<Mutex<HashSet<String>>>,
    repo: String,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.repo);
    }
}

impl LocalMaintenance {
    /// Takes the lock of `repo` in this process; `None` if a run holds it.
    pub fn try_lock(&self, repo: &str) -> Option<MaintenanceLock> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !running.insert(repo.to_owned()) {
            return None;
        }
        Some(MaintenanceLock {
            held: Held::Local(LocalGuard {
                running: Arc::clone(&self.running),
                repo: repo.to_owned(),
            }),
        })
    }
}

/// An etcd key held under a lease kept alive by a task; revoked on release or drop.
struct EtcdGuard {
    client: EtcdClient,
    /// `None` once revoked.
    lease: Option<LeaseId>,
    keep_alive: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EtcdGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdGuard")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl EtcdGuard {
    async fn revoke(&mut self) {
        self.keep_alive.abort();
        if let Some(lease) = self.lease.take() {
            revoke_lease(&self.client, lease).await;
        }
    }
}

async fn revoke_lease(client: &EtcdClient, lease: LeaseId) {
    if let Err(error) = client.lease_revoke(lease).await {
        tracing::debug!(%error, "releasing a maintenance lease failed; it expires by itself");
    }
}

impl Drop for EtcdGuard {
    fn drop(&mut self) {
        self.keep_alive.abort();
        let Some(lease) = self.lease.take() else {
            return;
        };
        let client = self.client.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { revoke_lease(&client, lease).await });
        }
    }
}

/// Takes the maintenance key `key` in etcd for repository `repo`; `None` if another process
/// holds it.
pub(super) async fn lock_in_etcd(
    client: &EtcdClient,
    repo: &str,
    key: Vec<u8>,
) -> Result<Option<MaintenanceLock>, LogError> {
    let coordinator_error = |action: &'static str| {
        let repo = repo.to_owned();
        move |error| LogError::Coordinator {
            repo,
            action,
            error: Box::new(error),
        }
    };
    let lease = client
        .lease_grant(LEASE_TTL_SECS)
        .await
        .map_err(coordinator_error("grant a maintenance lease"))?;
    let me = super::lease::WriterIdentity::of_this_process();
    let holder = format!("{}:{}", me.host, me.pid);
    let txn = Txn::new()
        .when(Compare::absent(key.clone()))
        .on_success(TxnOp::put_with_lease(key, holder, lease));
    let taken = match client.txn(txn).await {
        Ok(answer) => answer.succeeded,
        Err(error) => {
            let _ = client.lease_revoke(lease).await;
            return Err(coordinator_error("take the maintenance lock")(error));
        }
    };
    if !taken {
        let _ = client.lease_revoke(lease).await;
        return Ok(None);
    }
    let renewing = client.clone();
    let keep_alive = tokio::spawn(async move {
        let period = Duration::from_secs(LEASE_TTL_SECS as u64 / 3);
        loop {
            tokio::time::sleep(period).await;
            match renewing.lease_keep_alive(lease).await {
                Ok(ttl) if ttl > 0 => {}
                Ok(_) => {
                    tracing::warn!("the maintenance lease expired; another run may start");
                    return;
                }
                Err(error) => tracing::warn!(%error, "renewing the maintenance lease failed"),
            }
        }
    });
    Ok(Some(MaintenanceLock {
        held: Held::Etcd(EtcdGuard {
            client: client.clone(),
            lease: Some(lease),
            keep_alive,
        }),
    }))
}
