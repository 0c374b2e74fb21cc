//! One download per object: a task that streams the object with a single GET into a temporary
//! file, publishing how many leading bytes are on disk ([`Progress`]), checks it, and renames it
//! into place; and [`follow`], how a reader uses a download in progress.
//!
//! The download runs as its own task, so a reader that goes away does not stop it, and every
//! reader of the object — ten concurrent clones, say — follows the same one. Memory stays flat:
//! at most [`WRITE_BATCH`] bytes (plus one chunk of the body) are held before they are written.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use super::{Check, Shared};
use crate::{ErrorKind, Result, Storage, StorageError, clip_range};

/// Objects remembered as not worth a download, at most.
const MAX_PASSED: usize = 10_000;
/// Bytes gathered from the body before one write (and one progress report).
const WRITE_BATCH: usize = 256 * 1024;
/// A reader waits for the download if its range ends at most this far past what is on disk
/// (on a slow link that can take long, but a ranged read of the same link is no quick
/// escape)...
const MIN_LOOKAHEAD: u64 = 16 << 20;
/// ...or, once the download's speed is known, if the download should reach the range's end
/// within this long. Beyond, a ranged read of the inner storage is quicker.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// The download's speed is estimated after it has run this long.
const RATE_AFTER: Duration = Duration::from_millis(50);
/// A reader that sees no progress for this long reads the inner storage instead.
const STALL: Duration = Duration::from_secs(2);
/// The SHA-1 at the end of a pack (and of a v2 index).
const TRAILER_LEN: u64 = 20;

/// How far a download has got, as its readers see it.
#[derive(Debug, Clone)]
pub(super) enum Progress {
    /// Waiting for the storage to answer the GET.
    Starting,
    /// Bytes `..written` of `size` are in `file` (a temporary file, to be renamed).
    Streaming {
        file: Arc<File>,
        size: u64,
        written: u64,
        started: Instant,
    },
    /// Checked and in place; `file` stays readable whatever happens to the name.
    Complete { file: Arc<File>, size: u64 },
    /// No copy: read the inner storage.
    Abandoned,
}

/// A download in progress, as the cache's map of them holds it.
#[derive(Debug)]
pub(super) struct InFlight {
    pub id: u64,
    pub progress: watch::Receiver<Progress>,
    /// Set when the object is deleted or overwritten meanwhile: the copy is then not kept.
    pub invalidated: Arc<AtomicBool>,
}

/// Reads `range` with the help of a download: `Ok(None)` when the inner storage should be read
/// instead (the download failed, stalled, or is too far from the range).
pub(super) async fn follow(
    mut progress: watch::Receiver<Progress>,
    range: Range<u64>,
    container: &str,
    name: &str,
) -> Result<Option<Bytes>> {
    loop {
        let current = progress.borrow_and_update().clone();
        match current {
            Progress::Starting => {}
            Progress::Streaming {
                file,
                size,
                written,
                started,
            } => {
                let range = clip_range(range.clone(), size, container, name)?;
                if range.end <= written {
                    return Ok(read_at(file, range).await.ok());
                }
                if range.end - written > lookahead(written, started.elapsed()) {
                    return Ok(None);
                }
            }
            Progress::Complete { file, size } => {
                let range = clip_range(range, size, container, name)?;
                return Ok(read_at(file, range).await.ok());
            }
            Progress::Abandoned => return Ok(None),
        }
        match tokio::time::timeout(STALL, progress.changed()).await {
            Ok(Ok(())) => {}
            // Stalled, or the download task is gone.
            Ok(Err(_)) | Err(_) => return Ok(None),
        }
    }
}

/// How far past the bytes on disk a reader waits, `elapsed` after the download started.
fn lookahead(written: u64, elapsed: Duration) -> u64 {
    if elapsed < RATE_AFTER {
        return MIN_LOOKAHEAD;
    }
    let rate = written as f64 / elapsed.as_secs_f64();
    MIN_LOOKAHEAD.max((rate * MAX_WAIT.as_secs_f64()) as u64)
}

/// Reads `range` of `file` on the blocking pool.
pub(super) async fn read_at(file: Arc<File>, range: Range<u64>) -> io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; (range.end - range.start) as usize];
        file.read_exact_at(&mut buf, range.start)?;
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(io::Error::other)?
}

/// What one download needs.
pub(super) struct Job<S> {
    pub shared: Arc<Shared>,
    pub inner: Arc<S>,
    pub container: String,
    pub name: String,
    pub key: String,
    pub check: Check,
    pub progress: watch::Sender<Progress>,
    pub id: u64,
    pub invalidated: Arc<AtomicBool>,
}

