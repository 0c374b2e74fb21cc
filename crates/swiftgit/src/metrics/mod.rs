//! The daemon's Prometheus metrics and health checks (`swiftgit daemon --metrics ADDR:PORT`,
//! `[metrics] listen`): `GET /metrics` (the Prometheus text format, 0.0.4), `/healthz` (the
//! process serves) and `/readyz` (the storage answers and accepts our credentials, and etcd
//! has a leader when `[coordinator]` is set), on a listener of their own.
//!
//! [`Metrics`] owns the registry and its typed families. The crates that count are handed a
//! small observer, never the registry: the server's transports a [`ServerMetrics`]
//! (`swiftgit_server::observer`), the storage wrappers a [`storage::BackendObserver`]
//! (`swiftgit_storage::observer`). What those crates count anyway in relaxed atomics (payload
//! bytes, Swift requests and authentications, the disk and block caches, etcd transactions) is
//! read at scrape time by [`Scraped`] instead of being counted twice. Labels come from small
//! fixed sets: never a repository, a user or a peer.

mod endpoint;
mod readiness;
mod scraped;
mod server;
mod storage;

pub use endpoint::serve;
pub use readiness::Readiness;
pub use scraped::Scraped;
pub use server::ServerMetrics;
pub use storage::StorageMetrics;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The registry and the families the daemon's parts fill (see the module doc).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub server: ServerMetrics,
    pub storage: StorageMetrics,
}

impl Metrics {
    /// Every family registered, with `swiftgit_build_info{version}` set to 1.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let build_info = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build_info
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "swiftgit_build_info",
            "The running swiftgit's version (always 1)",
            build_info,
        );
        let server = ServerMetrics::register(&mut registry);
        let storage = StorageMetrics::register(&mut registry);
        Metrics {
            registry,
            server,
            storage,
        }
    }

    /// Adds what is read at scrape time.
    pub fn add_scraped(&mut self, scraped: Scraped) {
        self.registry.register_collector(Box::new(scraped));
    }

    /// The page `GET /metrics` answers.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("holds because writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use swiftgit_server::observer::{PushRecord, RequestRecord, ServerObserver, Transport};
    use swiftgit_storage::ErrorKind;
    use swiftgit_storage::observer::{CallKind, StorageObserver};

    use super::*;

    #[test]
    fn observations_become_samples() {
        let metrics = Metrics::new();
        metrics.server.request(&RequestRecord {
            transport: Transport::Git,
            service: "upload-pack",
            result: "ok",
            duration: Duration::from_millis(12),
            bytes_in: 100,
            bytes_out: 2000,
        });
        metrics.server.push(&PushRecord {
            transport: Transport::Http,
            accepted: true,
            refs_updated: 2,
            objects_received: 9,
        });
        let swift = metrics.storage.for_backend("swift");
        swift.call(
            CallKind::Get,
            Err(ErrorKind::NotFound),
            Duration::from_millis(3),
        );
        swift.retry(CallKind::Put);
        let page = metrics.encode();
        let build_info = format!(
            "swiftgit_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        for line in [
            build_info.as_str(),
            "swiftgit_requests_total{transport=\"git\",service=\"upload-pack\",result=\"ok\"} 1",
            "swiftgit_request_sent_bytes_total{transport=\"git\",service=\"upload-pack\"} 2000",
            "swiftgit_request_duration_seconds_count{transport=\"git\",service=\"upload-pack\"} 1",
            "swiftgit_pushes_total{transport=\"http\",result=\"accepted\"} 1",
            "swiftgit_push_refs_updated_total{transport=\"http\"} 2",
            "swiftgit_storage_requests_total{backend=\"swift\",kind=\"get\",status=\"not_found\"} 1",
            "swiftgit_storage_retries_total{backend=\"swift\",kind=\"put\"} 1",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line} missing from\n{page}"
            );
        }
    }
}
