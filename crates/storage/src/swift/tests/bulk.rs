//! Deleting many objects against a fake Swift account: one `DELETE` per object when `/info`
//! offers no bulk deletes, pages of `POST ?bulk-delete` when it does, large objects by their
//! manifest, a token refused inside the bulk report, a name Swift could not delete, and
//! `delete_container` in bulk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use percent_encoding::percent_decode_str;
use serde_json::json;

use super::fake::{FakeRequest, FakeResponse, FakeServer};
use super::fake_swift_with_info;
use crate::swift::SwiftStorage;
use crate::swift::names::SEGMENT_PREFIX;
use crate::{ErrorKind, Storage};

const ACCOUNT: &str = "/v1/AUTH_test";

/// Containers and their (decoded) object names.
type Account = Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>;

/// What the fake does wrong.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    /// Tokens the deletes of a bulk request refuse (each name then fails with 401).
    refused_tokens: &'static [&'static str],
    /// A name whose delete fails with 409 in a bulk request.
    conflict: Option<&'static str>,
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn report(status: &str, deleted: u64, not_found: u64, errors: Vec<[String; 2]>) -> FakeResponse {
    // Swift's heartbeat comes first.
    let report = json!({
        "Response Status": status, "Response Body": "", "Number Deleted": deleted,
        "Number Not Found": not_found, "Errors": errors,
    });
    FakeResponse::new(200).body(format!(" \r\n\r\n{report}"))
}

/// `info` as `/info`; the account's containers answer HEAD, listings (with `prefix`),
/// DELETE when empty; objects answer DELETE (plain or `multipart-manifest=delete`, which
/// removes `.swiftgit-segments/<name>/…` too); the account answers `POST ?bulk-delete`.
async fn fake(info: serde_json::Value, account: Account, faults: Faults) -> FakeServer {
    FakeServer::start(fake_swift_with_info(info, move |req, token| {
        let mut account = account.lock().expect("holds because no handler panics");
        let rest = req.path().strip_prefix(ACCOUNT).unwrap_or_default();
        match rest.trim_start_matches('/').split_once('/') {
            None if rest.is_empty() => bulk_delete(req, token, &mut account, faults),
            None => container(req, &decode(&rest[1..]), &mut account),
            Some((c, name)) => {
                let Some(objects) = account.get_mut(&decode(c)) else {
                    return FakeResponse::new(404);
                };
                object_delete(req, &decode(name), objects)
            }
        }
    }))
    .await
}

fn bulk_delete(
    req: &FakeRequest,
    token: &str,
    account: &mut BTreeMap<String, BTreeSet<String>>,
    faults: Faults,
) -> FakeResponse {
    if req.method != "POST" || req.query("bulk-delete").is_none() {
        return FakeResponse::new(405);
    }
    let (mut deleted, mut not_found, mut errors) = (0, 0, Vec::new());
    for line in String::from_utf8_lossy(&req.body).lines() {
        let path = decode(line);
        let (c, name) = path[1..].split_once('/').expect("/container/object");
        if faults.refused_tokens.contains(&token) {
            errors.push([line.to_string(), "401 Unauthorized".to_string()]);
        } else if faults.conflict == Some(name) {
            errors.push([line.to_string(), "409 Conflict".to_string()]);
        } else if account
            .get_mut(c)
            .is_some_and(|objects| objects.remove(name))
        {
            deleted += 1;
        } else {
            not_found += 1;
        }
    }
    let status = if errors.is_empty() {
        "200 OK"
    } else {
        "400 Bad Request"
    };
    report(status, deleted, not_found, errors)
}

fn container(
    req: &FakeRequest,
    name: &str,
    account: &mut BTreeMap<String, BTreeSet<String>>,
) -> FakeResponse {
    let Some(objects) = account.get(name) else {
        return FakeResponse::new(404);
    };
    match req.method.as_str() {
        "HEAD" => FakeResponse::new(204),
        "GET" => {
            let prefix = decode(req.query("prefix").unwrap_or_default());
            let listed: Vec<_> = objects
                .iter()
                .filter(|object| object.starts_with(&prefix))
                .map(|object| json!({"name": object, "bytes": 1}))
                .collect();
            FakeResponse::new(200).json(json!(listed))
        }
        "DELETE" if objects.is_empty() => {
            account.remove(name);
            FakeResponse::new(204)
        }
        "DELETE" => FakeResponse::new(409),
        _ => FakeResponse::new(405),
    }
}

