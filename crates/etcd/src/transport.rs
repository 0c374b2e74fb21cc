//! How one call reaches etcd. It starts where the last call left off (the endpoint that
//! answered last, or the one after an endpoint that failed), sends one HTTP attempt bounded by
//! its share of what is left of the call's deadline (`attempt_timeout`), and on a failure moves
//! on to the next endpoint, for this call and for later ones, and lets `error::classify_*`
//! decide: try again at once (the member was never reached), after a short jittered pause (20
//! ms doubling to 500 ms), or stop. Writes are repeated only when the failure proves they were
//! not applied. The auth token lives here too: fetched once, shared by every call, fetched
//! again once when etcd refuses it.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{Applied, EtcdError, EtcdErrorKind, Failure, Next};
use crate::error::{classify_answer, classify_transport};
use crate::wire;

/// How long to wait for a TCP (and TLS) connection to one member.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// What one attempt gets at least, deadline permitting (see `attempt_timeout`): time for a
/// healthy member to answer while its disk is slow or a new leader takes over.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);
/// Less than this is not worth cutting in two: the attempt takes all that is left.
const LAST_ATTEMPT: Duration = Duration::from_millis(500);
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// What repeating a call can do, which decides when it is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Changes nothing: repeated on every temporary failure.
    Read,
    /// Changes something, but doing it twice is harmless (keep-alive, revoke): repeated on
    /// every temporary failure; the outcome is unknown if any attempt may have applied it.
    RepeatableWrite,
    /// Repeated only after failures that prove it was not applied.
    Write,
}

/// One request to etcd's JSON gateway.
pub(crate) struct Call<'a> {
    /// The name errors give it: "range", "put", …
    pub operation: &'static str,
    /// The gateway's path, e.g. "/v3/kv/range".
    pub path: &'static str,
    pub body: &'a Value,
    pub kind: CallKind,
    /// Ask the member to refuse at once ("no leader") when it has no leader, instead of
    /// holding the request until etcd's own timeout.
    pub require_leader: bool,
}

pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

/// The token etcd gave, if it has given one.
#[derive(Clone)]
enum Token {
    /// Not asked for yet, or refused since.
    Unknown,
    Granted(HeaderValue),
    /// etcd answered that authentication is not enabled: send none.
    NotNeeded,
}

pub(crate) struct Transport {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// Where calls start: the endpoint that answered last, or the one after the endpoint
    /// whose attempt failed last.
    preferred: AtomicUsize,
    timeout: Duration,
    credentials: Option<Credentials>,
    token: RwLock<Token>,
    /// Held while authenticating, so that concurrent calls share one new token.
    authenticating: tokio::sync::Mutex<()>,
}

/// A 2xx answer: its body, and the endpoint that gave it (for errors about the body).
pub(crate) struct Answer {
    pub endpoint: usize,
    pub body: Vec<u8>,
}

