//! etcd's JSON gateway, spelled out: requests built as JSON values, answers decoded leniently
//! into the types of `kv` and `txn`. Pure functions over bytes; no IO, and no body, however
//! odd, makes them panic.
//!
//! Facts checked against etcd 3.4.23 (the recorded bodies are in `wire/tests.rs`):
//! - bytes (keys, values) are standard base64 with padding; int64 and uint64 fields are JSON
//!   strings (`"revision":"5"`); numbers are accepted too.
//! - proto3 defaults are omitted: no `kvs` means none, no `more` or `succeeded` means false,
//!   no `count`, `deleted` or `TTL` means 0, no `value` means an empty value.
//! - enums go by name: compare targets `VERSION`, `CREATE`, `MOD`, `VALUE`; results `EQUAL`,
//!   `GREATER`, `LESS`, `NOT_EQUAL`.
//! - field names are the proto's: snake_case for kv (`range_end`, `mod_revision`), `ID` and
//!   `TTL` for leases, camelCase for status (`dbSize`, `raftTerm`).
//! - lease keep-alive is a stream: its answer comes wrapped, `{"result":{…}}` and a newline.
//! - an error is `{"error":"…","message":"…","code":<gRPC code>}` with an HTTP status (400
//!   invalid argument, 401 unauthenticated, 403 permission denied, 404 not found, 412 failed
//!   precondition, 500 unknown, 503 unavailable); a stream's is
//!   `{"error":{"grpc_code":14,"http_code":503,"message":"…","http_status":"…"}}`.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use lenient::{bytes, integer, nullable};

use crate::kv::{KeyValue, LeaseId, MemberStatus, RangeRequest, RangeResponse};
use crate::txn::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse, TxnResponse};

/// Standard alphabet with padding, as etcd writes it.
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

mod lenient;

/// An answer that is not what the request expects: what was wrong, without the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An error etcd answered: the HTTP status, the gRPC code when the body had one, and etcd's
/// message (or the start of the body when it had none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerError {
    pub status: u16,
    pub code: Option<i64>,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> Value {
    Value::String(BASE64.encode(bytes))
}

fn int64(n: i64) -> Value {
    Value::String(n.to_string())
}

pub(crate) fn range_request(request: &RangeRequest) -> Value {
    let mut body = json!({ "key": b64(&request.key) });
    if let Some(end) = request.range_end.as_deref().filter(|end| !end.is_empty()) {
        body["range_end"] = b64(end);
    }
    if request.limit > 0 {
        body["limit"] = int64(request.limit);
    }
    if request.serializable {
        body["serializable"] = Value::Bool(true);
    }
    if request.keys_only {
        body["keys_only"] = Value::Bool(true);
    }
    body
}

pub(crate) fn put_request(key: &[u8], value: &[u8], lease: Option<LeaseId>) -> Value {
    let mut body = json!({ "key": b64(key), "value": b64(value) });
    if let Some(LeaseId(id)) = lease.filter(|lease| lease.0 != 0) {
        body["lease"] = int64(id);
    }
    body
}

pub(crate) fn delete_range_request(key: &[u8], range_end: Option<&[u8]>) -> Value {
    let mut body = json!({ "key": b64(key) });
    if let Some(end) = range_end.filter(|end| !end.is_empty()) {
        body["range_end"] = b64(end);
    }
    body
}

fn compare_json(compare: &Compare) -> Value {
    let result = |op: &CompareOp| match op {
        CompareOp::Equal => "EQUAL",
        CompareOp::Greater => "GREATER",
        CompareOp::Less => "LESS",
        CompareOp::NotEqual => "NOT_EQUAL",
    };
    let (target, op, field, operand) = match compare {
        Compare::Value { op, value, .. } => ("VALUE", op, "value", b64(value)),
        Compare::ModRevision { op, revision, .. } => ("MOD", op, "mod_revision", int64(*revision)),
        Compare::CreateRevision { op, revision, .. } => {
            ("CREATE", op, "create_revision", int64(*revision))
        }
        Compare::Version { op, version, .. } => ("VERSION", op, "version", int64(*version)),
    };
    let mut body = json!({ "key": b64(compare.key()), "target": target, "result": result(op) });
    body[field] = operand;
    body
}

fn op_json(op: &TxnOp) -> Value {
    match op {
        TxnOp::Range(request) => json!({ "request_range": range_request(request) }),
        TxnOp::Put { key, value, lease } => {
            json!({ "request_put": put_request(key, value, *lease) })
        }
        TxnOp::DeleteRange { key, range_end } => {
            json!({ "request_delete_range": delete_range_request(key, range_end.as_deref()) })
        }
    }
}

