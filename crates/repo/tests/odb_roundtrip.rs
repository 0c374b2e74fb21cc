//! Packs made by real `git` go in through `ObjectDb::ingest` and every object comes back out
//! identical to what `git cat-file --batch` prints; our `.idx` is byte-identical to what
//! `git index-pack` writes; a completed thin pack passes `git verify-pack`; the `.meta` agrees
//! with `git log`. Each case runs on every backend of `odb_support::backends`.

mod common;
mod odb_support;

use std::collections::HashMap;
use std::sync::Arc;

use gix_hash::ObjectId;
use odb_support::*;
use swiftgit_repo::PackId;
use swiftgit_repo::odb::{
    IngestProgress, IngestStage, MIN_BLOCK_BYTES, ObjectDb, ObjectHeader, OdbOptions,
};
use swiftgit_storage::Storage;

/// Records the last report of each stage.
#[derive(Default)]
struct Progress(std::sync::Mutex<HashMap<String, (u64, u64)>>);

impl Progress {
    fn last(&self, stage: IngestStage) -> (u64, u64) {
        self.0.lock().unwrap()[&format!("{stage:?}")]
    }
}

impl IngestProgress for Progress {
    fn report(&self, stage: IngestStage, done: u64, total: u64) {
        self.0
            .lock()
            .unwrap()
            .insert(format!("{stage:?}"), (done, total));
    }
}

/// Checks that `db` returns every object of `fixture` exactly as git does.
async fn assert_reads_back(db: &ObjectDb, fixture: &Fixture) {
    let objects = fixture.all_objects();
    assert!(
        objects.len() > 300,
        "the fixture has {} objects",
        objects.len()
    );
    for (id, kind, content) in &objects {
        let object = db
            .find(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} ({kind}) is missing"));
        assert_eq!(object.kind.as_bytes(), kind.as_bytes(), "type of {id}");
        assert!(
            object.data[..] == content[..],
            "content of {kind} {id} differs"
        );
        let header = db.find_header(id).await.unwrap().unwrap();
        assert_eq!(
            header,
            ObjectHeader {
                kind: object.kind,
                size: content.len() as u64
            }
        );
        assert!(db.contains(id));
    }
    let absent = ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap();
    assert!(!db.contains(&absent));
    assert_eq!(db.find(&absent).await.unwrap(), None);
}

/// Checks commit and tag metadata against `git log` and `git for-each-ref`.
async fn assert_metadata(db: &ObjectDb, fixture: &Fixture) {
    let log = git_text(&fixture.path(), &["log", "--all", "--format=%H %T %ct %P"]);
    let mut commits = 0;
    for line in log.lines() {
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        let id = ObjectId::from_hex(fields[0].as_bytes()).unwrap();
        let info = db.commit_info(&id).await.unwrap().expect("a commit");
        assert_eq!(info.tree.to_string(), fields[1]);
        assert_eq!(info.time.to_string(), fields[2]);
        let parents: Vec<String> = info.parents.iter().map(ToString::to_string).collect();
        assert_eq!(parents, fields[3..]);
        commits += 1;
    }
    assert!(commits > 40);
    let tags = git_text(
        &fixture.path(),
        &[
            "for-each-ref",
            "--format=%(objectname) %(objecttype) %(object) %(type)",
            "refs/tags",
        ],
    );
    let mut annotated = 0;
    for line in tags.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let id = ObjectId::from_hex(fields[0].as_bytes()).unwrap();
        let info = db.tag_info(&id).await.unwrap();
        if fields[1] == "tag" {
            let info = info.expect("an annotated tag");
            assert_eq!(info.target.to_string(), fields[2]);
            assert_eq!(info.target_kind.as_bytes(), fields[3].as_bytes());
            annotated += 1;
        } else {
            assert_eq!(info, None, "{id} is not a tag");
        }
    }
    assert_eq!(annotated, 2);
}

