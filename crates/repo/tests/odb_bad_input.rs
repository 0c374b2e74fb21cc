//! Every kind of bad pack a client can send is refused with its own error, naming where it is
//! bad, and leaves nothing under `objects/` in storage. Random mutations of a valid pack never
//! panic. Each case runs on every backend of `odb_support::backends`.

mod common;
mod odb_support;

use std::sync::Arc;

use odb_support::*;
use swiftgit_repo::odb::{IngestLimits, OdbError, OdbErrorKind};
use swiftgit_storage::Storage;

/// Ingests `pack` into an empty database and returns the error, checking nothing was stored.
async fn refused(storage: &Arc<dyn Storage>, pack: &[u8], limits: &IngestLimits) -> OdbError {
    let (container, db) = empty_db(storage).await;
    let error = match ingest_with(&db, pack, limits).await {
        Ok(ingested) => panic!("accepted a bad pack as {:?}", ingested.pack_id()),
        Err(error) => error,
    };
    assert_eq!(
        stored_objects(storage, &container).await,
        Vec::<String>::new(),
        "{error}"
    );
    assert_ne!(error.kind(), OdbErrorKind::Storage, "{error}");
    eprintln!("  refused: {error}");
    error
}

fn small_valid_pack() -> Vec<u8> {
    let mut pack = PackBuilder::default();
    let base = pack.object(BLOB, b"hello hello hello hello, this is the base blob");
    pack.ofs_delta(base, &append_delta(46, b" and more"));
    pack.object(TREE, b"");
    pack.finish()
}

async fn truncated(storage: Arc<dyn Storage>) {
    let pack = small_valid_pack();
    let limits = IngestLimits::default();
    for cut in [
        0,
        5,
        12,
        13,
        pack.len() / 2,
        pack.len() - 20,
        pack.len() - 1,
    ] {
        let error = refused(&storage, &pack[..cut], &limits).await;
        assert!(
            matches!(error, OdbError::Truncated { .. }),
            "cut at {cut}: {error}"
        );
    }
}

async fn bad_signature_or_version(storage: Arc<dyn Storage>) {
    let limits = IngestLimits::default();
    let mut pack = small_valid_pack();
    pack[..4].copy_from_slice(b"PACX");
    let error = refused(&storage, &fix_trailer(pack), &limits).await;
    assert!(matches!(error, OdbError::BadHeader { .. }), "{error}");
    let mut pack = small_valid_pack();
    pack[7] = 4;
    let error = refused(&storage, &fix_trailer(pack), &limits).await;
    assert!(error.to_string().contains("version 4"), "{error}");
}

async fn object_count_mismatch(storage: Arc<dyn Storage>) {
    let mut pack = PackBuilder::default();
    pack.object(BLOB, b"one");
    pack.object(BLOB, b"two");
    let error = refused(&storage, &pack.finish_claiming(3), &IngestLimits::default()).await;
    assert!(
        matches!(
            error,
            OdbError::ObjectCountMismatch {
                declared: 3,
                found: 2
            }
        ),
        "{error}"
    );
}

async fn checksum_or_data_corrupt(storage: Arc<dyn Storage>) {
    let limits = IngestLimits::default();
    let mut pack = small_valid_pack();
    let last = pack.len() - 1;
    pack[last] ^= 0x40;
    let error = refused(&storage, &pack, &limits).await;
    assert!(
        matches!(error, OdbError::ChecksumMismatch { .. }),
        "{error}"
    );

    // A flipped byte inside a zlib stream, trailer recomputed: zlib's own check catches it.
    let mut pack = small_valid_pack();
    pack[20] ^= 0x01;
    let error = refused(&storage, &fix_trailer(pack), &limits).await;
    assert!(
        matches!(
            error,
            OdbError::CorruptEntry { offset: 12, .. }
                | OdbError::InflatesPastDeclaredSize { offset: 12, .. }
        ),
        "{error}"
    );

    // A blob whose stored bytes are valid zlib of the wrong content: its id changes, so the
    // REF_DELTA naming the real id finds no base.
    let real = b"the real content";
    let mut pack = PackBuilder::default();
    pack.object(BLOB, b"the fake content");
    pack.ref_delta(&object_id(BLOB, real), &append_delta(real.len(), b"!"));
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(
        matches!(error, OdbError::MissingBase { base_id, .. } if base_id == object_id(BLOB, real)),
        "{error}"
    );
}

