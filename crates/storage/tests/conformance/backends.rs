//! How each backend under test is built.

use std::future::Future;
use std::sync::Arc;

use swiftgit_storage::Storage;
use swiftgit_storage::counting::Counting;
use swiftgit_storage::disk_cache::{CacheRule, Check, DiskCache, DiskCacheOptions};
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::memory::MemoryStorage;
use swiftgit_storage::swift::SwiftStorage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Local,
    /// The local directory behind the `Counting` wrapper.
    CountingLocal,
    /// Memory behind the disk cache, caching every object (so every read goes through it).
    DiskCachedMemory,
    Swift,
}

/// What a case may rely on about the backend under test.
pub struct Fixture {
    pub storage: Arc<dyn Storage>,
    pub backend: Backend,
    pub container: String,
    /// Objects of this size or more take the backend's large-object path (Swift's SLO).
    pub large_object_size: u64,
    /// The Swift backend itself (a clone sharing its counters), for cases that report how many
    /// requests an operation took.
    pub swift: Option<SwiftStorage>,
    _tmp: Option<tempfile::TempDir>,
}

/// Page size forced on Swift listings and bulk deletes so that a few hundred names page
/// several times.
pub const SWIFT_TEST_PAGE: usize = 100;
/// Objects larger than this go to Swift as static large objects in the suite, so the SLO path
/// runs on a few MiB (the test cluster's own `max_file_size` is 8 MiB).
pub const SWIFT_TEST_LARGE_OBJECT: u64 = 1 << 20;

pub use swiftgit_test_support::swift_test_config;

pub async fn fixture(backend: Backend, case: &str) -> Option<Fixture> {
    let container = format!("conformance-{case}-{:08x}", rand::random::<u32>());
    let mut swift = None;
    let (storage, tmp, large): (Arc<dyn Storage>, _, u64) = match backend {
        Backend::Memory => (Arc::new(MemoryStorage::new()), None, 16 << 20),
        Backend::Local => {
            let tmp = tempfile::tempdir().expect("holds because /tmp is writable");
            let storage = LocalStorage::open(tmp.path()).expect("holds for a fresh temp dir");
            (Arc::new(storage), Some(tmp), 16 << 20)
        }
        Backend::CountingLocal => {
            let tmp = tempfile::tempdir().expect("holds because /tmp is writable");
            let storage = LocalStorage::open(tmp.path()).expect("holds for a fresh temp dir");
            (Arc::new(Counting::new(storage)), Some(tmp), 16 << 20)
        }
        Backend::DiskCachedMemory => {
            let tmp = tempfile::tempdir().expect("holds because /tmp is writable");
            let options = DiskCacheOptions {
                rule: CacheRule::new(|_| Some(Check::Size)),
                download_after: 0,
                ..DiskCacheOptions::new(tmp.path(), "memory", 64 << 20)
            };
            let storage = DiskCache::open(MemoryStorage::new(), options);
            assert!(storage.is_active(), "a fresh temp dir is usable");
            (Arc::new(storage), Some(tmp), 16 << 20)
        }
        Backend::Swift => {
            let Some(config) = swift_test_config() else {
                eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
                return None;
            };
            let storage = SwiftStorage::connect(&config)
                .await
                .unwrap_or_else(|e| panic!("SWIFTGIT_TEST_CONFIG is set but Swift fails: {e}"))
                .with_listing_page_size(SWIFT_TEST_PAGE)
                .with_bulk_delete_page_size(SWIFT_TEST_PAGE)
                .with_large_object_threshold(SWIFT_TEST_LARGE_OBJECT);
            swift = Some(storage.clone());
            (Arc::new(storage), None, SWIFT_TEST_LARGE_OBJECT + 1)
        }
    };
    assert!(
        storage
            .create_container(&container)
            .await
            .expect("create container"),
        "a fresh container name must be new"
    );
    Some(Fixture {
        storage,
        backend,
        container,
        large_object_size: large,
        swift,
        _tmp: tmp,
    })
}

pub async fn run<F, Fut>(backend: Backend, case: &str, body: F)
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(fixture) = fixture(backend, case).await else {
        return;
    };
    let fixture = Arc::new(fixture);
    body(fixture.clone()).await;
    // Cases may delete their container themselves.
    if fixture
        .storage
        .container_exists(&fixture.container)
        .await
        .expect("container_exists")
    {
        fixture
            .storage
            .delete_container(&fixture.container)
            .await
            .expect("delete_container at the end of a case");
    }
}
