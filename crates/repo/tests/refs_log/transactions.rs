//! The semantics of ref transactions.

use std::sync::Arc;

use bytes::Bytes;
use swiftgit_repo::refs::{log, verify_log};
use swiftgit_repo::{
    CommitError, Expected, Head, New, RefName, RefTransaction, RefUpdate, Rejection, Repository,
};
use swiftgit_storage::{PutMode, Storage};

use crate::common::{id, remove, store_fake_pack, unique_name};

fn r(name: &str) -> RefName {
    RefName::new(name).expect("valid ref name")
}

fn rejection(result: Result<swiftgit_repo::Committed, CommitError>) -> Rejection {
    match result {
        Err(CommitError::Rejected { rejection, .. }) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub async fn create_update_delete(storage: Arc<dyn Storage>) {
    let name = unique_name("cud");
    let repo = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let master = r("refs/heads/master");

    let done = repo
        .commit(RefTransaction::new().with_update(RefUpdate::create(master.clone(), id(1))))
        .await
        .expect("create");
    assert!(done.written);
    assert_eq!(done.state.seq(), 2);
    assert_eq!(done.state.get("refs/heads/master"), Some(id(1)));
    assert_eq!(done.state.head_id(), Some(id(1)), "HEAD is born");

    let again = repo
        .commit(RefTransaction::new().with_update(RefUpdate::create(master.clone(), id(2))))
        .await;
    assert_eq!(
        rejection(again),
        Rejection::AlreadyExists {
            name: master.clone(),
            actual: id(1)
        }
    );

    let stale = repo
        .commit(RefTransaction::new().with_update(RefUpdate::update(master.clone(), id(7), id(2))))
        .await;
    let err = stale.expect_err("stale");
    let message = err.to_string();
    assert!(
        message.contains("refs/heads/master")
            && message.contains(&id(7).to_string())
            && message.contains(&id(1).to_string()),
        "{message}"
    );
    assert_eq!(
        err.rejection(),
        Some(&Rejection::Stale {
            name: master.clone(),
            expected: id(7),
            actual: Some(id(1))
        })
    );

    repo.commit(RefTransaction::new().with_update(RefUpdate::update(master.clone(), id(1), id(2))))
        .await
        .expect("update");
    let gone = r("refs/heads/gone");
    let missing = repo
        .commit(RefTransaction::new().with_update(RefUpdate {
            name: gone.clone(),
            expected: Expected::Any,
            new: New::Delete,
        }))
        .await;
    assert_eq!(
        rejection(missing),
        Rejection::DeleteOfMissing { name: gone.clone() }
    );
    let missing = repo
        .commit(RefTransaction::new().with_update(RefUpdate::delete(gone.clone(), id(2))))
        .await;
    assert_eq!(
        rejection(missing),
        Rejection::Stale {
            name: gone,
            expected: id(2),
            actual: None
        }
    );

    let done = repo
        .commit(RefTransaction::new().with_update(RefUpdate::delete(master.clone(), id(2))))
        .await
        .expect("delete");
    assert_eq!(done.state.get("refs/heads/master"), None);
    assert_eq!(done.state.seq(), 4, "rejected transactions wrote nothing");
    assert_eq!(
        *Repository::open(storage.clone(), &name)
            .await
            .expect("open")
            .state(),
        *done.state
    );
    remove(storage.as_ref(), &name).await;
}

pub async fn transactions_are_all_or_nothing(storage: Arc<dyn Storage>) {
    let name = unique_name("atomic");
    let repo = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let (a, b, c) = (r("refs/heads/a"), r("refs/heads/b"), r("refs/tags/c"));
    repo.commit(RefTransaction::new().with_update(RefUpdate::create(a.clone(), id(1))))
        .await
        .expect("create a");
    let before = repo.state();
    let pack = store_fake_pack(storage.as_ref(), name.as_str(), 50).await;
    let mixed = RefTransaction::new()
        .with_update(RefUpdate::update(a.clone(), id(1), id(10)))
        .with_update(RefUpdate::create(b.clone(), id(11)))
        .with_update(RefUpdate {
            name: c.clone(),
            expected: Expected::Value(id(99)),
            new: New::Value(id(12)),
        })
        .with_head(Head::Symbolic(b.clone()))
        .with_pack_added(pack);
    assert_eq!(
        rejection(repo.commit(mixed.clone()).await),
        Rejection::Stale {
            name: c.clone(),
            expected: id(99),
            actual: None
        }
    );
    let after = repo.refresh().await.expect("refresh");
    assert_eq!(
        *after, *before,
        "nothing of a rejected transaction is visible"
    );
    assert!(
        log::fetch_entry(storage.as_ref(), name.as_str(), before.seq() + 1)
            .await
            .expect("probe")
            .is_none()
    );

    let mut fixed = mixed;
    fixed.updates[2].expected = Expected::Missing;
    let done = repo.commit(fixed).await.expect("all of it");
    let state = &done.state;
    assert_eq!(
        state.seq(),
        before.seq() + 1,
        "one entry for the whole transaction"
    );
    assert_eq!(
        (
            state.get("refs/heads/a"),
            state.get("refs/heads/b"),
            state.get("refs/tags/c")
        ),
        (Some(id(10)), Some(id(11)), Some(id(12)))
    );
    assert_eq!(state.head_id(), Some(id(11)));
    assert!(state.packs().contains(&pack));

    let dup = RefTransaction::new()
        .with_update(RefUpdate::update(a.clone(), id(10), id(20)))
        .with_update(RefUpdate::update(a.clone(), id(10), id(21)));
    assert_eq!(
        rejection(repo.commit(dup).await),
        Rejection::DuplicateRef { name: a.clone() }
    );
    let noop = repo
        .commit(RefTransaction::new().with_update(RefUpdate::update(a.clone(), id(10), id(10))))
        .await
        .expect("no-op");
    assert!(!noop.written);
    assert_eq!(noop.state.seq(), state.seq());
    remove(storage.as_ref(), &name).await;
}

pub async fn head_changes(storage: Arc<dyn Storage>) {
    let name = unique_name("head");
    let repo = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    repo.commit(RefTransaction::new().with_head(Head::Detached(id(5))))
        .await
        .expect("detach");
    assert_eq!(repo.state().head_id(), Some(id(5)));
    assert_eq!(repo.state().head_ref(), None);
    repo.commit(RefTransaction::new().with_head(Head::Symbolic(r("refs/heads/main"))))
        .await
        .expect("attach");
    let opened = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert_eq!(opened.state().head(), &Head::Symbolic(r("refs/heads/main")));
    assert_eq!(opened.state().head_id(), None);
    remove(storage.as_ref(), &name).await;
}

pub async fn packs_must_be_stored_and_live(storage: Arc<dyn Storage>) {
    let name = unique_name("packs");
    let repo = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let absent = swiftgit_repo::PackId(id(77));
    match repo
        .commit(RefTransaction::new().with_pack_added(absent))
        .await
    {
        Err(CommitError::PackNotStored { pack, object, .. }) => {
            assert_eq!(pack, absent);
            assert!(object.starts_with("objects/pack/pack-"), "{object}");
        }
        other => panic!("unstored pack: {other:?}"),
    }
    // Only the .pack is there: still refused.
    storage
        .put(
            name.as_str(),
            &absent.object_name("pack"),
            Bytes::from_static(b"p").into(),
            PutMode::Create,
        )
        .await
        .expect("put");
    match repo
        .commit(RefTransaction::new().with_pack_added(absent))
        .await
    {
        Err(CommitError::PackNotStored { object, .. }) => {
            assert_eq!(object, absent.object_name("idx"))
        }
        other => panic!("pack without idx: {other:?}"),
    }
    let p1 = store_fake_pack(storage.as_ref(), name.as_str(), 1).await;
    let p2 = store_fake_pack(storage.as_ref(), name.as_str(), 2).await;
    repo.commit(
        RefTransaction::new()
            .with_pack_added(p1)
            .with_pack_added(p2),
    )
    .await
    .expect("add");
    assert_eq!(
        rejection(
            repo.commit(RefTransaction::new().with_pack_removed(absent))
                .await
        ),
        Rejection::PackNotLive { pack: absent }
    );
    let both = RefTransaction::new()
        .with_pack_added(p1)
        .with_pack_removed(p1);
    assert_eq!(
        rejection(repo.commit(both).await),
        Rejection::PackAddedAndRemoved { pack: p1 }
    );
    let done = repo
        .commit(RefTransaction::new().with_pack_removed(p1))
        .await
        .expect("remove");
    assert_eq!(
        done.state.packs().iter().copied().collect::<Vec<_>>(),
        vec![p2]
    );
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    remove(storage.as_ref(), &name).await;
}

pub async fn second_handle_sees_commits_after_refresh(storage: Arc<dyn Storage>) {
    let name = unique_name("handles");
    let a = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let b = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    let master = r("refs/heads/master");
    a.commit(RefTransaction::new().with_update(RefUpdate::create(master.clone(), id(1))))
        .await
        .expect("a");
    assert_eq!(
        b.state().get("refs/heads/master"),
        None,
        "state() makes no request"
    );
    // A commit through b checks against the newest state, not b's cache.
    let stale = b
        .commit(RefTransaction::new().with_update(RefUpdate::create(master.clone(), id(2))))
        .await;
    assert_eq!(
        rejection(stale),
        Rejection::AlreadyExists {
            name: master.clone(),
            actual: id(1)
        }
    );
    assert_eq!(b.state().get("refs/heads/master"), Some(id(1)));
    b.commit(RefTransaction::new().with_update(RefUpdate {
        name: master.clone(),
        expected: Expected::Any,
        new: New::Value(id(3)),
    }))
    .await
    .expect("b");
    assert_eq!(
        a.refresh().await.expect("refresh").get("refs/heads/master"),
        Some(id(3))
    );
    remove(storage.as_ref(), &name).await;
}
