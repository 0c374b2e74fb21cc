//! The transports' families: requests, connections, pushes, maintenance runs. Filled by the
//! [`ServerObserver`] the registry of the daemon calls.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use swiftgit_server::observer::{
    MaintenanceResult, PushRecord, Refusal, RequestRecord, ServerObserver, Transport,
};

type Labels<const N: usize> = [(&'static str, &'static str); N];
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// 5 ms to about 80 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// 0.1 s to about 30 min.
fn maintenance_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

/// The families the [`ServerObserver`] fills.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    requests: Family<Labels<3>, Counter>,
    request_seconds: Histograms<2>,
    received_bytes: Family<Labels<2>, Counter>,
    sent_bytes: Family<Labels<2>, Counter>,
    connections: Family<Labels<1>, Counter>,
    connections_open: Family<Labels<1>, Gauge>,
    connections_refused: Family<Labels<2>, Counter>,
    pushes: Family<Labels<2>, Counter>,
    refs_updated: Family<Labels<1>, Counter>,
    objects_received: Family<Labels<1>, Counter>,
    maintenance_runs: Family<Labels<1>, Counter>,
    maintenance_seconds: Histogram,
}

impl ServerMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> ServerMetrics {
        let metrics = ServerMetrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(request_buckets),
            received_bytes: Family::default(),
            sent_bytes: Family::default(),
            connections: Family::default(),
            connections_open: Family::default(),
            connections_refused: Family::default(),
            pushes: Family::default(),
            refs_updated: Family::default(),
            objects_received: Family::default(),
            maintenance_runs: Family::default(),
            maintenance_seconds: maintenance_buckets(),
        };
        let m = metrics.clone();
        registry.register(
            "swiftgit_requests",
            "Requests served, by transport (git, http), service (upload-pack, receive-pack, \
             ls-refs, fetch, info-refs, none) and result (ok or what went wrong)",
            m.requests,
        );
        registry.register(
            "swiftgit_request_duration_seconds",
            "How long requests took, from the connection (git://) or the request (HTTP) to \
             the last byte",
            m.request_seconds,
        );
        registry.register(
            "swiftgit_request_received_bytes",
            "Bytes read from clients (as sent: before gunzipping)",
            m.received_bytes,
        );
        registry.register(
            "swiftgit_request_sent_bytes",
            "Bytes written to clients",
            m.sent_bytes,
        );
        registry.register(
            "swiftgit_connections",
            "Connections accepted",
            m.connections,
        );
        registry.register(
            "swiftgit_connections_open",
            "Connections being served now",
            m.connections_open,
        );
        registry.register(
            "swiftgit_connections_refused",
            "Connections that could not be accepted (accept_error) or ended before any \
             request (tls_handshake)",
            m.connections_refused,
        );
        registry.register(
            "swiftgit_pushes",
            "Pushes, accepted (valid pack, every ref updated) or refused",
            m.pushes,
        );
        registry.register(
            "swiftgit_push_refs_updated",
            "Refs that pushes moved, created or deleted",
            m.refs_updated,
        );
        registry.register(
            "swiftgit_push_objects_received",
            "Objects in the packs of pushes",
            m.objects_received,
        );
        registry.register(
            "swiftgit_maintenance_runs",
            "Background maintenance runs (repack, prune, log compaction) by result (done, \
             busy: another process runs it, failed)",
            m.maintenance_runs,
        );
        registry.register(
            "swiftgit_maintenance_duration_seconds",
            "How long background maintenance runs took",
            m.maintenance_seconds,
        );
        metrics
    }
}

impl ServerObserver for ServerMetrics {
    fn connection_opened(&self, transport: Transport) {
        let labels = [("transport", transport.name())];
        self.connections.get_or_create(&labels).inc();
        self.connections_open.get_or_create(&labels).inc();
    }

    fn connection_closed(&self, transport: Transport) {
        let labels = [("transport", transport.name())];
        self.connections_open.get_or_create(&labels).dec();
    }

    fn connection_refused(&self, transport: Transport, reason: Refusal) {
        let labels = [("transport", transport.name()), ("reason", reason.name())];
        self.connections_refused.get_or_create(&labels).inc();
    }

    fn request(&self, record: &RequestRecord) {
        let (transport, service) = (record.transport.name(), record.service);
        let labels = [("transport", transport), ("service", service)];
        self.requests
            .get_or_create(&[
                ("transport", transport),
                ("service", service),
                ("result", record.result),
            ])
            .inc();
        self.request_seconds
            .get_or_create(&labels)
            .observe(record.duration.as_secs_f64());
        self.received_bytes
            .get_or_create(&labels)
            .inc_by(record.bytes_in);
        self.sent_bytes
            .get_or_create(&labels)
            .inc_by(record.bytes_out);
    }

    fn push(&self, record: &PushRecord) {
        let transport = record.transport.name();
        let result = if record.accepted {
            "accepted"
        } else {
            "refused"
        };
        self.pushes
            .get_or_create(&[("transport", transport), ("result", result)])
            .inc();
        let labels = [("transport", transport)];
        self.refs_updated
            .get_or_create(&labels)
            .inc_by(record.refs_updated);
        self.objects_received
            .get_or_create(&labels)
            .inc_by(record.objects_received);
    }

    fn maintenance(&self, result: MaintenanceResult, duration: Duration) {
        self.maintenance_runs
            .get_or_create(&[("result", result.name())])
            .inc();
        self.maintenance_seconds.observe(duration.as_secs_f64());
    }
}
