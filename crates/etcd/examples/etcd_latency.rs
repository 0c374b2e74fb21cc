//! Latency of one call through the JSON gateway, median and 90th percentile of N sequential
//! calls, beside a baseline measured in the same run: a serializable range, which one member
//! answers from its own copy (no raft round, no disk).
//!
//!   SWIFTGIT_TEST_ETCD=http://127.0.0.1:23791,... cargo run --release -p swiftgit-etcd \
//!       --example etcd_latency [N]

use std::cell::Cell;
use std::time::{Duration, Instant};

use swiftgit_etcd::{
    Compare, CompareOp, EtcdClient, EtcdOptions, RangeRequest, Txn, TxnOp, prefix_end,
};

async fn measure<F, Fut>(runs: usize, mut call: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        call(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[runs / 2], times[runs * 9 / 10])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(endpoints) = std::env::var("SWIFTGIT_TEST_ETCD") else {
        eprintln!("set SWIFTGIT_TEST_ETCD (scripts/etcd-dev env)");
        std::process::exit(2);
    };
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
        .max(1);
    let client = EtcdClient::new(EtcdOptions::new(endpoints.split(',')))
        .expect("holds when SWIFTGIT_TEST_ETCD holds client URLs");
    let prefix = format!("swiftgit-etcd-latency/{:08x}/", rand::random::<u32>());
    let key = format!("{prefix}k");
    client
        .put(key.as_str(), "v")
        .await
        .expect("etcd answers a put");

    let report = |name: &str, (median, p90): (Duration, Duration)| {
        println!("{name:<34} median {median:>9.2?}   p90 {p90:>9.2?}   ({runs} calls)");
    };
    report(
        "range, serializable (baseline)",
        measure(runs, |_| async {
            let read = RangeRequest::key(key.as_str()).with_serializable();
            client.range(read).await.expect("etcd answers a range");
        })
        .await,
    );
    report(
        "range, linearizable",
        measure(runs, |_| async {
            let read = RangeRequest::key(key.as_str());
            client.range(read).await.expect("etcd answers a range");
        })
        .await,
    );
    report(
        "put",
        measure(runs, |i| {
            let client = &client;
            let key = &key;
            async move {
                client
                    .put(key.as_str(), i.to_string())
                    .await
                    .expect("etcd answers a put");
            }
        })
        .await,
    );
    // Each txn expects the revision the previous one wrote, as a compare-and-swap does.
    let last = client.range(RangeRequest::key(key.as_str())).await;
    let revision = Cell::new(last.expect("etcd answers a range").kvs[0].mod_revision);
    report(
        "txn (mod_revision ==, put)",
        measure(runs, |i| {
            let (client, key, revision) = (&client, &key, &revision);
            async move {
                let txn = Txn::new()
                    .when(Compare::mod_revision(
                        key.as_str(),
                        CompareOp::Equal,
                        revision.get(),
                    ))
                    .on_success(TxnOp::put(key.as_str(), format!("t{i}")));
                let done = client.txn(txn).await.expect("etcd answers a txn");
                assert!(done.succeeded, "nobody else writes this key");
                revision.set(done.revision);
            }
        })
        .await,
    );
    report(
        "status of all members at once",
        measure(runs, |_| async {
            let first = client.status().await.into_iter().next();
            first.map(|(_, s)| s.expect("etcd answers status"));
        })
        .await,
    );
    let end = prefix_end(prefix.as_bytes());
    client
        .delete_range(prefix.into_bytes(), Some(end))
        .await
        .expect("etcd answers a delete");
}