async fn missing_ref_delta_base(storage: Arc<dyn Storage>) {
    let base = b"a base this repository does not have";
    let mut pack = PackBuilder::default();
    pack.object(BLOB, b"unrelated");
    let offset = pack.ref_delta(&object_id(BLOB, base), &append_delta(base.len(), b"+"));
    let error = refused(&storage, &pack.finish(), &IngestLimits::default()).await;
    match error {
        OdbError::MissingBase {
            offset: at,
            base_id,
        } => {
            assert_eq!((at, base_id), (offset, object_id(BLOB, base)));
        }
        other => panic!("{other}"),
    }
}

async fn delta_refers_to_itself(storage: Arc<dyn Storage>) {
    let limits = IngestLimits::default();
    // OFS_DELTA distance 0: its own offset.
    let mut pack = PackBuilder::default();
    pack.object(BLOB, b"base");
    let offset = pack.bytes.len() as u64;
    let mut entry = entry_header(6, 5);
    entry.push(0); // distance 0
    entry.extend(deflate(&append_delta(4, b"x")));
    pack.raw(&entry);
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(
        matches!(error, OdbError::BadDeltaBase { offset: at, base_offset } if at == offset && base_offset == offset),
        "{error}"
    );

    // OFS_DELTA into the middle of an object.
    let mut pack = PackBuilder::default();
    let base = pack.object(BLOB, b"base");
    pack.ofs_delta(base + 1, &append_delta(4, b"x"));
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(matches!(error, OdbError::BadDeltaBase { .. }), "{error}");

    // Two REF_DELTAs that are each other's base: neither can ever resolve.
    let mut pack = PackBuilder::default();
    let a = object_id(BLOB, b"a");
    let b = object_id(BLOB, b"b");
    pack.ref_delta(&b, &append_delta(1, b"a"));
    pack.ref_delta(&a, &append_delta(1, b"b"));
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(matches!(error, OdbError::MissingBase { .. }), "{error}");
}

/// A chain of `depth` OFS_DELTAs on one blob.
fn chain(depth: usize) -> Vec<u8> {
    let mut pack = PackBuilder::default();
    let mut previous = pack.object(BLOB, b"0");
    for i in 0..depth {
        previous = pack.ofs_delta(previous, &append_delta(1 + i, b"."));
    }
    pack.finish()
}

async fn delta_chain_too_deep(storage: Arc<dyn Storage>) {
    let limits = IngestLimits {
        max_delta_depth: 50,
        ..IngestLimits::default()
    };
    let error = refused(&storage, &chain(51), &limits).await;
    assert!(
        matches!(
            error,
            OdbError::DeltaTooDeep {
                depth: 51,
                limit: 50,
                ..
            }
        ),
        "{error}"
    );

    // The default limit accepts 10 000 (no recursion, so no stack overflow), and a read of
    // the deepest object walks the whole chain.
    let (_, db) = empty_db(&storage).await;
    let pack = chain(10_000);
    let ingested = ingest(&db, &pack).await.unwrap();
    db.add_ingested(&ingested, 0);
    let tip = vec![b'.'; 10_000];
    let mut expected = b"0".to_vec();
    expected.extend_from_slice(&tip);
    let object = db.find(&object_id(BLOB, &expected)).await.unwrap().unwrap();
    assert_eq!(object.data.len(), 10_001);
    let error = refused(&storage, &chain(10_001), &IngestLimits::default()).await;
    assert!(
        matches!(error, OdbError::DeltaTooDeep { depth: 10_001, .. }),
        "{error}"
    );
}

async fn zlib_bomb(storage: Arc<dyn Storage>) {
    let mut pack = PackBuilder::default();
    let mut entry = entry_header(BLOB, 10);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &vec![0u8; 100 << 20]).unwrap();
    entry.extend(z.finish().unwrap());
    let offset = pack.raw(&entry);
    let started = std::time::Instant::now();
    let error = refused(&storage, &pack.finish(), &IngestLimits::default()).await;
    assert!(
        matches!(error, OdbError::InflatesPastDeclaredSize { offset: at, declared: 10 } if at == offset),
        "{error}"
    );
    assert!(
        started.elapsed().as_secs() < 5,
        "stopped early, not after 100 MB"
    );
}

async fn over_the_limits(storage: Arc<dyn Storage>) {
    let pack = small_valid_pack();
    let limits = IngestLimits {
        max_pack_bytes: 50,
        ..IngestLimits::default()
    };
    let error = refused(&storage, &pack, &limits).await;
    assert!(
        matches!(error, OdbError::PackTooLarge { limit: 50 }),
        "{error}"
    );

    let limits = IngestLimits {
        max_object_bytes: 20,
        ..IngestLimits::default()
    };
    let error = refused(&storage, &pack, &limits).await;
    assert!(
        matches!(
            error,
            OdbError::ObjectTooLarge {
                offset: 12,
                size: 46,
                limit: 20
            }
        ),
        "{error}"
    );
}

