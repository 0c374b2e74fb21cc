//! Builds the storage backend a config names, with counters of what it is asked to do and, for
//! the daemon on Swift, a disk cache of pack files in front.

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_storage::Storage;
use swiftgit_storage::counting::{Counting, StorageCounters};
use swiftgit_storage::disk_cache::{DiskCache, DiskCacheMonitor, DiskCacheOptions};
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;

use crate::cache_settings::CacheSettings;
use crate::metrics::StorageMetrics;
use crate::stats_file::Usage;

/// An open backend and the counters its users may read.
pub struct Backend {
    pub storage: Arc<dyn Storage>,
    pub usage: Usage,
    /// `swift` or `local`, as metrics label it.
    pub name: &'static str,
    /// The backend alone, without wrappers: for readiness probes.
    pub bare: Arc<dyn Storage>,
    /// The disk cache's figures, when there is one.
    pub disk_cache: Option<DiskCacheMonitor>,
}

/// The backend, without a disk cache (for one-off commands).
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(open_counted(config, None, None).await?.storage)
}

/// The backend, with a [`Counting`] wrapper right around it: inside the retry wrapper, so
/// that every attempt counts as a request. On Swift, with `cache`, a [`DiskCache`] goes
/// outside the retry wrapper (cache → retry → counting → Swift), so that the counters count
/// only what reaches Swift. With `metrics`, the counting and retry wrappers report each call
/// and retry to it.
pub async fn open_counted(
    config: &Config,
    cache: Option<&CacheSettings>,
    metrics: Option<&StorageMetrics>,
) -> anyhow::Result<Backend> {
    match &config.storage {
        StorageConfig::Local(local) => {
            if cache.is_some() {
                tracing::debug!("a local directory needs no disk cache: [cache] is ignored");
            }
            let storage = LocalStorage::open(&local.path).with_context(|| {
                format!("cannot use {} as the data directory", local.path.display())
            })?;
            // A second handle on the same directory (it holds no state but the path).
            let bare: Arc<dyn Storage> = Arc::new(LocalStorage::open(&local.path)?);
            let mut storage = Counting::new(storage);
            if let Some(metrics) = metrics {
                storage = storage.with_observer(Arc::new(metrics.for_backend("local")));
            }
            let usage = Usage::local(storage.counters());
            Ok(Backend {
                storage: Arc::new(storage),
                usage,
                name: "local",
                bare,
                disk_cache: None,
            })
        }
        StorageConfig::Swift(swift) => {
            let storage = SwiftStorage::connect(swift).await.with_context(|| {
                format!(
                    "cannot connect to Swift at {} as {}",
                    swift.auth_url, swift.user
                )
            })?;
            let mut counted = Counting::new(storage.clone());
            let mut retrying_observer = None;
            if let Some(metrics) = metrics {
                let observer = Arc::new(metrics.for_backend("swift"));
                counted = counted.with_observer(observer.clone());
                retrying_observer = Some(observer);
            }
            let counters: StorageCounters = counted.counters();
            let mut retrying = Retrying::new(counted, RetryPolicy::default());
            if let Some(observer) = retrying_observer {
                retrying = retrying.with_observer(observer);
            }
            let (cached, disk_cache): (Arc<dyn Storage>, _) = match cache {
                Some(cache) => {
                    let cache = open_disk_cache(retrying, cache, storage.storage_url()).await?;
                    let monitor = cache.monitor();
                    (Arc::new(cache), Some(monitor))
                }
                None => (Arc::new(retrying), None),
            };
            Ok(Backend {
                storage: cached,
                usage: Usage::swift(counters, storage.clone()),
                name: "swift",
                bare: Arc::new(storage),
                disk_cache,
            })
        }
    }
}

/// The disk cache of `cluster`'s pack files in front of `inner`; logs where it is and how full.
async fn open_disk_cache<S: Storage + 'static>(
    inner: S,
    settings: &CacheSettings,
    cluster: String,
) -> anyhow::Result<DiskCache<S>> {
    let options = DiskCacheOptions::new(&settings.dir, cluster, settings.budget_bytes);
    let cache = tokio::task::spawn_blocking(move || DiskCache::open(inner, options))
        .await
        .context("the disk cache's startup scan stopped")?;
    if cache.is_active() {
        let stats = cache.stats();
        tracing::info!(
            dir = %cache.dir().display(),
            budget_mib = settings.budget_bytes >> 20,
            files = stats.files,
            stored_mib = stats.bytes >> 20,
            "disk cache of pack files"
        );
    }
    Ok(cache)
}