async fn full_pack_round_trips(storage: Arc<dyn Storage>, fixture: &Fixture) {
    // Without --delta-base-offset git writes REF_DELTAs, with it OFS_DELTAs: test both.
    for flags in [&[][..], &["--delta-base-offset"][..]] {
        let (container, db) = empty_db(&storage).await;
        let pack = fixture.pack("", &[flags, &["--all"]].concat());
        let progress = Arc::new(Progress::default());
        let ingested = db
            .ingest(&pack[..], &Default::default(), progress.clone())
            .await
            .unwrap();
        let count = ingested.object_count() as u64;
        assert_eq!(progress.last(IngestStage::Receiving), (count, count));
        assert_eq!(progress.last(IngestStage::Resolving), (count, count));
        let id = ingested.pack_id().unwrap();
        assert_eq!(
            id.0.as_slice(),
            &pack[pack.len() - 20..],
            "named by its checksum"
        );
        assert_eq!(ingested.missing_references(), &[] as &[ObjectId]);
        assert_eq!(
            ingested.object_count(),
            u32::from_be_bytes(pack[8..12].try_into().unwrap()) as usize
        );
        assert!(ingested.object_ids().all(|id| ingested.contains(&id)));

        // Our .idx is the one git writes.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.pack"), &pack).unwrap();
        git(dir.path(), &["index-pack", "-o", "p.idx", "p.pack"], b"");
        let ours = storage
            .get(&container, &id.object_name("idx"))
            .await
            .unwrap();
        let ours = ours.bytes().await.unwrap();
        assert!(
            ours[..] == std::fs::read(dir.path().join("p.idx")).unwrap()[..],
            "idx differs"
        );
        let stored = storage
            .get(&container, &id.object_name("pack"))
            .await
            .unwrap();
        assert!(
            stored.bytes().await.unwrap()[..] == pack[..],
            "pack stored as received"
        );

        // Not readable before it is added; then every object is.
        let some_id = ingested.object_ids().next().unwrap();
        assert!(!db.contains(&some_id));
        db.add_ingested(&ingested, 0);
        db.add_ingested(&ingested, 0);
        assert_eq!(db.packs().len(), 1);
        assert_reads_back(&db, fixture).await;
        assert_metadata(&db, fixture).await;

        // A second database opens the stored pack from its files alone.
        let reopened = ObjectDb::open(Arc::clone(&storage), container.clone(), &[id], options())
            .await
            .unwrap();
        reopened.add_packs(&[id, id]).await.unwrap();
        assert_eq!(reopened.packs(), [id]);
        assert_reads_back(&reopened, fixture).await;
        assert_metadata(&reopened, fixture).await;

        // Ingesting the same pack again is fine: the files exist with the same content.
        let again = ingest(&db, &pack).await.unwrap();
        assert_eq!(again.pack_id(), Some(id));
    }
}

async fn thin_pack_is_completed(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (container, db) = empty_db(&storage).await;
    let base = ingest(&db, &fixture.pack("base\n", &["--delta-base-offset"]))
        .await
        .unwrap();
    db.add_ingested(&base, 0);

    let thin = fixture.pack("^base\n", &["--all", "--thin", "--delta-base-offset"]);
    let declared = u32::from_be_bytes(thin[8..12].try_into().unwrap()) as usize;
    let ingested = ingest(&db, &thin).await.unwrap();
    assert!(
        ingested.object_count() > declared,
        "the pack was thin: {declared} objects received, {} stored",
        ingested.object_count()
    );
    assert_eq!(ingested.missing_references(), &[] as &[ObjectId]);

    // The completed pack and its index satisfy git.
    let id = ingested.pack_id().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["pack", "idx"] {
        let bytes = storage.get(&container, &id.object_name(ext)).await.unwrap();
        std::fs::write(
            dir.path().join(format!("p.{ext}")),
            bytes.bytes().await.unwrap(),
        )
        .unwrap();
    }
    git(dir.path(), &["verify-pack", "p.idx"], b"");

    db.add_ingested(&ingested, 0);
    assert_reads_back(&db, fixture).await;
    assert_metadata(&db, fixture).await;

    // A thin pack whose bases the repository lacks is refused, naming one.
    let (_, empty) = empty_db(&storage).await;
    let error = ingest(&empty, &thin).await.unwrap_err();
    assert!(
        matches!(error, swiftgit_repo::odb::OdbError::MissingBase { .. }),
        "{error}"
    );
}

async fn missing_references_are_reported(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (_, db) = empty_db(&storage).await;
    // Commits after `base` without the history they build on.
    let pack = fixture.pack("^base\n", &["--all"]);
    let ingested = ingest(&db, &pack).await.unwrap();
    let missing: Vec<String> = ingested
        .missing_references()
        .iter()
        .map(ToString::to_string)
        .collect();
    let base_commit = git_text(&fixture.path(), &["rev-parse", "base"]);
    assert!(
        missing.contains(&base_commit.trim().to_string()),
        "{missing:?}"
    );
    let gitlink = "1111111111111111111111111111111111111111".to_string();
    assert!(
        !missing.contains(&gitlink),
        "submodule commits are not ours to have"
    );
}

