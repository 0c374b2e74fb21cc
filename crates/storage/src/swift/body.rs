//! Request and response bodies as streams, with the idle timeouts that replace a total timeout.
//!
//! A total timeout cannot fit uploads and downloads of gigabytes, so `http_timeout` bounds
//! *inactivity* instead: sending counts as progress each time the connection takes another chunk
//! of the body (waiting for the answer starts when the last chunk went out), and a download
//! fails when no bytes arrive for `http_timeout`. Files are streamed in chunks, never read whole,
//! and opened afresh for every attempt.

use std::future::Future;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::OwnedSemaphorePermit;

use super::stats::Counters;
use crate::{ByteStream, ErrorKind, Result, StorageError};

/// Chunk size for streaming files and slicing byte payloads.
const CHUNK: usize = 64 * 1024;

/// What to upload in one request; cheap to clone so that a request can be sent again.
#[derive(Debug, Clone)]
pub(crate) enum RequestBody {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`: a whole file, or one segment of a large object.
    File {
        path: Arc<PathBuf>,
        offset: u64,
        len: u64,
    },
}

impl RequestBody {
    /// The `Content-Length` of this body.
    pub(crate) fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(bytes) => bytes.len() as u64,
            RequestBody::File { len, .. } => *len,
        }
    }

    /// Opens the body for one attempt. Every chunk the connection takes counts as `progress`
    /// and into the `bytes_sent` counter.
    pub(crate) async fn open(
        &self,
        progress: &Progress,
        counters: &Arc<Counters>,
    ) -> Result<Option<reqwest::Body>> {
        let chunks: futures::stream::BoxStream<'static, std::result::Result<Bytes, FileReadError>> =
            match self {
                RequestBody::Empty => return Ok(None),
                RequestBody::Bytes(bytes) => {
                    let bytes = bytes.clone();
                    let count = bytes.len().div_ceil(CHUNK);
                    futures::stream::iter((0..count).map(move |i| {
                        let end = ((i + 1) * CHUNK).min(bytes.len());
                        Ok(bytes.slice(i * CHUNK..end))
                    }))
                    .boxed()
                }
                RequestBody::File { path, offset, len } => {
                    file_chunks(path.clone(), *offset, *len).await?.boxed()
                }
            };
        let on_chunk = progress.clone();
        let on_end = progress.clone();
        let counters = counters.clone();
        let tracked = chunks
            .inspect_ok(move |chunk| {
                on_chunk.touch();
                counters.sent(chunk.len() as u64);
            })
            // Touch once more when the body is exhausted, so that the wait for the answer gets
            // a full `http_timeout`.
            .chain(futures::stream::once(async move {
                on_end.touch();
                Ok(Bytes::new())
            }))
            .try_filter(|chunk| futures::future::ready(!chunk.is_empty()));
        Ok(Some(reqwest::Body::wrap_stream(tracked)))
    }
}

/// Reading the file of a `PutPayload::File` failed, or it changed size during the upload.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct FileReadError {
    pub(crate) message: String,
    #[source]
    pub(crate) source: Option<std::io::Error>,
}

/// The size of the file at `path`, for deciding how to upload it.
pub(crate) async fn file_size(path: &Path) -> Result<u64> {
    let meta = tokio::fs::metadata(path).await.map_err(|e| {
        StorageError::with_source(ErrorKind::Io, format!("cannot read {}", path.display()), e)
    })?;
    Ok(meta.len())
}

async fn file_chunks(
    path: Arc<PathBuf>,
    offset: u64,
    len: u64,
) -> Result<impl Stream<Item = std::result::Result<Bytes, FileReadError>> + Send + 'static> {
    let mut file = tokio::fs::File::open(path.as_path()).await.map_err(|e| {
        StorageError::with_source(ErrorKind::Io, format!("cannot open {}", path.display()), e)
    })?;
    if offset > 0 {
        file.seek(SeekFrom::Start(offset)).await.map_err(|e| {
            StorageError::with_source(
                ErrorKind::Io,
                format!("cannot seek to byte {offset} of {}", path.display()),
                e,
            )
        })?;
    }
    let reader = file.take(len);
    let state = (reader, 0u64, false);
    Ok(futures::stream::unfold(
        state,
        move |(mut reader, read, done)| {
            let path = path.clone();
            async move {
                if done {
                    return None;
                }
                let mut buf = vec![0u8; CHUNK.min((len - read).max(1) as usize)];
                match reader.read(&mut buf).await {
                    Ok(0) if read < len => Some((
                        Err(FileReadError {
                            message: format!(
                                "{} ended after {} of the expected {len} bytes from byte {offset}: \
                             was it changed during the upload?",
                                path.display(),
                                read
                            ),
                            source: None,
                        }),
                        (reader, read, true),
                    )),
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), (reader, read + n as u64, false)))
                    }
                    Err(e) => Some((
                        Err(FileReadError {
                            message: format!("cannot read {}", path.display()),
                            source: Some(e),
                        }),
                        (reader, read, true),
                    )),
                }
            }
        },
    ))
}

/// When a request last made progress; shared between the body stream and the watchdog.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Progress {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// Runs `fut` until it completes or `progress` shows no activity for `timeout`; `None` then.
pub(crate) async fn until_idle<F: Future>(
    fut: F,
    progress: &Progress,
    timeout: Duration,
) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        let idle = progress.idle();
        if idle >= timeout {
            return None;
        }
        tokio::select! {
            output = &mut fut => return Some(output),
            () = tokio::time::sleep(timeout - idle) => {}
        }
    }
}

/// A response body as a [`ByteStream`] that fails when no bytes arrive for `idle`, counts bytes
/// received, and holds the request's connection permit until it ends or is dropped.
pub(crate) fn response_stream(
    response: reqwest::Response,
    permit: OwnedSemaphorePermit,
    idle: Duration,
    counters: Arc<Counters>,
    what: String,
) -> ByteStream {
    struct State {
        inner: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        permit: Option<OwnedSemaphorePermit>,
        read: u64,
    }
    let state = State {
        inner: response.bytes_stream().boxed(),
        permit: Some(permit),
        read: 0,
    };
    futures::stream::unfold(state, move |mut state| {
        let counters = counters.clone();
        let what = what.clone();
        async move {
            state.permit.as_ref()?;
            match tokio::time::timeout(idle, state.inner.next()).await {
                Ok(Some(Ok(chunk))) => {
                    state.read += chunk.len() as u64;
                    counters.received(chunk.len() as u64);
                    Some((Ok(chunk), state))
                }
                Ok(None) => None,
                Ok(Some(Err(e))) => {
                    let read = state.read;
                    state.permit = None;
                    let err = StorageError::with_source(
                        ErrorKind::Unavailable,
                        format!("reading {what} from Swift failed after {read} bytes"),
                        e,
                    );
                    Some((Err(err), state))
                }
                Err(_) => {
                    let read = state.read;
                    state.permit = None;
                    let err = StorageError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "reading {what} from Swift stalled: no data for {idle:?} after \
                             {read} bytes (http_timeout)"
                        ),
                    );
                    Some((Err(err), state))
                }
            }
        }
    })
    .boxed()
}

/// Reads a whole (small) response body with the same idle timeout, e.g. a listing page.
pub(crate) async fn read_all(
    response: reqwest::Response,
    permit: OwnedSemaphorePermit,
    idle: Duration,
    counters: Arc<Counters>,
    what: String,
) -> Result<Bytes> {
    let chunks: Vec<Bytes> = response_stream(response, permit, idle, counters, what)
        .try_collect()
        .await?;
    Ok(match chunks.len() {
        1 => chunks.into_iter().next().expect("holds because len is 1"),
        _ => Bytes::from(chunks.concat()),
    })
}
