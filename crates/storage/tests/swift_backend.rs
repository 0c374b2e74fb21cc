//! Swift-specific behaviour against a real Swift (tempauth, `SWIFTGIT_TEST_CONFIG`): static
//! large objects from files (segments hidden, removed on delete), paging, names, retries through
//! `Retrying`, the create-only race, measured, and `delete_many` with and without the bulk
//! middleware, large objects included. Unset: each test prints that it was skipped;
//! set: the tests FAIL if Swift cannot be reached. The shared conformance suite covers the rest.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use swiftgit_config::SwiftConfig;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_storage::{ErrorKind, PutMode, PutPayload, Storage};
use swiftgit_test_support::swift_test_config;

fn config() -> Option<SwiftConfig> {
    let config = swift_test_config();
    if config.is_none() {
        eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set (source ~/.cache/swiftgit-dev/env)");
    }
    config
}

/// A connected storage and a fresh container, or `None` when the test is switched off.
async fn setup(label: &str) -> Option<(SwiftStorage, String)> {
    let config = config()?;
    let store = SwiftStorage::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let container = format!("swiftgit-test-{label}-{:08x}", rand::random::<u32>());
    store
        .create_container(&container)
        .await
        .unwrap_or_else(|e| panic!("create container: {e}"));
    Some((store, container))
}

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Every name in the container, segments included, via the raw listing (`list` hides them).
async fn raw_names(store: &SwiftStorage, container: &str) -> Vec<String> {
    let config = config().expect("holds because setup found it");
    let http = reqwest::Client::new();
    let auth = http
        .get(&config.auth_url)
        .header("X-Auth-User", config.v1_user())
        .header("X-Auth-Key", config.password.expose())
        .send()
        .await
        .expect("tempauth");
    let token = auth.headers()["X-Auth-Token"].clone();
    let listing: Vec<serde_json::Value> = http
        .get(format!("{}/{container}?format=json", store.storage_url()))
        .header("X-Auth-Token", token)
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("JSON listing");
    listing
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn large_file_becomes_a_static_large_object() {
    let Some((store, container)) = setup("slo").await else {
        return;
    };
    let store = store.with_large_object_threshold(1 << 20);
    let data = pattern((5 << 19) + 777); // 2.5 MiB + 777: three segments
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &data).expect("write");
    let name = "objects/pack/pack-é 1.pack";
    let started = Instant::now();
    let meta = store
        .put(
            &container,
            name,
            PutPayload::File(file.path().to_path_buf()),
            PutMode::Create,
        )
        .await
        .expect("large put");
    eprintln!(
        "SLO put of {} bytes took {:?}",
        meta.size,
        started.elapsed()
    );
    assert_eq!(
        store.head(&container, name).await.expect("head").size,
        data.len() as u64
    );
    let mut body = store.get(&container, name).await.expect("get").body;
    let mut got = Vec::with_capacity(data.len());
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.expect("chunk"));
    }
    assert!(got == data, "the large object reads back whole");
    let across = (1 << 20) - 5..(1 << 20) + 5;
    assert_eq!(
        store
            .get_range(&container, name, across.clone())
            .await
            .expect("range"),
        data.slice(across.start as usize..across.end as usize)
    );
    let listed = store.list(&container, "").await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0].size,
        data.len() as u64,
        "listing shows the whole size"
    );
    let raw = raw_names(&store, &container).await;
    assert_eq!(
        raw.iter()
            .filter(|n| n.starts_with(".swiftgit-segments/"))
            .count(),
        3,
        "{raw:?}"
    );

    let err = store
        .put(&container, name, data.clone().into(), PutMode::Create)
        .await
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);

    store.delete(&container, name).await.expect("delete");
    assert_eq!(raw_names(&store, &container).await, Vec::<String>::new());
    let err = store.delete(&container, name).await.expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    store
        .delete_container(&container)
        .await
        .expect("delete container");
}