fn object_delete(req: &FakeRequest, name: &str, objects: &mut BTreeSet<String>) -> FakeResponse {
    if req.method != "DELETE" {
        return FakeResponse::new(405);
    }
    let found = objects.remove(name);
    if req.query("multipart-manifest") != Some("delete") {
        return FakeResponse::new(if found { 204 } else { 404 });
    }
    let segments = format!("{SEGMENT_PREFIX}{name}/");
    let before = objects.len();
    objects.retain(|object| !object.starts_with(&segments));
    let removed = (before - objects.len()) as u64;
    match (found, removed) {
        (false, _) => report("200 OK", 0, 1, Vec::new()),
        (true, 0) => report(
            "400 Bad Request",
            0,
            0,
            vec![[format!("/c/{name}"), "Not an SLO manifest".to_string()]],
        ),
        (true, n) => report("200 OK", n + 1, 0, Vec::new()),
    }
}

fn account_with(objects: &[&str]) -> Account {
    let names = objects.iter().map(|name| name.to_string()).collect();
    Arc::new(Mutex::new(BTreeMap::from([("c".to_string(), names)])))
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

fn info(bulk: bool) -> serde_json::Value {
    let mut info = json!({"swift": {}, "slo": {"max_manifest_segments": 1000}});
    if bulk {
        info["bulk_delete"] = json!({"max_deletes_per_request": 3, "max_failed_deletes": 1000});
    }
    info
}

async fn connect(server: &FakeServer) -> SwiftStorage {
    let config = super::config(server.url("/auth/v1.0"), swiftgit_config::AuthVersion::V1);
    SwiftStorage::connect(&config)
        .await
        .expect("fake auth works")
}

#[tokio::test]
async fn without_bulk_each_object_takes_one_delete() {
    let account = account_with(&["o0", "o1", "o2", "o3", "o4"]);
    let server = fake(info(false), account.clone(), Faults::default()).await;
    let store = connect(&server).await;
    assert_eq!(store.bulk_delete_page_size(), None);
    let names = strings(&["o0", "o1", "o2", "o3", "o4", "x1", "x2"]);
    assert_eq!(store.delete_many("c", &names).await.expect("deletes"), 5);
    assert!(account.lock().expect("unpoisoned")["c"].is_empty());
    let container = format!("{ACCOUNT}/c");
    assert_eq!(server.requests_to("DELETE", &container).len(), 7);
    assert_eq!(server.requests_to("POST", ACCOUNT).len(), 0);
    let listings = server.requests_to("GET", &container);
    assert_eq!(listings.len(), 1, "the segments are listed once");
    assert_eq!(
        listings[0].query("prefix").map(decode).as_deref(),
        Some(SEGMENT_PREFIX)
    );

    assert_eq!(store.delete_many("c", &names).await.expect("again"), 0);
    assert_eq!(
        server.requests_to("HEAD", ACCOUNT).len(),
        0,
        "listed: no HEAD"
    );
    let err = store.delete_many("gone", &names).await.expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(store.delete_many("gone", &[]).await.is_ok_and(|n| n == 0));
}

#[tokio::test]
async fn without_large_objects_a_head_tells_a_missing_container() {
    let account = account_with(&["o"]);
    let info = json!({"swift": {}});
    let server = fake(info, account, Faults::default()).await;
    let store = connect(&server).await;
    let names = strings(&["a", "b"]);
    let err = store.delete_many("gone", &names).await.expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(store.delete_many("c", &names).await.expect("absent"), 0);
    assert_eq!(
        store.delete_many("c", &strings(&["o"])).await.expect("o"),
        1
    );
    assert_eq!(server.requests_to("GET", ACCOUNT).len(), 0, "no listing");
    assert_eq!(
        server.requests_to("HEAD", ACCOUNT).len(),
        2,
        "one per empty result"
    );
}

#[tokio::test]
async fn bulk_deletes_go_in_pages() {
    let present = ["o0", "o1", "o2", "o3", "o4", "o5", "a b%"];
    let account = account_with(&present);
    let server = fake(info(true), account.clone(), Faults::default()).await;
    let store = connect(&server).await.with_bulk_delete_page_size(100);
    assert_eq!(
        store.bulk_delete_page_size(),
        Some(3),
        "clamped to the cluster's"
    );
    let mut names = strings(&present);
    names.push("absent".to_string());
    assert_eq!(store.delete_many("c", &names).await.expect("deletes"), 7);
    assert!(account.lock().expect("unpoisoned")["c"].is_empty());
    let posts = server.requests_to("POST", ACCOUNT);
    assert_eq!(posts.len(), 3, "8 names, 3 per request");
    for post in &posts {
        assert_eq!(post.path(), ACCOUNT);
        assert_eq!(post.query("bulk-delete"), Some(""));
        assert_eq!(post.header("content-type"), Some("text/plain"));
        assert_eq!(post.header("accept"), Some("application/json"));
    }
    let bodies: String = posts
        .iter()
        .map(|post| String::from_utf8_lossy(&post.body).into_owned())
        .collect();
    assert!(bodies.contains("/c/a%20b%25\n"), "{bodies}");
    assert_eq!(server.requests_to("DELETE", ACCOUNT).len(), 0);

    let one_by_one = store.without_bulk_delete();
    account
        .lock()
        .expect("unpoisoned")
        .get_mut("c")
        .expect("c")
        .insert("o0".into());
    assert_eq!(
        one_by_one.delete_many("c", &names).await.expect("deletes"),
        1
    );
    assert_eq!(server.requests_to("DELETE", ACCOUNT).len(), 8);
    assert_eq!(server.requests_to("POST", ACCOUNT).len(), 3);
}

#[tokio::test]
async fn a_token_refused_in_the_report_is_renewed_once() {
    let account = account_with(&["o0", "o1"]);
    let faults = Faults {
        refused_tokens: &["tok-1"],
        ..Faults::default()
    };
    let server = fake(info(true), account.clone(), faults).await;
    let store = connect(&server).await;
    let names = strings(&["o0", "o1"]);
    assert_eq!(store.delete_many("c", &names).await.expect("deletes"), 2);
    let posts = server.requests_to("POST", ACCOUNT);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].header("x-auth-token"), Some("tok-2"));
    assert_eq!(store.stats().auths, 2);

    let always = Faults {
        refused_tokens: &["tok-1", "tok-2"],
        ..Faults::default()
    };
    let server = fake(info(true), account_with(&["o0"]), always).await;
    let store = connect(&server).await;
    let err = store.delete_many("c", &names).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(server.requests_to("POST", ACCOUNT).len(), 2);
}

