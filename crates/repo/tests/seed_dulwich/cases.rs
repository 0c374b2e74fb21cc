//! The cases, as functions over `Arc<dyn Storage>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use swiftgit_repo::refs::{log, verify_log};
use swiftgit_repo::{
    Existing, Expected, Head, New, ObjectId, PackId, RefName, RefTransaction, RefUpdate, RepoError,
    RepoName, Repository, seed,
};
use swiftgit_storage::{PutMode, Storage};

use crate::common::{id, remove, unique_name};

/// What git says the layout holds.
struct GitTruth {
    refs: BTreeMap<RefName, ObjectId>,
    peeled: BTreeMap<RefName, ObjectId>,
    packs: BTreeSet<PackId>,
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).expect("git prints object ids")
}

fn read_pairs(path: &Path) -> BTreeMap<RefName, ObjectId> {
    std::fs::read_to_string(path)
        .expect("fixture output")
        .lines()
        .map(|line| {
            let (hex, name) = line.split_once(' ').expect("'<sha> <ref>'");
            (
                RefName::new(name).expect("git ref names are valid"),
                oid(hex),
            )
        })
        .collect()
}

/// Runs the fixture script and uploads its objects into a new container `name`.
async fn upload_layout(storage: &dyn Storage, name: &RepoName) -> GitTruth {
    let out = tempfile::tempdir().expect("temp dir");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-dulwich-layout.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(out.path())
        .status()
        .expect("run make-dulwich-layout.sh (needs bash and git)");
    assert!(status.success(), "make-dulwich-layout.sh failed");
    storage
        .create_container(name.as_str())
        .await
        .expect("create container");
    let manifest = std::fs::read_to_string(out.path().join("MANIFEST")).expect("manifest");
    for line in manifest.lines() {
        let (object, file) = line.split_once('\t').expect("'<object>\\t<file>'");
        let bytes = std::fs::read(out.path().join(file)).expect("layout file");
        storage
            .put(
                name.as_str(),
                object,
                Bytes::from(bytes).into(),
                PutMode::Create,
            )
            .await
            .expect("upload");
    }
    let packs = std::fs::read_to_string(out.path().join("EXPECTED-PACKS"))
        .expect("packs")
        .lines()
        .map(|hex| PackId(oid(hex)))
        .collect();
    GitTruth {
        refs: read_pairs(&out.path().join("EXPECTED-REFS")),
        peeled: read_pairs(&out.path().join("EXPECTED-PEELED")),
        packs,
    }
}

fn master() -> RefName {
    RefName::new("refs/heads/master").expect("valid")
}

pub async fn opens_as_is(storage: Arc<dyn Storage>) {
    let name = unique_name("dulwich");
    let expected = upload_layout(storage.as_ref(), &name).await;
    assert_eq!(
        expected.refs.len(),
        4,
        "the fixture has 2 branches and 2 tags"
    );
    assert_eq!(expected.peeled.len(), 1, "and one annotated tag");
    assert_eq!(expected.packs.len(), 2);

    let repo = Repository::open(storage.clone(), &name)
        .await
        .expect("open a dulwich layout");
    let state = repo.state();
    assert_eq!(state.seq(), 0, "not adopted yet");
    assert_eq!(
        state.refs(),
        &expected.refs,
        "refs from info/refs, '^{{}}' lines skipped"
    );
    assert_eq!(
        state.head(),
        &Head::Symbolic(master()),
        "dulwich's HEAD is always master"
    );
    assert_eq!(state.head_id(), expected.refs.get(&master()).copied());
    assert_eq!(state.packs(), &expected.packs, ".info files are not packs");

    let layout = seed::load(storage.as_ref(), name.as_str())
        .await
        .expect("load")
        .expect("a layout");
    assert_eq!(layout.peeled, expected.peeled, "peeled values kept");
    assert!(layout.packs_without_index.is_empty());

    // Reading again costs one probe of swiftgit's first entry.
    assert_eq!(repo.refresh().await.expect("refresh").seq(), 0);
    match Repository::init(storage.clone(), &name, "master").await {
        Err(RepoError::AlreadyExists {
            found: Existing::DulwichLayout,
            ..
        }) => {}
        other => panic!("init over a dulwich layout: {other:?}"),
    }
    remove(storage.as_ref(), &name).await;
}

