//! The client against a real etcd cluster: SWIFTGIT_TEST_ETCD holds its client URLs,
//! comma-separated (`scripts/etcd-dev start` writes them to its env file). Unset, each test
//! prints that it was skipped, unless SWIFTGIT_TEST_ETCD_REQUIRED=1 (scripts/test), which makes
//! a skip a failure. Every test works under its own random key prefix and deletes what it
//! wrote, so that the tests can share one cluster and run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use swiftgit_etcd::{
    Compare, CompareOp, EtcdClient, EtcdErrorKind, EtcdOptions, KeyValue, RangeRequest, Txn, TxnOp,
    TxnOpResponse, prefix_end,
};

fn endpoints() -> Option<Vec<String>> {
    match std::env::var("SWIFTGIT_TEST_ETCD") {
        Ok(list) if !list.trim().is_empty() => {
            Some(list.split(',').map(|e| e.trim().to_owned()).collect())
        }
        _ if std::env::var("SWIFTGIT_TEST_ETCD_REQUIRED").as_deref() == Ok("1") => {
            panic!(
                "SWIFTGIT_TEST_ETCD is not set, and SWIFTGIT_TEST_ETCD_REQUIRED=1 forbids a skip"
            )
        }
        _ => {
            eprintln!(
                "skipped: SWIFTGIT_TEST_ETCD is not set (scripts/etcd-dev start; source its env file)"
            );
            None
        }
    }
}

fn client_for(endpoints: Vec<String>) -> EtcdClient {
    let mut options = EtcdOptions::new(endpoints);
    options.timeout = Duration::from_secs(10);
    EtcdClient::new(options).expect("holds because SWIFTGIT_TEST_ETCD holds client URLs")
}

/// A client, and a key prefix no other test (or run) uses.
fn setup(test: &str) -> Option<(EtcdClient, String)> {
    let client = client_for(endpoints()?);
    let prefix = format!("swiftgit-etcd-test/{test}/{:08x}/", rand::random::<u32>());
    Some((client, prefix))
}

async fn clean_up(client: &EtcdClient, prefix: &str) {
    let end = prefix_end(prefix.as_bytes());
    client
        .delete_range(prefix.as_bytes().to_vec(), Some(end))
        .await
        .expect("holds: the test's keys can be deleted");
}

#[tokio::test]
async fn cluster_put_then_range_returns_the_value_and_its_revisions() {
    let Some((client, prefix)) = setup("put-range") else {
        return;
    };
    let key = format!("{prefix}k");
    let first = client
        .put(key.as_str(), "v1")
        .await
        .expect("holds: put works");
    let second = client
        .put(key.as_str(), "v2")
        .await
        .expect("holds: put works");
    assert!(second > first);
    let range = client
        .range(RangeRequest::key(key.as_str()))
        .await
        .expect("holds: range works");
    assert_eq!(
        range.kvs,
        [KeyValue {
            key: key.clone().into_bytes(),
            value: b"v2".to_vec(),
            create_revision: first,
            mod_revision: second,
            version: 2,
            lease: 0,
        }]
    );
    assert_eq!((range.count, range.more), (1, false));
    assert!(range.revision >= second);
    let missing = client
        .range(RangeRequest::key(format!("{prefix}absent")))
        .await;
    let missing = missing.expect("holds: range works");
    assert!(missing.kvs.is_empty() && missing.count == 0);
    // Any bytes make a key or a value.
    let binary = [prefix.as_bytes(), &[0, 0xff, b'\n']].concat();
    client
        .put(binary.clone(), vec![0u8, 1, 2])
        .await
        .expect("holds: put works");
    let read = client
        .range(RangeRequest::key(binary))
        .await
        .expect("holds: range works");
    assert_eq!(read.kvs[0].value, [0, 1, 2]);
    clean_up(&client, &prefix).await;
}