async fn unparsable_objects(storage: Arc<dyn Storage>) {
    let limits = IngestLimits::default();
    let mut pack = PackBuilder::default();
    pack.object(COMMIT, b"not a commit\n");
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(matches!(error, OdbError::CorruptObject { .. }), "{error}");

    let mut pack = PackBuilder::default();
    pack.object(TREE, b"100644 name-without-id\0abc");
    let error = refused(&storage, &pack.finish(), &limits).await;
    assert!(matches!(error, OdbError::CorruptObject { .. }), "{error}");
}

async fn bad_delta_instructions(storage: Arc<dyn Storage>) {
    let mut pack = PackBuilder::default();
    let base = pack.object(BLOB, b"base");
    // Claims a 9-byte base: the base has 4.
    let offset = pack.ofs_delta(base, &append_delta(9, b"x"));
    let error = refused(&storage, &pack.finish(), &IngestLimits::default()).await;
    assert!(
        matches!(error, OdbError::BadDelta { offset: at, .. } if at == offset),
        "{error}"
    );
}

/// Random byte flips, insertions and cuts of a real pack: always an error, never a panic, and
/// never the "internal" class.
async fn random_mutations(storage: Arc<dyn Storage>, valid: &[u8]) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let (container, db) = empty_db(&storage).await;
    let limits = IngestLimits::default();
    for round in 0..200 {
        let mut pack = valid.to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..pack.len());
            match rng.random_range(0..4) {
                0 => pack[at] ^= 1 << rng.random_range(0..8),
                1 => pack[at] = rng.random(),
                2 => pack.insert(at, rng.random()),
                _ => pack.truncate(at),
            }
        }
        // Half the time make the checksum right, so the mutation reaches the later checks.
        if round % 2 == 0 && pack.len() > 20 {
            pack = fix_trailer(pack);
        }
        match ingest_with(&db, &pack, &limits).await {
            Ok(_) => {} // a mutation that kept the pack valid (e.g. inside a trailer fixed again)
            Err(OdbError::Internal(message)) => panic!("round {round}: internal error {message}"),
            Err(error) => assert_ne!(
                error.kind(),
                OdbErrorKind::Storage,
                "round {round}: {error}"
            ),
        }
    }
    // Only valid packs may have been stored: every stored pack has its idx and meta.
    let stored = stored_objects(&storage, &container).await;
    assert_eq!(stored.len() % 3, 0, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_packs_are_refused() {
    for backend in backends().await {
        eprintln!("backend: {}", backend.name);
        let storage = Arc::clone(&backend.storage);
        truncated(Arc::clone(&storage)).await;
        bad_signature_or_version(Arc::clone(&storage)).await;
        object_count_mismatch(Arc::clone(&storage)).await;
        checksum_or_data_corrupt(Arc::clone(&storage)).await;
        missing_ref_delta_base(Arc::clone(&storage)).await;
        delta_refers_to_itself(Arc::clone(&storage)).await;
        delta_chain_too_deep(Arc::clone(&storage)).await;
        zlib_bomb(Arc::clone(&storage)).await;
        over_the_limits(Arc::clone(&storage)).await;
        unparsable_objects(Arc::clone(&storage)).await;
        bad_delta_instructions(Arc::clone(&storage)).await;
        backend.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_mutations_never_panic() {
    // A small history with deltas (the full fixture's 1 MiB blob would only slow this down).
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"], b"");
    for i in 1..=6 {
        let text: String = (0..i * 40)
            .map(|n| format!("line {n} of version {i}\n"))
            .collect();
        std::fs::write(repo.join("file.txt"), text).unwrap();
        std::fs::write(repo.join(format!("f{i}")), format!("{i}")).unwrap();
        git(repo, &["add", "-A"], b"");
        git(
            repo,
            &[
                "-c",
                "user.name=U",
                "-c",
                "user.email=u@example.com",
                "commit",
                "-q",
                "-m",
                "c",
            ],
            b"",
        );
    }
    let pack = |flags: &[&str]| {
        let mut args = vec!["pack-objects", "--stdout", "--revs", "-q"];
        args.extend_from_slice(flags);
        git(repo, &args, b"main\n")
    };
    let valid = pack(&["--delta-base-offset"]);
    // Also a REF_DELTA flavour of the same history.
    let valid_ref = pack(&[]);
    for backend in backends().await {
        random_mutations(Arc::clone(&backend.storage), &valid).await;
        random_mutations(Arc::clone(&backend.storage), &valid_ref).await;
        backend.cleanup().await;
    }
}
