//! A 100 MiB object goes up from a file and comes back as a stream with the process's heap
//! staying flat: a counting global allocator records the peak of live heap bytes during each
//! transfer. Runs on the local backend, and on a real Swift when `SWIFTGIT_TEST_CONFIG` is set
//! (where 100 MiB is also larger than the test cluster's max object size, so it is an SLO).
//! The cases run one after the other in one test so that their allocations do not mix.

use std::io::{Read, Write};
use std::sync::Arc;

use futures::StreamExt;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_storage::{PutMode, PutPayload, Storage};
use swiftgit_test_support::counting_alloc::CountingAllocator;
use swiftgit_test_support::swift_test_config;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

const SIZE: usize = 100 << 20;
/// Peak heap growth allowed during one transfer: far below the object's size.
const BOUND: usize = 24 << 20;

fn block(i: usize) -> Vec<u8> {
    (0..1 << 20)
        .map(|j| ((i * 131 + j * 7) % 251) as u8)
        .collect()
}

async fn stream_100_mib(label: &str, storage: Arc<dyn Storage>) {
    let container = format!("streaming-{:08x}", rand::random::<u32>());
    storage.create_container(&container).await.unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for i in 0..SIZE >> 20 {
        file.write_all(&block(i)).unwrap();
    }
    file.flush().unwrap();

    let base = ALLOCATOR.reset_peak();
    let meta = storage
        .put(
            &container,
            "big",
            PutPayload::File(file.path().into()),
            PutMode::Create,
        )
        .await
        .unwrap();
    let put_peak = ALLOCATOR.peak() - base;
    assert_eq!(meta.size, SIZE as u64);

    let base = ALLOCATOR.reset_peak();
    let mut body = storage.get(&container, "big").await.unwrap().body;
    let mut expected = std::fs::File::open(file.path()).unwrap();
    let mut compared = 0usize;
    let mut want = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        want.resize(chunk.len(), 0);
        expected.read_exact(&mut want).unwrap();
        assert!(chunk[..] == want[..], "bytes differ at offset {compared}");
        compared += chunk.len();
    }
    drop(body);
    let get_peak = ALLOCATOR.peak() - base;
    assert_eq!(compared, SIZE);

    eprintln!(
        "{label}: 100 MiB streamed; peak heap growth: upload {:.1} MiB, download {:.1} MiB",
        put_peak as f64 / 1048576.0,
        get_peak as f64 / 1048576.0
    );
    assert!(
        put_peak < BOUND,
        "{label}: upload grew the heap by {put_peak} bytes"
    );
    assert!(
        get_peak < BOUND,
        "{label}: download grew the heap by {get_peak} bytes"
    );
    storage.delete_container(&container).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_object_streams_with_flat_memory() {
    let tmp = tempfile::tempdir().unwrap();
    stream_100_mib("local", Arc::new(LocalStorage::open(tmp.path()).unwrap())).await;

    let Some(swift) = swift_test_config() else {
        eprintln!("swift: skipped (SWIFTGIT_TEST_CONFIG is not set)");
        return;
    };
    let storage = SwiftStorage::connect(&swift).await.unwrap();
    stream_100_mib("swift", Arc::new(storage)).await;
}
