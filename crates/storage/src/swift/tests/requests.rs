//! Requests: retries, creates, names, paging, large objects, ranges, timeouts, limits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use swiftgit_config::AuthVersion;

use super::fake::{FakeResponse, FakeServer};
use super::{PASSWORD, config, connect, fake_swift, object_store};
use crate::retry::{RetryPolicy, Retrying, fast_policy};
use crate::swift::{SwiftStorage, body, client};
use crate::{ErrorKind, PutMode, PutPayload, Storage};

#[tokio::test]
async fn put_succeeds_after_three_503s_through_retrying() {
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = puts.clone();
    let server = FakeServer::start(fake_swift(move |req, _| {
        assert_eq!(req.method, "PUT");
        match counter.fetch_add(1, Ordering::SeqCst) {
            0..=2 => FakeResponse::new(503).body("<html><h1>Service Unavailable</h1></html>"),
            _ => FakeResponse::new(201),
        }
    }))
    .await;
    let store = Retrying::new(connect(&server).await, fast_policy(4));
    let meta = store
        .put("c", "o", "data".into(), PutMode::Overwrite)
        .await
        .expect("the fourth attempt succeeds");
    assert_eq!(meta.size, 4);
    assert_eq!(puts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn put_failing_with_503_every_time_names_the_status() {
    let server = FakeServer::start(fake_swift(|_, _| {
        FakeResponse::new(503).body("<html><h1>Service Unavailable</h1></html>")
    }))
    .await;
    let store = Retrying::new(connect(&server).await, fast_policy(3));
    let err = store
        .put("c", "o", "data".into(), PutMode::Overwrite)
        .await
        .expect_err("always 503");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let text = err.to_string();
    assert!(text.contains("HTTP 503 Service Unavailable"), "{text}");
    assert!(text.contains("PUT c/o"), "{text}");
    assert_eq!(server.requests_to("PUT", "/v1/").len(), 3);
}

#[tokio::test]
async fn create_answered_with_503_is_not_retried() {
    let server = FakeServer::start(fake_swift(|_, _| FakeResponse::new(503))).await;
    let store = Retrying::new(connect(&server).await, fast_policy(4));
    let err = store
        .put("c", "o", "data".into(), PutMode::Create)
        .await
        .expect_err("503");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.requests_to("PUT", "/v1/").len(), 1);
}

#[tokio::test]
async fn create_refused_at_connect_is_retried() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let server = FakeServer::start(fake_swift(object_store(objects.clone()))).await;
    let addr = server.addr;
    let storage = connect(&server).await;
    drop(server);
    let store = Retrying::new(
        storage,
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_millis(400),
        },
    );
    let restart = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        FakeServer::start_on(addr, fake_swift(object_store(objects))).await
    });
    store
        .put("c", "o", "data".into(), PutMode::Create)
        .await
        .expect("the retry after the refused connection creates it");
    let server = restart.await.expect("restarted");
    let puts = server.requests_to("PUT", "/v1/AUTH_test/c/o");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].header("if-none-match"), Some("*"));
}

/// Swift's proxy answers 404 to an object PUT whenever its own container lookup fails (a
/// container server slower than `conn_timeout`), even though the container exists.
#[tokio::test]
async fn create_answered_404_into_an_existing_container_is_retried() {
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = puts.clone();
    let server = FakeServer::start(fake_swift(move |req, _| match req.method.as_str() {
        "HEAD" => FakeResponse::new(204),
        "PUT" if counter.fetch_add(1, Ordering::SeqCst) == 0 => FakeResponse::new(404),
        _ => FakeResponse::new(201),
    }))
    .await;
    let store = Retrying::new(connect(&server).await, fast_policy(3));
    store
        .put("c", "o", "data".into(), PutMode::Create)
        .await
        .expect("the second attempt creates it");
    assert_eq!(puts.load(Ordering::SeqCst), 2);
    assert_eq!(server.requests_to("HEAD", "/v1/AUTH_test/c").len(), 1);
}

#[tokio::test]
async fn put_into_a_missing_container_is_not_found() {
    let server = FakeServer::start(fake_swift(|_, _| FakeResponse::new(404))).await;
    let store = Retrying::new(connect(&server).await, fast_policy(3));
    let err = store
        .put("c", "o", "data".into(), PutMode::Create)
        .await
        .expect_err("no container");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("container c does not exist"),
        "{err}"
    );
    assert_eq!(server.requests_to("PUT", "/v1/").len(), 1);
}

