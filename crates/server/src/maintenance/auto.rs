//! Maintenance run by the daemon itself: after each push, a repository that crossed a
//! threshold (too many packs, too many bytes a roll-up would combine, too many log entries
//! since the last run here) gets a run in the background. Runs go one at a time in the process,
//! and at most one per repository across processes (the maintenance lock); a busy or failed run
//! is logged and tried again after a later push.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use swiftgit_repo::Repository;
use swiftgit_repo::odb::ObjectDb;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{GcError, GcOptions, gc, select};
use crate::observer::{MaintenanceResult, ServerObserver};

/// When a repository is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// More live packs than this.
    pub max_packs: usize,
    /// More bytes than this in the packs a geometric roll-up would combine.
    pub small_packs_bytes: u64,
    /// At least this many log entries since this process's last run on the repository.
    pub max_log_entries: u64,
}

/// The daemon's background maintenance (see the module documentation).
#[derive(Debug)]
pub struct AutoMaintenance {
    options: GcOptions,
    thresholds: Thresholds,
    /// Per repository: the seq of its last run here, and whether one is queued or running.
    repos: Mutex<HashMap<String, RepoRuns>>,
    /// One run at a time in the process.
    turn: Arc<Semaphore>,
    tasks: Mutex<JoinSet<()>>,
    /// Hears how each run ended.
    observer: Arc<dyn ServerObserver>,
}

#[derive(Debug, Clone, Copy, Default)]
struct RepoRuns {
    last_seq: u64,
    pending: bool,
}

impl AutoMaintenance {
    /// Maintenance with `options` when a repository crosses `thresholds`; `observer` hears
    /// how each run ended.
    pub fn new(
        options: GcOptions,
        thresholds: Thresholds,
        observer: Arc<dyn ServerObserver>,
    ) -> Arc<AutoMaintenance> {
        Arc::new(AutoMaintenance {
            options,
            thresholds,
            repos: Mutex::new(HashMap::new()),
            turn: Arc::new(Semaphore::new(1)),
            tasks: Mutex::new(JoinSet::new()),
            observer,
        })
    }

    /// After a push committed to `repo`: starts a run in the background if the repository is
    /// due and none is queued for it.
    pub fn after_push(self: &Arc<Self>, repo: &Repository, odb: &Arc<ObjectDb>) {
        let state = repo.state();
        let name = repo.container().to_owned();
        let reason = {
            let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            let runs = repos.entry(name.clone()).or_default();
            if runs.pending {
                return;
            }
            let Some(reason) = self.due(state.seq().saturating_sub(runs.last_seq), odb) else {
                return;
            };
            runs.pending = true;
            reason
        };
        tracing::info!(repo = %name, reason, "starting maintenance in the background");
        let this = Arc::clone(self);
        let (repo, odb) = (repo.clone(), Arc::clone(odb));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let (outcome, started) = match Arc::clone(&this.turn).acquire_owned().await {
                Ok(_turn) => {
                    let started = Instant::now();
                    (gc(&repo, &odb, &this.options).await, started)
                }
                Err(_) => return,
            };
            let result = match &outcome {
                Ok(_) => MaintenanceResult::Done,
                Err(GcError::Busy { .. }) => MaintenanceResult::Busy,
                Err(_) => MaintenanceResult::Failed,
            };
            this.observer.maintenance(result, started.elapsed());
            let seq = repo.state().seq();
            let mut repos = this.repos.lock().unwrap_or_else(|p| p.into_inner());
            let runs = repos.entry(name.clone()).or_default();
            runs.pending = false;
            match outcome {
                Ok(report) => {
                    runs.last_seq = seq;
                    tracing::info!(
                        repo = %name,
                        packs_before = report.packs_before,
                        packs_after = report.packs_after,
                        stored_bytes_before = report.stored_bytes_before,
                        stored_bytes_after = report.stored_bytes_after,
                        packs_deleted = report.packs_deleted,
                        log_entries_deleted = report.log.entries_deleted,
                        "maintenance done"
                    );
                }
                Err(GcError::Busy { .. }) => {
                    tracing::debug!(repo = %name, "maintenance runs elsewhere");
                }
                Err(error) => tracing::warn!(repo = %name, %error, "maintenance failed"),
            }
        });
    }

    /// Why a repository `entries` log entries past its last run here, reading `odb`, is due.
    fn due(&self, entries: u64, odb: &ObjectDb) -> Option<&'static str> {
        let sizes = odb.pack_sizes();
        if sizes.len() > self.thresholds.max_packs {
            return Some("too many packs");
        }
        let rolled: u64 = select::geometric(&sizes, self.options.geometric_factor)
            .iter()
            .filter_map(|pack| sizes.iter().find(|(id, _)| id == pack))
            .map(|&(_, bytes)| bytes)
            .sum();
        if rolled > self.thresholds.small_packs_bytes {
            return Some("too many bytes in small packs");
        }
        if entries >= self.thresholds.max_log_entries {
            return Some("too many log entries");
        }
        None
    }

    /// Stops the runs (a run killed at any point leaves a consistent repository).
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        tasks.shutdown().await;
    }
}