#[tokio::test]
async fn cluster_prefix_range_with_limit_says_more() {
    let Some((client, prefix)) = setup("prefix-limit") else {
        return;
    };
    for i in 0..5 {
        client
            .put(format!("{prefix}{i}"), format!("value {i}"))
            .await
            .expect("holds: put works");
    }
    client
        .put(prefix.as_str(), "the prefix itself")
        .await
        .expect("holds: put works");
    let page = client
        .range(RangeRequest::prefix(prefix.as_str()).with_limit(2))
        .await;
    let page = page.expect("holds: range works");
    let keys: Vec<String> = page
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect();
    assert_eq!(keys, [prefix.clone(), format!("{prefix}0")]);
    assert!(page.more);
    assert_eq!(page.count, 6);
    let rest = RangeRequest::from_key_to(format!("{prefix}1"), prefix_end(prefix.as_bytes()));
    let rest = client
        .range(rest.with_keys_only())
        .await
        .expect("holds: range works");
    assert_eq!((rest.kvs.len(), rest.more, rest.count), (4, false, 4));
    assert!(
        rest.kvs
            .iter()
            .all(|kv| kv.value.is_empty() && kv.version == 1)
    );
    let local = RangeRequest::prefix(prefix.as_str()).with_serializable();
    let local = client
        .range(local)
        .await
        .expect("holds: a serializable range works");
    assert_eq!(local.count, 6);
    clean_up(&client, &prefix).await;
}

#[tokio::test]
async fn cluster_txn_compares_value_and_revisions() {
    let Some((client, prefix)) = setup("txn") else {
        return;
    };
    let key = format!("{prefix}lock");
    let create = || {
        Txn::new()
            .when(Compare::absent(key.as_str()))
            .on_success(TxnOp::put(key.as_str(), "owner-1"))
            .on_failure(TxnOp::range(RangeRequest::key(key.as_str())))
    };
    let created = client.txn(create()).await.expect("holds: txn works");
    assert!(created.succeeded);
    assert_eq!(created.responses, [TxnOpResponse::Put]);
    let again = client.txn(create()).await.expect("holds: txn works");
    assert!(!again.succeeded);
    let [TxnOpResponse::Range(found)] = again.responses.as_slice() else {
        panic!("the failure branch's range answers: {:?}", again.responses)
    };
    assert_eq!(found.kvs[0].value, b"owner-1");
    let revision = found.kvs[0].mod_revision;
    assert_eq!(found.kvs[0].create_revision, created.revision);

    let swap = |expected: &str, at: i64, new: &str| {
        Txn::new()
            .when(Compare::value(key.as_str(), CompareOp::Equal, expected))
            .when(Compare::mod_revision(key.as_str(), CompareOp::Equal, at))
            .on_success(TxnOp::put(key.as_str(), new))
            .on_success(TxnOp::range(RangeRequest::key(key.as_str())))
    };
    let stale = client
        .txn(swap("owner-1", revision - 1, "x"))
        .await
        .expect("holds: txn works");
    assert!(!stale.succeeded && stale.responses.is_empty());
    let wrong = client
        .txn(swap("owner-2", revision, "x"))
        .await
        .expect("holds: txn works");
    assert!(!wrong.succeeded);
    let swapped = client
        .txn(swap("owner-1", revision, "owner-2"))
        .await
        .expect("holds: works");
    assert!(swapped.succeeded);
    let [TxnOpResponse::Put, TxnOpResponse::Range(now)] = swapped.responses.as_slice() else {
        panic!(
            "the success branch answers in order: {:?}",
            swapped.responses
        )
    };
    assert_eq!(
        (now.kvs[0].value.as_slice(), now.kvs[0].version),
        (&b"owner-2"[..], 2)
    );
    assert_eq!(now.kvs[0].mod_revision, swapped.revision);

    let greater = Txn::new().when(Compare::version(key.as_str(), CompareOp::Greater, 1));
    assert!(
        client
            .txn(greater)
            .await
            .expect("holds: txn works")
            .succeeded
    );
    let twice = Txn::new()
        .on_success(TxnOp::put(key.as_str(), "a"))
        .on_success(TxnOp::put(key.as_str(), "b"));
    let refused = client
        .txn(twice)
        .await
        .expect_err("holds: etcd refuses duplicate keys");
    assert_eq!(refused.kind(), EtcdErrorKind::Invalid);
    assert!(!refused.outcome_unknown());
    assert!(refused.to_string().contains("duplicate key"), "{refused}");
    clean_up(&client, &prefix).await;
}

