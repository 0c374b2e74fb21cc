//! Creating and opening repositories, and the log objects behind them: checkpoints, the hint,
//! unreadable entries.

use std::sync::Arc;

use bytes::Bytes;
use swiftgit_repo::refs::sequence::SingleWriter;
use swiftgit_repo::refs::{log, verify_log};
use swiftgit_repo::{
    Existing, Expected, Head, LogError, New, RefName, RefTransaction, RefUpdate, RepoError,
    RepoName, Repository, RepositoryOptions,
};
use swiftgit_storage::{PutMode, Storage};

use crate::common::{id, remove, unique_name};

fn r(name: &str) -> RefName {
    RefName::new(name).expect("valid ref name")
}

pub async fn init_then_open(storage: Arc<dyn Storage>) {
    let name = unique_name("init");
    let repo = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let state = repo.state();
    assert_eq!(state.seq(), 1);
    assert_eq!(state.head(), &Head::Symbolic(r("refs/heads/master")));
    assert_eq!(state.head_id(), None, "HEAD starts unborn");
    assert!(state.refs().is_empty() && state.packs().is_empty());

    let opened = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert_eq!(*opened.state(), *state);
    let via_url = RepoName::from_url_path(&format!("/{name}.git")).expect("valid");
    assert_eq!(
        Repository::open(storage.clone(), &via_url)
            .await
            .expect("open")
            .state()
            .seq(),
        1
    );

    match Repository::init(storage.clone(), &name, "master").await {
        Err(RepoError::AlreadyExists {
            found: Existing::Log,
            repo,
        }) => assert_eq!(repo, name.as_str()),
        other => panic!("second init: {other:?}"),
    }
    remove(storage.as_ref(), &name).await;
}

pub async fn init_refuses_bad_branches_and_used_containers(storage: Arc<dyn Storage>) {
    let name = unique_name("used");
    let err = Repository::init(storage.clone(), &name, "a..b")
        .await
        .expect_err("bad branch");
    assert!(matches!(err, RepoError::InvalidBranch { .. }), "{err}");
    assert!(err.to_string().contains("refs/heads/a..b"), "{err}");

    storage
        .create_container(name.as_str())
        .await
        .expect("create");
    let err = Repository::open(storage.clone(), &name)
        .await
        .expect_err("empty container");
    assert!(
        matches!(
            err,
            RepoError::NotFound {
                container_exists: true,
                ..
            }
        ),
        "{err}"
    );
    storage
        .put(
            name.as_str(),
            "notes.txt",
            Bytes::from_static(b"x").into(),
            PutMode::Create,
        )
        .await
        .expect("put");
    match Repository::init(storage.clone(), &name, "main").await {
        Err(RepoError::AlreadyExists {
            found: Existing::Objects { example },
            ..
        }) => {
            assert_eq!(example, "notes.txt")
        }
        other => panic!("init over objects: {other:?}"),
    }
    remove(storage.as_ref(), &name).await;

    let missing = unique_name("missing");
    let err = Repository::open(storage.clone(), &missing)
        .await
        .expect_err("missing");
    assert!(
        matches!(
            err,
            RepoError::NotFound {
                container_exists: false,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("repository {missing} does not exist")
    );

    // An empty container made beforehand (by an operator, say) is fine.
    let main = unique_name("main");
    storage
        .create_container(main.as_str())
        .await
        .expect("create");
    let repo = Repository::init(storage.clone(), &main, "main")
        .await
        .expect("init into an empty container");
    assert_eq!(repo.state().head(), &Head::Symbolic(r("refs/heads/main")));
    remove(storage.as_ref(), &main).await;
}

pub async fn checkpoints_and_hint(storage: Arc<dyn Storage>) {
    let name = unique_name("checkpoints");
    let options = RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
        checkpoint_interval: 8,
        ..SingleWriter::default()
    }));
    let repo = Repository::init_with(storage.clone(), &name, "master", options)
        .await
        .expect("init");
    let counter = r("refs/heads/counter");
    for n in 1..=20u64 {
        repo.commit(RefTransaction::new().with_update(RefUpdate {
            name: counter.clone(),
            expected: Expected::Any,
            new: New::Value(id(n)),
        }))
        .await
        .expect("commit");
    }
    assert_eq!(repo.state().seq(), 21);
    // Checkpoints and the hint are written after the commits answered.
    repo.published().await;
    let hint = log::read_hint(storage.as_ref(), name.as_str())
        .await
        .expect("hint")
        .expect("present");
    assert_eq!((hint.checkpoint, hint.seq), (Some(16), 21));
    // Each commit publishes in a task of its own: on a loaded machine the task of entry 16 can
    // run before that of entry 8, which then skips its checkpoint (a newer one exists).
    for seq in [8, 16] {
        let checkpoint = log::fetch_checkpoint(storage.as_ref(), name.as_str(), seq)
            .await
            .expect("read");
        match checkpoint {
            Some(checkpoint) => {
                assert_eq!(checkpoint.get("refs/heads/counter"), Some(id(seq - 1)))
            }
            None => assert!(seq < 16, "the newest checkpoint, {seq}, is missing"),
        }
    }
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.entries, 21);
    assert!(report.state.expect("state").same_contents(&repo.state()));

    // Without the hint, and with a stale one, opening finds the newest state all the same.
    storage
        .delete(name.as_str(), log::HINT_NAME)
        .await
        .expect("delete hint");
    assert_eq!(
        Repository::open(storage.clone(), &name)
            .await
            .expect("open")
            .state()
            .seq(),
        21
    );
    let stale = swiftgit_repo::refs::format::encode_hint(swiftgit_repo::refs::format::Hint {
        checkpoint: Some(8),
        seq: 9,
    });
    storage
        .put(
            name.as_str(),
            log::HINT_NAME,
            Bytes::from(stale).into(),
            PutMode::Overwrite,
        )
        .await
        .expect("put");
    let opened = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert_eq!(*opened.state(), *repo.state());
    remove(storage.as_ref(), &name).await;
}

pub async fn unreadable_entries_are_reported(storage: Arc<dyn Storage>) {
    let name = unique_name("corrupt");
    Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let entry = log::entry_name(2);
    storage
        .put(
            name.as_str(),
            &entry,
            Bytes::from_static(b"{not json").into(),
            PutMode::Create,
        )
        .await
        .expect("put");
    match Repository::open(storage.clone(), &name).await {
        Err(RepoError::Log(LogError::Corrupt { object, .. })) => assert_eq!(object, entry),
        other => panic!("corrupt entry: {other:?}"),
    }
    let newer = br#"{"format":"swiftgit-log-entry/2","seq":2}"#;
    storage
        .put(
            name.as_str(),
            &entry,
            Bytes::from_static(newer).into(),
            PutMode::Overwrite,
        )
        .await
        .expect("put");
    let err = Repository::open(storage.clone(), &name)
        .await
        .expect_err("newer format");
    assert!(
        err.to_string().contains("swiftgit-log-entry/2") && err.to_string().contains("upgrade"),
        "{err}"
    );
    remove(storage.as_ref(), &name).await;
}
