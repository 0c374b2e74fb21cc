//! The disk cache against the memory backend, with a gate on download bodies so that tests can
//! hold a download part way, and the `Counting` wrapper to see what reached the inner storage.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::sync::Semaphore;

use super::*;
use crate::counting::{Counting, StorageCounters};
use crate::memory::MemoryStorage;

const C: &str = "repo";

/// A memory storage whose `get` bodies come in `CHUNK`-byte pieces, each waiting for a permit
/// of `gate`, and whose next `get` may fail after some bytes.
#[derive(Debug)]
struct Gated {
    inner: MemoryStorage,
    gate: Arc<Semaphore>,
    fail_next_at: Mutex<Option<u64>>,
}

const CHUNK: usize = 64 * 1024;

impl Gated {
    fn open() -> Self {
        Gated {
            inner: MemoryStorage::new(),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            fail_next_at: Mutex::new(None),
        }
    }

    fn closed() -> Self {
        Gated {
            gate: Arc::new(Semaphore::new(0)),
            ..Gated::open()
        }
    }
}

#[async_trait::async_trait]
impl Storage for Gated {
    async fn create_container(&self, container: &str) -> Result<bool> {
        self.inner.create_container(container).await
    }
    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.inner.container_exists(container).await
    }
    async fn delete_container(&self, container: &str) -> Result<()> {
        self.inner.delete_container(container).await
    }
    async fn list_containers(&self) -> Result<Vec<String>> {
        self.inner.list_containers().await
    }
    async fn put(&self, c: &str, n: &str, p: PutPayload, m: PutMode) -> Result<ObjectMeta> {
        self.inner.put(c, n, p, m).await
    }
    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let result = self.inner.get(container, name).await?;
        let meta = result.meta.clone();
        let data = result.bytes().await?;
        let fail_at = self.fail_next_at.lock().expect("unpoisoned").take();
        let gate = Arc::clone(&self.gate);
        let body = futures::stream::unfold(0usize, move |at| {
            let (data, gate) = (data.clone(), Arc::clone(&gate));
            async move {
                if at >= data.len() {
                    return None;
                }
                if fail_at.is_some_and(|fail_at| at as u64 >= fail_at) {
                    let error = StorageError::new(ErrorKind::Unavailable, "injected failure");
                    return Some((Err(error), data.len()));
                }
                gate.acquire().await.expect("never closed").forget();
                let end = (at + CHUNK).min(data.len());
                Some((Ok(data.slice(at..end)), end))
            }
        });
        Ok(GetResult {
            meta,
            body: body.boxed(),
        })
    }
    async fn get_range(&self, c: &str, n: &str, range: Range<u64>) -> Result<Bytes> {
        self.inner.get_range(c, n, range).await
    }
    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        self.inner.head(container, name).await
    }
    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        self.inner.delete(container, name).await
    }
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        self.inner.delete_many(container, names).await
    }
    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.inner.list(container, prefix).await
    }

    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes) {
        self.inner.offer_copy(container, name, bytes).await
    }
}

type Cache = DiskCache<Counting<Gated>>;

/// `len` bytes ending in the SHA-1 of the rest, like a pack; with `corrupt`, a wrong trailer.
fn pack(len: usize, seed: u64, corrupt: bool) -> Bytes {
    let mut data: Vec<u8> = (0..len - 20)
        .map(|i| ((i as u64).wrapping_mul(2654435761) ^ seed.wrapping_mul(97)) as u8)
        .collect();
    let digest = sha1dc::digest(&data).expect("no collision in test data");
    data.extend_from_slice(digest.as_ref());
    if corrupt {
        data[len - 1] ^= 1;
    }
    Bytes::from(data)
}

fn pack_name(n: u32) -> String {
    format!("objects/pack/pack-{n:040}.pack")
}

struct Setup {
    cache: Cache,
    counters: StorageCounters,
    dir: tempfile::TempDir,
}

