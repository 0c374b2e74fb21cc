//! Request and response bodies as byte streams, never whole in memory.
//!
//! A request body becomes an [`AsyncRead`] ([`request_reader`]): hyper's frames are pulled only
//! as the session reads (so a slow session slows the client down), counted, cut off past the
//! configured limit with [`BodyTooLarge`], and gunzipped when the client sent
//! `Content-Encoding: gzip` (as git does for large upload-pack requests). A response body is the
//! read end of a bounded pipe the session writes into ([`pipe_body`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncRead, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

/// The body type of every response.
pub type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// A request body went past the configured limit (answered with 413 when nothing was sent yet).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body is larger than the limit of {limit} bytes")]
pub struct BodyTooLarge {
    pub limit: u64,
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Gzip,
}

/// A whole response body from bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The request body as a reader: counted into `received`, limited to `limit` raw bytes,
/// decoded per `encoding`.
pub fn request_reader(
    body: Incoming,
    limit: u64,
    received: Arc<AtomicU64>,
    encoding: BodyEncoding,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let limited = LimitedStream {
        inner: BodyStream::new(body),
        limit,
        received,
    };
    let reader = StreamReader::new(limited);
    match encoding {
        BodyEncoding::Identity => Box::pin(reader),
        BodyEncoding::Gzip => {
            let mut decoder =
                async_compression::tokio::bufread::GzipDecoder::new(BufReader::new(reader));
            // git's gzip bodies are one member; anything after it is garbage, not more data.
            decoder.multiple_members(false);
            Box::pin(decoder)
        }
    }
}

/// Body frames as a stream of data chunks, counted and cut off past the limit.
struct LimitedStream {
    inner: BodyStream<Incoming>,
    limit: u64,
    received: Arc<AtomicU64>,
}

impl Stream for LimitedStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let frame = match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(std::io::Error::other(error))));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            // Trailers carry no data: skip them.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let total = self
                .received
                .fetch_add(data.len() as u64, Ordering::Relaxed)
                + data.len() as u64;
            if total > self.limit {
                let limit = self.limit;
                return Poll::Ready(Some(Err(std::io::Error::other(BodyTooLarge { limit }))));
            }
            return Poll::Ready(Some(Ok(data)));
        }
    }
}

/// A response body that starts with `first` and continues with what is written into the pipe
/// whose read end is `rest`.
pub fn pipe_body(first: Bytes, rest: tokio::io::DuplexStream) -> ResponseBody {
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(first) });
    let tail = ReaderStream::with_capacity(rest, 64 << 10);
    let frames = futures::StreamExt::map(futures::StreamExt::chain(head, tail), |chunk| {
        chunk.map(Frame::data)
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// Whether `error` (or what it wraps) is a [`BodyTooLarge`].
pub fn body_too_large(error: &(dyn std::error::Error + 'static)) -> Option<BodyTooLarge> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(too_large) = error.downcast_ref::<BodyTooLarge>() {
            return Some(*too_large);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(too_large) = inner.downcast_ref::<BodyTooLarge>()
        {
            return Some(*too_large);
        }
        current = error.source();
    }
    None
}
