//! A process killed with SIGKILL in the middle of a push — while a pack is being ingested and
//! uploaded, or while its ref update is being committed — leaves a repository that opens with the
//! old or the new state, and every pack the state names is complete and readable.
//!
//! The parent re-runs this test binary as a child (`child_push_loop`, ignored unless its
//! environment is set) that pushes in a loop on the local backend: ingest a pack holding one
//! new 2 MiB blob, then commit a transaction adding the pack and pointing a ref at the blob. It
//! prints `acked <seq>` after each acknowledged commit; the parent kills it at a random moment
//! (most land mid-ingest, which takes most of each iteration), reopens and checks.

mod common;
mod odb_support;

use std::sync::Arc;

use odb_support::{BLOB, PackBuilder, ingest, object_id};
use rand::Rng;
use swiftgit_repo::odb::{ObjectDb, OdbOptions};
use swiftgit_repo::refs::sequence::SingleWriter;
use swiftgit_repo::refs::verify_log;
use swiftgit_repo::{
    Expected, New, RefName, RefTransaction, RefUpdate, RepoName, Repository, RepositoryOptions,
};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_test_support::crash::run_child_until_killed;

const DIR_VAR: &str = "SWIFTGIT_INGEST_CRASH_DIR";
const REPO: &str = "ingest-crash";
const ROUNDS: usize = 6;
const BLOB_BYTES: usize = 2 << 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn latest() -> RefName {
    RefName::new("refs/heads/latest").expect("valid ref name")
}

#[test]
#[ignore = "a child process of sigkill_mid_push_leaves_old_or_new_state"]
fn child_push_loop() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    runtime().block_on(async {
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(&dir).expect("open storage"));
        let name = RepoName::new(REPO).expect("valid");
        let options = RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
            checkpoint_interval: 3,
            ..SingleWriter::default()
        }));
        let repo = Repository::open_with(storage.clone(), &name, options)
            .await
            .expect("open");
        let packs: Vec<_> = repo.state().packs().iter().copied().collect();
        let db = ObjectDb::open(storage.clone(), REPO.into(), &packs, OdbOptions::default())
            .await
            .expect("open the object database");
        loop {
            let mut blob = vec![0u8; BLOB_BYTES];
            rand::rng().fill(&mut blob[..]);
            let mut pack = PackBuilder::default();
            pack.object(BLOB, &blob);
            let ingested = ingest(&db, &pack.finish()).await.expect("ingest");
            let pack_id = ingested.pack_id().expect("a non-empty pack is stored");
            let state = repo.state();
            let tx = RefTransaction::new()
                .with_update(RefUpdate {
                    name: latest(),
                    expected: state
                        .get("refs/heads/latest")
                        .map_or(Expected::Missing, Expected::Value),
                    new: New::Value(object_id(BLOB, &blob)),
                })
                .with_pack_added(pack_id);
            let done = repo.commit(tx).await.expect("commit");
            db.add_ingested(&ingested, 0);
            println!("acked {}", done.state.seq());
        }
    });
}

#[test]
fn sigkill_mid_push_leaves_old_or_new_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = runtime();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).expect("open storage"));
    let name = RepoName::new(REPO).expect("valid");
    rt.block_on(Repository::init(storage.clone(), &name, "master"))
        .expect("init");
    let mut seq = 1;
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let acked = run_child_until_killed("child_push_loop", DIR_VAR, dir.path(), 200..900);
        total_acked += acked.len();
        let last_acked = acked.last().copied().unwrap_or(seq);

        let repo = rt
            .block_on(Repository::open(storage.clone(), &name))
            .expect("open after SIGKILL");
        let state = repo.state();
        assert!(
            state.seq() == last_acked || state.seq() == last_acked + 1,
            "round {round}: state at {} but the last acknowledged commit was {last_acked}",
            state.seq()
        );
        let report = rt
            .block_on(verify_log(storage.as_ref(), REPO))
            .expect("every entry parses");
        assert!(report.is_consistent(), "round {round}: {report:?}");
        // Every pack the state names opens, and the ref's blob reads back whole.
        let packs: Vec<_> = state.packs().iter().copied().collect();
        assert_eq!(packs.len() as u64, state.seq() - 1, "one pack per push");
        let db = rt
            .block_on(ObjectDb::open(
                storage.clone(),
                REPO.into(),
                &packs,
                OdbOptions::default(),
            ))
            .unwrap_or_else(|e| panic!("round {round}: a pack the state names is broken: {e}"));
        if let Some(blob_id) = state.get("refs/heads/latest") {
            let object = rt
                .block_on(db.find(&blob_id))
                .expect("read the blob")
                .unwrap_or_else(|| panic!("round {round}: {blob_id} is missing"));
            assert_eq!(object.data.len(), BLOB_BYTES);
        }
        let stored_packs = rt
            .block_on(storage.list(REPO, "objects/pack/"))
            .expect("list")
            .iter()
            .filter(|o| o.name.ends_with(".pack"))
            .count();
        eprintln!(
            "round {round}: {} pushes acknowledged, then killed; reopened at seq {} with {} \
             live packs ({} stored: the rest are unreferenced leftovers of the killed push)",
            acked.len(),
            state.seq(),
            packs.len(),
            stored_packs
        );
        seq = state.seq();
    }
    assert!(
        total_acked >= 1,
        "the children made progress ({total_acked} pushes)"
    );
}