async fn setup(gated: Gated, budget: u64, objects: &[(&str, Bytes)]) -> Setup {
    let dir = tempfile::tempdir().expect("holds because /tmp is writable");
    let cache = open_cache(gated, options(dir.path(), budget), objects).await;
    let counters = cache.inner().counters();
    Setup {
        cache,
        counters,
        dir,
    }
}

/// Downloads on the first read, so that tests see the download at once.
fn options(dir: &Path, budget: u64) -> DiskCacheOptions {
    DiskCacheOptions {
        download_after: 0,
        ..DiskCacheOptions::new(dir, "http://swift.test/v1/AUTH_test", budget)
    }
}

async fn open_cache(gated: Gated, options: DiskCacheOptions, objects: &[(&str, Bytes)]) -> Cache {
    gated.create_container(C).await.expect("memory");
    for (name, data) in objects {
        let payload = PutPayload::Bytes(data.clone());
        gated
            .put(C, name, payload, PutMode::Create)
            .await
            .expect("memory");
    }
    let cache = DiskCache::open(Counting::new(gated), options);
    assert!(cache.is_active(), "a temp dir is usable");
    cache
}

impl<S: Storage + 'static> DiskCache<S> {
    /// Waits until no download is in progress.
    async fn idle(&self) {
        for _ in 0..5000 {
            if self.shared.lock().downloads.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("downloads still running after 5 s");
    }
}

impl Cache {
    /// Waits until the download of `name` has written `bytes`.
    async fn written_at_least(&self, name: &str, bytes: u64) {
        let key = Layout::key(C, name);
        for _ in 0..5000 {
            let progress = self
                .shared
                .lock()
                .downloads
                .get(&key)
                .map(|d| d.progress.borrow().clone());
            if let Some(Progress::Streaming { written, .. }) = progress
                && written >= bytes
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the download of {name} did not write {bytes} bytes in 5 s");
    }
}

/// What the inner storage answers for `range`, as the cache must: the bytes or the error kind.
async fn oracle(data: &Bytes, range: Range<u64>) -> std::result::Result<Bytes, ErrorKind> {
    let memory = MemoryStorage::new();
    memory.create_container(C).await.expect("memory");
    memory
        .put(C, "o", data.clone().into(), PutMode::Create)
        .await
        .expect("memory");
    memory.get_range(C, "o", range).await.map_err(|e| e.kind())
}

async fn read(
    cache: &Cache,
    name: &str,
    range: Range<u64>,
) -> std::result::Result<Bytes, ErrorKind> {
    cache.get_range(C, name, range).await.map_err(|e| e.kind())
}

fn random_range(size: u64) -> Range<u64> {
    let mut rng = rand::rng();
    let start = rng.random_range(0..size + 64);
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(1..2 * size),
        _ => rng.random_range(1..64 * 1024),
    };
    start..start + len
}