/// Why a download kept no copy.
enum Failure {
    /// The storage failed: the next read may try again.
    Storage(StorageError),
    /// The local disk failed: the cache pauses (see [`Shared::disk_trouble`]).
    Disk(&'static str, io::Error),
    /// Not worth another try: larger than the budget, or its check failed.
    NotCacheable(String),
    /// Deleted or overwritten meanwhile, or its file removed by another process.
    Invalidated,
}

/// Undoes what a download that did not finish left behind, however it ended (error, panic,
/// runtime shutdown): its entry in the map of downloads, its budget reservation, its file.
struct Cleanup {
    shared: Arc<Shared>,
    key: String,
    id: u64,
    reserved: u64,
    temp: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take()
            && let Err(e) = std::fs::remove_file(&temp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::debug!(path = %temp.display(), error = %e, "cannot remove a failed download");
        }
        let mut state = self.shared.lock();
        if state
            .downloads
            .get(&self.key)
            .is_some_and(|d| d.id == self.id)
        {
            state.downloads.remove(&self.key);
        }
        state.index.release(self.reserved);
    }
}

/// Downloads `job`'s object and tells its readers how it went.
pub(super) async fn run<S: Storage>(job: Job<S>) {
    let mut cleanup = Cleanup {
        shared: Arc::clone(&job.shared),
        key: job.key.clone(),
        id: job.id,
        reserved: 0,
        temp: None,
    };
    let outcome = download(&job, &mut cleanup).await;
    let (container, name) = (&job.container, &job.name);
    // What a failure tells later reads is recorded before the download leaves the map, so
    // that no read starts another one meanwhile.
    let progress = match outcome {
        Ok((file, size)) => {
            tracing::debug!(%container, %name, size, "cached on disk");
            Progress::Complete { file, size }
        }
        Err(failure) => {
            match failure {
                Failure::Storage(error) => {
                    tracing::debug!(%container, %name, %error, "download for the disk cache failed")
                }
                Failure::Disk(what, error) => job.shared.disk_trouble(what, &error),
                Failure::NotCacheable(reason) => {
                    tracing::info!(%container, %name, "not cached on disk: {reason}");
                    let mut state = job.shared.lock();
                    if state.passed.len() >= MAX_PASSED {
                        // Forgotten objects are only tried once more.
                        state.passed.clear();
                    }
                    state.passed.insert(job.key.clone());
                }
                Failure::Invalidated => {}
            }
            Progress::Abandoned
        }
    };
    drop(cleanup);
    job.progress.send_replace(progress);
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> std::result::Result<T, Failure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Disk(what, e)),
        Err(join) => Err(Failure::Disk(what, io::Error::other(join))),
    }
}

