//! Builds the storage backend a config names.

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;

pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    match &config.storage {
        StorageConfig::Local(local) => {
            let storage = LocalStorage::open(&local.path).with_context(|| {
                format!("cannot use {} as the data directory", local.path.display())
            })?;
            Ok(Arc::new(storage))
        }
        StorageConfig::Swift(swift) => {
            let storage = SwiftStorage::connect(swift).await.with_context(|| {
                format!(
                    "cannot connect to Swift at {} as {}",
                    swift.auth_url, swift.user
                )
            })?;
            Ok(Arc::new(Retrying::new(storage, RetryPolicy::default())))
        }
    }
}
