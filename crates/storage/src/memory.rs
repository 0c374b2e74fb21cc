//! An in-memory storage for unit tests. Every operation is atomic under one mutex.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncReadExt;

use crate::{
    ErrorKind, GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage, StorageError,
    clip_range,
};

type Containers = BTreeMap<String, BTreeMap<String, Bytes>>;

#[derive(Debug, Default)]
pub struct MemoryStorage {
    containers: Mutex<Containers>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Containers) -> T) -> T {
        let mut guard = self
            .containers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    fn object(&self, container: &str, name: &str) -> Result<Bytes> {
        self.with(|all| {
            all.get(container)
                .ok_or_else(|| StorageError::container_not_found(container))?
                .get(name)
                .cloned()
                .ok_or_else(|| StorageError::not_found(container, name))
        })
    }
}

async fn read_payload(payload: PutPayload) -> Result<Bytes> {
    match payload {
        PutPayload::Bytes(bytes) => Ok(bytes),
        PutPayload::File(path) => {
            let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
                StorageError::with_source(
                    ErrorKind::Io,
                    format!("cannot open {}", path.display()),
                    e,
                )
            })?;
            let mut data = Vec::new();
            file.read_to_end(&mut data).await.map_err(|e| {
                StorageError::with_source(
                    ErrorKind::Io,
                    format!("cannot read {}", path.display()),
                    e,
                )
            })?;
            Ok(Bytes::from(data))
        }
    }
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    async fn create_container(&self, container: &str) -> Result<bool> {
        Ok(self.with(|all| {
            if all.contains_key(container) {
                false
            } else {
                all.insert(container.to_string(), BTreeMap::new());
                true
            }
        }))
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        Ok(self.with(|all| all.contains_key(container)))
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        self.with(|all| {
            all.remove(container)
                .map(|_| ())
                .ok_or_else(|| StorageError::container_not_found(container))
        })
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        Ok(self.with(|all| all.keys().cloned().collect()))
    }

    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let data = read_payload(payload).await?;
        let size = data.len() as u64;
        self.with(|all| {
            let objects = all
                .get_mut(container)
                .ok_or_else(|| StorageError::container_not_found(container))?;
            if mode == PutMode::Create && objects.contains_key(name) {
                return Err(StorageError::already_exists(container, name));
            }
            objects.insert(name.to_string(), data);
            Ok(ObjectMeta {
                name: name.to_string(),
                size,
            })
        })
    }

    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let data = self.object(container, name)?;
        Ok(GetResult {
            meta: ObjectMeta {
                name: name.to_string(),
                size: data.len() as u64,
            },
            body: futures::stream::once(async move { Ok(data) }).boxed(),
        })
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let data = self.object(container, name)?;
        let range = clip_range(range, data.len() as u64, container, name)?;
        Ok(data.slice(range.start as usize..range.end as usize))
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        let data = self.object(container, name)?;
        Ok(ObjectMeta {
            name: name.to_string(),
            size: data.len() as u64,
        })
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        self.with(|all| {
            all.get_mut(container)
                .ok_or_else(|| StorageError::container_not_found(container))?
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| StorageError::not_found(container, name))
        })
    }

    /// Atomic here: every name goes under one lock.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        if names.is_empty() {
            return Ok(0);
        }
        self.with(|all| {
            let objects = all
                .get_mut(container)
                .ok_or_else(|| StorageError::container_not_found(container))?;
            Ok(names
                .iter()
                .filter(|name| objects.remove(name.as_str()).is_some())
                .count() as u64)
        })
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.with(|all| {
            let objects = all
                .get(container)
                .ok_or_else(|| StorageError::container_not_found(container))?;
            Ok(objects
                .range(prefix.to_string()..)
                .take_while(|(name, _)| name.starts_with(prefix))
                .map(|(name, data)| ObjectMeta {
                    name: name.clone(),
                    size: data.len() as u64,
                })
                .collect())
        })
    }

    /// A backend: nothing in front of it to keep a copy.
    async fn offer_copy(&self, _container: &str, _name: &str, _bytes: Bytes) {}
}
