//! Sending one request to Swift: the connection limit, the idle timeout, the token (with one
//! shared re-authentication after a 401), counters, and turning statuses into [`StorageError`].
//!
//! A request is described by a [`Call`] so that it can be sent again after a re-authentication;
//! its body is reopened for each send. At most `http_pool_length` requests are in flight at
//! once (a semaphore: reqwest's pool settings only cap *idle* connections); a streamed download
//! keeps its permit until the stream ends or is dropped.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use swiftgit_config::{Secret, SwiftConfig};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::{self, Who};
use super::body::{self, FileReadError, Progress, RequestBody};
use super::names::{encode_container, encode_object, encode_query_value};
use super::stats::Counters;
use super::status::{not_found, status_error};
use crate::{ByteStream, ErrorKind, Result, StorageError};

/// What a request addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Account,
    Container(&'a str),
    Object(&'a str, &'a str),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Account => f.write_str("the account"),
            Target::Container(container) => write!(f, "container {container}"),
            Target::Object(container, name) => write!(f, "{container}/{name}"),
        }
    }
}

/// One request, re-sendable.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub method: Method,
    pub target: Target<'a>,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: RequestBody,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, target: Target<'a>) -> Self {
        Call {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: RequestBody::Empty,
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn body(mut self, body: RequestBody) -> Self {
        self.body = body;
        self
    }

    fn url(&self, storage_url: &Url) -> Result<Url> {
        let mut text = storage_url.as_str().trim_end_matches('/').to_string();
        match self.target {
            Target::Account => {}
            Target::Container(container) => {
                text.push('/');
                text.push_str(&encode_container(container));
            }
            Target::Object(container, name) => {
                text.push('/');
                text.push_str(&encode_container(container));
                text.push('/');
                text.push_str(&encode_object(name));
            }
        }
        for (i, (key, value)) in self.query.iter().enumerate() {
            text.push(if i == 0 { '?' } else { '&' });
            text.push_str(key);
            text.push('=');
            text.push_str(&encode_query_value(value));
        }
        Url::parse(&text).map_err(|e| {
            StorageError::with_source(
                ErrorKind::Invalid,
                format!("cannot make a URL for {} {}", self.method, self.target),
                e,
            )
        })
    }
}

impl fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// A token and the storage URL it is valid for. `generation` counts authentications, so that
/// of several requests that got a 401 with the same token only the first re-authenticates.
#[derive(Debug)]
pub(crate) struct Session {
    token: Secret,
    pub(crate) storage_url: Url,
    generation: u64,
}

/// A request that failed, and whether it may have reached Swift.
pub(crate) struct Failure {
    pub error: StorageError,
    /// `false` only when the request provably never left this process (e.g. connect refused).
    pub maybe_sent: bool,
}

impl Failure {
    fn not_sent(error: StorageError) -> Self {
        Failure {
            error,
            maybe_sent: false,
        }
    }
    fn maybe_sent(error: StorageError) -> Self {
        Failure {
            error,
            maybe_sent: true,
        }
    }
}

pub(crate) struct Client {
    http: reqwest::Client,
    config: SwiftConfig,
    session: RwLock<Arc<Session>>,
    reauth: tokio::sync::Mutex<()>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    pub(crate) counters: Arc<Counters>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("storage_url", &self.session().storage_url.as_str())
            .field("user", &Who::new(&self.config).to_string())
            .field("auth_url", &self.config.auth_url)
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

/// How long an idle connection to Swift is kept for reuse.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl Client {
    /// Builds the HTTP client and authenticates.
    pub(crate) async fn connect(config: &SwiftConfig) -> Result<Client> {
        install_crypto_provider();
        let timeout = config.http_timeout;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .pool_max_idle_per_host(config.http_pool_length)
            // Swift's proxy closes idle keep-alive connections after its client_timeout (60 s
            // by default); reusing one it is closing fails with "connection closed before
            // message completed". Drop ours well before that.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .user_agent(concat!("swiftgit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                StorageError::with_source(ErrorKind::Other, "cannot build the HTTP client", e)
            })?;
        let counters = Arc::new(Counters::default());
        let grant = auth::authenticate(&http, config, timeout, &counters).await?;
        Ok(Client {
            http,
            config: config.clone(),
            session: RwLock::new(Arc::new(Session {
                token: grant.token,
                storage_url: grant.storage_url,
                generation: 0,
            })),
            reauth: tokio::sync::Mutex::new(()),
            permits: Arc::new(Semaphore::new(config.http_pool_length.max(1))),
            timeout,
            counters,
        })
    }

    pub(crate) fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn user(&self) -> String {
        Who::new(&self.config).to_string()
    }

    /// Authenticates again unless another request already did since `stale` was current.
    /// Concurrent callers wait for the one re-authentication in progress and share its token.
    /// [`Self::send`] calls it on a 401; a caller calls it when Swift refused the token inside
    /// a 200 answer (the bulk middleware's per-name report).
    pub(crate) async fn reauthenticate(&self, stale: &Session) -> Result<Arc<Session>> {
        let _one_at_a_time = self.reauth.lock().await;
        let current = self.session();
        if current.generation != stale.generation {
            return Ok(current);
        }
        tracing::info!(user = %self.user(), "Swift refused the token (HTTP 401); authenticating again");
        let grant =
            auth::authenticate(&self.http, &self.config, self.timeout, &self.counters).await?;
        let fresh = Arc::new(Session {
            token: grant.token,
            storage_url: grant.storage_url,
            generation: stale.generation + 1,
        });
        *self
            .session
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Sends `call`, re-authenticating once on a 401. Any status other than 401 is returned as
    /// a [`Reply`] for the caller to interpret.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Reply> {
        self.send_tracked(call).await.map_err(|f| f.error)
    }

    /// Like [`Self::send`], and tells whether a failed request may have reached Swift.
    pub(crate) async fn send_tracked(&self, call: &Call<'_>) -> Result<Reply, Failure> {
        let session = self.session();
        let reply = self.send_once(call, &session).await?;
        if reply.status() != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        drop(reply);
        // A 401 comes from the auth middleware, before the request does anything, so nothing
        // was changed by it: failures from here on count as "not sent" if the retry is not sent.
        let fresh = self
            .reauthenticate(&session)
            .await
            .map_err(Failure::not_sent)?;
        let reply = self.send_once(call, &fresh).await?;
        if reply.status() == StatusCode::UNAUTHORIZED {
            return Err(Failure::not_sent(StorageError::new(
                ErrorKind::Unauthorized,
                format!(
                    "Swift refused {call} for user {} with a fresh token (HTTP 401 twice): the \
                     user may lack access to this account, or the auth service and Swift disagree",
                    self.user()
                ),
            )));
        }
        Ok(reply)
    }

    async fn send_once(&self, call: &Call<'_>, session: &Session) -> Result<Reply, Failure> {
        let url = call.url(&session.storage_url).map_err(Failure::not_sent)?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("holds because the semaphore is never closed");
        let progress = Progress::new();
        let body = call
            .body
            .open(&progress, &self.counters)
            .await
            .map_err(Failure::not_sent)?;
        let mut token = HeaderValue::from_str(session.token.expose()).map_err(|_| {
            Failure::not_sent(StorageError::new(
                ErrorKind::Other,
                "the auth service handed out a token that is not a valid HTTP header value",
            ))
        })?;
        token.set_sensitive(true);
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header("X-Auth-Token", token);
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_LENGTH, call.body.len())
                .body(body);
        }
        self.counters.request();
        let started = std::time::Instant::now();
        match body::until_idle(request.send(), &progress, self.timeout).await {
            Some(Ok(response)) => {
                tracing::trace!(
                    request = %call,
                    status = response.status().as_u16(),
                    ms = started.elapsed().as_secs_f64() * 1000.0,
                    "Swift answered"
                );
                Ok(Reply {
                    response,
                    permit,
                    idle: self.timeout,
                    counters: self.counters.clone(),
                    what: call.to_string(),
                })
            }
            Some(Err(e)) => Err(transport_error(e, call, self.timeout)),
            None => Err(Failure::maybe_sent(StorageError::new(
                ErrorKind::Unavailable,
                format!(
                    "{call} timed out: Swift made no progress for {:?} (http_timeout)",
                    self.timeout
                ),
            ))),
        }
    }

    /// `GET url` without a token, for the cluster's `/info`; `None` if it answers 404.
    pub(crate) async fn get_public(&self, url: Url) -> Result<Option<Bytes>> {
        self.counters.request();
        let response = self
            .http
            .get(url.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                StorageError::with_source(
                    ErrorKind::Unavailable,
                    format!(
                        "cannot read {url} (the storage URL comes from the auth service: is it \
                         reachable from here?)"
                    ),
                    e,
                )
            })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            StorageError::with_source(ErrorKind::Unavailable, format!("reading {url} failed"), e)
        })?;
        self.counters.received(body.len() as u64);
        if !status.is_success() {
            return Err(status_error(status, &body, "GET", &url));
        }
        Ok(Some(body))
    }
}

