//! Builds the storage backend a config names, with counters of what it is asked to do.

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_storage::Storage;
use swiftgit_storage::counting::{Counting, StorageCounters};
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;

use crate::stats_file::Usage;

/// An open backend and the counters its users may read.
pub struct Backend {
    pub storage: Arc<dyn Storage>,
    pub usage: Usage,
}

pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(open_counted(config).await?.storage)
}

/// The backend, with a [`Counting`] wrapper right around it: inside the retry wrapper, so
/// that every attempt counts as a request.
pub async fn open_counted(config: &Config) -> anyhow::Result<Backend> {
    match &config.storage {
        StorageConfig::Local(local) => {
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
            Ok(Backend {
                storage: Arc::new(Retrying::new(counted, RetryPolicy::default())),
                usage: Usage::swift(counters, storage),
            })
        }
    }
}
