//! The client against a scripted fake of etcd's gateway on 127.0.0.1:0 (answers as etcd
//! 3.4.23 gave them), for what a real cluster cannot be made to do on cue: a member that
//! answers "no leader", times out a proposal, drops the connection, never answers, or refuses
//! a token.

use std::time::{Duration, Instant};

use super::*;

mod fake;

use fake::{BAD_TOKEN, Fake, NO_LEADER, OK_PUT, Reply, TIMED_OUT, closed_port};

fn client(endpoints: &[&str], timeout_ms: u64) -> EtcdClient {
    let mut options = EtcdOptions::new(endpoints.iter().copied());
    options.timeout = Duration::from_millis(timeout_ms);
    EtcdClient::new(options).expect("holds because the test endpoints are valid")
}

#[test]
fn options_are_checked_without_io() {
    let invalid = |options: EtcdOptions| {
        let error = EtcdClient::new(options).expect_err("holds: the options are bad");
        assert_eq!(error.kind(), EtcdErrorKind::Invalid);
        error.to_string()
    };
    let none: [&str; 0] = [];
    assert!(invalid(EtcdOptions::new(none)).contains("no endpoints given"));
    assert!(invalid(EtcdOptions::new(["ftp://h:1"])).contains("not an http:// or https://"));
    assert!(invalid(EtcdOptions::new(["127.0.0.1:2379"])).contains("127.0.0.1:2379"));
    assert!(invalid(EtcdOptions::new(["http://h:1/v3"])).contains("without a path"));
    let secret = invalid(EtcdOptions::new(["http://root:hunter2@h:1"]));
    assert!(secret.contains("must not carry credentials"), "{secret}");
    assert!(!secret.contains("hunter2"), "{secret}");
    let mut lonely = EtcdOptions::new(["http://h:1"]);
    lonely.user = Some("root".into());
    assert!(invalid(lonely).contains("a user needs a password"));
    let mut zero = EtcdOptions::new(["http://h:1"]);
    zero.timeout = Duration::ZERO;
    assert!(invalid(zero).contains("timeout"));

    let ok = EtcdClient::new(EtcdOptions::new([" http://127.0.0.1:2379/", "https://h:1"]))
        .expect("holds: both are client URLs");
    assert_eq!(ok.endpoints(), ["http://127.0.0.1:2379", "https://h:1"]);
}

#[test]
fn debug_never_shows_the_password() {
    let mut options = EtcdOptions::new(["http://127.0.0.1:2379"]);
    options.user = Some("root".into());
    options.password = Some("hunter2".into());
    let printed = format!("{options:?}");
    assert!(printed.contains("<redacted>") && !printed.contains("hunter2"));
    let client = EtcdClient::new(options).expect("holds: the options are good");
    let printed = format!("{client:?}");
    assert!(printed.contains("127.0.0.1:2379") && !printed.contains("hunter2"));
}

/// A CA certificate made by `openssl req -x509 -newkey ec` for these tests.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUOi0NydwX28KbkHdHvDy+HX1L558wCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVc3dpZnRnaXQtZXRjZCB0ZXN0IENBMB4XDTI2MTIwNDE4MzU1
N1oXDTM2MTIwMTE4MzU1N1owIDEeMBwGA1UEAwwVc3dpZnRnaXQtZXRjZCB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVcQOcoPA9pd9MKEIGRQFhSaX
YwsTb4R98gS8Zws9R0Cr4o9xhaEXEEXJm7FFTflSwgpfFfhJ8zPXK70lhK4jP6NT
MFEwHQYDVR0OBBYEFM+UmCLN3kE9N+NROecOXZ9dXPjZMB8GA1UdIwQYMBaAFM+U
mCLN3kE9N+NROecOXZ9dXPjZMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SQAwRgIhAIAKGQD5MbgoCibQLoRPcY5qg+TMWuzBfQpoc3Gp4o3lAiEAwJCRxLyY
qKWW+mK+msguMaMRevzdVOzmAkk7WsexGgc=
-----END CERTIFICATE-----
";

#[test]
fn the_ca_file_is_read_and_checked_at_construction() {
    let dir = tempfile::tempdir().expect("holds: the temp dir is writable");
    let with_ca = |path: std::path::PathBuf| {
        let mut options = EtcdOptions::new(["https://127.0.0.1:2379"]);
        options.ca_file = Some(path);
        EtcdClient::new(options)
    };
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, TEST_CA).expect("holds: the temp dir is writable");
    with_ca(good).expect("holds: a PEM CA certificate loads");

    let missing = with_ca(dir.path().join("absent.pem")).expect_err("holds: no such file");
    assert_eq!(missing.kind(), EtcdErrorKind::Invalid);
    assert!(missing.to_string().contains("cannot read the CA file"));
    assert!(missing.to_string().contains("absent.pem"));

    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "just words").expect("holds: the temp dir is writable");
    let empty = with_ca(not_pem).expect_err("holds: no certificate in it");
    assert!(
        empty.to_string().contains("holds no PEM certificate"),
        "{empty}"
    );
}

