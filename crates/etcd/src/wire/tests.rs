//! Requests compared with what etcd accepted, answers decoded from bodies etcd 3.4.23 sent
//! (recorded with curl against a 3-member cluster from scripts/etcd-dev).

use serde_json::json;

use super::*;
use crate::txn::TxnOp;

#[test]
fn ranges_encode_bytes_as_base64_and_int64_as_strings() {
    let request = RangeRequest::prefix("k").with_limit(1).with_keys_only();
    assert_eq!(
        range_request(&request),
        json!({"key": "aw==", "range_end": "bA==", "limit": "1", "keys_only": true})
    );
    // Defaults are left out, as etcd's own encoder does.
    assert_eq!(
        range_request(&RangeRequest::key("k1")),
        json!({"key": "azE="})
    );
    let serializable = RangeRequest::key("k1").with_serializable();
    assert_eq!(
        range_request(&serializable),
        json!({"key": "azE=", "serializable": true})
    );
}

#[test]
fn puts_and_deletes_encode_leases_and_range_ends_only_when_set() {
    assert_eq!(
        put_request(b"leased", b"v", Some(LeaseId(6568115512258588953))),
        json!({"key": "bGVhc2Vk", "value": "dg==", "lease": "6568115512258588953"})
    );
    assert_eq!(
        put_request(b"k", b"", None),
        json!({"key": "aw==", "value": ""})
    );
    assert_eq!(
        delete_range_request(b"k", Some(b"l")),
        json!({"key": "aw==", "range_end": "bA=="})
    );
    assert_eq!(delete_range_request(b"k", None), json!({"key": "aw=="}));
}

