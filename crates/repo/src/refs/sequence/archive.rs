//! The log in the object store as readers find it: every coordinator keeps its entries there
//! (the single writer creates them, etcd's sequence copies them), and after a commit writes a
//! checkpoint when one is due and then the hint (see [`super::super::log`]).

use std::sync::Mutex;

use swiftgit_storage::Storage;

use super::super::format::Hint;
use super::super::log;
use super::super::state::RepoState;

/// One repository's log in the object store, with the newest checkpoint this process knows of.
#[derive(Debug)]
pub(super) struct Archive {
    container: String,
    checkpoint_interval: u64,
    newest_checkpoint: Mutex<Option<u64>>,
    /// Held while publishing, with the seq of the newest hint written: publications that run
    /// in the background after their commits may run out of order, and a hint never goes back.
    newest_hint: tokio::sync::Mutex<u64>,
}

impl Archive {
    pub fn new(container: &str, checkpoint_interval: u64) -> Archive {
        Archive {
            container: container.to_owned(),
            checkpoint_interval: checkpoint_interval.max(1),
            newest_checkpoint: Mutex::new(None),
            newest_hint: tokio::sync::Mutex::new(0),
        }
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// Remembers a checkpoint a reader found.
    pub fn note_checkpoint(&self, checkpoint: Option<u64>) {
        let mut newest = self.newest();
        *newest = (*newest).max(checkpoint);
    }

    /// Writes the checkpoint of `state` if its seq is a multiple of `checkpoint_interval` (a
    /// rule every writing process applies alike), then the hint. Both are optimisations for
    /// readers: failures are logged.
    pub async fn publish(&self, storage: &dyn Storage, state: &RepoState, time_ms: u64) {
        let repo = self.container.as_str();
        let mut newest_hint = self.newest_hint.lock().await;
        let mut wrote_checkpoint = false;
        if state.seq.is_multiple_of(self.checkpoint_interval) && *self.newest() < Some(state.seq) {
            match log::write_checkpoint(storage, repo, state, time_ms).await {
                Ok(()) => {
                    self.note_checkpoint(Some(state.seq));
                    wrote_checkpoint = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "committed, but the checkpoint was not written")
                }
            }
        }
        if state.seq <= *newest_hint && !wrote_checkpoint {
            return;
        }
        let hint = Hint {
            checkpoint: *self.newest(),
            seq: state.seq.max(*newest_hint),
        };
        match log::write_hint(storage, repo, hint).await {
            Ok(()) => *newest_hint = hint.seq,
            Err(e) => tracing::warn!(error = %e, "committed, but the hint was not updated"),
        }
    }

    fn newest(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.newest_checkpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
