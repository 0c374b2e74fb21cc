//! The HTTP side of `--metrics`: `GET /metrics`, `/healthz` and `/readyz` on a listener of
//! their own (HTTP/1.1, hyper), everything else 404. A handful of connections at once: this
//! is for a Prometheus server and a load balancer's probes, not for the public.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Metrics;
use super::readiness::Readiness;

/// Connections served at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 16;
/// Longest wait for a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint answers from.
struct Pages {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// Serves `listener` until `shutdown` completes (connections in flight are then dropped: a
/// scrape is cheap to repeat).
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()>,
) {
    let pages = Arc::new(Pages { metrics, readiness });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => {
                permit.expect("holds because the semaphore is never closed")
            }
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let pages = Arc::clone(&pages);
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let pages = Arc::clone(&pages);
                async move { Ok::<_, Infallible>(pages.answer(request).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Some(HEADER_TIMEOUT))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics: connection ended with an error");
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

impl Pages {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let json = "application/json";
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return response(
                StatusCode::NOT_FOUND,
                json,
                r#"{"error":"not found"}"#.into(),
            );
        }
        match request.uri().path() {
            "/metrics" => response(StatusCode::OK, PROMETHEUS_TEXT, self.metrics.encode()),
            "/healthz" => response(StatusCode::OK, json, r#"{"status":"ok"}"#.into()),
            "/readyz" => {
                let report = self.readiness.check().await;
                let status = if report.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let body = serde_json::to_string(&report)
                    .expect("holds because the report is plain strings and booleans");
                response(status, json, body)
            }
            _ => response(
                StatusCode::NOT_FOUND,
                json,
                r#"{"error":"not found"}"#.into(),
            ),
        }
    }
}