async fn download<S: Storage>(
    job: &Job<S>,
    cleanup: &mut Cleanup,
) -> std::result::Result<(Arc<File>, u64), Failure> {
    let shared = &job.shared;
    // Another process may have cached it since this one started.
    let path = shared.layout.path(&job.key);
    let existing = blocking("open a cached file", move || match File::open(&path) {
        Ok(file) => {
            let size = file.metadata()?.len();
            Ok(Some((file, size)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })
    .await?;
    if let Some((file, size)) = existing {
        finish(job, None).await?;
        return Ok((Arc::new(file), size));
    }

    let got = job
        .inner
        .get(&job.container, &job.name)
        .await
        .map_err(Failure::Storage)?;
    let size = got.meta.size;
    let evicted = shared
        .lock()
        .index
        .reserve(size)
        .ok_or_else(|| Failure::NotCacheable(format!("{size} bytes exceed the budget")))?;
    cleanup.reserved = size;
    shared.remove_files(evicted).await;

    let temp = shared.layout.temp_path();
    cleanup.temp = Some(temp.clone());
    let file = Arc::new(
        blocking("create a download file", move || {
            File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temp)
        })
        .await?,
    );
    let started = Instant::now();
    let report = |written| {
        job.progress.send_replace(Progress::Streaming {
            file: Arc::clone(&file),
            size,
            written,
            started,
        });
    };
    report(0);

    let hashed_end = size.saturating_sub(TRAILER_LEN);
    let mut hasher = (job.check == Check::Sha1Trailer).then(sha1dc::Hasher::default);
    let mut written = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0u64;
    let mut body = got.body;
    loop {
        let chunk = body.next().await.transpose().map_err(Failure::Storage)?;
        if let Some(chunk) = &chunk {
            batch_len += chunk.len() as u64;
            if written + batch_len > size {
                return Err(Failure::Storage(StorageError::new(
                    ErrorKind::Other,
                    format!(
                        "{}/{} sent more than its {size} bytes",
                        job.container, job.name
                    ),
                )));
            }
            batch.push(chunk.clone());
        }
        if batch_len >= WRITE_BATCH as u64 || (chunk.is_none() && batch_len > 0) {
            let (file, at, pieces) = (Arc::clone(&file), written, std::mem::take(&mut batch));
            let mut hash = hasher.take();
            hasher = blocking("write a download file", move || {
                let mut at = at;
                for piece in &pieces {
                    file.write_all_at(piece, at)?;
                    if let Some(hash) = &mut hash
                        && at < hashed_end
                    {
                        let end = (hashed_end - at).min(piece.len() as u64) as usize;
                        hash.update(&piece[..end]);
                    }
                    at += piece.len() as u64;
                }
                Ok(hash)
            })
            .await?;
            written += batch_len;
            batch_len = 0;
            report(written);
        }
        if chunk.is_none() {
            break;
        }
    }
    if written != size {
        return Err(Failure::Storage(StorageError::new(
            ErrorKind::Other,
            format!(
                "{}/{} ended after {written} of its {size} bytes",
                job.container, job.name
            ),
        )));
    }
    if let Some(hasher) = hasher {
        verify_trailer(&file, size, hasher).await?;
    }
    finish(job, Some(cleanup)).await?;
    Ok((file, size))
}

/// Fails unless the last 20 bytes of `file` are the SHA-1 `hasher` computed of the rest.
async fn verify_trailer(
    file: &Arc<File>,
    size: u64,
    hasher: sha1dc::Hasher,
) -> std::result::Result<(), Failure> {
    if size < TRAILER_LEN {
        return Err(Failure::NotCacheable(format!(
            "{size} bytes cannot end in a SHA-1 trailer"
        )));
    }
    let trailer = read_at(Arc::clone(file), size - TRAILER_LEN..size)
        .await
        .map_err(|e| Failure::Disk("read a download file", e))?;
    match hasher.finalize() {
        Ok(digest) if digest.as_ref() == &trailer[..] => Ok(()),
        _ => {
            tracing::warn!(
                "a stored object does not end in the SHA-1 of its content: it is served from \
                 storage as it is, but not cached on disk"
            );
            Err(Failure::NotCacheable("its trailer does not match".into()))
        }
    }
}

/// Puts the copy in place (renaming the temporary file of `cleanup`, if any) and records it
/// in the index, as one step under the cache's lock, unless the object was deleted meanwhile.
async fn finish<S: Storage>(
    job: &Job<S>,
    cleanup: Option<&mut Cleanup>,
) -> std::result::Result<(), Failure> {
    let shared = Arc::clone(&job.shared);
    let (key, id, invalidated) = (job.key.clone(), job.id, Arc::clone(&job.invalidated));
    let container_dir = shared.layout.container_dir(&job.container);
    let (temp, reserved) = match &cleanup {
        Some(cleanup) => (cleanup.temp.clone(), cleanup.reserved),
        None => (None, 0),
    };
    let placed = tokio::task::spawn_blocking(move || {
        let mut state = shared.lock();
        if invalidated.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let path = shared.layout.path(&key);
        let size = match &temp {
            Some(temp) => {
                std::fs::create_dir_all(&container_dir)?;
                std::fs::rename(temp, &path)?;
                std::fs::metadata(&path)?.len()
            }
            None => std::fs::metadata(&path)?.len(),
        };
        state.index.release(reserved);
        let evicted = state.index.insert(&key, size, true);
        if state.downloads.get(&key).is_some_and(|d| d.id == id) {
            state.downloads.remove(&key);
        }
        state.disk_warned = false;
        drop(state);
        Ok(Some(evicted))
    })
    .await
    .map_err(io::Error::other)
    .and_then(|placed| placed)
    .map_err(|e| match e.kind() {
        // The temporary file or the adopted copy was removed by another process.
        io::ErrorKind::NotFound => Failure::Invalidated,
        _ => Failure::Disk("put a download in place", e),
    })?;
    let Some(evicted) = placed else {
        return Err(Failure::Invalidated);
    };
    if let Some(cleanup) = cleanup {
        cleanup.temp = None;
        cleanup.reserved = 0;
    }
    job.shared.remove_files(evicted).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_follows_the_download_speed() {
        assert_eq!(lookahead(0, Duration::ZERO), MIN_LOOKAHEAD, "speed unknown");
        assert_eq!(
            lookahead(2 << 20, Duration::from_secs(2)),
            MIN_LOOKAHEAD,
            "slow: the minimum"
        );
        let fast = lookahead(100 << 20, Duration::from_millis(500));
        assert!(fast > 190 << 20 && fast < 210 << 20, "{fast}");
    }
}
