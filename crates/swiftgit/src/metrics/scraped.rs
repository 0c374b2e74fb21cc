//! Figures read when Prometheus scrapes, from counters the storage, caches and etcd client
//! keep anyway (relaxed atomics): payload bytes of the storage, Swift's HTTP requests and
//! authentications, the disk and block caches, the coordinator's transactions. Nothing is
//! counted twice, and the hot paths pay nothing for the metrics.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use swiftgit_etcd::EtcdClient;
use swiftgit_server::registry::Registry;
use swiftgit_storage::counting::StorageCounters;
use swiftgit_storage::disk_cache::DiskCacheMonitor;
use swiftgit_storage::swift::SwiftStorage;

/// What a scrape reads (see the module doc).
#[derive(Debug)]
pub struct Scraped {
    /// `swift` or `local`.
    pub backend: &'static str,
    pub storage: StorageCounters,
    pub swift: Option<SwiftStorage>,
    pub disk_cache: Option<DiskCacheMonitor>,
    pub registry: Arc<Registry>,
    pub etcd: Option<EtcdClient>,
}

/// One sample: its labels and value.
type Sample = (Vec<(&'static str, &'static str)>, u64);

fn encode(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: &[Sample],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        let sample = family.encode_family(labels)?;
        match metric_type {
            MetricType::Gauge => ConstGauge::new(*value as i64).encode(sample)?,
            _ => ConstCounter::new(*value).encode(sample)?,
        }
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
) -> Result<(), std::fmt::Error> {
    encode(encoder, name, help, MetricType::Counter, samples)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[Sample],
) -> Result<(), std::fmt::Error> {
    encode(encoder, name, help, MetricType::Gauge, samples)
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let backend = vec![("backend", self.backend)];
        let storage = self.storage.snapshot();
        counter(
            e,
            "swiftgit_storage_read_bytes",
            "Payload bytes read from the storage backend (not from the disk cache)",
            &[(backend.clone(), storage.bytes_read)],
        )?;
        counter(
            e,
            "swiftgit_storage_written_bytes",
            "Payload bytes stored by the storage backend",
            &[(backend, storage.bytes_written)],
        )?;
        if let Some(swift) = &self.swift {
            let stats = swift.stats();
            counter(
                e,
                "swiftgit_swift_http_requests",
                "HTTP requests sent to Swift and its auth service (large-object segments, \
                 listing pages and authentications included)",
                &[(vec![], stats.requests)],
            )?;
            counter(
                e,
                "swiftgit_swift_sent_bytes",
                "Request body bytes sent to Swift",
                &[(vec![], stats.bytes_sent)],
            )?;
            counter(
                e,
                "swiftgit_swift_received_bytes",
                "Response body bytes received from Swift",
                &[(vec![], stats.bytes_received)],
            )?;
            counter(
                e,
                "swiftgit_swift_authentications",
                "Authentications with Swift or Keystone: the first, then one per \
                 re-authentication after a 401 (an expired token)",
                &[(vec![], stats.auths)],
            )?;
        }
        if let Some(cache) = &self.disk_cache {
            let (held, activity) = (cache.stats(), cache.activity());
            counter(
                e,
                "swiftgit_disk_cache_hits",
                "Reads of pack files and kept indexes answered by the disk cache",
                &[(vec![], activity.hits)],
            )?;
            counter(
                e,
                "swiftgit_disk_cache_misses",
                "Reads of pack files and kept indexes that went to the storage",
                &[(vec![], activity.misses)],
            )?;
            counter(
                e,
                "swiftgit_disk_cache_hit_bytes",
                "Bytes the disk cache answered",
                &[(vec![], activity.hit_bytes)],
            )?;
            counter(
                e,
                "swiftgit_disk_cache_evictions",
                "Copies the disk cache removed to stay within its budget",
                &[(vec![], activity.evictions)],
            )?;
            gauge(
                e,
                "swiftgit_disk_cache_bytes",
                "Bytes of the copies in the disk cache",
                &[(vec![], held.bytes)],
            )?;
            gauge(
                e,
                "swiftgit_disk_cache_files",
                "Copies in the disk cache",
                &[(vec![], held.files as u64)],
            )?;
            gauge(
                e,
                "swiftgit_disk_cache_capacity_bytes",
                "The disk cache's budget ([cache] disk_mb)",
                &[(vec![], activity.budget_bytes)],
            )?;
        }
        let blocks = self.registry.block_cache_stats();
        counter(
            e,
            "swiftgit_block_cache_hits",
            "Pack block reads answered by the in-memory block cache",
            &[(vec![], blocks.hits)],
        )?;
        counter(
            e,
            "swiftgit_block_cache_misses",
            "Pack block reads that went to the storage",
            &[(vec![], blocks.misses)],
        )?;
        counter(
            e,
            "swiftgit_block_cache_evictions",
            "Blocks the block cache dropped to make room",
            &[(vec![], blocks.evictions)],
        )?;
        gauge(
            e,
            "swiftgit_block_cache_bytes",
            "Bytes held by the block cache",
            &[(vec![], blocks.bytes)],
        )?;
        gauge(
            e,
            "swiftgit_block_cache_capacity_bytes",
            "The block cache's capacity ([swift] cache_length)",
            &[(vec![], blocks.capacity_bytes)],
        )?;
        if let Some(etcd) = &self.etcd {
            let txns = etcd.txn_stats();
            counter(
                e,
                "swiftgit_coordinator_transactions",
                "etcd transactions that write, by result: committed, conflict (a compare \
                 failed: another writer got there first), error (no answer or an error)",
                &[
                    (vec![("result", "committed")], txns.committed),
                    (vec![("result", "conflict")], txns.conflicts),
                    (vec![("result", "error")], txns.errors),
                ],
            )?;
        }
        Ok(())
    }
}
