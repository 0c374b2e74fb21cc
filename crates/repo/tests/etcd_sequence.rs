//! The etcd coordinator against a real etcd (`SWIFTGIT_TEST_ETCD`, comma-separated endpoints;
//! `scripts/test` starts a 3-member cluster) over memory storage and, with
//! `SWIFTGIT_TEST_CONFIG`, a real Swift. Each case uses keys under a prefix of its own and
//! removes them at the end. "Processes" are separate coordinators with their own commit locks:
//! what separate daemons have.

#[path = "common/mod.rs"]
mod common;
#[path = "etcd_support/mod.rs"]
mod etcd_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use swiftgit_repo::refs::sequence::Coordinator;
use swiftgit_repo::refs::sequence::{Append, Etcd, SingleWriter};
use swiftgit_repo::refs::{LogError, log, verify_log};
use swiftgit_repo::{
    CommitError, Expected, Head, New, RefTransaction, RefUpdate, Repository, RepositoryOptions,
};
use swiftgit_storage::{PutMode, Storage};

use common::{id, number, remove, store_fake_pack, unique_name};
use etcd_support::{Cluster, entry_after, r, set};

on_memory_and_swift!(
    etcd_init_commit_and_read_from_another_process,
    etcd_processes_racing_lose_nothing,
    etcd_adoption_happens_once,
    etcd_large_entries_go_through_the_object_store,
    etcd_a_dead_writer_leaves_no_hole,
    etcd_unknown_outcomes_are_settled,
);

