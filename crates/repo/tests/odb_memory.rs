//! A 200 MiB pack of incompressible blobs (with some deltas against multi-MiB bases) is
//! ingested into local storage with the heap staying far below the pack's size. A counting
//! global allocator records the peak of live heap bytes during ingest; the process's RSS
//! high-water mark is reset before and read after. One test in this binary, so nothing else
//! allocates meanwhile. Prints the figures the lead asked for.

mod common;
mod odb_support;

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use odb_support::*;
use rand::{Rng, RngCore, SeedableRng};
use swiftgit_repo::odb::{IngestLimits, ObjectDb};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_test_support::counting_alloc::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

const PACK_BYTES: u64 = 200 << 20;
/// Peak heap growth allowed during ingest: the largest object (4 MiB) a few times over plus
/// buffers, far below the pack.
const BOUND: usize = 48 << 20;
const MIB: f64 = 1048576.0;

/// Writes a pack of random blobs (256 KiB to 4 MiB; every tenth followed by a delta that
/// appends to it) until it holds `PACK_BYTES`. Returns the pack's path and its object count.
fn write_pack(dir: &std::path::Path) -> (std::path::PathBuf, u32) {
    use std::io::{Read, Seek, SeekFrom};
    let path = dir.join("big.pack");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path);
    let mut out = BufWriter::new(file.unwrap());
    out.write_all(b"PACK\0\0\0\x02\0\0\0\0").unwrap(); // count patched below
    let mut rng = rand::rngs::StdRng::seed_from_u64(200);
    let (mut offset, mut count) = (12u64, 0u32);
    let mut blob = Vec::new();
    while offset < PACK_BYTES {
        let size = rng.random_range(256 << 10..4 << 20);
        blob.resize(size, 0);
        rng.fill_bytes(&mut blob);
        let mut entry = entry_header(BLOB, size as u64);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
        z.write_all(&blob).unwrap();
        entry.extend(z.finish().unwrap());
        let base_offset = offset;
        out.write_all(&entry).unwrap();
        offset += entry.len() as u64;
        count += 1;
        if count % 10 == 1 {
            // Copy the whole base in 64 KiB pieces, then insert 5 bytes.
            let mut delta = varint(size as u64);
            delta.extend(varint(size as u64 + 5));
            let mut at = 0usize;
            while at < size {
                let len = (size - at).min(0xffff);
                delta.push(0x80 | 0x0f | 0x30);
                delta.extend((at as u32).to_le_bytes());
                delta.extend([(len & 0xff) as u8, (len >> 8) as u8]);
                at += len;
            }
            delta.extend([5, b'd', b'e', b'l', b't', b'a']);
            let mut entry = entry_header(6, delta.len() as u64);
            entry.extend(ofs_distance(offset - base_offset));
            entry.extend(deflate(&delta));
            out.write_all(&entry).unwrap();
            offset += entry.len() as u64;
            count += 1;
        }
    }
    let mut file = out.into_inner().unwrap();
    file.seek(SeekFrom::Start(8)).unwrap();
    file.write_all(&count.to_be_bytes()).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    file.write_all(hasher.try_finalize().unwrap().as_slice())
        .unwrap();
    (path, count)
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_pack_ingests_with_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, count) = write_pack(tmp.path());
    let pack_len = std::fs::metadata(&path).unwrap().len();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(tmp.path().join("store")).unwrap());
    storage.create_container("big").await.unwrap();
    let db = ObjectDb::open(Arc::clone(&storage), "big".into(), &[], options())
        .await
        .unwrap();

    // Reset the kernel's RSS high-water mark (Linux: "5" to clear_refs) and the heap peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = rss_mib("VmRSS:");
    let base = ALLOCATOR.reset_peak();
    let started = Instant::now();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let ingested = db
        .ingest(file, &IngestLimits::default(), Arc::new(()))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let heap_peak = ALLOCATOR.peak() - base;
    let rss_peak = rss_mib("VmHWM:");

    assert_eq!(ingested.object_count(), count as usize);
    let stored = storage
        .head("big", &ingested.pack_id().unwrap().object_name("pack"))
        .await
        .unwrap();
    assert_eq!(stored.size, pack_len);

    println!(
        "INGEST MEMORY PEAK for a {:.0} MiB pack ({count} objects, blobs of 0.25-4 MiB, \
         1 in 11 a delta): heap +{:.1} MiB; process RSS high-water {:.1} MiB (was {:.1} MiB \
         before); ingest took {:.2} s to local storage ({} build)",
        pack_len as f64 / MIB,
        heap_peak as f64 / MIB,
        rss_peak,
        rss_before,
        elapsed.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    assert!(
        heap_peak < BOUND,
        "ingest grew the heap by {heap_peak} bytes"
    );

    // The deltas resolve on read too.
    db.add_ingested(&ingested, 0);
    let mut checked = 0;
    for id in ingested.object_ids().take(40) {
        let object = db.find(&id).await.unwrap().unwrap();
        assert_eq!(object_id(BLOB, &object.data), id);
        checked += 1;
    }
    assert_eq!(checked, 40);
}