impl Transport {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoints: Vec<String>,
        timeout: Duration,
        credentials: Option<Credentials>,
    ) -> Self {
        Transport {
            http,
            endpoints,
            preferred: AtomicUsize::new(0),
            timeout,
            credentials,
            token: RwLock::new(Token::Unknown),
            authenticating: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub(crate) fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.user.as_str())
    }

    /// Sends `call` until an endpoint answers 2xx, a failure is final, or the deadline passes.
    pub(crate) async fn call(&self, call: &Call<'_>) -> Result<Answer, EtcdError> {
        let deadline = Instant::now() + self.timeout;
        let token = self.token(deadline).await?;
        self.send(call, deadline, token, true).await
    }

    /// The retry loop. `may_reauthenticate` is false for authenticating itself, which runs
    /// while the token lock is held.
    async fn send(
        &self,
        call: &Call<'_>,
        deadline: Instant,
        mut token: Option<HeaderValue>,
        may_reauthenticate: bool,
    ) -> Result<Answer, EtcdError> {
        let started = Instant::now();
        let body = serde_json::to_vec(call.body).expect("holds because a JSON value serializes");
        let count = self.endpoints.len();
        let mut index = self.preferred.load(Ordering::Relaxed) % count;
        let mut tried = Vec::new();
        let (mut attempts, mut failed_since_pause) = (0u32, 0usize);
        let mut pause = FIRST_PAUSE;
        let mut reauthenticated = false;
        let mut maybe_applied = false;
        let mut last: Option<Failure> = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let elapsed = started.elapsed().as_millis();
                let failure = last.map(|f| Failure {
                    detail: format!(
                        "gave up after {attempts} attempts in {elapsed} ms: {}",
                        f.detail
                    ),
                    ..f
                });
                let error = match failure {
                    Some(f) => f.into_error(call.operation, self.names(&tried), false),
                    None => EtcdError::new(
                        EtcdErrorKind::Timeout,
                        call.operation,
                        self.endpoints.clone(),
                        format!("no time left for a request after {elapsed} ms"),
                    ),
                };
                let unknown = maybe_applied && call.kind != CallKind::Read;
                return Err(error.with_outcome_unknown(unknown));
            }
            let timeout = attempt_timeout(remaining, count, call.kind);
            if !tried.contains(&index) {
                tried.push(index);
            }
            attempts += 1;
            let failure = match self
                .attempt(index, call, &body, token.as_ref(), timeout)
                .await
            {
                Ok(body) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(Answer {
                        endpoint: index,
                        body,
                    });
                }
                Err(failure) => failure,
            };
            tracing::debug!(
                endpoint = %self.endpoints[index],
                operation = call.operation,
                timeout_ms = timeout.as_millis(),
                detail = %failure.detail,
                "etcd attempt failed"
            );
            // Whatever failed, and whether or not this call goes on, later calls start at the
            // next endpoint (unless another call moved them already): a member that did not
            // answer may be frozen, and must not cost the next call its first attempt too.
            let next = (index + 1) % count;
            let _ =
                self.preferred
                    .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
            index = next;
            maybe_applied |= failure.applied == Applied::Maybe;
            if failure.next == Next::Reauthenticate
                && may_reauthenticate
                && self.credentials.is_some()
                && !reauthenticated
            {
                reauthenticated = true;
                token = self.reauthenticate(token.as_ref(), deadline).await?;
                last = Some(failure);
                continue;
            }
            let repeat = match failure.next {
                Next::GiveUp | Next::Reauthenticate => false,
                Next::Retry | Next::RetryNow => {
                    call.kind != CallKind::Write || failure.applied == Applied::No
                }
            };
            if !repeat {
                let unknown = maybe_applied && call.kind != CallKind::Read;
                return Err(failure.into_error(call.operation, self.names(&tried), unknown));
            }
            failed_since_pause += 1;
            let at_once = failure.next == Next::RetryNow && failed_since_pause < count;
            last = Some(failure);
            if !at_once {
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(jittered(pause).min(remaining)).await;
                pause = (pause * 2).min(MAX_PAUSE);
                failed_since_pause = 0;
            }
        }
    }

    /// One HTTP exchange with one member: the body of a 2xx answer, or the failure classified.
    async fn attempt(
        &self,
        index: usize,
        call: &Call<'_>,
        body: &[u8],
        token: Option<&HeaderValue>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.endpoints[index], call.path);
        let mut request = self
            .http
            .post(url)
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if call.require_leader {
            // grpc-gateway passes Grpc-Metadata-* headers on as gRPC metadata; etcd's
            // interceptor then answers "etcdserver: no leader" at once when it has none.
            request = request.header("grpc-metadata-hasleader", "true");
        }
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(e, timeout))?;
        let status = response.status().as_u16();
        let answer = response.bytes().await.map_err(|e| {
            // The request went out: whatever broke, it may have been applied.
            let failure = classify_transport(e, timeout);
            Failure {
                applied: Applied::Maybe,
                next: Next::Retry,
                ..failure
            }
        })?;
        if !(200..300).contains(&status) {
            return Err(classify_answer(&wire::decode_error(status, &answer)));
        }
        match wire::stream_error(status, &answer) {
            Some(error) => Err(classify_answer(&error)),
            None => Ok(answer.to_vec()),
        }
    }

    /// Asks `endpoint` once, with the token if one is at hand but without authenticating (a
    /// member's status must be readable when there is no quorum to authenticate with).
    pub(crate) async fn call_once(
        &self,
        endpoint: usize,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, EtcdError> {
        let body = serde_json::to_vec(call.body).expect("holds because a JSON value serializes");
        let token = match &*self.token.read().unwrap_or_else(|e| e.into_inner()) {
            Token::Granted(token) => Some(token.clone()),
            Token::Unknown | Token::NotNeeded => None,
        };
        self.attempt(endpoint, call, &body, token.as_ref(), self.timeout)
            .await
            .map_err(|failure| {
                let endpoints = vec![self.endpoints[endpoint].clone()];
                failure.into_error(call.operation, endpoints, false)
            })
    }

    /// The error for a 2xx answer whose body is not what `operation` expects. A write's
    /// outcome is then unknown: etcd accepted something, the body does not say what.
    pub(crate) fn malformed(
        &self,
        call: &Call<'_>,
        answer: &Answer,
        problem: wire::DecodeError,
        show_body: bool,
    ) -> EtcdError {
        let detail = if show_body {
            format!(
                "{problem}; the answer began: {}",
                wire::excerpt(&answer.body)
            )
        } else {
            problem.to_string()
        };
        let endpoints = vec![self.endpoints[answer.endpoint].clone()];
        EtcdError::new(EtcdErrorKind::Other, call.operation, endpoints, detail)
            .with_outcome_unknown(call.kind != CallKind::Read)
    }

    fn names(&self, tried: &[usize]) -> Vec<String> {
        tried.iter().map(|&i| self.endpoints[i].clone()).collect()
    }

    /// The token to send: none without credentials or when etcd has auth disabled.
    async fn token(&self, deadline: Instant) -> Result<Option<HeaderValue>, EtcdError> {
        if self.credentials.is_none() {
            return Ok(None);
        }
        match self.token.read().unwrap_or_else(|e| e.into_inner()).clone() {
            Token::Granted(token) => return Ok(Some(token)),
            Token::NotNeeded => return Ok(None),
            Token::Unknown => {}
        }
        let _one_at_a_time = self.authenticating.lock().await;
        // Another call may have authenticated while this one waited.
        match self.token.read().unwrap_or_else(|e| e.into_inner()).clone() {
            Token::Granted(token) => return Ok(Some(token)),
            Token::NotNeeded => return Ok(None),
            Token::Unknown => {}
        }
        let fresh = Box::pin(self.authenticate(deadline)).await?;
        let token = match &fresh {
            Some(token) => Token::Granted(token.clone()),
            None => Token::NotNeeded,
        };
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
        Ok(fresh)
    }

    /// Forgets `stale` (unless another call replaced it already) and fetches a new token.
    async fn reauthenticate(
        &self,
        stale: Option<&HeaderValue>,
        deadline: Instant,
    ) -> Result<Option<HeaderValue>, EtcdError> {
        {
            let mut current = self.token.write().unwrap_or_else(|e| e.into_inner());
            let same = match (&*current, stale) {
                (Token::Granted(token), Some(stale)) => token == stale,
                (Token::Granted(_), None) => false,
                (Token::Unknown | Token::NotNeeded, _) => true,
            };
            if same {
                *current = Token::Unknown;
            }
        }
        self.token(deadline).await
    }

    /// `POST /v3/auth/authenticate`: a token, or `None` when etcd has auth disabled.
    async fn authenticate(&self, deadline: Instant) -> Result<Option<HeaderValue>, EtcdError> {
        let credentials = self
            .credentials
            .as_ref()
            .expect("holds because token() returns early without credentials");
        let body = wire::authenticate_request(&credentials.user, &credentials.password);
        let call = Call {
            operation: "authenticate",
            path: "/v3/auth/authenticate",
            body: &body,
            kind: CallKind::Read,
            require_leader: true,
        };
        let answer = match self.send(&call, deadline, None, false).await {
            Ok(answer) => answer,
            Err(e) if e.detail().contains("authentication is not enabled") => {
                tracing::debug!("etcd has authentication disabled; sending no token");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let token = wire::decode_authenticate(&answer.body)
            .map_err(|problem| self.malformed(&call, &answer, problem, false))?;
        let mut header = HeaderValue::from_str(&token).map_err(|_| {
            let problem = wire::DecodeError("the token is not a valid header value".into());
            self.malformed(&call, &answer, problem, false)
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }
}

/// How long one attempt may wait for its answer, with `remaining` left of the call's deadline
/// and `endpoints` members to ask: an equal share of `remaining` per endpoint, but at least
/// `MIN_ATTEMPT`; at most half of `remaining` when the time is shared; never less than
/// `LAST_ATTEMPT`, nor more than `remaining`. With the default 5 s and three members that is
/// 2 s; with 20 s, 6.7 s; with 3 s, 1.5 s.
///
/// So a member that accepts connections and never answers (a stopped process, a lost network)
/// costs a call one share, not its deadline: a read goes on to the next member with the rest,
/// and a write, whose outcome is then unknown and which is not repeated, ends its call early,
/// so that the caller can send it again through a new call, which starts at the next member.
/// A read (or repeatable write) shares its time among at least two attempts even with one
/// endpoint, since a new connection to the same member may answer where a stuck one did not; a
/// write to a single endpoint gets all of it, as no second attempt would follow.
fn attempt_timeout(remaining: Duration, endpoints: usize, kind: CallKind) -> Duration {
    let shares = match kind {
        CallKind::Write => endpoints,
        CallKind::Read | CallKind::RepeatableWrite => endpoints.max(2),
    };
    let shares = u32::try_from(shares).unwrap_or(u32::MAX).max(1);
    let mut attempt = (remaining / shares).max(MIN_ATTEMPT);
    if shares > 1 {
        attempt = attempt.min(remaining / 2);
    }
    attempt.max(LAST_ATTEMPT).min(remaining)
}

/// A pause between `pause / 2` and `pause`, so that clients that failed together do not come
/// back together.
fn jittered(pause: Duration) -> Duration {
    let millis = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX).max(2);
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_jittered_within_half_to_all() {
        for _ in 0..100 {
            let pause = jittered(Duration::from_millis(40));
            assert!((20..=40).contains(&pause.as_millis()), "{pause:?}");
        }
        assert!(jittered(Duration::ZERO) <= Duration::from_millis(2));
    }

    #[test]
    fn an_attempt_gets_a_share_of_the_deadline_but_not_less_than_two_seconds() {
        use CallKind::{Read, RepeatableWrite, Write};
        let ms = Duration::from_millis;
        let cases = [
            // (what is left, endpoints, kind, the attempt's timeout)
            (ms(5000), 3, Write, ms(2000)),
            (ms(5000), 3, Read, ms(2000)),
            (ms(20_000), 3, Write, ms(20_000) / 3),
            (ms(10_000), 4, Read, ms(2500)),
            // Half of a short deadline, so that another member can still answer.
            (ms(3000), 3, Write, ms(1500)),
            (ms(3000), 2, RepeatableWrite, ms(1500)),
            (ms(800), 3, Read, ms(500)),
            // A lone member: a write gets everything, a read two attempts' worth.
            (ms(400), 1, Write, ms(400)),
            (ms(5000), 1, Read, ms(2500)),
            (ms(300), 3, Read, ms(300)),
            (Duration::ZERO, 3, Read, Duration::ZERO),
        ];
        for (remaining, endpoints, kind, expected) in cases {
            let timeout = attempt_timeout(remaining, endpoints, kind);
            assert_eq!(
                timeout, expected,
                "{remaining:?}, {endpoints} endpoints, {kind:?}"
            );
        }
    }
}