async fn empty_pack_stores_nothing(storage: Arc<dyn Storage>) {
    let (container, db) = empty_db(&storage).await;
    let ingested = ingest(&db, &PackBuilder::default().finish()).await.unwrap();
    assert_eq!(ingested.pack_id(), None);
    assert_eq!(ingested.object_count(), 0);
    db.add_ingested(&ingested, 0);
    assert!(db.packs().is_empty());
    assert!(stored_objects(&storage, &container).await.is_empty());
}

/// A client waits for our answer after the pack: ingest must not read past the trailer.
async fn ingest_stops_at_the_trailer(storage: Arc<dyn Storage>, fixture: &Fixture) {
    use tokio::io::AsyncWriteExt;
    let (_, db) = empty_db(&storage).await;
    let pack = fixture.pack("base\n", &["--delta-base-offset"]);
    let (mut client, server) = tokio::io::duplex(4096);
    let writer = tokio::spawn(async move {
        client.write_all(&pack).await.unwrap();
        client // kept open, like a socket whose peer waits
    });
    let ingested = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        db.ingest(server, &Default::default(), Arc::new(())),
    )
    .await
    .expect("ingest returned without the stream ending")
    .unwrap();
    assert!(ingested.object_count() > 0);
    drop(writer.await.unwrap());
}

