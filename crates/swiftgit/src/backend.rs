//! Builds the storage backend a config names.

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::{Config, StorageConfig};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;

pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    match &config.storage {
        StorageConfig::Local(local) => {
            let storage = LocalStorage::open(&local.path).with_context(|| {
                format!("cannot use {} as the data directory", local.path.display())
            })?;
            Ok(Arc::new(storage))
        }
        StorageConfig::Swift(_swift) => {
            anyhow::bail!("the Swift backend is not built into this version yet")
        }
    }
}