#[test]
fn compares_spell_targets_and_results_by_name() {
    let txn = Txn::new()
        .when(Compare::value("k1", CompareOp::Equal, "v2"))
        .when(Compare::mod_revision("new", CompareOp::NotEqual, 0))
        .when(Compare::absent("new"))
        .when(Compare::version("new", CompareOp::Greater, 0))
        .when(Compare::value("k1", CompareOp::Less, "v3"))
        .on_success(TxnOp::range(RangeRequest::key("k1")))
        .on_success(TxnOp::put("k3", "x"))
        .on_success(TxnOp::delete("k2"))
        .on_failure(TxnOp::range(RangeRequest::key("k2")));
    assert_eq!(
        txn_request(&txn),
        json!({
            "compare": [
                {"key": "azE=", "target": "VALUE", "result": "EQUAL", "value": "djI="},
                {"key": "bmV3", "target": "MOD", "result": "NOT_EQUAL", "mod_revision": "0"},
                {"key": "bmV3", "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
                {"key": "bmV3", "target": "VERSION", "result": "GREATER", "version": "0"},
                {"key": "azE=", "target": "VALUE", "result": "LESS", "value": "djM="},
            ],
            "success": [
                {"request_range": {"key": "azE="}},
                {"request_put": {"key": "azM=", "value": "eA=="}},
                {"request_delete_range": {"key": "azI="}},
            ],
            "failure": [{"request_range": {"key": "azI="}}],
        })
    );
}

#[test]
fn lease_and_auth_requests_use_the_proto_names() {
    assert_eq!(lease_grant_request(5), json!({"TTL": "5"}));
    assert_eq!(lease_id_request(LeaseId(-3)), json!({"ID": "-3"}));
    assert_eq!(
        authenticate_request("alice", "pw"),
        json!({"name": "alice", "password": "pw"})
    );
}

const HEADER: &str = r#""header":{"cluster_id":"2068557891230301920","member_id":"9032359348356537126","revision":"5","raft_term":"10"}"#;

#[test]
fn a_limited_range_says_more_and_counts_the_whole_range() {
    let body = format!(
        r#"{{{HEADER},"kvs":[{{"key":"azE=","create_revision":"3","mod_revision":"4","version":"2","value":"djI="}}],"more":true,"count":"2"}}"#
    );
    let range = decode_range(body.as_bytes()).expect("holds because etcd sent it");
    assert_eq!(
        range,
        RangeResponse {
            kvs: vec![KeyValue {
                key: b"k1".to_vec(),
                value: b"v2".to_vec(),
                create_revision: 3,
                mod_revision: 4,
                version: 2,
                lease: 0,
            }],
            more: true,
            count: 2,
            revision: 5,
        }
    );
}

#[test]
fn omitted_fields_are_their_defaults() {
    // A range that found nothing: no kvs, no count, no more.
    let empty = decode_range(format!("{{{HEADER}}}").as_bytes()).expect("holds: etcd sent it");
    assert_eq!(
        empty,
        RangeResponse {
            revision: 5,
            ..RangeResponse::default()
        }
    );
    // A key put with an empty value has no "value"; a keys-only read neither.
    let body = r#"{"header":{"revision":"7"},"kvs":[{"key":"bmV3","create_revision":"7","mod_revision":"7","version":"1"}],"count":"1"}"#;
    let kv = &decode_range(body.as_bytes())
        .expect("holds: etcd sent it")
        .kvs[0];
    assert_eq!(
        (kv.key.as_slice(), kv.value.as_slice()),
        (&b"new"[..], &b""[..])
    );
    // A delete that found nothing has no "deleted"; a failed txn no "succeeded".
    assert_eq!(
        decode_delete_range(format!("{{{HEADER}}}").as_bytes()),
        Ok(0)
    );
    let failed = decode_txn(format!("{{{HEADER}}}").as_bytes()).expect("holds: etcd sent it");
    assert_eq!((failed.succeeded, failed.responses.len()), (false, 0));
    // Numbers and nulls are taken too, though etcd 3.4 sends neither.
    let lenient = r#"{"header":{"revision":9},"kvs":null,"more":null,"count":3}"#;
    let range = decode_range(lenient.as_bytes()).expect("holds: numbers are accepted");
    assert_eq!((range.revision, range.count, range.more), (9, 3, false));
}

#[test]
fn txn_answers_keep_the_order_of_the_branch() {
    let body = format!(
        r#"{{{HEADER},"succeeded":true,"responses":[{{"response_range":{{"header":{{"revision":"5"}},"kvs":[{{"key":"azE=","create_revision":"3","mod_revision":"4","version":"2","value":"djI="}}],"count":"1"}}}},{{"response_put":{{"header":{{"revision":"6"}}}}}},{{"response_delete_range":{{"header":{{"revision":"6"}},"deleted":"1"}}}}]}}"#
    );
    let txn = decode_txn(body.as_bytes()).expect("holds because etcd sent it");
    assert!(txn.succeeded);
    assert_eq!(txn.revision, 5);
    assert!(matches!(&txn.responses[0], TxnOpResponse::Range(r) if r.kvs[0].value == b"v2"));
    assert_eq!(txn.responses[1], TxnOpResponse::Put);
    assert_eq!(txn.responses[2], TxnOpResponse::DeleteRange { deleted: 1 });
    let odd = decode_txn(br#"{"succeeded":true,"responses":[{"response_watch":{}}]}"#);
    assert_eq!(
        odd,
        Err(DecodeError("txn answer 0 is of no known kind".into()))
    );
}

#[test]
fn puts_answer_their_revision() {
    let body = r#"{"header":{"cluster_id":"2068557891230301920","member_id":"9032359348356537126","revision":"3","raft_term":"10"}}"#;
    assert_eq!(decode_put(body.as_bytes()), Ok(3));
}

#[test]
fn leases_decode_ids_and_ttls() {
    let grant = r#"{"header":{"revision":"8"},"ID":"6568115512258588953","TTL":"5"}"#;
    assert_eq!(
        decode_lease_grant(grant.as_bytes()),
        Ok(LeaseId(6568115512258588953))
    );
    assert!(decode_lease_grant(br#"{"header":{},"TTL":"5"}"#).is_err());
    let alive = "{\"result\":{\"header\":{\"revision\":\"9\"},\"ID\":\"6568115512258588953\",\"TTL\":\"5\"}}\n";
    assert_eq!(decode_keep_alive(alive.as_bytes()), Ok(5));
    // A revoked or expired lease: keep-alive still answers 200, without a TTL.
    let gone = "{\"result\":{\"header\":{\"revision\":\"10\"},\"ID\":\"6568115512258588953\"}}\n";
    assert_eq!(decode_keep_alive(gone.as_bytes()), Ok(0));
}

#[test]
fn status_uses_camel_case_and_reports_a_missing_leader() {
    let healthy = r#"{"header":{"cluster_id":"2068557891230301920","member_id":"9032359348356537126","revision":"10","raft_term":"10"},"version":"3.4.23","dbSize":"20480","leader":"8650098177844343648","raftIndex":"50","raftTerm":"10","raftAppliedIndex":"50","dbSizeInUse":"16384"}"#;
    let status = decode_status(healthy.as_bytes()).expect("holds because etcd sent it");
    assert_eq!(
        status,
        MemberStatus {
            version: "3.4.23".into(),
            leader: 8650098177844343648,
            member_id: 9032359348356537126,
            raft_term: 10,
            raft_index: 50,
            db_size: 20480,
            errors: vec![],
        }
    );
    let alone = r#"{"header":{"member_id":"8650098177844343648","revision":"11"},"version":"3.4.23","dbSize":"20480","raftIndex":"56","raftTerm":"10","raftAppliedIndex":"56","errors":["etcdserver: no leader"],"dbSizeInUse":"16384"}"#;
    let status = decode_status(alone.as_bytes()).expect("holds because etcd sent it");
    assert_eq!(status.leader, 0);
    assert_eq!(status.errors, ["etcdserver: no leader"]);
}

#[test]
fn tokens_decode_and_are_never_quoted_in_errors() {
    let body = r#"{"header":{"revision":"368"},"token":"JiawATNARTmMZGIr.429"}"#;
    assert_eq!(
        decode_authenticate(body.as_bytes()),
        Ok("JiawATNARTmMZGIr.429".to_owned())
    );
    let bad = decode_authenticate(br#"{"token":42,"secret":"JiawATNARTmMZGIr.429"}"#);
    let message = bad.expect_err("holds: a number is no token").0;
    assert!(!message.contains("JiawATNARTmMZGIr"), "{message}");
}

#[test]
fn error_bodies_give_code_and_message() {
    let unary = r#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#;
    assert_eq!(
        decode_error(503, unary.as_bytes()),
        ServerError {
            status: 503,
            code: Some(14),
            message: "etcdserver: no leader".into()
        }
    );
    let stream = r#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#;
    assert_eq!(decode_error(503, stream.as_bytes()).code, Some(14));
    assert_eq!(
        stream_error(200, stream.as_bytes()),
        Some(ServerError {
            status: 503,
            code: Some(14),
            message: "etcdserver: no leader".into()
        })
    );
    assert_eq!(stream_error(200, b"{\"result\":{}}\n"), None);
    // Not etcd's JSON at all: the start of the body, on one line.
    let page = decode_error(404, b"404 page\n not found\n");
    assert_eq!(
        (page.code, page.message.as_str()),
        (None, "404 page not found")
    );
    assert_eq!(decode_error(502, b"").message, "no body");
}

#[test]
fn decoders_never_panic_and_refuse_what_is_not_etcd_json() {
    let refused: [&[u8]; 7] = [
        b"",
        b"null",
        b"\xff\xfe",
        br#"{"kvs":[{"key":"not base64!"}]}"#,
        br#"{"count":"12x"}"#,
        br#"{"count":1e400}"#,
        br#"{"header":{"revision":"99999999999999999999"}}"#,
    ];
    for body in refused {
        assert!(decode_range(body).is_err(), "{body:?}");
    }
    let odd: [&[u8]; 4] = [b"[]", b"{}", br#"{"responses":[1,2]}"#, br#"{"error":[]}"#];
    for body in refused.iter().chain(&odd) {
        let _ = decode_range(body);
        let _ = decode_txn(body);
        let _ = decode_status(body);
        let _ = decode_keep_alive(body);
        let _ = decode_lease_grant(body);
        let _ = decode_authenticate(body);
        let _ = stream_error(200, body);
        assert!(!decode_error(500, body).message.is_empty());
    }
    assert!(excerpt(&[b'x'; 500]).chars().count() <= 161);
}