#[tokio::test]
async fn create_of_a_taken_name_is_already_exists() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let server = FakeServer::start(fake_swift(object_store(objects))).await;
    let store = connect(&server).await;
    store
        .put("c", "log/1", "a".into(), PutMode::Create)
        .await
        .expect("free");
    let err = store
        .put("c", "log/1", "b".into(), PutMode::Create)
        .await
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.message().contains("c/log/1"), "{err}");
    let bytes = store.get("c", "log/1").await.expect("get").bytes().await;
    assert_eq!(bytes.expect("body"), "a");
}

#[tokio::test]
async fn names_are_percent_encoded_with_slashes_kept() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let server = FakeServer::start(fake_swift(object_store(objects))).await;
    let store = connect(&server).await;
    store
        .put("my repo", "dir/a b%c?d#e+é", "x".into(), PutMode::Overwrite)
        .await
        .expect("put");
    let puts = server.requests_to("PUT", "/v1/");
    assert_eq!(
        puts[0].target,
        "/v1/AUTH_test/my%20repo/dir/a%20b%25c%3Fd%23e%2B%C3%A9"
    );
    let err = store
        .put("c", "a/../b", "x".into(), PutMode::Overwrite)
        .await
        .expect_err("dot segment");
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn listing_pages_are_followed_and_segments_hidden() {
    let names: Vec<String> = [
        ".swiftgit-segments/big/1/00000001",
        ".swiftgit-segments/big/1/00000002",
        "a",
        "b",
        "big",
        "c",
        "d",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = FakeServer::start(fake_swift(move |req, _| {
        assert_eq!(req.query("format"), Some("json"));
        let limit: usize = req
            .query("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(10000);
        let marker = req.query("marker").map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        });
        let page: Vec<_> = names
            .iter()
            .filter(|n| marker.as_ref().is_none_or(|m| *n > m))
            .take(limit)
            .map(|n| json!({"name": n, "bytes": n.len(), "hash": "x"}))
            .collect();
        FakeResponse::new(200).json(json!(page))
    }))
    .await;
    let store = connect(&server).await.with_listing_page_size(2);
    let listed = store.list("c", "").await.expect("list");
    let listed: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(listed, ["a", "b", "big", "c", "d"]);
    assert_eq!(
        server.requests_to("GET", "/v1/").len(),
        4,
        "7 names, pages of 2"
    );
}

#[tokio::test]
async fn large_payloads_become_segments_and_a_manifest() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let server = FakeServer::start(fake_swift(object_store(objects.clone()))).await;
    let store = connect(&server).await.with_large_object_threshold(10);
    let payload: Vec<u8> = (0..25u8).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pack");
    std::fs::write(&path, &payload).expect("write");
    store
        .put("c", "big one", PutPayload::File(path), PutMode::Create)
        .await
        .expect("large put");
    let stored = objects.lock().expect("unpoisoned").clone();
    let segments: Vec<(&String, &Vec<u8>)> = stored
        .iter()
        .filter(|(k, _)| k.contains(".swiftgit-segments"))
        .collect();
    assert_eq!(segments.len(), 3);
    let joined: Vec<u8> = segments
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    assert_eq!(joined, payload);
    assert!(
        segments[0]
            .0
            .starts_with("/v1/AUTH_test/c/.swiftgit-segments/big%20one/")
    );
    assert!(segments[2].0.ends_with("/00000003"));
    let manifest_put = server
        .requests_to("PUT", "/v1/AUTH_test/c/big%20one")
        .pop()
        .expect("manifest PUT");
    assert_eq!(manifest_put.query("multipart-manifest"), Some("put"));
    assert_eq!(manifest_put.header("if-none-match"), Some("*"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_put.body).expect("manifest is JSON");
    let sizes: Vec<u64> = manifest
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["size_bytes"].as_u64().expect("size"))
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
    let first_path = manifest[0]["path"].as_str().expect("path");
    assert!(
        first_path.starts_with("/c/.swiftgit-segments/big one/"),
        "{first_path}"
    );
    assert_eq!(manifest[2]["etag"], "etag-5");
    // A create checks the name first: a taken one costs no upload.
    let err = store
        .put("c", "big one", vec![0u8; 30].into(), PutMode::Create)
        .await
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(server.requests_to("PUT", "/v1/").len(), 4);
}

#[tokio::test]
async fn a_failed_segment_upload_deletes_the_segments() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let store_objects = object_store(objects.clone());
    let server = FakeServer::start(fake_swift(move |req, token| {
        if req.method == "PUT" && req.path().ends_with("/00000002") {
            FakeResponse::new(400).body("Bad segment")
        } else {
            store_objects(req, token)
        }
    }))
    .await;
    let store = connect(&server)
        .await
        .with_large_object_threshold(10)
        .with_segment_retry_policy(fast_policy(2));
    let err = store
        .put("c", "big", vec![7u8; 45].into(), PutMode::Overwrite)
        .await
        .expect_err("segment 2 refused");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.message().contains("00000002"), "{err}");
    let left: Vec<String> = objects
        .lock()
        .expect("unpoisoned")
        .keys()
        .cloned()
        .collect();
    assert!(left.is_empty(), "segments left: {left:?}");
    assert!(server.requests_to("DELETE", "/v1/").len() >= 2);
    assert!(server.requests_to("PUT", "/v1/AUTH_test/c/big?").is_empty());
}

