//! The proxy's serving side: the accept loop, one hyper HTTP/1.1 connection per client (kept
//! alive between requests), and the forwarding of one request to Swift with the faults in force
//! when it arrived: refused with a 503, or forwarded with its body held back for a while.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Sleep;

use super::ProxyFaults;
use super::rewrite::{remove_hop_by_hop, rewrite_storage_urls};

/// What every connection of one proxy shares.
pub(super) struct Shared {
    /// Where requests go: scheme, host and port only.
    pub(super) upstream: Url,
    /// The proxy's own address, which storage URLs are rewritten to.
    pub(super) proxy: Url,
    pub(super) client: reqwest::Client,
    pub(super) faults: std::sync::Mutex<ProxyFaults>,
    /// Requests sent on to upstream (refused ones are not counted).
    pub(super) forwarded: AtomicU64,
}

impl Shared {
    fn faults(&self) -> ProxyFaults {
        self.faults
            .lock()
            .expect("holds because nothing panics while holding the faults lock")
            .clone()
    }
}

/// Why a request got a 502 instead of Swift's answer; the message is the response body.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("swift proxy: {method} {url} got no response from upstream")]
    Upstream {
        method: reqwest::Method,
        url: Url,
        source: reqwest::Error,
    },
}

/// Accepts connections on `listener` and serves each on its own task until `shutdown` fires
/// (or its sender is dropped); the connections still open are dropped with the runtime.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection reset before it was accepted, or descriptors running out for a
                // moment: neither stops the proxy.
                Err(_) => continue,
            },
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(answer(&shared, request).await) }
            });
            // An error here is a client that went away or spoke bad HTTP; its connection
            // ends and nothing else is affected.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Swift's response to `request` as seen through the faults in force now, or the proxy's own
/// 503 (refusing) or 502 (Swift unreachable).
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<reqwest::Body> {
    let faults = shared.faults();
    if faults.refuse {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "swift proxy: refusing every request (ProxyFaults::refuse)".into(),
        );
    }
    forward(shared, request, faults.body_delay())
        .await
        .unwrap_or_else(|e| plain(StatusCode::BAD_GATEWAY, with_causes(&e)))
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    body_delay: Duration,
) -> Result<Response<reqwest::Body>, ForwardError> {
    let (parts, body) = request.into_parts();
    // Path and query are set on a copy of the upstream URL rather than joined to it, so that a
    // target such as `//elsewhere/x` stays a path on upstream.
    let mut url = shared.upstream.clone();
    url.set_path(parts.uri.path());
    url.set_query(parts.uri.query());
    let mut headers = parts.headers;
    remove_hop_by_hop(&mut headers);
    headers.remove(hyper::header::HOST);

    let mut upstream_request = reqwest::Request::new(parts.method.clone(), url.clone());
    *upstream_request.headers_mut() = headers;
    if !body.is_end_stream() {
        *upstream_request.body_mut() =
            Some(reqwest::Body::wrap(DelayedBody::new(body, body_delay)));
    }
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    let upstream_response = shared
        .client
        .execute(upstream_request)
        .await
        .map_err(|source| ForwardError::Upstream {
            method: parts.method,
            url,
            source,
        })?;

    let mut response: Response<reqwest::Body> = upstream_response.into();
    remove_hop_by_hop(response.headers_mut());
    rewrite_storage_urls(response.headers_mut(), &shared.upstream, &shared.proxy);
    Ok(response)
}

/// `error`'s message followed by those of its sources, which say why (refused, reset, …).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    message
}

fn plain(status: StatusCode, message: String) -> Response<reqwest::Body> {
    let mut response = Response::new(reqwest::Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A request body that holds its first non-empty data frame back for `delay` before passing it
/// on, then streams the rest as it comes: a link that is slow to start moving the bytes. A body
/// that turns out to be empty is never delayed.
struct DelayedBody {
    inner: Incoming,
    /// The delay still to be served; `None` once served, or when there is none.
    delay: Option<Duration>,
    /// The first data frame and the timer it waits on.
    held: Option<(Frame<Bytes>, Pin<Box<Sleep>>)>,
}

impl DelayedBody {
    fn new(inner: Incoming, delay: Duration) -> DelayedBody {
        DelayedBody {
            inner,
            delay: Some(delay).filter(|d| !d.is_zero()),
            held: None,
        }
    }
}

impl Body for DelayedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some((_, timer)) = &mut this.held {
            ready!(timer.as_mut().poll(cx));
            let (frame, _) = this
                .held
                .take()
                .expect("holds because it was matched just above");
            return Poll::Ready(Some(Ok(frame)));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let Some(Ok(frame)) = frame else {
            return Poll::Ready(frame);
        };
        let has_bytes = frame.data_ref().is_some_and(|data| !data.is_empty());
        match this.delay.take_if(|_| has_bytes) {
            None => Poll::Ready(Some(Ok(frame))),
            Some(delay) => {
                this.held = Some((frame, Box::pin(tokio::time::sleep(delay))));
                // Polls the new timer, so that the task is woken when it fires.
                Pin::new(this).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let held = self
            .held
            .as_ref()
            .and_then(|(frame, _)| frame.data_ref())
            .map_or(0, |data| data.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + held);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}
