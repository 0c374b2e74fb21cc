//! Shared by the repository tests: backends to run a case against, a storage wrapper that counts
//! requests, fake packs and object ids.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use swiftgit_repo::{ObjectId, PackId};
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::memory::MemoryStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_storage::{GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Local,
    Swift,
}

/// A storage to run a case against, and what must live as long as it.
pub struct Fixture {
    pub storage: Arc<dyn Storage>,
    pub backend: Backend,
    pub dir: Option<tempfile::TempDir>,
}

pub use swiftgit_test_support::swift_test_config;

/// Swift as the server will use it: behind [`Retrying`], patient enough to ride out a restart
/// of the development Swift (which its own tests do now and then).
pub async fn swift_storage() -> Option<Arc<dyn Storage>> {
    let config = swift_test_config()?;
    let storage = SwiftStorage::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("SWIFTGIT_TEST_CONFIG is set but Swift is unreachable: {e}"));
    let policy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
    };
    Some(Arc::new(Retrying::new(storage, policy)))
}

/// A fresh storage of `backend`; `None` (after saying so) for Swift without a config.
pub async fn fixture(backend: Backend) -> Option<Fixture> {
    match backend {
        Backend::Memory => Some(Fixture {
            storage: Arc::new(MemoryStorage::new()),
            backend,
            dir: None,
        }),
        Backend::Local => {
            let dir = tempfile::tempdir().expect("holds because /tmp is writable");
            let storage = LocalStorage::open(dir.path()).expect("holds for a fresh temp dir");
            Some(Fixture {
                storage: Arc::new(storage),
                backend,
                dir: Some(dir),
            })
        }
        Backend::Swift => {
            let Some(storage) = swift_storage().await else {
                eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
                return None;
            };
            Some(Fixture {
                storage,
                backend,
                dir: None,
            })
        }
    }
}

/// A repository name no other test uses.
pub fn unique_name(prefix: &str) -> swiftgit_repo::RepoName {
    swiftgit_repo::RepoName::new(&format!("{prefix}-{:016x}", rand::random::<u64>()))
        .expect("holds for a prefix of letters and dashes")
}

/// An object id made from a number (distinct numbers give distinct ids).
pub fn id(n: u64) -> ObjectId {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[19] = 1;
    ObjectId::from_bytes_or_panic(&bytes)
}

/// The number an [`id`] was made from.
pub fn number(id: ObjectId) -> u64 {
    u64::from_be_bytes(
        id.as_slice()[..8]
            .try_into()
            .expect("holds: ids have 20 bytes"),
    )
}

/// Uploads a `.pack` and `.idx` (not real ones: the ref log only checks that they are stored).
pub async fn store_fake_pack(storage: &dyn Storage, container: &str, n: u64) -> PackId {
    let pack = PackId(id(n));
    for ext in ["pack", "idx"] {
        storage
            .put(
                container,
                &pack.object_name(ext),
                Bytes::from(format!("fake {ext} {n}")).into(),
                PutMode::Overwrite,
            )
            .await
            .expect("upload a fake pack");
    }
    pack
}

/// Counts the requests that reach the wrapped storage.
#[derive(Debug)]
pub struct Counting {
    inner: Arc<dyn Storage>,
    requests: AtomicU64,
}

impl Counting {
    pub fn new(inner: Arc<dyn Storage>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            requests: AtomicU64::new(0),
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The requests made by `f`.
    pub async fn count<T>(&self, f: impl std::future::Future<Output = T>) -> (T, u64) {
        let before = self.requests();
        let value = f.await;
        (value, self.requests() - before)
    }

    fn tick(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Storage for Counting {
    async fn create_container(&self, container: &str) -> Result<bool> {
        self.tick();
        self.inner.create_container(container).await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.tick();
        self.inner.container_exists(container).await
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        self.tick();
        self.inner.delete_container(container).await
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        self.tick();
        self.inner.list_containers().await
    }

    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        self.tick();
        self.inner.put(container, name, payload, mode).await
    }

    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        self.tick();
        self.inner.get(container, name).await
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.tick();
        self.inner.get_range(container, name, range).await
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        self.tick();
        self.inner.head(container, name).await
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        self.tick();
        self.inner.delete(container, name).await
    }

    /// One request however many names: what the storage interface was asked, not what a
    /// backend sent for it.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        self.tick();
        self.inner.delete_many(container, names).await
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.tick();
        self.inner.list(container, prefix).await
    }

    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
        self.inner.offer_copy(container, name, bytes).await
    }
}

/// Removes a test's repository (its container), so that runs against a real Swift leave nothing.
/// A few attempts: a writer lease heartbeat may be renewing its object at that moment.
pub async fn remove(storage: &dyn Storage, name: &swiftgit_repo::RepoName) {
    for attempt in 1.. {
        match storage.delete_container(name.as_str()).await {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                eprintln!("removing {name}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("removing {name}: {e}"),
        }
    }
}

/// Runs `case` once per backend (Swift only with `SWIFTGIT_TEST_CONFIG`); cases remove the
/// repositories they make.
#[macro_export]
macro_rules! cases_on_every_backend {
    ($module:ident: $($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $case() {
                let f = $crate::common::fixture($crate::common::Backend::Memory).await.expect("memory");
                $crate::$module::$case(f.storage.clone()).await
            })*
        }
        mod local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $case() {
                let f = $crate::common::fixture($crate::common::Backend::Local).await.expect("local");
                $crate::$module::$case(f.storage.clone()).await
            })*
        }
        mod swift {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $case() {
                let Some(f) = $crate::common::fixture($crate::common::Backend::Swift).await else {
                    return;
                };
                $crate::$module::$case(f.storage.clone()).await
            })*
        }
    };
}
