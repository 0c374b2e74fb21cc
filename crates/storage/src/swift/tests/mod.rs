//! The Swift backend against a fake Swift (`fake.rs`): authentication and re-authentication
//! (`auth.rs`); requests, retries, names, paging, large objects, timeouts and the connection
//! limit (`requests.rs`); deleting many objects, in bulk and one by one (`bulk.rs`). Real Swift
//! is exercised by `tests/swift_*.rs`.

mod auth;
mod bulk;
mod fake;
mod requests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use swiftgit_config::{AuthVersion, EndpointInterface, Secret, SwiftConfig};

use super::SwiftStorage;
use fake::{FakeRequest, FakeResponse, FakeServer};

const PASSWORD: &str = "s3cret-pass";

fn config(auth_url: String, auth_version: AuthVersion) -> SwiftConfig {
    SwiftConfig {
        auth_url,
        auth_version,
        tenant: Some("test".into()),
        user: "tester".into(),
        password: Secret::new(PASSWORD),
        region_name: "RegionOne".into(),
        endpoint_type: EndpointInterface::Internal,
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
        concurrency: 2,
        http_pool_length: 4,
        http_timeout: Duration::from_secs(2),
        chunk_length: SwiftConfig::DEFAULT_CHUNK_LENGTH,
        cache_length_mib: SwiftConfig::DEFAULT_CACHE_LENGTH_MIB,
    }
}

/// Answers tempauth (`/auth/v1.0`, tokens `tok-1`, `tok-2`, …) and `/info` (large objects,
/// no bulk deletes); passes storage requests (`/v1/AUTH_test/…`) to `storage` with the token
/// they carry.
fn fake_swift(
    storage: impl Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync + 'static,
) -> impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static {
    fake_swift_with_info(
        json!({
            "swift": {"max_file_size": 5_368_709_122u64, "container_listing_limit": 10000},
            "slo": {"max_manifest_segments": 1000},
        }),
        storage,
    )
}

/// [`fake_swift`] with another `/info` document.
fn fake_swift_with_info(
    info: serde_json::Value,
    storage: impl Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync + 'static,
) -> impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static {
    let issued = AtomicUsize::new(0);
    move |req| match req.path() {
        "/auth/v1.0" => {
            if req.header("x-auth-user") == Some("test:tester")
                && req.header("x-auth-key") == Some(PASSWORD)
            {
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                FakeResponse::new(200)
                    .header("X-Storage-Url", format!("{}/v1/AUTH_test", req.origin()))
                    .header("X-Auth-Token", format!("tok-{n}"))
            } else {
                FakeResponse::new(401).body("Unauthorized")
            }
        }
        "/info" => FakeResponse::new(200).json(info.clone()),
        _ => storage(req, req.header("x-auth-token").unwrap_or_default()),
    }
}

async fn connect(server: &FakeServer) -> SwiftStorage {
    let config = config(server.url("/auth/v1.0"), AuthVersion::V1);
    SwiftStorage::connect(&config)
        .await
        .expect("fake auth works")
}

/// An in-memory Swift keyed by raw path: PUT (honouring `If-None-Match: *`), GET, HEAD,
/// DELETE of objects.
fn object_store(
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
) -> impl Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync + 'static {
    move |req, _token| {
        let mut objects = objects.lock().expect("holds because no handler panics");
        let key = req.path().to_string();
        match req.method.as_str() {
            "PUT" => {
                if req.header("if-none-match") == Some("*") && objects.contains_key(&key) {
                    return FakeResponse::new(412);
                }
                objects.insert(key, req.body.clone());
                FakeResponse::new(201).header("Etag", format!("\"etag-{}\"", req.body.len()))
            }
            "GET" | "HEAD" => match objects.get(&key) {
                Some(body) => FakeResponse::new(200).body(body.clone()),
                None => FakeResponse::new(404),
            },
            "DELETE" => match objects.remove(&key) {
                Some(_) => FakeResponse::new(204),
                None => FakeResponse::new(404),
            },
            _ => FakeResponse::new(405),
        }
    }
}
