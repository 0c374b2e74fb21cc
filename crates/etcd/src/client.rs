//! The client a caller holds: [`EtcdOptions`] checked once by [`EtcdClient::new`] (no IO), and
//! one method per etcd call, each stating what it guarantees and how it is retried. The
//! methods build JSON with `wire`, send it with `transport`, and decode the answer.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::error::{EtcdError, EtcdErrorKind};
use crate::kv::{LeaseId, MemberStatus, RangeRequest, RangeResponse};
use crate::stats::{TxnCounters, TxnStats};
use crate::transport::{Answer, CONNECT_TIMEOUT, Call, CallKind, Credentials, Transport};
use crate::txn::{Txn, TxnResponse};
use crate::wire;

/// How idle connections to a member are kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where etcd is and how to talk to it.
#[derive(Clone)]
pub struct EtcdOptions {
    /// Client URLs of the members, "http://host:port" or "https://host:port".
    pub endpoints: Vec<String>,
    /// With `password`: authenticate as this user (etcd's simple or JWT tokens).
    pub user: Option<String>,
    /// Never printed by `Debug`.
    pub password: Option<String>,
    /// A PEM file of the CA(s) that signed the members' certificates, for https endpoints.
    /// When given, only these CAs are trusted.
    pub ca_file: Option<PathBuf>,
    /// The deadline of a whole call, retries included. One attempt gets a share of it: what
    /// is left divided by the number of endpoints, but at least 2 s and at most half of what
    /// is left (all of it when that is under 1 s, or for a write with a single endpoint). A
    /// member that accepts connections and never answers thus costs a call one share; a write
    /// then fails with [`EtcdError::outcome_unknown`], and the next call starts at another
    /// member.
    pub timeout: Duration,
}

impl EtcdOptions {
    /// The deadline of a call when none is given.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Options for these endpoints, without auth or TLS CA, with the default timeout.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            user: None,
            password: None,
            ca_file: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An etcd v3 client over the JSON gateway. Cheap to clone; clones share connections, the
/// endpoint that answered last, and the auth token.
#[derive(Clone)]
pub struct EtcdClient {
    transport: Arc<Transport>,
    txns: Arc<TxnCounters>,
}

impl fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.transport.endpoints())
            .field("user", &self.transport.user())
            .finish_non_exhaustive()
    }
}

fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; either will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An endpoint as errors show it: without any user or password it carries.
fn shown(endpoint: &str) -> String {
    match Url::parse(endpoint.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) if endpoint.contains('@') => "<an endpoint that is not a URL>".to_owned(),
        _ => endpoint.trim().to_owned(),
    }
}