pub async fn first_commit_adopts_it(storage: Arc<dyn Storage>) {
    let name = unique_name("adopt");
    let expected = upload_layout(storage.as_ref(), &name).await;
    // An interrupted dulwich upload: a pack without its index is left out.
    let orphan = PackId(id(4242));
    storage
        .put(
            name.as_str(),
            &orphan.object_name("pack"),
            Bytes::from_static(b"PACK").into(),
            PutMode::Create,
        )
        .await
        .expect("put");
    let repo = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert!(!repo.state().packs().contains(&orphan));
    let old = expected.refs[&master()];
    let done = repo
        .commit(RefTransaction::new().with_update(RefUpdate::update(master(), old, id(1))))
        .await
        .expect("first commit");
    assert_eq!(done.state.seq(), 1, "entry 1 adopts the layout");
    let first = log::fetch_entry(storage.as_ref(), name.as_str(), 1)
        .await
        .expect("read")
        .expect("entry 1");
    let reset = first.reset.expect("entry 1 holds the adopted state");
    assert_eq!(reset.refs, expected.refs);
    assert_eq!(reset.packs, expected.packs);

    let reopened = Repository::open(storage.clone(), &name)
        .await
        .expect("reopen");
    let state = reopened.state();
    assert_eq!(state.seq(), 1);
    let mut refs = expected.refs.clone();
    refs.insert(master(), id(1));
    assert_eq!(state.refs(), &refs);
    assert_eq!(state.packs(), &expected.packs);
    // info/refs is no longer what counts.
    storage
        .put(
            name.as_str(),
            seed::INFO_REFS,
            Bytes::from_static(b"").into(),
            PutMode::Overwrite,
        )
        .await
        .expect("put");
    let again = Repository::open(storage.clone(), &name)
        .await
        .expect("reopen");
    assert_eq!(again.state().refs(), &refs);
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");

    // A second handle still at seq 0 catches up past the adoption before committing.
    let stale_handle_name = unique_name("adopt-race");
    upload_layout(storage.as_ref(), &stale_handle_name).await;
    let a = Repository::open(storage.clone(), &stale_handle_name)
        .await
        .expect("open");
    let b = Repository::open(storage.clone(), &stale_handle_name)
        .await
        .expect("open");
    a.commit(RefTransaction::new().with_update(RefUpdate {
        name: master(),
        expected: Expected::Any,
        new: New::Value(id(2)),
    }))
    .await
    .expect("a adopts");
    let err = b
        .commit(RefTransaction::new().with_update(RefUpdate::update(master(), old, id(3))))
        .await
        .expect_err("b's expectation is stale");
    assert!(err.to_string().contains("refs/heads/master"), "{err}");
    assert_eq!(b.state().seq(), 1);
    remove(storage.as_ref(), &name).await;
    remove(storage.as_ref(), &stale_handle_name).await;
}

pub async fn empty_dulwich_init_opens(storage: Arc<dyn Storage>) {
    // What `swift.py init` leaves: the marker, an empty info/refs, the named files.
    let name = unique_name("dulwich-empty");
    storage
        .create_container(name.as_str())
        .await
        .expect("create");
    for (object, body) in [
        (seed::PACK_MARKER, ""),
        (seed::INFO_REFS, ""),
        ("description", "Unnamed repository"),
        ("info/exclude", ""),
    ] {
        storage
            .put(
                name.as_str(),
                object,
                Bytes::from(body.as_bytes().to_vec()).into(),
                PutMode::Create,
            )
            .await
            .expect("put");
    }
    let repo = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert!(repo.state().refs().is_empty() && repo.state().packs().is_empty());
    assert_eq!(repo.state().head_id(), None);
    remove(storage.as_ref(), &name).await;
}
