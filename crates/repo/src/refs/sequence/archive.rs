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
}

impl Archive {
    pub fn new(container: &str, checkpoint_interval: u64) -> Archive {
        Archive {
            container: container.to_owned(),
            checkpoint_interval: checkpoint_interval.max(1),
            newest_checkpoint: Mutex::new(None),
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
        let mut checkpoint = *self.newest();
        if state.seq.is_multiple_of(self.checkpoint_interval) && checkpoint < Some(state.seq) {
            match log::write_checkpoint(storage, repo, state, time_ms).await {
                Ok(()) => {
                    self.note_checkpoint(Some(state.seq));
                    checkpoint = Some(state.seq);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "committed, but the checkpoint was not written")
                }
            }
        }
        let hint = Hint {
            checkpoint,
            seq: state.seq,
        };
        if let Err(e) = log::write_hint(storage, repo, hint).await {
            tracing::warn!(error = %e, "committed, but the hint was not updated");
        }
    }

    fn newest(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.newest_checkpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