#[tokio::test]
async fn cluster_delete_range_counts_what_it_deleted() {
    let Some((client, prefix)) = setup("delete") else {
        return;
    };
    for name in ["a", "b", "c", "d"] {
        client
            .put(format!("{prefix}{name}"), "x")
            .await
            .expect("holds: put works");
    }
    let one = client
        .delete_range(format!("{prefix}a").into_bytes(), None)
        .await;
    assert_eq!(one.expect("holds: delete works"), 1);
    let none = client
        .delete_range(format!("{prefix}a").into_bytes(), None)
        .await;
    assert_eq!(none.expect("holds: delete works"), 0);
    let span = client
        .delete_range(
            format!("{prefix}b").into_bytes(),
            Some(format!("{prefix}d").into_bytes()),
        )
        .await;
    assert_eq!(span.expect("holds: delete works"), 2);
    let all = client
        .delete_range(
            prefix.clone().into_bytes(),
            Some(prefix_end(prefix.as_bytes())),
        )
        .await;
    assert_eq!(all.expect("holds: delete works"), 1);
    let left = client.range(RangeRequest::prefix(prefix.as_str())).await;
    assert_eq!(left.expect("holds: range works").count, 0);
}

#[tokio::test]
async fn cluster_a_key_on_a_lease_goes_when_the_lease_is_revoked() {
    let Some((client, prefix)) = setup("lease") else {
        return;
    };
    let lease = client.lease_grant(30).await.expect("holds: grant works");
    let key = format!("{prefix}owned");
    client
        .put_with_lease(key.as_str(), "mine", lease)
        .await
        .expect("holds: put works");
    let ttl = client
        .lease_keep_alive(lease)
        .await
        .expect("holds: keep-alive works");
    assert!((1..=30).contains(&ttl), "{ttl}");
    let held = client
        .range(RangeRequest::key(key.as_str()))
        .await
        .expect("holds: range works");
    assert_eq!(held.kvs[0].lease, lease.0);
    client
        .lease_revoke(lease)
        .await
        .expect("holds: revoke works");
    let gone = client
        .range(RangeRequest::key(key.as_str()))
        .await
        .expect("holds: range works");
    assert!(gone.kvs.is_empty(), "{gone:?}");
    assert_eq!(
        client
            .lease_keep_alive(lease)
            .await
            .expect("holds: keep-alive answers"),
        0
    );
    client
        .lease_revoke(lease)
        .await
        .expect("holds: revoking a gone lease is fine");
    let late = client.put_with_lease(key.as_str(), "late", lease).await;
    let late = late.expect_err("holds: the lease is gone");
    assert_eq!(late.kind(), EtcdErrorKind::LeaseNotFound);
    assert!(!late.outcome_unknown());
    clean_up(&client, &prefix).await;
}

#[tokio::test]
async fn cluster_status_answers_for_every_member() {
    let Some((client, _)) = setup("status") else {
        return;
    };
    let statuses = client.status().await;
    assert_eq!(statuses.len(), client.endpoints().len());
    let mut leaders = Vec::new();
    let mut members = Vec::new();
    for (endpoint, status) in &statuses {
        let status = status
            .as_ref()
            .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        assert!(status.version.starts_with("3."), "{endpoint}: {status:?}");
        assert!(status.leader != 0 && status.raft_term > 0 && status.db_size > 0);
        leaders.push(status.leader);
        members.push(status.member_id);
    }
    leaders.dedup();
    assert_eq!(leaders.len(), 1, "one leader: {statuses:?}");
    assert!(members.contains(&leaders[0]));
    assert_eq!(
        statuses
            .iter()
            .filter(|(_, s)| s.as_ref().is_ok_and(|s| s.is_leader()))
            .count(),
        1
    );
}

#[tokio::test]
async fn cluster_a_closed_first_endpoint_costs_little() {
    let Some(mut endpoints) = endpoints() else {
        return;
    };
    endpoints.insert(0, "http://127.0.0.1:1".into());
    let client = client_for(endpoints);
    let prefix = format!("swiftgit-etcd-test/failover/{:08x}/", rand::random::<u32>());
    let started = Instant::now();
    let key = format!("{prefix}k");
    client
        .put(key.as_str(), "v")
        .await
        .expect("holds: the other members answer");
    let read = client
        .range(RangeRequest::key(key.as_str()))
        .await
        .expect("holds: range works");
    assert_eq!(read.kvs[0].value, b"v");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "{elapsed:?} of a 10 s deadline"
    );
    let statuses = client.status().await;
    assert_eq!(
        statuses[0].1.as_ref().map_err(|e| e.kind()).err(),
        Some(EtcdErrorKind::Unavailable)
    );
    assert!(statuses[1..].iter().all(|(_, s)| s.is_ok()));
    clean_up(&client, &prefix).await;
}

/// A member that accepts connections and never answers, like a stopped (SIGSTOP) etcd: its
/// URL, and how many connections it has accepted.
async fn frozen_member() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("holds because port 0 is always free");
    let address = listener.local_addr().expect("holds for a bound socket");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        // Held open, never read from, never answered.
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (format!("http://{address}"), accepted)
}

