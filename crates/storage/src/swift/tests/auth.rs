//! Authentication (v1, v2.0, v3), its errors, and re-authentication after a 401.

use serde_json::json;
use swiftgit_config::AuthVersion;

use super::fake::{FakeRequest, FakeResponse, FakeServer};
use super::{PASSWORD, config, connect, fake_swift};
use crate::swift::SwiftStorage;
use crate::{ErrorKind, Storage};

#[tokio::test]
async fn unreachable_auth_url_is_unavailable_and_says_what_to_check() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/auth/v1.0");
    let err = SwiftStorage::connect(&config(url.clone(), AuthVersion::V1))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("check auth_url"), "{text}");
}

#[tokio::test]
async fn wrong_password_names_user_and_url_but_not_the_password() {
    let server = FakeServer::start(|req| match req.path() {
        "/auth/v1.0" | "/v2.0/tokens" | "/v3/auth/tokens" => FakeResponse::new(401).json(json!({
            "error": {"message": "The request you have made requires authentication.", "code": 401}
        })),
        _ => FakeResponse::new(404),
    })
    .await;
    for (path, version, user) in [
        ("/auth/v1.0", AuthVersion::V1, "test:tester"),
        ("/v2.0", AuthVersion::V2, "tester (tenant test)"),
        (
            "/v3",
            AuthVersion::V3,
            "tester (domain Default, project test",
        ),
    ] {
        let url = server.url(path);
        let err = SwiftStorage::connect(&config(url.clone(), version))
            .await
            .expect_err("wrong password");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        let text = err.to_string();
        assert!(text.contains("authentication failed"), "{text}");
        assert!(text.contains(user), "{text}");
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!format!("{err:?}").contains(PASSWORD));
    }
}

fn v2_document(origin: &str, region: &str) -> serde_json::Value {
    json!({"access": {
        "token": {"id": "v2-token", "expires": "2099-01-01T00:00:00Z"},
        "serviceCatalog": [
            {"type": "identity", "name": "keystone", "endpoints": [
                {"region": "RegionOne", "publicURL": format!("{origin}/v2.0")}]},
            {"type": "object-store", "name": "swift", "endpoints": [{
                "region": region,
                "publicURL": "http://public.invalid/v1/AUTH_test",
                "internalURL": format!("{origin}/v1/AUTH_test"),
                "adminURL": "http://admin.invalid/v1/AUTH_test",
            }]},
        ],
    }})
}

fn v3_document(origin: &str, region: &str) -> serde_json::Value {
    json!({"token": {"catalog": [
        {"type": "object-store", "name": "swift", "endpoints": [
            {"interface": "public", "region_id": region, "region": region,
             "url": "http://public.invalid/v1/AUTH_test"},
            {"interface": "internal", "region_id": region, "region": region,
             "url": format!("{origin}/v1/AUTH_test")},
        ]},
    ]}})
}

/// A Keystone v2.0 and v3 with the object-store endpoint in `region`, and a Swift behind it
/// that accepts their tokens. Checks the request documents on the way.
async fn keystone(region: &'static str) -> FakeServer {
    FakeServer::start(move |req| match (req.method.as_str(), req.path()) {
        ("POST", "/v2.0/tokens") => {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            let auth = &body["auth"];
            assert_eq!(auth["passwordCredentials"]["username"], "tester");
            assert_eq!(auth["passwordCredentials"]["password"], PASSWORD);
            assert_eq!(auth["tenantName"], "test");
            FakeResponse::new(200).json(v2_document(&req.origin(), region))
        }
        ("POST", "/v3/auth/tokens") => {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            let auth = &body["auth"];
            assert_eq!(auth["identity"]["methods"], json!(["password"]));
            let user = &auth["identity"]["password"]["user"];
            assert_eq!(user["name"], "tester");
            assert_eq!(user["domain"]["name"], "Default");
            assert_eq!(user["password"], PASSWORD);
            assert_eq!(auth["scope"]["project"]["name"], "test");
            assert_eq!(auth["scope"]["project"]["domain"]["name"], "Default");
            FakeResponse::new(201)
                .header("X-Subject-Token", "v3-token")
                .json(v3_document(&req.origin(), region))
        }
        ("GET", "/info") => FakeResponse::new(404),
        ("HEAD", "/v1/AUTH_test/c") => {
            let token = req.header("x-auth-token").unwrap_or_default();
            if token == "v2-token" || token == "v3-token" {
                FakeResponse::new(204)
            } else {
                FakeResponse::new(401)
            }
        }
        _ => FakeResponse::new(404),
    })
    .await
}

#[tokio::test]
async fn keystone_v2_and_v3_find_the_internal_endpoint_of_the_region() {
    let server = keystone("RegionOne").await;
    for (path, version) in [("/v2.0", AuthVersion::V2), ("/v3", AuthVersion::V3)] {
        let store = SwiftStorage::connect(&config(server.url(path), version))
            .await
            .expect("auth works");
        assert_eq!(store.storage_url(), server.url("/v1/AUTH_test"));
        assert!(store.container_exists("c").await.expect("head"));
    }
}

#[tokio::test]
async fn catalog_without_the_region_is_invalid_and_names_the_regions() {
    let server = keystone("RegionTwo").await;
    for (path, version) in [("/v2.0", AuthVersion::V2), ("/v3", AuthVersion::V3)] {
        let err = SwiftStorage::connect(&config(server.url(path), version))
            .await
            .expect_err("no endpoint in RegionOne");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("no object-store endpoint in region \"RegionOne\""),
            "{text}"
        );
        assert!(text.contains("regions with one: RegionTwo"), "{text}");
        assert!(text.contains("region_name"), "{text}");
    }
}

/// A Swift that refuses `tok-1` (expired) and accepts later tokens, or refuses all.
fn expiring_tokens(accept_fresh: bool) -> impl Fn(&FakeRequest, &str) -> FakeResponse {
    move |_req, token| {
        if token == "tok-1" || !accept_fresh {
            FakeResponse::new(401).body("<html><h1>Unauthorized</h1></html>")
        } else {
            FakeResponse::new(200).header("Content-Length", "5")
        }
    }
}

#[tokio::test]
async fn a_401_triggers_one_reauth_then_succeeds() {
    let server = FakeServer::start(fake_swift(expiring_tokens(true))).await;
    let store = connect(&server).await;
    let meta = store.head("c", "o").await.expect("re-auth then success");
    assert_eq!(meta.size, 5);
    assert_eq!(store.stats().auths, 2);
    store.head("c", "o").await.expect("the new token is kept");
    assert_eq!(store.stats().auths, 2);
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let server = FakeServer::start(fake_swift(expiring_tokens(false))).await;
    let store = connect(&server).await;
    let err = store.head("c", "o").await.expect_err("401 twice");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.message().contains("test:tester"), "{err}");
    assert!(err.message().contains("HEAD c/o"), "{err}");
    assert_eq!(store.stats().auths, 2);
}

#[tokio::test]
async fn concurrent_401s_share_one_reauth() {
    let server = FakeServer::start(fake_swift(expiring_tokens(true))).await;
    let store = connect(&server).await;
    let heads = (0..8).map(|i| {
        let store = store.clone();
        async move { store.head("c", &format!("o{i}")).await }
    });
    for result in futures::future::join_all(heads).await {
        result.expect("every request succeeds after the shared re-auth");
    }
    assert_eq!(store.stats().auths, 2);
}
