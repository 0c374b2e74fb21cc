//! Authentication against a real Swift (and Keystone), one test per auth flavour. Each is
//! switched on by an environment variable naming a swiftgit config file (`scripts/swift-dev`
//! writes them and `~/.cache/swiftgit-dev/env`). Unset: the test prints that it was skipped.
//! Set: the test runs and FAILS if the service cannot be reached.
//!
//! - `SWIFTGIT_TEST_CONFIG`: tempauth (v1)
//! - `SWIFTGIT_TEST_CONFIG_V2`: a Keystone v2.0 stub in front of the same Swift
//! - `SWIFTGIT_TEST_CONFIG_V2_SHORT`: the stub handing out tokens that live 2 s
//! - `SWIFTGIT_TEST_CONFIG_V2_NOREGION`: the stub's catalog has the endpoint in another region
//! - `SWIFTGIT_TEST_CONFIG_V3`: a real Keystone v3

use std::time::Duration;

use swiftgit_config::{Secret, SwiftConfig};
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_storage::{ErrorKind, PutMode, Storage};
use swiftgit_test_support::swift_config_from;

/// The config named by `var`, or `None` (after saying so) when it is unset.
fn config_from(var: &str) -> Option<SwiftConfig> {
    let config = swift_config_from(var);
    if config.is_none() {
        eprintln!("skipped: {var} is not set (source ~/.cache/swiftgit-dev/env to run it)");
    }
    config
}

fn unique(label: &str) -> String {
    format!("swiftgit-test-{label}-{:08x}", rand::random::<u32>())
}

/// Connects, then a container, a put/get/delete round trip, and the container's removal.
async fn round_trip(config: &SwiftConfig, label: &str) -> SwiftStorage {
    let store = SwiftStorage::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{label}: connect: {e}"));
    let container = unique(label);
    assert!(
        store
            .create_container(&container)
            .await
            .unwrap_or_else(|e| panic!("{label}: create container: {e}")),
        "{label}: a fresh container is new"
    );
    let body = format!("hello from {label}");
    store
        .put(
            &container,
            "dir/object one",
            body.clone().into_bytes().into(),
            PutMode::Create,
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: put: {e}"));
    let got = store
        .get(&container, "dir/object one")
        .await
        .unwrap_or_else(|e| panic!("{label}: get: {e}"))
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{label}: read: {e}"));
    assert_eq!(got, body.as_bytes(), "{label}");
    store
        .delete(&container, "dir/object one")
        .await
        .unwrap_or_else(|e| panic!("{label}: delete: {e}"));
    let err = store
        .head(&container, "dir/object one")
        .await
        .expect_err("deleted");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{label}: {err}");
    store
        .delete_container(&container)
        .await
        .unwrap_or_else(|e| panic!("{label}: delete container: {e}"));
    store
}

/// The same config with a wrong password must be refused with a message naming the user.
async fn wrong_password(config: &SwiftConfig, label: &str) {
    let mut wrong = config.clone();
    wrong.password = Secret::new("definitely-not-the-password");
    let err = SwiftStorage::connect(&wrong)
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{label}: {err}");
    let text = err.to_string();
    assert!(text.contains(&config.user), "{label}: {text}");
    assert!(text.contains(&config.auth_url), "{label}: {text}");
    assert!(
        !text.contains("definitely-not-the-password"),
        "{label}: {text}"
    );
    eprintln!("{label}: wrong password → {text}");
}

async fn check(var: &str, label: &str) {
    let Some(config) = config_from(var) else {
        return;
    };
    let store = round_trip(&config, label).await;
    eprintln!("{label}: {store:?} {:?}", store.stats());
    wrong_password(&config, label).await;
}

#[tokio::test]
async fn v1_tempauth() {
    check("SWIFTGIT_TEST_CONFIG", "v1").await;
}

#[tokio::test]
async fn v2_keystone_stub() {
    check("SWIFTGIT_TEST_CONFIG_V2", "v2").await;
}

#[tokio::test]
async fn v3_keystone() {
    check("SWIFTGIT_TEST_CONFIG_V3", "v3").await;
}

#[tokio::test]
async fn v2_short_lived_tokens_are_renewed() {
    let Some(config) = config_from("SWIFTGIT_TEST_CONFIG_V2_SHORT") else {
        return;
    };
    let store = round_trip(&config, "v2-short").await;
    let container = unique("v2-short-expiry");
    store
        .create_container(&container)
        .await
        .expect("create container");
    let auths_before = store.stats().auths;
    // The stub's tokens live 2 s (SWIFTGIT_DEV_SHORT_TOKEN_LIFE); wait well past that.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    store
        .put(
            &container,
            "after-expiry",
            "late".into(),
            PutMode::Overwrite,
        )
        .await
        .expect("a put after the token expired re-authenticates and succeeds");
    let stats = store.stats();
    assert!(
        stats.auths > auths_before,
        "expected a re-authentication: {stats:?} (before: {auths_before})"
    );
    store
        .delete_container(&container)
        .await
        .expect("delete container");
    wrong_password(&config, "v2-short").await;
}

#[tokio::test]
async fn v2_catalog_without_the_region_is_refused() {
    let Some(config) = config_from("SWIFTGIT_TEST_CONFIG_V2_NOREGION") else {
        return;
    };
    let err = SwiftStorage::connect(&config)
        .await
        .expect_err("no object-store endpoint in the configured region");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let text = err.to_string();
    assert!(text.contains(&config.region_name), "{text}");
    assert!(text.contains("regions with one:"), "{text}");
    eprintln!("v2 without the region → {text}");
    wrong_password(&config, "v2-noregion").await;
}