async fn etcd_init_commit_and_read_from_another_process(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-basic");
    let writer = Repository::init_with(storage.clone(), &name, "main", cluster.process())
        .await
        .expect("init");
    let again = Repository::init_with(storage.clone(), &name, "main", cluster.process()).await;
    assert!(again.is_err(), "a second init is refused");
    let reader = Repository::open_with(
        storage.clone(),
        &name,
        cluster.process_with(|e| e.window = 4),
    )
    .await
    .expect("open from another process");
    assert_eq!(reader.state().head(), &Head::Symbolic(r("refs/heads/main")));
    for n in 1..=20 {
        writer
            .commit(set("refs/heads/main", n))
            .await
            .expect("commit");
        // Every read after an acknowledged commit sees it, from whichever process.
        let seen = reader.refresh().await.expect("refresh");
        assert_eq!(seen.get("refs/heads/main"), Some(id(n)));
    }
    cluster.wait_archived(&name, 21).await;
    // The object store's log is complete: a process without the coordinator reads it, and
    // verify finds it consistent; writing without the coordinator is refused.
    let plain = Repository::open(storage.clone(), &name)
        .await
        .expect("open");
    assert_eq!(plain.state().seq(), 21);
    assert_eq!(plain.state().get("refs/heads/main"), Some(id(20)));
    match plain.commit(set("refs/heads/other", 1)).await {
        Err(CommitError::Log(LogError::Coordinated { .. })) => {}
        other => panic!("a write without the coordinator: {other:?}"),
    }
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.entries, 21);
    // A reader far behind, after etcd trimmed what was archived, catches up from the store.
    let fresh = Repository::open_with(storage.clone(), &name, cluster.process())
        .await
        .expect("open");
    assert_eq!(*fresh.state(), *plain.state());
    assert!(
        cluster.entries_in_etcd(&name).await.len() <= 32,
        "etcd keeps a window of entries"
    );
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// Four processes with two handles each: every acknowledged increment is in the final state,
/// one entry per acknowledged transaction.
async fn etcd_processes_racing_lose_nothing(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-race");
    Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init");
    let counter = r("refs/heads/counter");
    let mut tasks = Vec::new();
    for process in 0..4u64 {
        let options = cluster.process();
        for handle in 0..2u64 {
            let repo = Repository::open_with(storage.clone(), &name, options.clone())
                .await
                .expect("open");
            let counter = counter.clone();
            let me = process * 2 + handle;
            tasks.push(tokio::spawn(async move {
                let (mut acknowledged, mut last) = (0u64, None);
                for n in 0..25u64 {
                    let state = repo.refresh().await.expect("refresh");
                    let read = state.get(counter.as_str()).map(number);
                    let value = me * 1_000 + n;
                    let tx = RefTransaction::new()
                        .with_update(RefUpdate {
                            name: counter.clone(),
                            expected: read.map_or(Expected::Missing, |v| Expected::Value(id(v))),
                            new: New::Value(id(read.unwrap_or(0) + 1)),
                        })
                        .with_update(RefUpdate {
                            name: r(&format!("refs/heads/w{me}")),
                            expected: Expected::Any,
                            new: New::Value(id(value)),
                        });
                    match repo.commit(tx).await {
                        Ok(_) => {
                            acknowledged += 1;
                            last = Some(value);
                        }
                        Err(CommitError::Rejected { .. }) => {}
                        Err(e) => panic!("writer {me}: {e}"),
                    }
                }
                (me, acknowledged, last)
            }));
        }
    }
    let mut acknowledged = 0;
    let mut last = BTreeMap::new();
    for task in tasks {
        let (me, count, value) = task.await.expect("writer");
        acknowledged += count;
        last.insert(me, value);
    }
    let state = Repository::open_with(storage.clone(), &name, cluster.process())
        .await
        .expect("open")
        .state();
    eprintln!("8 writers in 4 processes: {acknowledged} acknowledged");
    assert_eq!(state.get(counter.as_str()).map(number), Some(acknowledged));
    assert_eq!(state.seq(), acknowledged + 1);
    for (me, value) in last {
        assert_eq!(state.get(&format!("refs/heads/w{me}")).map(number), value);
    }
    cluster.wait_archived(&name, state.seq()).await;
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// A repository made without the coordinator, and a dulwich layout, are adopted exactly once
/// however many processes open them at the same time.
async fn etcd_adoption_happens_once(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-adopt");
    let old = Repository::init_with(
        storage.clone(),
        &name,
        "master",
        RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
            leases: None,
            ..SingleWriter::default()
        })),
    )
    .await
    .expect("init");
    for n in 1..=10 {
        old.commit(set("refs/heads/master", n))
            .await
            .expect("commit");
    }
    let opens: Vec<_> = (0..5)
        .map(|_| {
            let (storage, name, options) = (storage.clone(), name.clone(), cluster.process());
            tokio::spawn(async move { Repository::open_with(storage, &name, options).await })
        })
        .collect();
    let mut repos = Vec::new();
    for open in opens {
        repos.push(open.await.expect("task").expect("open"));
    }
    for repo in &repos {
        assert_eq!(
            *repo.state(),
            *old.state(),
            "every process adopted the same state"
        );
    }
    repos[0]
        .commit(set("refs/heads/master", 11))
        .await
        .expect("commit through etcd");
    assert_eq!(repos[4].refresh().await.expect("refresh").seq(), 12);

    // A dulwich layout: refs in info/refs and a pack, no log.
    let dulwich = unique_name("etcd-dulwich");
    storage
        .create_container(dulwich.as_str())
        .await
        .expect("create");
    let pack = store_fake_pack(storage.as_ref(), dulwich.as_str(), 7).await;
    let info_refs = format!("{}\trefs/heads/master\n", id(7));
    for (object, body) in [("info/refs", info_refs.as_str()), ("objects/pack", "")] {
        storage
            .put(
                dulwich.as_str(),
                object,
                Bytes::from(body.to_owned()).into(),
                PutMode::Overwrite,
            )
            .await
            .expect("put");
    }
    let opens: Vec<_> = (0..5)
        .map(|_| {
            let (storage, name, options) = (storage.clone(), dulwich.clone(), cluster.process());
            tokio::spawn(async move { Repository::open_with(storage, &name, options).await })
        })
        .collect();
    for open in opens {
        let state = open.await.expect("task").expect("open").state();
        assert_eq!(state.seq(), 1, "adopted as entry 1, once");
        assert_eq!(state.get("refs/heads/master"), Some(id(7)));
        assert!(state.packs().contains(&pack));
    }
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
    remove(storage.as_ref(), &dulwich).await;
}

