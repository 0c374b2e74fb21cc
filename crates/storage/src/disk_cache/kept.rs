//! Copies a caller offers ([`crate::Storage::offer_copy`]): small objects read whole — a pack's
//! `.idx` and `.meta`, which the object database then holds in memory — written in the
//! background beside the downloaded packs, within the same budget, so that a restarted server
//! reads them from the local disk instead of the storage. Every read of such a copy checks
//! its SHA-1 trailer; a copy that fails is removed and the read goes to the storage.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::Shared;
use super::layout::Layout;

/// The SHA-1 at the end of every kept object.
const TRAILER_LEN: usize = 20;

/// Whether `bytes` end with the SHA-1 of the bytes before.
fn trailer_matches(bytes: &[u8]) -> bool {
    let Some(body_len) = bytes.len().checked_sub(TRAILER_LEN) else {
        return false;
    };
    let mut hasher = sha1dc::Hasher::default();
    hasher.update(&bytes[..body_len]);
    matches!(hasher.finalize(), Ok(digest) if digest.as_ref() == &bytes[body_len..])
}

/// Keeps `bytes` as the copy of `container/name`, in a task of its own, unless there is one
/// already, the cache is paused or inactive, or the copy fails its trailer check.
pub(super) fn offer(shared: &Arc<Shared>, container: &str, name: &str, bytes: Bytes) {
    let key = Layout::key(container, name);
    let size = bytes.len() as u64;
    let (evicted, id) = {
        let mut state = shared.lock();
        let paused = state
            .paused_until
            .is_some_and(|until| until > std::time::Instant::now());
        if !shared.active
            || paused
            || state.index.lookup(&key).is_some()
            || state.offers.contains_key(&key)
        {
            return;
        }
        let Some(evicted) = state.index.reserve(size) else {
            return;
        };
        state.next_id += 1;
        let id = state.next_id;
        // Dropped by `invalidate` if the object is deleted or overwritten meanwhile.
        state.offers.insert(key.clone(), id);
        (evicted, id)
    };
    let shared = Arc::clone(shared);
    let container_dir = shared.layout.container_dir(container);
    tokio::spawn(async move {
        shared.remove_files(evicted).await;
        let temp = shared.layout.temp_path();
        let path = shared.layout.path(&key);
        let writer = Arc::clone(&shared);
        let placed = tokio::task::spawn_blocking(move || {
            let written = if trailer_matches(&bytes) {
                File::options()
                    .write(true)
                    .create_new(true)
                    .open(&temp)
                    .and_then(|mut file| file.write_all(&bytes))
                    .map(|()| true)
            } else {
                Ok(false)
            };
            let mut state = writer.lock();
            state.index.release(size);
            let current = state.offers.get(&key) == Some(&id);
            if current {
                state.offers.remove(&key);
            }
            let placed = match written {
                Ok(true) if current && state.index.lookup(&key).is_none() => {
                    std::fs::create_dir_all(&container_dir)
                        .and_then(|()| std::fs::rename(&temp, &path))
                        .map(|()| Some(state.index.insert(&key, size, true)))
                }
                Ok(_) => Ok(None),
                Err(error) => Err(error),
            };
            drop(state);
            if !matches!(placed, Ok(Some(_))) {
                let _ = std::fs::remove_file(&temp);
            }
            placed
        })
        .await
        .map_err(io::Error::other)
        .and_then(|placed| placed);
        match placed {
            Ok(Some(evicted)) => shared.remove_files(evicted).await,
            Ok(None) => {}
            Err(error) => shared.disk_trouble("keep a copy of a pack index", &error),
        }
    });
}

/// The content of the kept copy of `key`, if there is one and it passes its trailer check; a
/// copy that does not (or cannot be read) is removed.
pub(super) async fn read(shared: &Arc<Shared>, key: &str) -> Option<Bytes> {
    let hit = shared.lock().index.lookup(key)?;
    let path = shared.layout.path(key);
    let read = tokio::task::spawn_blocking(move || {
        let mut file = File::open(&path)?;
        if hit.first_use {
            // Best effort: the mtime is the copy's recency after a restart.
            let _ = file.set_modified(SystemTime::now());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(hit.size).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        let intact = bytes.len() as u64 == hit.size && trailer_matches(&bytes);
        Ok::<_, io::Error>(intact.then_some(bytes))
    })
    .await
    .map_err(io::Error::other)
    .and_then(|read| read);
    match read {
        Ok(Some(bytes)) => Some(Bytes::from(bytes)),
        Ok(None) => {
            tracing::warn!(%key, "a kept copy on disk is damaged: removed, read from storage");
            shared.lock().index.remove(key);
            shared.remove_files(vec![key.to_owned()]).await;
            None
        }
        Err(error) => {
            shared.lock().index.remove(key);
            if error.kind() != io::ErrorKind::NotFound {
                shared.disk_trouble("read a kept copy", &error);
            }
            None
        }
    }
}
