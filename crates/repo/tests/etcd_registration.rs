//! How an etcd registration stays tied to its container, against a real etcd
//! (`SWIFTGIT_TEST_ETCD`) over memory storage and, with `SWIFTGIT_TEST_CONFIG`, a real Swift: a
//! container deleted and made again, two storage accounts sharing one etcd prefix, and the hand
//! over from a writer without a coordinator.

#[path = "common/mod.rs"]
mod common;
#[path = "etcd_support/mod.rs"]
mod etcd_support;

use std::sync::Arc;

use swiftgit_repo::refs::sequence::{LeaseHolder, LeaseOptions, MARKER_OBJECT, SingleWriter};
use swiftgit_repo::refs::{LogError, verify_log};
use swiftgit_repo::{
    CommitError, Existing, Expected, New, RefTransaction, RefUpdate, RepoError, Repository,
    RepositoryOptions,
};
use swiftgit_storage::Storage;
use swiftgit_storage::memory::MemoryStorage;

use common::{id, remove, unique_name};
use etcd_support::{Cluster, r, set};

on_memory_and_swift!(
    etcd_a_container_made_again_is_a_new_repository,
    etcd_the_single_writer_hands_over_to_the_coordinator,
);

/// Deleted (container and registration) and made again: a process that read the old one sees
/// the new one; a process's push based on the old one is refused. A registration left behind
/// without its container is no repository, and `init` says how to remove it.
async fn etcd_a_container_made_again_is_a_new_repository(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-again");
    let old = Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init");
    for n in 1..=5 {
        old.commit(set("refs/heads/master", n))
            .await
            .expect("commit");
    }
    let reader = Repository::open_with(storage.clone(), &name, cluster.process())
        .await
        .expect("open");
    old.published().await;

    // The container goes, the registration stays: no repository, and init explains.
    remove(storage.as_ref(), &name).await;
    match Repository::open_with(storage.clone(), &name, cluster.process()).await {
        Err(RepoError::NotFound { .. }) => {}
        other => panic!("a stale registration opened as {other:?}"),
    }
    match Repository::init_with(storage.clone(), &name, "master", cluster.process()).await {
        Err(RepoError::AlreadyExists {
            found: Existing::Registered { key: Some(key), .. },
            ..
        }) => assert!(key.ends_with(&format!("repos/{name}/")), "{key}"),
        other => panic!("init over a stale registration: {other:?}"),
    }

    // The operator removes the registration and makes the repository again, up to the same seq.
    cluster.delete_repo_keys(&name).await;
    let new = Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init again");
    for n in 101..=105 {
        new.commit(set("refs/heads/master", n))
            .await
            .expect("commit");
    }
    assert_eq!(new.state().seq(), old.state().seq());
    let seen = reader.refresh().await.expect("refresh");
    assert_eq!(
        seen.get("refs/heads/master"),
        Some(id(105)),
        "the new repository"
    );
    let stale_push = old
        .commit(RefTransaction::new().with_update(RefUpdate {
            name: r("refs/heads/master"),
            expected: Expected::Value(id(5)),
            new: New::Value(id(6)),
        }))
        .await;
    assert!(
        matches!(stale_push, Err(CommitError::Rejected { .. })),
        "a push based on the old repository: {stale_push:?}"
    );
    new.published().await;
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// A repository written without a coordinator: adoption is refused while its writer holds the
/// lease; once adopted, that writer is refused.
async fn etcd_the_single_writer_hands_over_to_the_coordinator(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-handover");
    let leases = LeaseHolder::new(LeaseOptions::default());
    let single = RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
        leases: Some(Arc::clone(&leases)),
        ..SingleWriter::default()
    }));
    let writer = Repository::init_with(storage.clone(), &name, "master", single.clone())
        .await
        .expect("init");
    writer
        .commit(set("refs/heads/master", 1))
        .await
        .expect("commit");
    // This process holds the lease, so the writer counts as live: the coordinated open is
    // refused (a real deployment has them in two processes; one process is enough here).
    // Our own lease is recognised as ours, so pretend to be another process: release and let
    // a record of another live process stand in.
    leases.release_all().await;
    etcd_support::write_foreign_lease(storage.as_ref(), &name).await;
    match Repository::open_with(storage.clone(), &name, cluster.process()).await {
        Err(RepoError::Log(LogError::AdoptionRefused { .. })) => {}
        other => panic!("adoption beside a live writer: {other:?}"),
    }
    etcd_support::delete_lease(storage.as_ref(), &name).await;
    let coordinated = Repository::open_with(storage.clone(), &name, cluster.process())
        .await
        .expect("adopted once the writer is gone");
    assert_eq!(coordinated.state().get("refs/heads/master"), Some(id(1)));
    assert!(
        storage.head(name.as_str(), MARKER_OBJECT).await.is_ok(),
        "the container says it is coordinated"
    );
    match writer.commit(set("refs/heads/master", 2)).await {
        Err(CommitError::Log(LogError::Coordinated { .. })) => {}
        other => panic!("the old writer after adoption: {other:?}"),
    }
    coordinated
        .commit(set("refs/heads/master", 3))
        .await
        .expect("commit through etcd");
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// Two storage accounts, one etcd prefix: the second account's repository of the same name is
/// refused, never served from the first one's registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_two_accounts_sharing_a_prefix_are_told_apart() {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-accounts");
    let first: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let second: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let one = Repository::init_with(first.clone(), &name, "master", cluster.process())
        .await
        .expect("init in the first account");
    one.commit(set("refs/heads/master", 1))
        .await
        .expect("commit");
    let two = Repository::init_with(
        second.clone(),
        &name,
        "master",
        RepositoryOptions::default(),
    )
    .await
    .expect("init in the second account, without a coordinator");
    two.commit(set("refs/heads/other", 2))
        .await
        .expect("commit");
    match Repository::open_with(second.clone(), &name, cluster.process()).await {
        Err(RepoError::Log(LogError::RegisteredElsewhere { .. })) => {}
        other => panic!("the second account's repository: {other:?}"),
    }
    cluster.clean().await;
}