/// A push of thousands of refs: its entry is too large for etcd, so it goes through the object
/// store first.
async fn etcd_large_entries_go_through_the_object_store(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-large");
    let writer = Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init");
    let mut tx = RefTransaction::new();
    for n in 0..4_000u64 {
        tx = tx.with_update(RefUpdate::create(r(&format!("refs/tags/t{n:05}")), id(n)));
    }
    writer.commit(tx).await.expect("commit");
    let reader = Repository::open_with(storage.clone(), &name, cluster.process())
        .await
        .expect("open");
    assert_eq!(reader.state().refs().len(), 4_000);
    assert_eq!(reader.state().get("refs/tags/t03999"), Some(id(3_999)));
    cluster.wait_archived(&name, 2).await;
    let copied = log::fetch_entry(storage.as_ref(), name.as_str(), 2)
        .await
        .expect("read")
        .expect("copied into the log");
    assert_eq!(copied.refs.len(), 4_000);
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// A writer that won in etcd and died before anything reached the object store: readers see
/// its entry, the next writer commits on top of it and copies it.
async fn etcd_a_dead_writer_leaves_no_hole(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-dead");
    let repo = Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init");
    let pack = store_fake_pack(storage.as_ref(), name.as_str(), 3).await;
    // The dying writer: its append wins, and it never publishes.
    let dying = Etcd::new(cluster.client.clone(), &cluster.prefix);
    let sequence = dying.sequence(storage.clone(), &name);
    let base = sequence
        .read(None)
        .await
        .expect("read")
        .into_state()
        .expect("present");
    let entry = entry_after(&base, "refs/heads/lost-not", 3, Some(pack));
    assert_eq!(
        sequence.append(&base, &entry).await.expect("append"),
        Append::Appended
    );
    drop(sequence);

    let state = repo.refresh().await.expect("refresh");
    assert_eq!(state.get("refs/heads/lost-not"), Some(id(3)));
    assert!(state.packs().contains(&pack));
    repo.commit(set("refs/heads/master", 4))
        .await
        .expect("commit on top");
    cluster.wait_archived(&name, 3).await;
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(
        report.entries, 3,
        "the dead writer's entry was copied by the next one"
    );
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}

/// `resolve` after a lost answer: the same entry is ours, another writer's is not.
async fn etcd_unknown_outcomes_are_settled(storage: Arc<dyn Storage>) {
    let Some(cluster) = Cluster::new() else {
        return;
    };
    let name = unique_name("etcd-unknown");
    Repository::init_with(storage.clone(), &name, "master", cluster.process())
        .await
        .expect("init");
    let etcd = Etcd::new(cluster.client.clone(), &cluster.prefix);
    let sequence = etcd.sequence(storage.clone(), &name);
    let base = sequence
        .read(None)
        .await
        .expect("read")
        .into_state()
        .expect("present");
    let ours = entry_after(&base, "refs/heads/a", 1, None);
    let theirs = entry_after(&base, "refs/heads/a", 2, None);
    // Never sent: resolving sends it (once), and it is ours.
    assert_eq!(
        sequence.resolve(&base, &ours).await.expect("resolve"),
        Append::Appended
    );
    // Its answer "lost": resolving again does not apply it twice, and still says ours.
    assert_eq!(
        sequence.resolve(&base, &ours).await.expect("resolve"),
        Append::Appended
    );
    assert_eq!(
        sequence.resolve(&base, &theirs).await.expect("resolve"),
        Append::Conflict
    );
    assert_eq!(
        sequence.append(&base, &theirs).await.expect("append"),
        Append::Conflict
    );
    let state = sequence
        .read(Some(&base))
        .await
        .expect("read")
        .into_state()
        .expect("a newer state");
    assert_eq!(state.seq(), 2);
    assert_eq!(state.get("refs/heads/a"), Some(id(1)));
    cluster.clean().await;
    remove(storage.as_ref(), &name).await;
}