pub(crate) fn txn_request(txn: &Txn) -> Value {
    json!({
        "compare": txn.compare.iter().map(compare_json).collect::<Vec<_>>(),
        "success": txn.success.iter().map(op_json).collect::<Vec<_>>(),
        "failure": txn.failure.iter().map(op_json).collect::<Vec<_>>(),
    })
}

pub(crate) fn lease_grant_request(ttl_secs: i64) -> Value {
    json!({ "TTL": int64(ttl_secs) })
}

/// The body of keep-alive and revoke: the lease id alone.
pub(crate) fn lease_id_request(id: LeaseId) -> Value {
    json!({ "ID": int64(id.0) })
}

pub(crate) fn authenticate_request(user: &str, password: &str) -> Value {
    json!({ "name": user, "password": password })
}

#[derive(Deserialize, Default)]
struct Header {
    #[serde(default, deserialize_with = "integer")]
    revision: i64,
    #[serde(default, deserialize_with = "integer")]
    member_id: u64,
}

#[derive(Deserialize)]
struct KeyValueJson {
    #[serde(default, deserialize_with = "bytes")]
    key: Vec<u8>,
    #[serde(default, deserialize_with = "bytes")]
    value: Vec<u8>,
    #[serde(default, deserialize_with = "integer")]
    create_revision: i64,
    #[serde(default, deserialize_with = "integer")]
    mod_revision: i64,
    #[serde(default, deserialize_with = "integer")]
    version: i64,
    #[serde(default, deserialize_with = "integer")]
    lease: i64,
}

impl From<KeyValueJson> for KeyValue {
    fn from(kv: KeyValueJson) -> Self {
        KeyValue {
            key: kv.key,
            value: kv.value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
        }
    }
}

#[derive(Deserialize)]
struct RangeJson {
    #[serde(default, deserialize_with = "nullable")]
    header: Header,
    #[serde(default, deserialize_with = "nullable")]
    kvs: Vec<KeyValueJson>,
    #[serde(default, deserialize_with = "nullable")]
    more: bool,
    #[serde(default, deserialize_with = "integer")]
    count: i64,
}

impl From<RangeJson> for RangeResponse {
    fn from(range: RangeJson) -> Self {
        RangeResponse {
            kvs: range.kvs.into_iter().map(KeyValue::from).collect(),
            more: range.more,
            count: range.count,
            revision: range.header.revision,
        }
    }
}

#[derive(Deserialize)]
struct HeaderOnlyJson {
    #[serde(default, deserialize_with = "nullable")]
    header: Header,
}

#[derive(Deserialize)]
struct DeleteRangeJson {
    #[serde(default, deserialize_with = "integer")]
    deleted: i64,
}

#[derive(Deserialize)]
struct TxnOpJson {
    #[serde(default)]
    response_range: Option<RangeJson>,
    #[serde(default)]
    response_put: Option<Value>,
    #[serde(default)]
    response_delete_range: Option<DeleteRangeJson>,
}

#[derive(Deserialize)]
struct TxnJson {
    #[serde(default, deserialize_with = "nullable")]
    header: Header,
    #[serde(default, deserialize_with = "nullable")]
    succeeded: bool,
    #[serde(default, deserialize_with = "nullable")]
    responses: Vec<TxnOpJson>,
}

#[derive(Deserialize)]
struct LeaseJson {
    #[serde(rename = "ID", default, deserialize_with = "integer")]
    id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "integer")]
    ttl: i64,
    #[serde(default, deserialize_with = "nullable")]
    error: String,
}

#[derive(Deserialize)]
struct KeepAliveJson {
    #[serde(default)]
    result: Option<LeaseJson>,
}

#[derive(Deserialize)]
struct AuthenticateJson {
    #[serde(default, deserialize_with = "nullable")]
    token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson {
    #[serde(default, deserialize_with = "nullable")]
    header: Header,
    #[serde(default, deserialize_with = "nullable")]
    version: String,
    #[serde(default, deserialize_with = "integer")]
    db_size: i64,
    #[serde(default, deserialize_with = "integer")]
    leader: u64,
    #[serde(default, deserialize_with = "integer")]
    raft_index: u64,
    #[serde(default, deserialize_with = "integer")]
    raft_term: u64,
    #[serde(default, deserialize_with = "nullable")]
    errors: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|e| DecodeError(format!("not a {what} answer: {e}")))
}

pub(crate) fn decode_range(body: &[u8]) -> Result<RangeResponse, DecodeError> {
    decode::<RangeJson>("range", body).map(RangeResponse::from)
}

/// The revision a put created.
pub(crate) fn decode_put(body: &[u8]) -> Result<i64, DecodeError> {
    Ok(decode::<HeaderOnlyJson>("put", body)?.header.revision)
}