#[tokio::test]
async fn a_closed_first_endpoint_is_skipped_at_once_and_then_avoided() {
    let fake = Fake::start(vec![OK_PUT]).await;
    let closed = closed_port().await;
    let client = client(&[&closed, &fake.url], 3000);
    let started = Instant::now();
    assert_eq!(
        client.put("k", "v").await.expect("holds: one member is up"),
        42
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    client.put("k", "v").await.expect("holds: one member is up");
    assert_eq!(fake.seen().len(), 2);
    let put = &fake.seen()[0];
    assert_eq!(put.path, "/v3/kv/put");
    assert_eq!(put.body, r#"{"key":"aw==","value":"dg=="}"#);
    assert_eq!(put.header("grpc-metadata-hasleader"), Some("true"));
    assert_eq!(put.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_write_refused_for_no_leader_is_repeated() {
    let fake = Fake::start(vec![NO_LEADER, NO_LEADER, OK_PUT]).await;
    let client = client(&[&fake.url], 3000);
    assert_eq!(
        client
            .put("k", "v")
            .await
            .expect("holds: the third try works"),
        42
    );
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn a_write_that_timed_out_in_etcd_is_not_repeated() {
    let fake = Fake::start(vec![TIMED_OUT, OK_PUT]).await;
    let client = client(&[&fake.url], 3000);
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: no second try");
    assert_eq!(error.kind(), EtcdErrorKind::Timeout);
    assert!(error.outcome_unknown());
    assert_eq!(fake.seen().len(), 1);
    // A read is repeated after the same answer.
    let fake = Fake::start(vec![TIMED_OUT, Reply::Json(200, r#"{"count":"0"}"#)]).await;
    let client = self::client(&[&fake.url], 3000);
    let range = client.range(RangeRequest::key("k")).await;
    assert_eq!(range.expect("holds: the read is repeated").count, 0);
}

#[tokio::test]
async fn a_connection_lost_after_sending_leaves_a_write_unknown() {
    let fake = Fake::start(vec![Reply::Close, OK_PUT]).await;
    let client = client(&[&fake.url], 3000);
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: no second try");
    assert_eq!(error.kind(), EtcdErrorKind::Unavailable);
    assert!(error.outcome_unknown(), "{error}");
    assert!(
        error
            .to_string()
            .contains("it may or may not have been applied")
    );
}

#[tokio::test]
async fn a_member_that_never_answers_costs_the_deadline_and_no_more() {
    let fake = Fake::start(vec![Reply::Hang]).await;
    let client = client(&[&fake.url], 400);
    let started = Instant::now();
    let error = client.put("k", "v").await.expect_err("holds: no answer");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(390) && elapsed < Duration::from_millis(900));
    assert_eq!(error.kind(), EtcdErrorKind::Timeout);
    assert!(error.outcome_unknown());
}

#[tokio::test]
async fn a_write_to_a_member_that_never_answers_ends_early_and_the_next_goes_elsewhere() {
    let frozen = Fake::start(vec![Reply::Hang]).await;
    let healthy = Fake::start(vec![OK_PUT]).await;
    let client = client(&[&frozen.url, &healthy.url], 3000);
    let started = Instant::now();
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: the first member never answers");
    let elapsed = started.elapsed();
    // One attempt's share of the deadline (half of it, with two members), not all of it.
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert_eq!(error.kind(), EtcdErrorKind::Timeout);
    assert!(error.outcome_unknown(), "{error}");
    assert_eq!(error.endpoints(), [frozen.url.as_str()]);
    assert!(healthy.seen().is_empty(), "holds: it is not repeated");
    // The caller sends it again: the new call, and the calls after it, start at the other.
    for _ in 0..2 {
        let put = client.put("k", "v").await;
        assert_eq!(put.expect("holds: the other member answers"), 42);
    }
    assert_eq!((frozen.seen().len(), healthy.seen().len()), (1, 2));
}

#[tokio::test]
async fn a_read_goes_past_a_member_that_never_answers_and_later_calls_avoid_it() {
    let frozen = Fake::start(vec![Reply::Hang]).await;
    let healthy = Fake::start(vec![Reply::Json(200, r#"{"count":"0"}"#)]).await;
    let client = client(&[&frozen.url, &healthy.url], 3000);
    let started = Instant::now();
    let range = client.range(RangeRequest::key("k")).await;
    assert_eq!(range.expect("holds: the other member answers").count, 0);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    let range = client.range(RangeRequest::key("k")).await;
    assert_eq!(range.expect("holds: the other member answers").count, 0);
    assert_eq!((frozen.seen().len(), healthy.seen().len()), (1, 2));
}

#[tokio::test]
async fn when_no_member_is_reachable_the_error_names_them_all() {
    let (one, two) = (closed_port().await, closed_port().await);
    let client = client(&[&one, &two], 300);
    let started = Instant::now();
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: nothing listens");
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!(error.kind(), EtcdErrorKind::Unavailable);
    assert!(!error.outcome_unknown());
    let message = error.to_string();
    assert!(message.starts_with(&format!(
        "etcd ({one}, {two}): unavailable: put: gave up after"
    )));
    assert!(message.contains("cannot connect"), "{message}");
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let fake = Fake::start(vec![
        Reply::Json(200, r#"{"token":"first.1"}"#),
        BAD_TOKEN,
        Reply::Json(200, r#"{"token":"second.2"}"#),
        OK_PUT,
        BAD_TOKEN,
    ])
    .await;
    let mut options = EtcdOptions::new([fake.url.as_str()]);
    options.user = Some("alice".into());
    options.password = Some("hunter2".into());
    let client = EtcdClient::new(options).expect("holds: the options are good");
    assert_eq!(
        client
            .put("k", "v")
            .await
            .expect("holds: the second token works"),
        42
    );
    let seen = fake.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v3/auth/authenticate",
            "/v3/kv/put",
            "/v3/auth/authenticate",
            "/v3/kv/put"
        ]
    );
    assert_eq!(seen[0].body, r#"{"name":"alice","password":"hunter2"}"#);
    assert_eq!(seen[1].header("authorization"), Some("first.1"));
    assert_eq!(seen[3].header("authorization"), Some("second.2"));
    // Refused again (the fake now refuses every token): one more authentication, then the error.
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: every token is refused");
    assert_eq!(error.kind(), EtcdErrorKind::Unauthenticated);
    assert!(!error.to_string().contains("hunter2") && !error.to_string().contains("first.1"));
}

#[tokio::test]
async fn credentials_are_not_sent_when_etcd_has_auth_disabled() {
    let fake = Fake::start(vec![
        Reply::Json(412, r#"{"error":"etcdserver: authentication is not enabled","message":"etcdserver: authentication is not enabled","code":9}"#),
        OK_PUT,
    ])
    .await;
    let mut options = EtcdOptions::new([fake.url.as_str()]);
    options.user = Some("root".into());
    options.password = Some("pw".into());
    let client = EtcdClient::new(options).expect("holds: the options are good");
    client.put("k", "v").await.expect("holds: no auth needed");
    client.put("k", "v").await.expect("holds: no auth needed");
    let seen = fake.seen();
    assert_eq!(seen.len(), 3, "one authentication attempt, two puts");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.header("authorization").is_none())
    );
}

#[tokio::test]
async fn an_answer_that_is_not_etcd_json_is_an_error_with_an_excerpt() {
    let fake = Fake::start(vec![Reply::Json(200, r#"{"header":"surprise"}"#)]).await;
    let client = client(&[&fake.url], 1000);
    let error = client
        .put("k", "v")
        .await
        .expect_err("holds: the body is odd");
    assert_eq!(error.kind(), EtcdErrorKind::Other);
    assert!(error.outcome_unknown());
    let message = error.to_string();
    assert!(
        message.contains(&fake.url) && message.contains("surprise"),
        "{message}"
    );
}

#[tokio::test]
async fn revoking_a_lease_that_is_gone_succeeds() {
    let gone = r#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#;
    let fake = Fake::start(vec![Reply::Json(404, gone)]).await;
    let client = client(&[&fake.url], 1000);
    client
        .lease_revoke(LeaseId(7))
        .await
        .expect("holds: gone is revoked");
    assert_eq!(fake.seen()[0].body, r#"{"ID":"7"}"#);
    let error = client.put_with_lease("k", "v", LeaseId(7)).await;
    let error = error.expect_err("holds: the lease is gone");
    assert_eq!(error.kind(), EtcdErrorKind::LeaseNotFound);
    assert!(!error.outcome_unknown());
}

#[tokio::test]
async fn status_asks_every_endpoint_once() {
    let body = r#"{"header":{"member_id":"7"},"version":"3.4.23","dbSize":"20480","leader":"7","raftTerm":"3"}"#;
    let fake = Fake::start(vec![Reply::Json(200, body)]).await;
    let closed = closed_port().await;
    let client = client(&[&fake.url, &closed], 1000);
    let statuses = client.status().await;
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].0, fake.url);
    let up = statuses[0].1.as_ref().expect("holds: the fake answers");
    assert!(up.is_leader() && up.version == "3.4.23" && up.raft_term == 3);
    let down = statuses[1].1.as_ref().expect_err("holds: nothing listens");
    assert_eq!(down.kind(), EtcdErrorKind::Unavailable);
    assert_eq!(fake.seen()[0].header("grpc-metadata-hasleader"), None);
}
