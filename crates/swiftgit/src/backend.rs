//! Builds the storage backend a config names, with counters of what it is asked to do and, for
//! the daemon on Swift, a disk cache of pack files in front.

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_storage::Storage;
use swiftgit_storage::counting::{Counting, StorageCounters};
use swiftgit_storage::disk_cache::{DiskCache, DiskCacheOptions};
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;

use crate::cache_settings::CacheSettings;
use crate::stats_file::Usage;

/// An open backend and the counters its users may read.
pub struct Backend {
    pub storage: Arc<dyn Storage>,
    pub usage: Usage,
}

/// The backend, without a disk cache (for one-off commands).
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(open_counted(config, None).await?.storage)
}

/// The backend, with a [`Counting`] wrapper right around it: inside the retry wrapper, so
/// that every attempt counts as a request. On Swift, with `cache`, a [`DiskCache`] goes
/// outside the retry wrapper (cache → retry → counting → Swift), so that the counters count
/// only what reaches Swift.
pub async fn open_counted(
    config: &Config,
    cache: Option<&CacheSettings>,
) -> anyhow::Result<Backend> {
    match &config.storage {
        StorageConfig::Local(local) => {
            if cache.is_some() {
                tracing::debug!("a local directory needs no disk cache: [cache] is ignored");
            }
            let storage = LocalStorage::open(&local.path).with_context(|| {
                format!("cannot use {} as the data directory", local.path.display())
            })?;
            let storage = Counting::new(storage);
            let usage = Usage::local(storage.counters());
            Ok(Backend {
                storage: Arc::new(storage),
                usage,
            })
        }
        StorageConfig::Swift(swift) => {
            let storage = SwiftStorage::connect(swift).await.with_context(|| {
                format!(
                    "cannot connect to Swift at {} as {}",
                    swift.auth_url, swift.user
                )
            })?;
            let counted = Counting::new(storage.clone());
            let counters: StorageCounters = counted.counters();
            let retrying = Retrying::new(counted, RetryPolicy::default());
            let cached: Arc<dyn Storage> = match cache {
                Some(cache) => {
                    Arc::new(open_disk_cache(retrying, cache, storage.storage_url()).await?)
                }
                None => Arc::new(retrying),
            };
            Ok(Backend {
                storage: cached,
                usage: Usage::swift(counters, storage),
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
