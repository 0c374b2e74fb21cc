//! The object that ties a repository's container to its registration in a coordinator:
//! `swiftgit/coordinated`, written when etcd registers (or adopts) the repository and never
//! written or deleted by the writer lease's code.
//!
//! - A process without a coordinator refuses to write a repository that has it (it checks when
//!   it takes the writer lease, and at every heartbeat).
//! - A coordinated process opening a repository checks that the marker names the epoch of
//!   etcd's registration. A registration whose container carries no marker (another Swift
//!   account sharing the etcd prefix), or another epoch (the container was deleted and made
//!   again), is refused rather than served.
//!
//! Registration writes the marker twice: `pending` before the etcd transaction (so that a
//! writer without a coordinator stops as early as possible) and the winning epoch after it; an
//! opener that finds `pending` completes it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swiftgit_storage::{ErrorKind, PutMode, Storage};

use super::super::LogError;

pub const MARKER_OBJECT: &str = "swiftgit/coordinated";
const FORMAT: &str = "swiftgit-coordinated/1";
/// The epoch of a registration still under way.
pub(super) const PENDING: &str = "pending";

/// What the marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Marker {
    format: String,
    /// Which coordinator, for messages: `etcd (prefix swiftgit/)`.
    pub coordinator: String,
    /// The registration's epoch, or [`PENDING`].
    pub epoch: String,
}

impl Marker {
    pub fn new(coordinator: &str, epoch: &str) -> Marker {
        Marker {
            format: FORMAT.to_owned(),
            coordinator: coordinator.to_owned(),
            epoch: epoch.to_owned(),
        }
    }
}

/// The marker of `repo`; `None` if there is none (an unreadable one counts as present, with an
/// empty epoch, so that nobody writes the repository without a coordinator).
pub(super) async fn read(storage: &dyn Storage, repo: &str) -> Result<Option<Marker>, LogError> {
    let read = async { storage.get(repo, MARKER_OBJECT).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice::<Marker>(&bytes).unwrap_or_else(|_| {
                tracing::warn!(repo, "unreadable {MARKER_OBJECT}");
                Marker::new("an unknown coordinator", "")
            }),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::storage(repo, "read", MARKER_OBJECT, e)),
    }
}

pub(super) async fn write(
    storage: &dyn Storage,
    repo: &str,
    marker: &Marker,
) -> Result<(), LogError> {
    let bytes = serde_json::to_vec(marker).expect("holds because the marker serializes infallibly");
    storage
        .put(
            repo,
            MARKER_OBJECT,
            Bytes::from(bytes).into(),
            PutMode::Overwrite,
        )
        .await
        .map(|_| ())
        .map_err(|e| LogError::storage(repo, "write", MARKER_OBJECT, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn markers_round_trip_and_garbage_still_counts() {
        let storage = swiftgit_storage::memory::MemoryStorage::new();
        storage.create_container("r").await.expect("create");
        assert_eq!(read(&storage, "r").await.expect("read"), None);
        let marker = Marker::new("etcd (prefix swiftgit/)", "00ff");
        write(&storage, "r", &marker).await.expect("write");
        assert_eq!(read(&storage, "r").await.expect("read"), Some(marker));
        storage
            .put(
                "r",
                MARKER_OBJECT,
                Bytes::from_static(b"junk").into(),
                PutMode::Overwrite,
            )
            .await
            .expect("put");
        let junk = read(&storage, "r").await.expect("read").expect("present");
        assert_eq!(junk.epoch, "");
    }
}