fn files_in(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn git_pack_rule() {
    let rule = CacheRule::GIT_PACKS;
    assert_eq!(rule.check(&pack_name(1)), Some(Check::Sha1Trailer));
    assert!(rule.keeps("objects/pack/pack-1.idx") && rule.keeps("objects/pack/pack-1.meta"));
    for other in [
        &pack_name(1),
        "objects/pack/sub/pack-1.idx",
        "objects/pack/x.idx",
    ] {
        assert!(!rule.keeps(other), "{other}");
    }
    for other in [
        "objects/pack/pack-1.idx",
        "objects/pack/pack-1.meta",
        "objects/pack/sub/x.pack",
        "objects/packs.pack",
        "swiftgit/log/0001",
    ] {
        assert_eq!(rule.check(other), None, "{other}");
    }
}

/// A few reads of a pack (a filtered clone, an incremental fetch) go to the inner storage;
/// the read after `download_after` of them starts the download.
#[tokio::test]
async fn small_reads_pass_through_until_the_threshold() {
    let data = pack(1 << 20, 7, false);
    let name = pack_name(7);
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DiskCacheOptions {
        download_after: 3,
        ..options(dir.path(), 64 << 20)
    };
    let cache = open_cache(Gated::open(), options, &[(&name, data.clone())]).await;
    for start in [0usize, 400, 800] {
        let range = start as u64..start as u64 + 400;
        let got = read(&cache, &name, range).await;
        assert_eq!(got, Ok(data.slice(start..start + 400)));
    }
    let stats = cache.inner().counters().snapshot();
    assert_eq!((stats.gets, stats.range_gets), (0, 3), "{stats:?}");
    assert!(cache.shared.lock().downloads.is_empty());
    let got = read(&cache, &name, 5000..6000).await;
    assert_eq!(got, Ok(data.slice(5000..6000)));
    cache.idle().await;
    let stats = cache.inner().counters().snapshot();
    assert_eq!(
        stats.gets, 1,
        "the fourth read started the download: {stats:?}"
    );
    assert_eq!(cache.stats().files, 1);
    assert_eq!(read(&cache, &name, 0..10).await, Ok(data.slice(0..10)));
    let after = cache.inner().counters().snapshot();
    assert_eq!(after.requests, stats.requests, "read from the copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_share_one_download() {
    let data = pack(4 << 20, 1, false);
    let name = pack_name(1);
    let s = setup(Gated::closed(), 64 << 20, &[(&name, data.clone())]).await;
    let cache = Arc::new(s.cache);
    let mut readers = Vec::new();
    for i in 0..24u64 {
        let (cache, name) = (Arc::clone(&cache), name.clone());
        let range = match i {
            0 => 0..12,
            1 => data.len() as u64 - 20..data.len() as u64 + 100,
            2 => data.len() as u64..data.len() as u64 + 1,
            _ => random_range(data.len() as u64),
        };
        readers.push(tokio::spawn(async move {
            (range.clone(), read(&cache, &name, range).await)
        }));
    }
    // Let the first megabyte through: a reader of bytes already on disk gets them while the
    // download is held.
    cache.inner().inner().gate.add_permits(16);
    let early = tokio::time::timeout(Duration::from_secs(5), read(&cache, &name, 1000..2000))
        .await
        .expect("bytes on disk are served before the download ends");
    assert_eq!(early, Ok(data.slice(1000..2000)));
    assert_eq!(cache.stats().files, 0, "the download is not complete yet");
    cache
        .inner()
        .inner()
        .gate
        .add_permits(Semaphore::MAX_PERMITS / 2);
    for reader in readers {
        let (range, got) = reader.await.expect("reader task");
        assert_eq!(got, oracle(&data, range.clone()).await, "{range:?}");
    }
    cache.idle().await;
    let stats = s.counters.snapshot();
    assert_eq!((stats.gets, stats.range_gets), (1, 0), "{stats:?}");
    assert_eq!(
        cache.stats(),
        DiskCacheStats {
            files: 1,
            bytes: data.len() as u64
        }
    );
    assert_eq!(files_in(cache.dir()), 1, "the copy, no temporary file");
}

#[tokio::test]
async fn a_copy_reads_like_the_inner_storage() {
    let data = pack(300_000, 2, false);
    let name = pack_name(2);
    let s = setup(Gated::open(), 1 << 20, &[(&name, data.clone())]).await;
    assert_eq!(read(&s.cache, &name, 5..10).await, Ok(data.slice(5..10)));
    s.cache.idle().await;
    for _ in 0..300 {
        let range = random_range(data.len() as u64);
        assert_eq!(
            read(&s.cache, &name, range.clone()).await,
            oracle(&data, range.clone()).await,
            "{range:?}"
        );
    }
    let whole = s.cache.get(C, &name).await.expect("get").bytes().await;
    assert_eq!(whole.expect("body"), data);
    let stats = s.counters.snapshot();
    assert_eq!((stats.gets, stats.range_gets), (1, 0), "{stats:?}");
    let activity = s.cache.monitor().activity();
    assert_eq!(
        (activity.hits, activity.misses, activity.evictions),
        (302, 0, 0),
        "the first read followed the download; every read was a hit"
    );
    assert!(activity.hit_bytes >= data.len() as u64, "{activity:?}");
    assert_eq!(
        read(&s.cache, "objects/pack/missing.pack", 0..1).await,
        Err(ErrorKind::NotFound)
    );
    let size = data.len() as u64;
    let backwards = Range { start: 7, end: 3 };
    for range in [backwards, 10..10, size..size, size + 5..size + 5] {
        assert_eq!(
            read(&s.cache, &name, range.clone()).await,
            oracle(&data, range.clone()).await,
            "empty and backwards ranges get the inner storage's answer: {range:?}"
        );
    }
}

#[tokio::test]
async fn least_recently_used_copies_are_evicted() {
    let packs: Vec<(String, Bytes)> = (10..13)
        .map(|n| (pack_name(n), pack(1 << 20, n.into(), false)))
        .collect();
    let objects: Vec<(&str, Bytes)> = packs.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let budget = (5 << 20) / 2;
    let s = setup(Gated::open(), budget, &objects).await;
    let [(a, _), (b, _), (c, _)] = &packs[..] else {
        unreachable!("three packs")
    };
    for name in [a, b, a, c] {
        read(&s.cache, name, 0..100).await.expect("read");
        s.cache.idle().await;
    }
    assert_eq!(s.cache.stats().files, 2);
    assert!(s.cache.stats().bytes <= budget);
    assert_eq!(files_in(s.cache.dir()), 2);
    assert_eq!(s.cache.monitor().activity().evictions, 1, "b went");
    assert_eq!(s.counters.snapshot().gets, 3);
    read(&s.cache, a, 0..100).await.expect("read");
    assert_eq!(
        s.counters.snapshot().gets,
        3,
        "a stayed: it was used after b"
    );
    read(&s.cache, b, 0..100).await.expect("read");
    s.cache.idle().await;
    assert_eq!(
        s.counters.snapshot().gets,
        4,
        "b was evicted and comes back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_download_falls_back_and_is_retried() {
    let data = pack(3 << 20, 3, false);
    let name = pack_name(3);
    let gated = Gated::closed();
    *gated.fail_next_at.lock().expect("unpoisoned") = Some(1 << 20);
    let s = setup(gated, 64 << 20, &[(&name, data.clone())]).await;
    let cache = Arc::new(s.cache);
    let far = (2 << 20)..(2 << 20) + 5000;
    let behind = {
        let (cache, name, far) = (Arc::clone(&cache), name.clone(), far.clone());
        tokio::spawn(async move { read(&cache, &name, far).await })
    };
    let gate = &cache.inner().inner().gate;
    gate.add_permits(8);
    cache.written_at_least(&name, 8 * CHUNK as u64).await;
    assert_eq!(
        read(&cache, &name, 0..10).await,
        Ok(data.slice(0..10)),
        "served from the partial download"
    );
    gate.add_permits(Semaphore::MAX_PERMITS / 2);
    assert_eq!(
        behind.await.expect("reader task"),
        Ok(data.slice(far.start as usize..far.end as usize)),
        "a reader waiting for bytes the download never wrote"
    );
    cache.idle().await;
    assert_eq!(cache.stats().files, 0);
    assert_eq!(files_in(cache.dir()), 0, "the partial file is gone");
    let stats = s.counters.snapshot();
    assert_eq!((stats.gets, stats.range_gets), (1, 1), "{stats:?}");

    assert_eq!(
        read(&cache, &name, far.clone()).await,
        Ok(data.slice(far.start as usize..far.end as usize))
    );
    cache.idle().await;
    assert_eq!(
        s.counters.snapshot().gets,
        2,
        "the next read downloads again"
    );
    assert_eq!(cache.stats().files, 1);
}

#[tokio::test]
async fn a_pack_with_a_wrong_trailer_is_not_kept() {
    let data = pack(200_000, 4, true);
    let name = pack_name(4);
    let s = setup(Gated::open(), 1 << 20, &[(&name, data.clone())]).await;
    assert_eq!(read(&s.cache, &name, 0..100).await, Ok(data.slice(0..100)));
    s.cache.idle().await;
    assert_eq!(s.cache.stats().files, 0);
    assert_eq!(files_in(s.cache.dir()), 0);
    let tail = data.len() as u64 - 30..data.len() as u64;
    let before = s.counters.snapshot();
    assert_eq!(
        read(&s.cache, &name, tail.clone()).await,
        oracle(&data, tail).await
    );
    let delta = s.counters.snapshot().since(&before);
    assert_eq!(
        (delta.gets, delta.range_gets),
        (0, 1),
        "read from storage, not downloaded again: {delta:?}"
    );
}

#[tokio::test]
async fn objects_larger_than_the_budget_pass_through() {
    let data = pack(200_000, 5, false);
    let name = pack_name(5);
    let s = setup(Gated::open(), 100_000, &[(&name, data.clone())]).await;
    for _ in 0..2 {
        assert_eq!(read(&s.cache, &name, 10..20).await, Ok(data.slice(10..20)));
        s.cache.idle().await;
    }
    let stats = s.counters.snapshot();
    assert_eq!((stats.gets, stats.range_gets), (1, 2), "{stats:?}");
    assert_eq!(files_in(s.cache.dir()), 0);
}

#[tokio::test]
async fn other_objects_pass_through() {
    let data = Bytes::from_static(b"an index, say");
    let s = setup(
        Gated::open(),
        1 << 20,
        &[("objects/pack/pack-1.idx", data.clone())],
    )
    .await;
    let got = read(&s.cache, "objects/pack/pack-1.idx", 3..8).await;
    assert_eq!(got, Ok(data.slice(3..8)));
    assert_eq!(s.counters.snapshot().range_gets, 1);
    assert_eq!(s.cache.stats().files, 0);
}

#[tokio::test]
async fn a_restart_keeps_copies_and_drops_stale_downloads() {
    let data = pack(100_000, 6, false);
    let name = pack_name(6);
    let dir = tempfile::tempdir().expect("temp dir");
    let first = open_cache(
        Gated::open(),
        options(dir.path(), 1 << 20),
        &[(&name, data.clone())],
    )
    .await;
    read(&first, &name, 0..1).await.expect("read");
    first.idle().await;
    let cluster_dir = first.dir().to_path_buf();
    drop(first);
    let stale = cluster_dir
        .join(".tmp")
        .join("4000000000-0123456789abcdef.part");
    std::fs::write(&stale, b"left by a process that is gone").expect("write");

    let second = open_cache(
        Gated::open(),
        options(dir.path(), 1 << 20),
        &[(&name, data.clone())],
    )
    .await;
    assert!(!stale.exists(), "a dead process's download is removed");
    assert_eq!(second.stats().files, 1);
    assert_eq!(read(&second, &name, 10..90).await, Ok(data.slice(10..90)));
    assert_eq!(second.inner().counters().snapshot().requests, 0);

    let other = DiskCache::open(
        Counting::new(Gated::open()),
        DiskCacheOptions {
            download_after: 0,
            ..DiskCacheOptions::new(dir.path(), "http://another.cluster/v1/AUTH_test", 1 << 20)
        },
    );
    assert_eq!(other.stats().files, 0, "another cluster shares nothing");
}

/// Waits until the cache holds `files` copies.
async fn holds(cache: &Cache, files: usize) {
    for _ in 0..5000 {
        if cache.stats().files == files {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "the cache holds {} copies, not {files}",
        cache.stats().files
    );
}

async fn get_all(cache: &Cache, name: &str) -> Bytes {
    cache
        .get(C, name)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("the body")
}

/// An index the object database read whole and offered is kept, read from the disk from then
/// on (after a restart too), and dropped when damaged.
#[tokio::test]
async fn offered_indexes_are_kept_and_checked() {
    let idx = pack(30_000, 8, false);
    let name = "objects/pack/pack-8.idx";
    let dir = tempfile::tempdir().expect("temp dir");
    let first = open_cache(
        Gated::open(),
        options(dir.path(), 1 << 20),
        &[(name, idx.clone())],
    )
    .await;
    assert_eq!(get_all(&first, name).await, idx);
    first.offer_copy(C, name, idx.clone()).await;
    holds(&first, 1).await;
    let before = first.inner().counters().snapshot();
    assert_eq!(get_all(&first, name).await, idx);
    assert_eq!(
        first.inner().counters().snapshot().since(&before).requests,
        0
    );
    // An offer whose trailer is wrong is not kept; nor is one of another kind of object.
    first
        .offer_copy(C, "objects/pack/pack-9.idx", pack(1000, 9, true))
        .await;
    first.offer_copy(C, "swiftgit/latest", idx.clone()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(first.stats().files, 1);
    drop(first);

    let second = open_cache(
        Gated::open(),
        options(dir.path(), 1 << 20),
        &[(name, idx.clone())],
    )
    .await;
    assert_eq!(get_all(&second, name).await, idx);
    assert_eq!(
        second.inner().counters().snapshot().requests,
        0,
        "read after a restart"
    );

    let copy = walk(second.dir())
        .into_iter()
        .find(|path| path.to_string_lossy().ends_with(".idx"))
        .expect("the kept copy");
    let mut damaged = std::fs::read(&copy).expect("read the copy");
    damaged[100] ^= 1;
    std::fs::write(&copy, damaged).expect("damage the copy");
    assert_eq!(get_all(&second, name).await, idx, "from the storage");
    assert_eq!(second.inner().counters().snapshot().gets, 1);
    assert_eq!(second.stats().files, 0, "the damaged copy is gone");

    second.offer_copy(C, name, idx.clone()).await;
    holds(&second, 1).await;
    second.delete(C, name).await.expect("delete");
    assert_eq!(second.stats().files, 0, "a deleted object's copy goes too");

    // Deleted while its offered copy is being written: the copy is not put in place.
    second.offer_copy(C, name, idx.clone()).await;
    // Gone from the storage already: the delete only drops what the cache has.
    let _ = second.delete(C, name).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        second.stats().files,
        0,
        "an offer overtaken by a delete is dropped"
    );
    assert_eq!(files_in(second.dir()), 0);
}

/// `delete` and `delete_many` both drop the copies of what they delete.
#[tokio::test]
async fn delete_removes_the_copy() {
    let names = [pack_name(7), pack_name(8), pack_name(9)];
    let objects: Vec<(&str, Bytes)> = (names.iter().zip(7..))
        .map(|(name, seed)| (name.as_str(), pack(50_000, seed, false)))
        .collect();
    let s = setup(Gated::open(), 1 << 20, &objects).await;
    for name in &names {
        read(&s.cache, name, 0..1).await.expect("read");
        s.cache.idle().await;
    }
    assert_eq!(files_in(s.cache.dir()), 3);
    s.cache.delete(C, &names[0]).await.expect("delete");
    assert_eq!(files_in(s.cache.dir()), 2);
    let removed = s.cache.delete_many(C, &names).await.expect("delete_many");
    assert_eq!(removed, 2);
    assert_eq!(files_in(s.cache.dir()), 0);
    for name in &names {
        assert_eq!(read(&s.cache, name, 0..1).await, Err(ErrorKind::NotFound));
    }
    assert_eq!(s.cache.stats().files, 0);
}

#[tokio::test]
async fn a_broken_disk_passes_reads_through() {
    let data = pack(50_000, 8, false);
    let name = pack_name(8);
    let s = setup(Gated::open(), 1 << 20, &[(&name, data.clone())]).await;
    let temp_dir = s.cache.dir().join(".tmp");
    std::fs::remove_dir(&temp_dir).expect("empty");
    std::fs::write(&temp_dir, b"not a directory").expect("write");
    for _ in 0..3 {
        assert_eq!(read(&s.cache, &name, 0..10).await, Ok(data.slice(0..10)));
        s.cache.idle().await;
    }
    let stats = s.counters.snapshot();
    assert_eq!(
        (stats.gets, stats.range_gets),
        (1, 3),
        "paused after one try: {stats:?}"
    );
    assert_eq!(s.cache.stats().files, 0);
    drop(s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_far_ahead_or_behind_a_stall_use_the_inner_storage() {
    let data = pack(20 << 20, 9, false);
    let name = pack_name(9);
    let s = setup(Gated::closed(), 64 << 20, &[(&name, data.clone())]).await;
    let far = (19 << 20)..(19 << 20) + 100;
    let got = tokio::time::timeout(Duration::from_secs(1), read(&s.cache, &name, far.clone()))
        .await
        .expect("a range far ahead does not wait for the download");
    assert_eq!(got, Ok(data.slice(far.start as usize..far.end as usize)));
    let started = Instant::now();
    let near = read(&s.cache, &name, 1000..2000).await;
    assert_eq!(
        near,
        Ok(data.slice(1000..2000)),
        "a stalled download is given up on"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.counters.snapshot().range_gets, 2);
    s.cache
        .inner()
        .inner()
        .gate
        .add_permits(Semaphore::MAX_PERMITS / 2);
    s.cache.idle().await;
    assert_eq!(s.cache.stats().files, 1, "the download still completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_beyond_the_limit_pass_through() {
    let (one, two) = (pack(100_000, 10, false), pack(100_000, 11, false));
    let names = [pack_name(10), pack_name(11)];
    let objects = [
        (names[0].as_str(), one.clone()),
        (names[1].as_str(), two.clone()),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DiskCacheOptions {
        max_downloads: 1,
        ..options(dir.path(), 1 << 20)
    };
    let cache = Arc::new(open_cache(Gated::closed(), options, &objects).await);
    let first = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move { read(&cache, &pack_name(10), 0..10).await })
    };
    while cache.shared.lock().downloads.is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        read(&cache, &pack_name(11), 0..10).await,
        Ok(two.slice(0..10))
    );
    assert_eq!(cache.inner().counters().snapshot().range_gets, 1);
    cache
        .inner()
        .inner()
        .gate
        .add_permits(Semaphore::MAX_PERMITS / 2);
    assert_eq!(first.await.expect("task"), Ok(one.slice(0..10)));
}

#[tokio::test]
async fn an_unusable_directory_passes_everything_through() {
    let data = pack(50_000, 12, false);
    let name = pack_name(12);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let gated = Gated::open();
    gated.create_container(C).await.expect("memory");
    gated
        .put(C, &name, data.clone().into(), PutMode::Create)
        .await
        .expect("memory");
    let cache = DiskCache::open(Counting::new(gated), options(file.path(), 1 << 20));
    assert!(!cache.is_active(), "a regular file is no directory");
    for _ in 0..2 {
        assert_eq!(read(&cache, &name, 0..10).await, Ok(data.slice(0..10)));
    }
    let stats = cache.inner().counters().snapshot();
    assert_eq!((stats.gets, stats.range_gets), (0, 2), "{stats:?}");
}

/// An offer made to the outermost of a stack of wrappers reaches the disk cache inside it,
/// whatever their order (the daemon's order has the cache outermost; this one has it inside
/// the retry and counting wrappers).
#[tokio::test]
async fn offers_pass_through_every_wrapper() {
    use crate::retry::{RetryPolicy, Retrying};
    let idx = pack(30_000, 8, false);
    let name = "objects/pack/pack-8.idx";
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = open_cache(
        Gated::open(),
        options(dir.path(), 1 << 20),
        &[(name, idx.clone())],
    )
    .await;
    let stacked = Counting::new(Retrying::new(cache, RetryPolicy::default()));
    assert_eq!(
        stacked
            .get(C, name)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body"),
        idx
    );
    stacked.offer_copy(C, name, idx.clone()).await;
    let cache = stacked.inner().inner();
    holds(cache, 1).await;
}