/// Concurrent sessions read through one database and one cache.
async fn concurrent_reads_share_the_cache(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (_, db) = empty_db(&storage).await;
    let ingested = ingest(&db, &fixture.pack("", &["--all", "--delta-base-offset"]))
        .await
        .unwrap();
    db.add_ingested(&ingested, 0);
    let db = Arc::new(db);
    let expected: HashMap<ObjectId, Vec<u8>> = fixture
        .all_objects()
        .into_iter()
        .map(|(id, _, content)| (id, content))
        .collect();
    let expected = Arc::new(expected);
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let (db, expected) = (Arc::clone(&db), Arc::clone(&expected));
            tokio::spawn(async move {
                for (i, (id, content)) in expected.iter().enumerate() {
                    if i % 4 == task {
                        let object = db.find(id).await.unwrap().unwrap();
                        assert!(object.data[..] == content[..]);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Pack bytes are read once per block: concurrent misses merge, repeats hit the cache.
async fn block_cache_reads_each_block_once(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (container, db) = empty_db(&storage).await;
    let pack = fixture.pack("", &["--all", "--delta-base-offset"]);
    let id = ingest(&db, &pack).await.unwrap().pack_id().unwrap();
    let counting = common::Counting::new(Arc::clone(&storage));
    let options = OdbOptions {
        cache_bytes: 64 << 20,
        chunk_bytes: 0,
        ..OdbOptions::default()
    };
    let open = || async {
        let storage: Arc<dyn Storage> = counting.clone();
        ObjectDb::open(storage, container.clone(), &[id], options.clone())
            .await
            .unwrap()
    };
    let objects = fixture.all_objects();
    let blocks = (pack.len() as u64).div_ceil(MIN_BLOCK_BYTES);

    let db = open().await;
    let ((), first) = counting
        .count(async {
            for (id, _, _) in &objects {
                db.find(id).await.unwrap().unwrap();
            }
        })
        .await;
    assert!(
        first <= blocks,
        "{first} GETs for a pack of {blocks} blocks"
    );
    let ((), again) = counting
        .count(async {
            for (id, _, _) in &objects {
                db.find(id).await.unwrap().unwrap();
            }
        })
        .await;
    assert_eq!(again, 0, "everything was cached");

    // The 1 MiB blob spans many blocks: one reader, then eight at once on a cold cache.
    let big = objects
        .iter()
        .max_by_key(|(_, _, content)| content.len())
        .unwrap()
        .0;
    let cold = open().await;
    let ((), alone) = counting
        .count(async {
            cold.find(&big).await.unwrap().unwrap();
        })
        .await;
    let db = Arc::new(open().await);
    let ((), together) = counting
        .count(async {
            let readers: Vec<_> = (0..8)
                .map(|_| {
                    let db = Arc::clone(&db);
                    tokio::spawn(async move { db.find(&big).await.unwrap().unwrap() })
                })
                .collect();
            for reader in readers {
                reader.await.unwrap();
            }
        })
        .await;
    assert!(alone > 3, "the blob spans blocks ({alone} requests)");
    assert_eq!(
        together, alone,
        "concurrent misses of one block share one GET"
    );
}

/// Sessions and a background prefetch adding the same pack at once download its index and
/// metadata once.
async fn concurrent_loads_download_once(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (container, db) = empty_db(&storage).await;
    let pack = fixture.pack("", &["--all", "--delta-base-offset"]);
    let id = ingest(&db, &pack).await.unwrap().pack_id().unwrap();
    let counting = common::Counting::new(Arc::clone(&storage));
    let counted: Arc<dyn Storage> = counting.clone();
    let db = Arc::new(
        ObjectDb::open(counted, container, &[], options())
            .await
            .unwrap(),
    );
    assert_eq!(db.missing(&[id, id]), [id]);
    let ((), requests) = counting
        .count(async {
            let loaders: Vec<_> = (0..6)
                .map(|_| {
                    let db = Arc::clone(&db);
                    tokio::spawn(async move { db.add_packs(&[id]).await.unwrap() })
                })
                .collect();
            for loader in loaders {
                loader.await.unwrap();
            }
        })
        .await;
    assert_eq!(requests, 2, "one GET of the .idx and one of the .meta");
    assert_eq!(db.packs(), [id]);
    assert!(db.missing(&[id]).is_empty());
    assert_reads_back(&db, fixture).await;
}

/// A small pack just ingested is in the block cache: reading its objects (the next push's
/// thin-pack bases, typically) costs no storage request.
async fn ingested_packs_are_read_from_the_cache(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let counting = common::Counting::new(Arc::clone(&storage));
    let counted: Arc<dyn Storage> = counting.clone();
    let (container, _) = empty_db(&storage).await;
    let pack = fixture.pack("", &["--all", "--delta-base-offset"]);
    let cache = OdbOptions {
        cache_bytes: 64 << 20,
        ..options()
    };
    let db = ObjectDb::open(counted, container, &[], cache)
        .await
        .unwrap();
    let ingested = ingest(&db, &pack).await.unwrap();
    db.add_ingested(&ingested, 0);
    let ((), requests) = counting.count(assert_reads_back(&db, fixture)).await;
    assert_eq!(requests, 0, "objects of the pack just stored are cached");
}

/// `set_packs` forgets the packs a state does not name, unless a push committed since (in a
/// newer state): a session that read its state before then must not drop the pushed pack.
async fn set_packs_follows_the_newest_state(storage: Arc<dyn Storage>, fixture: &Fixture) {
    let (_, db) = empty_db(&storage).await;
    let old = ingest(&db, &fixture.pack("base\n", &["--delta-base-offset"]))
        .await
        .unwrap();
    let old_id = old.pack_id().unwrap();
    db.add_ingested(&old, 1);
    let pushed = ingest(&db, &fixture.pack("^base\n", &["--all", "--thin"]))
        .await
        .unwrap();
    let pushed_id = pushed.pack_id().unwrap();
    db.add_ingested(&pushed, 3);
    db.set_packs(2, &[old_id]).await.unwrap();
    assert_eq!(
        db.packs(),
        [pushed_id, old_id],
        "state 2 does not know the push"
    );
    db.set_packs(3, &[pushed_id]).await.unwrap();
    assert_eq!(db.packs(), [pushed_id], "state 3 retired the old pack");
    db.set_packs(1, &[old_id]).await.unwrap();
    assert_eq!(
        db.packs(),
        [old_id, pushed_id],
        "an old state adds and forgets nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_packs_round_trip() {
    let fixture = Fixture::new();
    for backend in backends().await {
        eprintln!("backend: {}", backend.name);
        full_pack_round_trips(Arc::clone(&backend.storage), &fixture).await;
        thin_pack_is_completed(Arc::clone(&backend.storage), &fixture).await;
        set_packs_follows_the_newest_state(Arc::clone(&backend.storage), &fixture).await;
        missing_references_are_reported(Arc::clone(&backend.storage), &fixture).await;
        empty_pack_stores_nothing(Arc::clone(&backend.storage)).await;
        ingest_stops_at_the_trailer(Arc::clone(&backend.storage), &fixture).await;
        concurrent_reads_share_the_cache(Arc::clone(&backend.storage), &fixture).await;
        block_cache_reads_each_block_once(Arc::clone(&backend.storage), &fixture).await;
        concurrent_loads_download_once(Arc::clone(&backend.storage), &fixture).await;
        ingested_packs_are_read_from_the_cache(Arc::clone(&backend.storage), &fixture).await;
        backend.cleanup().await;
    }
}

#[tokio::test]
async fn opening_a_missing_pack_fails() {
    for backend in backends().await {
        let (container, _) = empty_db(&backend.storage).await;
        let id = PackId(ObjectId::from_hex(b"0123456789012345678901234567890123456789").unwrap());
        let error = ObjectDb::open(Arc::clone(&backend.storage), container, &[id], options())
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            swiftgit_repo::odb::OdbErrorKind::Storage,
            "{error}"
        );
        backend.cleanup().await;
    }
}