#[tokio::test]
async fn ranges_are_requested_and_416_is_range_not_satisfiable() {
    let server = FakeServer::start(fake_swift(|req, _| match req.header("range") {
        Some("bytes=2-4") => FakeResponse::new(206)
            .header("Content-Range", "bytes 2-4/10")
            .body("cde"),
        Some("bytes=8-11") => FakeResponse::new(206)
            .header("Content-Range", "bytes 8-9/10")
            .body("ij"),
        Some(_) => FakeResponse::new(416).header("Content-Range", "bytes */10"),
        None => FakeResponse::new(400),
    }))
    .await;
    let store = connect(&server).await;
    assert_eq!(store.get_range("c", "o", 2..5).await.expect("range"), "cde");
    assert_eq!(
        store.get_range("c", "o", 8..12).await.expect("clipped"),
        "ij"
    );
    assert!(
        store
            .get_range("c", "o", 3..3)
            .await
            .expect("empty")
            .is_empty()
    );
    let err = store
        .get_range("c", "o", 10..20)
        .await
        .expect_err("past the end");
    assert_eq!(err.kind(), ErrorKind::RangeNotSatisfiable);
    assert!(err.message().contains("10 bytes"), "{err}");
    let requests = server.requests_to("GET", "/v1/").len();
    assert_eq!(requests, 3, "the empty range sends nothing");
}

#[tokio::test]
async fn a_silent_server_times_out_as_unavailable() {
    let server = FakeServer::start(fake_swift(|_, _| {
        FakeResponse::new(200).delay(Duration::from_secs(30))
    }))
    .await;
    let mut config = config(server.url("/auth/v1.0"), AuthVersion::V1);
    config.http_timeout = Duration::from_millis(500);
    let store = SwiftStorage::connect(&config).await.expect("auth");
    let started = Instant::now();
    let err = store.head("c", "o").await.expect_err("no answer");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("http_timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn concurrent_requests_are_bounded_by_the_pool_length() {
    let server = FakeServer::start(fake_swift(|_, _| {
        FakeResponse::new(200)
            .header("Content-Length", "1")
            .delay(Duration::from_millis(100))
    }))
    .await;
    let mut config = config(server.url("/auth/v1.0"), AuthVersion::V1);
    config.http_pool_length = 2;
    let store = SwiftStorage::connect(&config).await.expect("auth");
    let heads = (0..6).map(|i| {
        let store = store.clone();
        async move { store.head("c", &format!("o{i}")).await }
    });
    for result in futures::future::join_all(heads).await {
        result.expect("head");
    }
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test]
async fn a_file_that_shrinks_during_upload_is_an_io_error() {
    let server = FakeServer::start(fake_swift(|_, _| FakeResponse::new(201))).await;
    let store = connect(&server).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    std::fs::write(&path, b"short").expect("write");
    let call = client::Call::new(reqwest::Method::PUT, client::Target::Object("c", "o")).body(
        body::RequestBody::File {
            path: Arc::new(path),
            offset: 0,
            len: 50,
        },
    );
    let err = store.client.send(&call).await.err().expect("short file");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("was it changed"), "{err}");
}

#[tokio::test]
async fn debug_and_stats_show_no_secrets_and_count_traffic() {
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let server = FakeServer::start(fake_swift(object_store(objects))).await;
    let store = connect(&server).await;
    store
        .put("c", "o", vec![1u8; 1000].into(), PutMode::Overwrite)
        .await
        .expect("put");
    let body = store.get("c", "o").await.expect("get").bytes().await;
    assert_eq!(body.expect("body").len(), 1000);
    let debug = format!("{store:?}");
    assert!(debug.contains("/v1/AUTH_test"), "{debug}");
    assert!(debug.contains("test:tester"), "{debug}");
    assert!(
        !debug.contains("tok-1") && !debug.contains(PASSWORD),
        "{debug}"
    );
    let stats = store.stats();
    assert_eq!(stats.auths, 1);
    assert_eq!(stats.requests, 4, "auth, /info, PUT, GET");
    assert_eq!(stats.bytes_sent, 1000);
    // The body of the GET, and the /info document.
    assert!((1000..1300).contains(&stats.bytes_received), "{stats:?}");
}