#[tokio::test]
async fn plain_objects_delete_and_paged_listings() {
    let Some((store, container)) = setup("paging").await else {
        return;
    };
    let store = store.with_listing_page_size(3);
    let names = ["a", "b b", "c%", "d?", "e#", "f/g", "über", "z"];
    for name in names {
        store
            .put(&container, name, name.into(), PutMode::Overwrite)
            .await
            .unwrap_or_else(|e| panic!("put {name}: {e}"));
    }
    let requests_before = store.stats().requests;
    let listed = store.list(&container, "").await.expect("list");
    let listed: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    let mut sorted = names.to_vec();
    sorted.sort_unstable(); // by UTF-8 bytes: "z" before "über"
    assert_eq!(listed, sorted);
    assert_eq!(
        store.stats().requests - requests_before,
        3,
        "8 names in pages of 3"
    );
    store.delete(&container, "f/g").await.expect("plain delete");
    let err = store.get(&container, "f/g").await.expect_err("deleted");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = store
        .put(&container, "x/../y", "z".into(), PutMode::Overwrite)
        .await
        .expect_err("dot segment");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    store
        .delete_container(&container)
        .await
        .expect("delete container");
    let err = store
        .list(&container, "")
        .await
        .expect_err("container gone");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn retrying_store_works_end_to_end() {
    let Some((store, container)) = setup("retrying").await else {
        return;
    };
    let store = Retrying::new(store, RetryPolicy::default());
    store
        .put(&container, "log/1", "one".into(), PutMode::Create)
        .await
        .expect("create");
    let err = store
        .put(&container, "log/1", "two".into(), PutMode::Create)
        .await
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    store.delete(&container, "log/1").await.expect("delete");
    store
        .delete_container(&container)
        .await
        .expect("delete container");
}

/// Measures how often two or more simultaneous create-only PUTs of one name all get 201.
#[tokio::test]
async fn create_only_race_is_measured() {
    let Some((store, container)) = setup("race").await else {
        return;
    };
    const ROUNDS: usize = 10;
    const WRITERS: usize = 8;
    let mut rounds_with_several_winners = 0;
    let mut total_winners = 0;
    for round in 0..ROUNDS {
        let name = format!("log/{round:04}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (store, container, name, barrier) = (
                    store.clone(),
                    container.clone(),
                    name.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    let body = Bytes::from(format!("writer {i} {}", "x".repeat(30)));
                    barrier.wait().await;
                    match store
                        .put(&container, &name, body.into(), PutMode::Create)
                        .await
                    {
                        Ok(_) => 1,
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => 0,
                        Err(e) => panic!("unexpected error in the race: {e}"),
                    }
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += task.await.expect("task");
        }
        assert!(winners >= 1);
        total_winners += winners;
        rounds_with_several_winners += usize::from(winners > 1);
    }
    eprintln!(
        "create-only race: {rounds_with_several_winners} of {ROUNDS} rounds had several 201s \
         ({total_winners} winners in all, {WRITERS} writers per round)"
    );
    store
        .delete_container(&container)
        .await
        .expect("delete container");
}

/// `delete_many` on the real cluster, in bulk (when its `/info` offers it) and one `DELETE`
/// per object: the same result, large objects go with their segments, and the request counts.
#[tokio::test]
async fn delete_many_in_bulk_and_one_by_one() {
    let Some((store, container)) = setup("bulk").await else {
        return;
    };
    let store = store.with_large_object_threshold(1 << 20);
    for (label, store) in [
        ("as /info offers", store.clone()),
        ("one by one", store.clone().without_bulk_delete()),
    ] {
        let mut names: Vec<String> = (0..30).map(|i| format!("loose/{i:02} é")).collect();
        for name in &names {
            store
                .put(&container, name, "x".into(), PutMode::Overwrite)
                .await
                .expect("put");
        }
        let big = "objects/pack/big.pack".to_string();
        store
            .put(
                &container,
                &big,
                pattern((3 << 19) + 1).into(),
                PutMode::Create,
            )
            .await
            .expect("large put");
        names.extend([big, "absent".to_string()]);
        let before = store.stats().requests;
        let removed = store
            .delete_many(&container, &names)
            .await
            .expect("delete_many");
        let requests = store.stats().requests - before;
        eprintln!(
            "delete_many {label} (bulk page {:?}): 31 of {} names removed with {requests} requests",
            store.bulk_delete_page_size(),
            names.len()
        );
        assert_eq!(removed, 31, "{label}");
        assert_eq!(
            raw_names(&store, &container).await,
            Vec::<String>::new(),
            "{label}"
        );
        match store.bulk_delete_page_size() {
            // The segment listing, the large object's manifest delete, one POST.
            Some(_) => assert_eq!(requests, 3, "{label}"),
            None => assert_eq!(requests, 1 + 1 + 31, "{label}"),
        }
        assert_eq!(
            store.delete_many(&container, &names).await.expect("again"),
            0
        );
    }
    store
        .delete_container(&container)
        .await
        .expect("delete container");
}