/// A client URL without its trailing slash; an error names what is wrong with it.
fn check_endpoint(endpoint: &str) -> Result<String, String> {
    let trimmed = endpoint.trim();
    let url = Url::parse(trimmed).map_err(|e| format!("{trimmed:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{trimmed:?} is not an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{trimmed:?} has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{trimmed:?} must be scheme://host:port, without a path"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo it: it may hold a password.
        return Err("an endpoint URL must not carry credentials; use user and password".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl EtcdClient {
    /// Checks the options and builds the HTTP client; does no IO except reading `ca_file`.
    /// Fails with [`EtcdErrorKind::Invalid`] for no endpoints, an endpoint that is not an
    /// http(s) URL, a user without a password (or the reverse), a zero timeout, or a
    /// `ca_file` that cannot be read or holds no PEM certificate.
    pub fn new(options: EtcdOptions) -> Result<EtcdClient, EtcdError> {
        let shown_endpoints: Vec<String> = options.endpoints.iter().map(|e| shown(e)).collect();
        let invalid = |detail: String| {
            EtcdError::new(
                EtcdErrorKind::Invalid,
                "configure",
                shown_endpoints.clone(),
                detail,
            )
        };
        if options.endpoints.is_empty() {
            return Err(invalid("no endpoints given".into()));
        }
        let endpoints = options
            .endpoints
            .iter()
            .map(|endpoint| check_endpoint(endpoint))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        if options.timeout.is_zero() {
            return Err(invalid("the timeout must be more than zero".into()));
        }
        let credentials = match (&options.user, &options.password) {
            (Some(user), Some(password)) => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "a user needs a password, and a password a user".into(),
                ));
            }
        };
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(concat!("swiftgit-etcd/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("cannot read the CA file {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| invalid(format!("the CA file {} is not PEM: {e}", path.display())))?;
            if certificates.is_empty() {
                let path = path.display();
                return Err(invalid(format!(
                    "the CA file {path} holds no PEM certificate"
                )));
            }
            builder = builder.tls_certs_only(certificates);
        }
        let http = builder
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let transport = Transport::new(http, endpoints, options.timeout, credentials);
        Ok(EtcdClient {
            txns: Arc::default(),
            transport: Arc::new(transport),
        })
    }

    /// The endpoints, as checked by [`EtcdClient::new`] (no trailing slash).
    pub fn endpoints(&self) -> &[String] {
        self.transport.endpoints()
    }

    /// Reads a key or a range. Linearizable unless `request.serializable`; retried on every
    /// temporary failure, across endpoints, until the deadline.
    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, EtcdError> {
        let body = wire::range_request(&request);
        let call = Call {
            operation: "range",
            path: "/v3/kv/range",
            body: &body,
            kind: CallKind::Read,
            // A serializable read is one a member without a leader can answer.
            require_leader: !request.serializable,
        };
        let answer = self.transport.call(&call).await?;
        self.decode(&call, &answer, wire::decode_range)
    }

    /// Runs a transaction atomically: every compare and the branch it selects see, and write
    /// at, one revision. One that writes is retried only when it was certainly not applied;
    /// otherwise its error has [`EtcdError::outcome_unknown`]: when a member gives no answer
    /// within an attempt's share of the deadline (see [`EtcdOptions::timeout`]), for one.
    /// Every call after a failed attempt starts at the next endpoint, so sending the same txn
    /// again reaches another member. A read-only one is retried like [`EtcdClient::range`].
    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse, EtcdError> {
        let body = wire::txn_request(&txn);
        let kind = if txn.is_read_only() {
            CallKind::Read
        } else {
            CallKind::Write
        };
        let call = Call {
            operation: "txn",
            path: "/v3/kv/txn",
            body: &body,
            kind,
            require_leader: true,
        };
        let result = match self.transport.call(&call).await {
            Ok(answer) => self.decode(&call, &answer, wire::decode_txn),
            Err(error) => Err(error),
        };
        if kind == CallKind::Write {
            let succeeded = result.as_ref().ok().map(|response| response.succeeded);
            self.txns.count(succeeded);
        }
        result
    }

    /// The writing transactions of this client and its clones so far (for metrics).
    pub fn txn_stats(&self) -> TxnStats {
        self.txns.snapshot()
    }

    /// Sets a key's value; returns the revision of the put. Retried like a writing txn.
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<i64, EtcdError> {
        self.put_inner(&key.into(), &value.into(), None).await
    }

    /// Sets a key's value and attaches it to a lease: the key is deleted when the lease
    /// expires or is revoked. [`EtcdErrorKind::LeaseNotFound`] if the lease is gone.
    pub async fn put_with_lease(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Result<i64, EtcdError> {
        self.put_inner(&key.into(), &value.into(), Some(lease))
            .await
    }

    async fn put_inner(
        &self,
        key: &[u8],
        value: &[u8],
        lease: Option<LeaseId>,
    ) -> Result<i64, EtcdError> {
        let body = wire::put_request(key, value, lease);
        let (call, answer) = self.write("put", "/v3/kv/put", &body).await?;
        self.decode(&call, &answer, wire::decode_put)
    }

    /// Deletes `key`, or the keys in `[key, range_end)`; returns how many existed. Retried
    /// like a writing txn.
    pub async fn delete_range(
        &self,
        key: Vec<u8>,
        range_end: Option<Vec<u8>>,
    ) -> Result<i64, EtcdError> {
        let body = wire::delete_range_request(&key, range_end.as_deref());
        let (call, answer) = self
            .write("delete-range", "/v3/kv/deleterange", &body)
            .await?;
        self.decode(&call, &answer, wire::decode_delete_range)
    }

    /// Grants a lease of `ttl_secs` seconds (etcd raises a TTL below its minimum, about
    /// 1.5 election timeouts). Retried like a writing txn: a grant whose outcome is unknown
    /// may have left a lease behind, which expires by itself.
    pub async fn lease_grant(&self, ttl_secs: i64) -> Result<LeaseId, EtcdError> {
        if ttl_secs < 1 {
            let detail = format!("a lease lives at least 1 second, not {ttl_secs}");
            let endpoints = self.endpoints().to_vec();
            return Err(EtcdError::new(
                EtcdErrorKind::Invalid,
                "lease-grant",
                endpoints,
                detail,
            ));
        }
        let body = wire::lease_grant_request(ttl_secs);
        let (call, answer) = self.write("lease-grant", "/v3/lease/grant", &body).await?;
        self.decode(&call, &answer, wire::decode_lease_grant)
    }

    /// Renews a lease to its full TTL once; returns the TTL it now has, or 0 when the lease is
    /// gone (expired or revoked). Renewing twice is harmless, so it is retried like a read.
    pub async fn lease_keep_alive(&self, id: LeaseId) -> Result<i64, EtcdError> {
        let body = wire::lease_id_request(id);
        let call = Call {
            operation: "lease-keep-alive",
            path: "/v3/lease/keepalive",
            body: &body,
            kind: CallKind::RepeatableWrite,
            require_leader: true,
        };
        let answer = self.transport.call(&call).await?;
        self.decode(&call, &answer, wire::decode_keep_alive)
    }

    /// Revokes a lease, deleting the keys attached to it. A lease that is already gone is not
    /// an error, which makes revoking repeatable: it is retried like a read.
    pub async fn lease_revoke(&self, id: LeaseId) -> Result<(), EtcdError> {
        let body = wire::lease_id_request(id);
        let call = Call {
            operation: "lease-revoke",
            path: "/v3/lease/revoke",
            body: &body,
            kind: CallKind::RepeatableWrite,
            require_leader: true,
        };
        match self.transport.call(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == EtcdErrorKind::LeaseNotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Asks every endpoint, concurrently and once each, for its member's status: for
    /// readiness checks. Works without quorum (a member then reports `leader` 0 and "no
    /// leader" in `errors`) and without authenticating (a token already held is sent).
    pub async fn status(&self) -> Vec<(String, Result<MemberStatus, EtcdError>)> {
        let body = serde_json::json!({});
        let call = Call {
            operation: "status",
            path: "/v3/maintenance/status",
            body: &body,
            kind: CallKind::Read,
            require_leader: false,
        };
        let asks = (0..self.endpoints().len()).map(|endpoint| {
            let call = &call;
            async move {
                let result = match self.transport.call_once(endpoint, call).await {
                    Ok(body) => {
                        let answer = Answer { endpoint, body };
                        self.decode(call, &answer, wire::decode_status)
                    }
                    Err(e) => Err(e),
                };
                (self.endpoints()[endpoint].clone(), result)
            }
        });
        futures::future::join_all(asks).await
    }

    async fn write<'a>(
        &self,
        operation: &'static str,
        path: &'static str,
        body: &'a serde_json::Value,
    ) -> Result<(Call<'a>, Answer), EtcdError> {
        let call = Call {
            operation,
            path,
            body,
            kind: CallKind::Write,
            require_leader: true,
        };
        let answer = self.transport.call(&call).await?;
        Ok((call, answer))
    }

    fn decode<T>(
        &self,
        call: &Call<'_>,
        answer: &Answer,
        decode: impl FnOnce(&[u8]) -> Result<T, wire::DecodeError>,
    ) -> Result<T, EtcdError> {
        decode(&answer.body)
            .map_err(|problem| self.transport.malformed(call, answer, problem, true))
    }
}

#[cfg(test)]
mod tests;