fn transport_error(err: reqwest::Error, call: &Call<'_>, timeout: Duration) -> Failure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = cause {
        if let Some(file) = current.downcast_ref::<FileReadError>() {
            let cause = file.source.as_ref().map(|e| format!(": {e}"));
            let error = StorageError::new(
                ErrorKind::Io,
                format!("{call}: {file}{}", cause.unwrap_or_default()),
            );
            return Failure::maybe_sent(error);
        }
        cause = current.source();
    }
    if err.is_connect() {
        let error = StorageError::with_source(
            ErrorKind::Unavailable,
            format!("{call}: cannot connect to Swift"),
            err,
        );
        return Failure::not_sent(error);
    }
    let what = if err.is_timeout() {
        format!("{call} timed out after {timeout:?} (http_timeout)")
    } else {
        format!("{call} failed")
    };
    Failure::maybe_sent(StorageError::with_source(ErrorKind::Unavailable, what, err))
}

/// An answer from Swift, its body not yet read. Holds a connection permit until consumed.
pub(crate) struct Reply {
    response: reqwest::Response,
    permit: OwnedSemaphorePermit,
    idle: Duration,
    counters: Arc<Counters>,
    what: String,
}

impl Reply {
    pub(crate) fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Length` header (also on HEAD, where the body is empty).
    pub(crate) fn content_length(&self) -> Result<u64> {
        self.header("Content-Length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                StorageError::new(
                    ErrorKind::Other,
                    format!(
                        "Swift answered {} without a valid Content-Length",
                        self.what
                    ),
                )
            })
    }

    pub(crate) async fn bytes(self) -> Result<Bytes> {
        body::read_all(
            self.response,
            self.permit,
            self.idle,
            self.counters,
            self.what,
        )
        .await
    }

    pub(crate) fn into_stream(self) -> ByteStream {
        body::response_stream(
            self.response,
            self.permit,
            self.idle,
            self.counters,
            self.what,
        )
    }

    /// The error for an unexpected status, quoting the start of the body; see [`status_error`].
    pub(crate) async fn into_error(self, target: Target<'_>) -> StorageError {
        let status = self.status();
        if status == StatusCode::NOT_FOUND {
            return not_found(target);
        }
        let what = self.what.clone();
        let body = self.bytes().await.unwrap_or_default();
        status_error(status, &body, "", &what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_names() {
        let base = Url::parse("http://127.0.0.1:8080/v1/AUTH_test").expect("valid");
        let call =
            Call::new(Method::GET, Target::Object("my repo", "a b/c?d#e%f")).query("prefix", "x y");
        let url = call.url(&base).expect("valid");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/v1/AUTH_test/my%20repo/a%20b/c%3Fd%23e%25f?prefix=x%20y"
        );
        let account = Call::new(Method::GET, Target::Account)
            .url(&base)
            .expect("valid");
        assert_eq!(account.as_str(), "http://127.0.0.1:8080/v1/AUTH_test");
    }
}
