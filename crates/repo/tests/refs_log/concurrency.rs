//! Many writers in one process: no acknowledged update is ever lost.

use std::sync::Arc;

use rand::Rng;
use swiftgit_repo::refs::verify_log;
use swiftgit_repo::{
    CommitError, Expected, Head, New, RefName, RefTransaction, RefUpdate, Rejection, Repository,
    RepositoryOptions,
};
use swiftgit_storage::Storage;

use crate::common::{id, number, remove, unique_name};

const WRITERS: u64 = 8;
const TRANSACTIONS_PER_WRITER: u64 = 200;

fn r(name: &str) -> RefName {
    RefName::new(name).expect("valid ref name")
}

struct Outcome {
    acknowledged: u64,
    rejected: u64,
    /// The last value this writer acknowledged for its own branch.
    own_branch: Option<u64>,
}

/// One writer: each transaction moves `refs/heads/counter` from the value it read to the next,
/// sets its own branch, and at random creates or deletes a shared tag or changes HEAD.
async fn writer(repo: Repository, me: u64) -> Outcome {
    let counter = r("refs/heads/counter");
    let own = r(&format!("refs/heads/writer-{me}"));
    let mut outcome = Outcome {
        acknowledged: 0,
        rejected: 0,
        own_branch: None,
    };
    let mut fresh = false;
    for n in 0..TRANSACTIONS_PER_WRITER {
        // Half the time from the cache (possibly stale), always fresh after a rejection.
        let state = if fresh || rand::random_bool(0.5) {
            repo.refresh().await.expect("refresh")
        } else {
            repo.state()
        };
        let read = state.get(counter.as_str()).map(number);
        let value = me * 1_000_000 + n;
        let mut tx = RefTransaction::new()
            .with_update(RefUpdate {
                name: counter.clone(),
                expected: read.map_or(Expected::Missing, |v| Expected::Value(id(v))),
                new: New::Value(id(read.unwrap_or(0) + 1)),
            })
            .with_update(RefUpdate {
                name: own.clone(),
                expected: Expected::Any,
                new: New::Value(id(value)),
            });
        let tag = r(&format!("refs/tags/t{}", rand::rng().random_range(0..5)));
        match rand::rng().random_range(0..4) {
            0 => {
                tx = tx.with_update(RefUpdate {
                    name: tag,
                    expected: Expected::Missing,
                    new: New::Value(id(value)),
                })
            }
            1 => {
                tx = tx.with_update(RefUpdate {
                    name: tag,
                    expected: Expected::Any,
                    new: New::Delete,
                })
            }
            2 => tx = tx.with_head(Head::Symbolic(own.clone())),
            _ => {}
        }
        match repo.commit(tx).await {
            Ok(done) => {
                assert!(done.written);
                outcome.acknowledged += 1;
                outcome.own_branch = Some(value);
                fresh = false;
            }
            Err(CommitError::Rejected { rejection, .. }) => {
                assert!(
                    matches!(
                        &rejection,
                        Rejection::Stale { .. }
                            | Rejection::AlreadyExists { .. }
                            | Rejection::DeleteOfMissing { .. }
                    ),
                    "{rejection}"
                );
                outcome.rejected += 1;
                fresh = true;
            }
            Err(e) => panic!("writer {me}: {e}"),
        }
    }
    outcome
}

pub async fn eight_writers_lose_nothing(storage: Arc<dyn Storage>) {
    let name = unique_name("writers");
    Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let mut tasks = Vec::new();
    // One process: its handles share the commit locks and the writer lease.
    let options = RepositoryOptions::default();
    for me in 0..WRITERS {
        // Separate handles, as separate connections to a server would have.
        let repo = Repository::open_with(storage.clone(), &name, options.clone())
            .await
            .expect("open");
        tasks.push(tokio::spawn(writer(repo, me)));
    }
    let mut acknowledged = 0;
    let mut rejected = 0;
    let mut own = Vec::new();
    for task in tasks {
        let outcome = task.await.expect("writer task");
        acknowledged += outcome.acknowledged;
        rejected += outcome.rejected;
        own.push(outcome.own_branch);
    }
    let state = Repository::open(storage.clone(), &name)
        .await
        .expect("open")
        .state();
    let counter = state.get("refs/heads/counter").map(number).unwrap_or(0);
    eprintln!(
        "{WRITERS} writers x {TRANSACTIONS_PER_WRITER}: {acknowledged} acknowledged, {rejected} rejected, counter {counter}, lost {}",
        acknowledged - counter
    );
    assert_eq!(
        counter, acknowledged,
        "every acknowledged increment is in the final state"
    );
    assert_eq!(
        state.seq(),
        acknowledged + 1,
        "one entry per acknowledged transaction"
    );
    for (me, value) in own.into_iter().enumerate() {
        assert_eq!(
            state.get(&format!("refs/heads/writer-{me}")).map(number),
            value,
            "writer {me}'s branch"
        );
    }
    assert!(acknowledged > 0 && rejected > 0, "the writers did contend");
    let report = verify_log(storage.as_ref(), name.as_str())
        .await
        .expect("verify");
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.state.expect("state").same_contents(&state));
    remove(storage.as_ref(), &name).await;
}