/// A client whose first endpoint is a frozen member, with the default deadline.
async fn frozen_first(endpoints: Vec<String>) -> (EtcdClient, Arc<AtomicUsize>) {
    let (frozen, accepted) = frozen_member().await;
    let mut options = EtcdOptions::new([frozen].into_iter().chain(endpoints));
    options.timeout = EtcdOptions::DEFAULT_TIMEOUT;
    let client = EtcdClient::new(options).expect("holds: the endpoints are client URLs");
    (client, accepted)
}

#[tokio::test]
async fn cluster_a_frozen_first_endpoint_delays_one_read_and_no_later_one() {
    let Some((healthy, prefix)) = setup("frozen-read") else {
        return;
    };
    let key = format!("{prefix}k");
    healthy
        .put(key.as_str(), "v")
        .await
        .expect("holds: put works");
    let (client, accepted) = frozen_first(healthy.endpoints().to_vec()).await;
    let deadline = EtcdOptions::DEFAULT_TIMEOUT;
    for read in ["first", "second"] {
        let started = Instant::now();
        let range = client.range(RangeRequest::key(key.as_str())).await;
        let elapsed = started.elapsed();
        eprintln!("{read} read with a frozen first endpoint: {elapsed:?} of {deadline:?}");
        assert_eq!(range.expect("holds: the others answer").kvs[0].value, b"v");
        assert!(elapsed < deadline, "{elapsed:?}");
    }
    // The second read started at a member that had answered, not at the frozen one.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    clean_up(&healthy, &prefix).await;
}

#[tokio::test]
async fn cluster_a_frozen_first_endpoint_leaves_a_write_unknown_and_the_next_succeeds() {
    let Some((healthy, prefix)) = setup("frozen-write") else {
        return;
    };
    let (client, accepted) = frozen_first(healthy.endpoints().to_vec()).await;
    let deadline = EtcdOptions::DEFAULT_TIMEOUT;
    let key = format!("{prefix}head");
    // Like a push's append: it can succeed once only, so sending it again is safe.
    let append = || {
        Txn::new()
            .when(Compare::absent(key.as_str()))
            .on_success(TxnOp::put(key.as_str(), "entry-1"))
    };
    let started = Instant::now();
    let first = client.txn(append()).await;
    let elapsed = started.elapsed();
    let outcome = match &first {
        Ok(answer) => format!("succeeded: {}", answer.succeeded),
        Err(error) => error.to_string(),
    };
    eprintln!("a write with a frozen first endpoint: {elapsed:?} of {deadline:?}: {outcome}");
    assert!(elapsed < deadline, "{elapsed:?}");
    if let Err(error) = &first {
        assert!(error.outcome_unknown(), "{error}");
    }
    // The caller resolves by sending it again: that call starts at another member.
    let started = Instant::now();
    let again = client.txn(append()).await;
    let elapsed = started.elapsed();
    eprintln!("the same write sent again: {elapsed:?}");
    let again = again.expect("holds: it starts at a member that answers");
    // The frozen member never passed the first on, so exactly one of the two applied.
    assert_eq!(again.succeeded, first.is_err());
    client
        .put(format!("{prefix}next"), "v")
        .await
        .expect("holds: later writes start at a member that answers");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let read = healthy.range(RangeRequest::key(key.as_str())).await;
    assert_eq!(read.expect("holds: range works").kvs[0].value, b"entry-1");
    clean_up(&healthy, &prefix).await;
}

#[tokio::test]
async fn cluster_a_request_over_the_size_limit_is_refused() {
    let Some((client, prefix)) = setup("too-large") else {
        return;
    };
    // etcd's --max-request-bytes is 1.5 MiB by default; its gRPC server takes 512 KiB more,
    // and refuses larger messages before etcd sees them.
    for (size, message) in [
        (1_600_000, "etcdserver: request is too large"),
        (2 * 1024 * 1024, "grpc: received message larger than max"),
    ] {
        let error = client
            .put(format!("{prefix}big"), vec![0u8; size])
            .await
            .expect_err("holds: the value is over the limit");
        assert_eq!(error.kind(), EtcdErrorKind::Invalid, "{error}");
        assert!(!error.outcome_unknown());
        assert!(error.to_string().contains(message), "{error}");
    }
    let none = client
        .range(RangeRequest::key(format!("{prefix}big")))
        .await;
    assert_eq!(none.expect("holds: range works").count, 0);
}
