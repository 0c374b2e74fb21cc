//! How many storage requests opening, refreshing and committing cost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_repo::refs::format::{self, Hint};
use swiftgit_repo::refs::sequence::SingleWriter;
use swiftgit_repo::refs::{LogEntry, RefChange, Snapshot, log};
use swiftgit_repo::{
    Expected, Head, New, RefName, RefTransaction, RefUpdate, RepoState, Repository,
    RepositoryOptions,
};
use swiftgit_storage::{PutMode, Storage};

use crate::common::{Counting, id, remove, unique_name};

/// The bound the design asks for: hint, checkpoint, the entries after it, one probe.
const OPEN_BUDGET: u64 = 12;
const TRANSACTIONS: u64 = 10_000;
const CHECKPOINT_INTERVAL: u64 = 8;

fn r(name: &str) -> RefName {
    RefName::new(name).expect("valid ref name")
}

fn set(name: &str, value: u64) -> RefTransaction {
    RefTransaction::new().with_update(RefUpdate {
        name: r(name),
        expected: Expected::Any,
        new: New::Value(id(value)),
    })
}

/// Writes a log of `transactions` entries after the initial one straight into `container`, in
/// the real format and with the checkpoints and hint `Repository::commit` would write, many
/// objects at a time. Entry `s` sets `refs/heads/counter` to `id(s)` and one of 50 branches.
async fn build_log(storage: &dyn Storage, container: &str, transactions: u64) -> RepoState {
    storage.create_container(container).await.expect("create");
    let mut state = RepoState::from_snapshot(
        0,
        Snapshot {
            head: Head::Symbolic(r("refs/heads/master")),
            refs: BTreeMap::new(),
            packs: BTreeSet::new(),
            peeled: BTreeMap::new(),
        },
    );
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    let mut checkpoint = None;
    for seq in 1..=transactions + 1 {
        let branch = r(&format!("refs/heads/b{}", seq % 50));
        let changes = [(r("refs/heads/counter"), id(seq)), (branch, id(seq))]
            .into_iter()
            .map(|(name, new)| RefChange {
                old: state.get(name.as_str()),
                name,
                new: Some(new),
                peeled: None,
            })
            .collect();
        let entry = LogEntry {
            seq,
            time_ms: 0,
            nonce: seq,
            reset: (seq == 1).then(|| Snapshot::from(&state)),
            refs: if seq == 1 { Vec::new() } else { changes },
            head: None,
            packs_added: Vec::new(),
            packs_removed: Vec::new(),
        };
        objects.push((log::entry_name(seq), format::encode_entry(&entry)));
        // Applying through a round trip keeps this honest about the format.
        let decoded =
            format::decode_entry(objects.last().expect("pushed").1.as_slice()).expect("decodes");
        state = apply(&state, &decoded);
        if seq % CHECKPOINT_INTERVAL == 0 {
            objects.push((
                log::checkpoint_name(seq),
                format::encode_checkpoint(&state, 0),
            ));
            checkpoint = Some(seq);
        }
    }
    futures::stream::iter(objects)
        .map(|(name, bytes)| async move {
            storage
                .put(container, &name, Bytes::from(bytes).into(), PutMode::Create)
                .await
                .expect("write log object")
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let hint = format::encode_hint(Hint {
        checkpoint,
        seq: state.seq(),
    });
    storage
        .put(
            container,
            log::HINT_NAME,
            Bytes::from(hint).into(),
            PutMode::Overwrite,
        )
        .await
        .expect("hint");
    state
}

fn apply(state: &RepoState, entry: &LogEntry) -> RepoState {
    let mut snapshot = entry.reset.clone().unwrap_or_else(|| Snapshot::from(state));
    for change in &entry.refs {
        match change.new {
            Some(new) => snapshot.refs.insert(change.name.clone(), new),
            None => snapshot.refs.remove(&change.name),
        };
    }
    RepoState::from_snapshot(entry.seq, snapshot)
}

pub async fn open_after_ten_thousand_transactions(storage: Arc<dyn Storage>) {
    let name = unique_name("tenk");
    let started = std::time::Instant::now();
    let built = build_log(storage.as_ref(), name.as_str(), TRANSACTIONS).await;
    eprintln!(
        "built a log of {} entries in {:?}",
        built.seq(),
        started.elapsed()
    );
    let counting = Counting::new(storage.clone());
    let counted: Arc<dyn Storage> = counting.clone();

    let (repo, requests) = counting
        .count(Repository::open(counted.clone(), &name))
        .await;
    let repo = repo.expect("open");
    eprintln!(
        "open after {TRANSACTIONS} transactions (newest checkpoint = newest entry - 1): {requests} requests"
    );
    assert_eq!(*repo.state(), built);
    assert!(requests <= OPEN_BUDGET, "open took {requests} requests");

    // Six more commits through the real path: the newest checkpoint is now 7 entries back,
    // the most opening ever has to replay with an interval of 8.
    for n in 0..6 {
        let (done, requests) = counting
            .count(repo.commit(set("refs/heads/counter", 1_000_000 + n)))
            .await;
        let done = done.expect("commit");
        eprintln!("commit of entry {}: {requests} requests", done.state.seq());
    }
    assert_eq!(repo.state().seq(), TRANSACTIONS + 7);
    // The checkpoint and hint of those commits are written after their answers.
    repo.published().await;
    let (reopened, requests) = counting
        .count(Repository::open(counted.clone(), &name))
        .await;
    let reopened = reopened.expect("open");
    eprintln!("open with 7 entries past the newest checkpoint: {requests} requests");
    assert_eq!(*reopened.state(), *repo.state());
    assert!(requests <= OPEN_BUDGET, "open took {requests} requests");

    let (state, requests) = counting.count(reopened.refresh()).await;
    assert_eq!(state.expect("refresh").seq(), TRANSACTIONS + 7);
    eprintln!("refresh of an unchanged repository: {requests} request(s)");
    assert_eq!(requests, 1);

    // A hint 40 entries stale (an eventually consistent overwrite): still correct, a bit dearer.
    let stale = format::encode_hint(Hint {
        checkpoint: Some(9_960),
        seq: 9_967,
    });
    storage
        .put(
            name.as_str(),
            log::HINT_NAME,
            Bytes::from(stale).into(),
            PutMode::Overwrite,
        )
        .await
        .expect("hint");
    let (stale_open, requests) = counting.count(Repository::open(counted, &name)).await;
    assert_eq!(*stale_open.expect("open").state(), *repo.state());
    eprintln!("open with a hint 40 entries stale: {requests} requests");
    assert!(
        requests <= 2 * OPEN_BUDGET,
        "a stale hint made open take {requests} requests"
    );
    remove(storage.as_ref(), &name).await;
}

pub async fn refresh_costs_one_request_when_unchanged(storage: Arc<dyn Storage>) {
    let name = unique_name("refresh");
    let writer = Repository::init(storage.clone(), &name, "master")
        .await
        .expect("init");
    let counting = Counting::new(storage.clone());
    let reader = Repository::open(counting.clone(), &name)
        .await
        .expect("open");
    for _ in 0..3 {
        let (state, requests) = counting.count(reader.refresh()).await;
        assert_eq!(state.expect("refresh").seq(), 1);
        assert_eq!(requests, 1, "an unchanged repository costs one probe");
    }
    writer
        .commit(set("refs/heads/master", 1))
        .await
        .expect("commit");
    let (state, requests) = counting.count(reader.refresh()).await;
    assert_eq!(
        state.expect("refresh").get("refs/heads/master"),
        Some(id(1))
    );
    assert_eq!(
        requests, 2,
        "one new entry: fetch it, then one probe past it"
    );
    let (_, requests) = counting.count(reader.refresh()).await;
    assert_eq!(requests, 1);

    // A commit against the state the process knows: the create, and the hint after the answer
    // (in a task of its own that may start before the commit's count ends: the two counts are
    // asserted together). The first commit of this process's lease holder also reads and renews
    // the lease (written by another holder of this process); the next, within the lease's
    // verify interval, does not read it again.
    writer.published().await;
    let trusting = RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
        trust_lease_for_reads: true,
        ..SingleWriter::default()
    }));
    let writer = Repository::open_with(counting.clone(), &name, trusting)
        .await
        .expect("open");
    let (done, requests) = counting
        .count(writer.commit(set("refs/heads/master", 2)))
        .await;
    done.expect("commit");
    let (_, published) = counting.count(writer.published()).await;
    eprintln!("a first commit costs {requests} requests, then {published} after the answer");
    assert_eq!(requests + published, 4);
    let (done, requests) = counting
        .count(writer.commit(set("refs/heads/master", 3)))
        .await;
    done.expect("commit");
    let (_, published) = counting.count(writer.published()).await;
    eprintln!("a commit costs {requests} requests, then {published} after the answer");
    assert_eq!(requests + published, 2);

    // The writer holds the lease and wrote the head, and trusts its lease for reads (as the
    // daemon does): reading the state costs nothing. A reader (no lease) still probes.
    let (state, requests) = counting.count(writer.refresh()).await;
    assert_eq!(state.expect("refresh").seq(), 4);
    assert_eq!(requests, 0, "the lease holder knows the head");
    let (state, requests) = counting.count(reader.refresh()).await;
    assert_eq!(state.expect("refresh").seq(), 4);
    assert!(requests >= 1);
    remove(storage.as_ref(), &name).await;
}