/// How many keys a delete removed.
pub(crate) fn decode_delete_range(body: &[u8]) -> Result<i64, DecodeError> {
    Ok(decode::<DeleteRangeJson>("delete-range", body)?.deleted)
}

pub(crate) fn decode_txn(body: &[u8]) -> Result<TxnResponse, DecodeError> {
    let txn: TxnJson = decode("txn", body)?;
    let responses = txn
        .responses
        .into_iter()
        .enumerate()
        .map(|(index, op)| match op {
            TxnOpJson {
                response_range: Some(range),
                ..
            } => Ok(TxnOpResponse::Range(range.into())),
            TxnOpJson {
                response_put: Some(_),
                ..
            } => Ok(TxnOpResponse::Put),
            TxnOpJson {
                response_delete_range: Some(delete),
                ..
            } => Ok(TxnOpResponse::DeleteRange {
                deleted: delete.deleted,
            }),
            _ => Err(DecodeError(format!(
                "txn answer {index} is of no known kind"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(TxnResponse {
        succeeded: txn.succeeded,
        revision: txn.header.revision,
        responses,
    })
}

pub(crate) fn decode_lease_grant(body: &[u8]) -> Result<LeaseId, DecodeError> {
    let lease: LeaseJson = decode("lease-grant", body)?;
    if !lease.error.is_empty() {
        return Err(DecodeError(format!("no lease granted: {}", lease.error)));
    }
    if lease.id == 0 {
        return Err(DecodeError("lease-grant answer without a lease ID".into()));
    }
    Ok(LeaseId(lease.id))
}

/// The lease's remaining TTL in seconds; 0 when the lease is gone.
pub(crate) fn decode_keep_alive(body: &[u8]) -> Result<i64, DecodeError> {
    let first = body
        .split(|&byte| byte == b'\n')
        .find(|line| !line.trim_ascii().is_empty())
        .unwrap_or_default();
    match decode::<KeepAliveJson>("lease keep-alive", first)?.result {
        Some(lease) => Ok(lease.ttl.max(0)),
        None => Err(DecodeError(
            "lease keep-alive answer without a result".into(),
        )),
    }
}

/// The token, never shown in an error.
pub(crate) fn decode_authenticate(body: &[u8]) -> Result<String, DecodeError> {
    let token = serde_json::from_slice::<AuthenticateJson>(body)
        .map_err(|_| DecodeError("not an authenticate answer".into()))?
        .token;
    if token.is_empty() {
        return Err(DecodeError("authenticate answer without a token".into()));
    }
    Ok(token)
}

pub(crate) fn decode_status(body: &[u8]) -> Result<MemberStatus, DecodeError> {
    let status: StatusJson = decode("status", body)?;
    Ok(MemberStatus {
        version: status.version,
        leader: status.leader,
        member_id: status.header.member_id,
        raft_term: status.raft_term,
        raft_index: status.raft_index,
        db_size: status.db_size,
        errors: status.errors,
    })
}

/// The error a non-2xx answer carries. Never fails: a body that is not etcd's error JSON gives
/// its start as the message.
pub(crate) fn decode_error(status: u16, body: &[u8]) -> ServerError {
    let parsed = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let (code, message) = match &parsed["error"] {
        Value::String(error) => {
            let message = parsed["message"].as_str().filter(|m| !m.is_empty());
            (parsed["code"].as_i64(), message.unwrap_or(error).to_owned())
        }
        inner @ Value::Object(_) => (
            inner["grpc_code"].as_i64(),
            inner["message"].as_str().unwrap_or_default().to_owned(),
        ),
        _ => (None, String::new()),
    };
    let message = if message.is_empty() {
        match excerpt(body) {
            quoted if quoted.is_empty() => "no body".to_owned(),
            quoted => quoted,
        }
    } else {
        message
    };
    ServerError {
        status,
        code,
        message,
    }
}

/// The error inside a 200 answer of a stream (keep-alive): a stream fails after its headers
/// went out, so the error can only be in the body.
pub(crate) fn stream_error(status: u16, body: &[u8]) -> Option<ServerError> {
    let first = body.split(|&byte| byte == b'\n').next().unwrap_or_default();
    // Cheap test first: every 2xx body passes through here, ranges can be megabytes.
    if !first.trim_ascii_start().starts_with(b"{\"error\"") {
        return None;
    }
    let value = serde_json::from_slice::<Value>(first).ok()?;
    let inner = value.get("error").filter(|error| error.is_object())?;
    let status = inner["http_code"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or(status);
    Some(decode_error(status, first))
}

/// The start of a body on one line, for a message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 160;
    let text = String::from_utf8_lossy(&body[..body.len().min(1024)]);
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > MAX_CHARS {
        let cut: String = joined.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests;
