//! The storage families filled as calls happen: requests by backend, kind and status class,
//! their latency, and retries. Filled by the [`StorageObserver`] given to the counting and
//! retry wrappers of the daemon's backend.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use swiftgit_storage::ErrorKind;
use swiftgit_storage::observer::{CallKind, StorageObserver, status_class};

type Labels<const N: usize> = [(&'static str, &'static str); N];

/// 1 ms to about 30 s.
fn storage_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The families the [`StorageObserver`] fills; [`StorageMetrics::for_backend`] gives the
/// observer of one backend (`swift` or `local`).
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    requests: Family<Labels<3>, Counter>,
    request_seconds: Family<Labels<2>, Histogram, fn() -> Histogram>,
    retries: Family<Labels<2>, Counter>,
}

/// [`StorageMetrics`] labelled with one backend.
#[derive(Debug, Clone)]
pub struct BackendObserver {
    backend: &'static str,
    metrics: StorageMetrics,
}

impl StorageMetrics {
    pub fn register(registry: &mut Registry) -> StorageMetrics {
        let metrics = StorageMetrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(storage_buckets),
            retries: Family::default(),
        };
        let m = metrics.clone();
        registry.register(
            "swiftgit_storage_requests",
            "Calls to the storage backend (each retry attempt counts; reads served by the \
             disk cache do not), by backend (swift, local), kind (get, get_range, head, put, \
             delete, delete_many, list, container) and status (success, not_found, conflict, \
             client_error, auth_error, unavailable, error)",
            m.requests,
        );
        registry.register(
            "swiftgit_storage_request_duration_seconds",
            "How long storage calls took (a get until its body starts)",
            m.request_seconds,
        );
        registry.register(
            "swiftgit_storage_retries",
            "Storage calls tried again after a temporary failure",
            m.retries,
        );
        metrics
    }

    /// The observer of backend `backend`.
    pub fn for_backend(&self, backend: &'static str) -> BackendObserver {
        BackendObserver {
            backend,
            metrics: self.clone(),
        }
    }
}

impl StorageObserver for BackendObserver {
    fn call(&self, kind: CallKind, outcome: Result<(), ErrorKind>, elapsed: Duration) {
        let (backend, kind) = (self.backend, kind.name());
        self.metrics
            .requests
            .get_or_create(&[
                ("backend", backend),
                ("kind", kind),
                ("status", status_class(outcome)),
            ])
            .inc();
        self.metrics
            .request_seconds
            .get_or_create(&[("backend", backend), ("kind", kind)])
            .observe(elapsed.as_secs_f64());
    }

    fn retry(&self, kind: CallKind) {
        self.metrics
            .retries
            .get_or_create(&[("backend", self.backend), ("kind", kind.name())])
            .inc();
    }
}