#[tokio::test]
async fn a_name_swift_cannot_delete_is_named() {
    let account = account_with(&["o0", "o1", "o2"]);
    let faults = Faults {
        conflict: Some("o1"),
        ..Faults::default()
    };
    let server = fake(info(true), account.clone(), faults).await;
    let store = connect(&server).await;
    let err = store
        .delete_many("c", &strings(&["o0", "o1", "o2"]))
        .await
        .expect_err("409");
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.message().contains("c/o1 (409 Conflict)"), "{err}");
    assert_eq!(
        account.lock().expect("unpoisoned")["c"],
        BTreeSet::from(["o1".to_string()]),
        "the others are deleted"
    );
}

#[tokio::test]
async fn large_objects_go_with_their_segments() {
    let segment = |n: u32| format!("{SEGMENT_PREFIX}big/18f2a3b4c5d6e7f8-0a1b2c3d/{n:08}");
    let (one, two) = (segment(1), segment(2));
    let account = account_with(&["big", &one, &two, "small"]);
    let server = fake(info(true), account.clone(), Faults::default()).await;
    let store = connect(&server).await;
    let names = strings(&["big", "small", "absent"]);
    assert_eq!(store.delete_many("c", &names).await.expect("deletes"), 2);
    assert!(
        account.lock().expect("unpoisoned")["c"].is_empty(),
        "no segment left"
    );
    let manifest = server.requests_to("DELETE", &format!("{ACCOUNT}/c/big"));
    assert_eq!(manifest.len(), 1);
    assert_eq!(manifest[0].query("multipart-manifest"), Some("delete"));
    let posts = server.requests_to("POST", ACCOUNT);
    assert_eq!(posts.len(), 1);
    assert_eq!(&posts[0].body[..], b"/c/small\n/c/absent\n");
}

#[tokio::test]
async fn delete_container_deletes_in_bulk() {
    let names: Vec<String> = (0..5).map(|i| format!("o{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let account = account_with(&refs);
    let server = fake(info(true), account.clone(), Faults::default()).await;
    let store = connect(&server).await;
    store.delete_container("c").await.expect("deleted");
    assert!(account.lock().expect("unpoisoned").is_empty());
    assert_eq!(
        server.requests_to("POST", ACCOUNT).len(),
        2,
        "5 names, 3 per request"
    );
    assert_eq!(
        server.requests_to("DELETE", ACCOUNT).len(),
        1,
        "the container"
    );
}
