//! The crate's one error type, and the one place that knows what etcd's failures mean.
//!
//! [`EtcdError`] carries a kind a caller can match on, whether a write may have been applied
//! although the call failed ([`EtcdError::outcome_unknown`]), and a message naming etcd and the
//! endpoints tried. [`classify_answer`] and [`classify_transport`] turn the failure of one HTTP
//! attempt into a [`Failure`]: its kind, whether the request can have been applied, and whether
//! another attempt may help. The transport decides from that alone.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::wire::ServerError;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What went wrong, as a caller needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdErrorKind {
    /// No member could be reached, or none had a leader, or etcd was overloaded. Temporary.
    Unavailable,
    /// The call's deadline passed, or etcd timed out the request itself. Temporary.
    Timeout,
    /// etcd refused the credentials, or wants some and none were configured.
    Unauthenticated,
    /// Authenticated, but the user's roles do not allow this.
    PermissionDenied,
    /// The request itself is wrong (too large, a duplicate key in a txn, a bad endpoint in the
    /// options): retrying cannot help.
    Invalid,
    /// The lease named does not exist (any more).
    LeaseNotFound,
    /// Anything else, e.g. an answer that is not etcd's JSON, a full database, or a member
    /// certificate that TLS does not trust.
    Other,
}

impl EtcdErrorKind {
    /// Whether the same call may succeed later.
    pub fn is_temporary(self) -> bool {
        matches!(self, EtcdErrorKind::Unavailable | EtcdErrorKind::Timeout)
    }
}

impl fmt::Display for EtcdErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EtcdErrorKind::Unavailable => "unavailable",
            EtcdErrorKind::Timeout => "timed out",
            EtcdErrorKind::Unauthenticated => "unauthenticated",
            EtcdErrorKind::PermissionDenied => "permission denied",
            EtcdErrorKind::Invalid => "invalid request",
            EtcdErrorKind::LeaseNotFound => "lease not found",
            EtcdErrorKind::Other => "failed",
        })
    }
}

/// A failed call. Its message names etcd, the endpoints tried and the operation, never a
/// password or token.
#[derive(Debug, thiserror::Error)]
#[error(
    "etcd ({endpoints}): {kind}: {operation}: {detail}{unknown}",
    endpoints = .endpoints.join(", "),
    unknown = if *.outcome_unknown { " (it may or may not have been applied)" } else { "" }
)]
pub struct EtcdError {
    kind: EtcdErrorKind,
    operation: &'static str,
    endpoints: Vec<String>,
    detail: String,
    outcome_unknown: bool,
    #[source]
    source: Option<BoxError>,
}

impl EtcdError {
    pub(crate) fn new(
        kind: EtcdErrorKind,
        operation: &'static str,
        endpoints: Vec<String>,
        detail: impl Into<String>,
    ) -> Self {
        EtcdError {
            kind,
            operation,
            endpoints,
            detail: detail.into(),
            outcome_unknown: false,
            source: None,
        }
    }

    pub(crate) fn with_outcome_unknown(mut self, unknown: bool) -> Self {
        self.outcome_unknown = unknown;
        self
    }

    pub fn kind(&self) -> EtcdErrorKind {
        self.kind
    }

    /// True when a write (txn, put, delete, lease) may have been applied although the call
    /// failed: it was sent and no definite answer came back (a timeout, a connection lost
    /// after sending, etcd's "request timed out" or "leader changed"). Read the state back
    /// before repeating it. False when it was certainly not applied (connection refused,
    /// "no leader" from the member asked, a rejection) and for reads.
    pub fn outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }

    /// Whether the same call may succeed later.
    pub fn is_temporary(&self) -> bool {
        self.kind.is_temporary()
    }

    /// The operation that failed: "range", "txn", "put", "lease-grant", …
    pub fn operation(&self) -> &str {
        self.operation
    }

    /// The endpoints this call tried, in order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// What went wrong, without the prefix naming etcd and the operation.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// Whether a request whose attempt failed can have changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    No,
    Maybe,
}

/// What may follow a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing: the answer is final.
    GiveUp,
    /// Another attempt, on the next endpoint, after a pause.
    Retry,
    /// Another attempt on the next endpoint at once: this one was never reached.
    RetryNow,
    /// Another attempt after authenticating again (once per call).
    Reauthenticate,
}

/// The failure of one HTTP attempt, classified.
#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: EtcdErrorKind,
    pub applied: Applied,
    pub next: Next,
    pub detail: String,
    pub source: Option<BoxError>,
}

impl Failure {
    fn new(kind: EtcdErrorKind, applied: Applied, next: Next, detail: String) -> Self {
        Failure {
            kind,
            applied,
            next,
            detail,
            source: None,
        }
    }

    pub(crate) fn into_error(
        self,
        operation: &'static str,
        endpoints: Vec<String>,
        outcome_unknown: bool,
    ) -> EtcdError {
        EtcdError {
            source: self.source,
            ..EtcdError::new(self.kind, operation, endpoints, self.detail)
                .with_outcome_unknown(outcome_unknown)
        }
    }
}

/// What an error answer of etcd means. etcd's messages are stable strings
/// (`etcdserver: …`); the gRPC code and HTTP status decide where the message is not known.
pub(crate) fn classify_answer(answer: &ServerError) -> Failure {
    use Applied::{Maybe, No};
    use EtcdErrorKind::*;
    let message = answer.message.as_str();
    let has = |needle: &str| message.contains(needle);
    let code = answer.code;
    let status = answer.status;
    let (kind, applied, next, hint) = if has("user name is empty") {
        // Checked before anything is applied.
        (
            Unauthenticated,
            No,
            Next::Reauthenticate,
            "etcd wants a user and password; ",
        )
    } else if has("invalid auth token") || has("revision of auth store is old") {
        (Unauthenticated, No, Next::Reauthenticate, "")
    } else if has("authentication failed") || code == Some(16) || status == 401 {
        (Unauthenticated, No, Next::GiveUp, "")
    } else if code == Some(7) || status == 403 {
        (PermissionDenied, No, Next::GiveUp, "")
    } else if has("requested lease not found") {
        (LeaseNotFound, No, Next::GiveUp, "")
    } else if has("database space exceeded") {
        let hint = "etcd's database is full (NOSPACE alarm: compact, defragment, disarm); ";
        (Other, No, Next::GiveUp, hint)
    } else if has("no leader")
        || has("too many requests")
        || has("raft proposal dropped")
        || has("not capable")
    {
        // Refused before a proposal: "no leader" comes from the member's check of the
        // `hasleader` metadata this client sends, the others from raft's front door.
        (Unavailable, No, Next::Retry, "")
    } else if has("request is too large") || has("larger than max") {
        (Invalid, No, Next::GiveUp, "")
    } else if has("timed out") || has("deadline exceeded") || code == Some(4) {
        (Timeout, Maybe, Next::Retry, "")
    } else if code == Some(14) || matches!(status, 502..=504) {
        // "leader changed", "server stopped", …: proposed, maybe applied.
        (Unavailable, Maybe, Next::Retry, "")
    } else if (400..500).contains(&status) {
        (Invalid, No, Next::GiveUp, "")
    } else {
        (Other, Maybe, Next::GiveUp, "")
    };
    let code = code
        .map(|code| format!(", gRPC code {code}"))
        .unwrap_or_default();
    Failure::new(
        kind,
        applied,
        next,
        format!("{hint}{message} (HTTP {status}{code})"),
    )
}

/// What a failure to exchange HTTP with a member means: a connection never made cannot have
/// delivered the request; anything after that may have. A certificate the client does not
/// trust is final.
pub(crate) fn classify_transport(error: reqwest::Error, attempt_timeout: Duration) -> Failure {
    let cause = root_cause(&error);
    let failure = if error.is_connect() && cause.contains("certificate") {
        // e.g. "invalid peer certificate: UnknownIssuer": waiting will not change that.
        Failure::new(
            EtcdErrorKind::Other,
            Applied::No,
            Next::GiveUp,
            format!("TLS refused the member's certificate (check ca_file): {cause}"),
        )
    } else if error.is_connect() {
        Failure::new(
            EtcdErrorKind::Unavailable,
            Applied::No,
            Next::RetryNow,
            format!("cannot connect: {cause}"),
        )
    } else if error.is_timeout() {
        Failure::new(
            EtcdErrorKind::Timeout,
            Applied::Maybe,
            Next::Retry,
            format!("no answer within {} ms", attempt_timeout.as_millis()),
        )
    } else {
        Failure::new(
            EtcdErrorKind::Unavailable,
            Applied::Maybe,
            Next::Retry,
            format!("connection failed: {cause}"),
        )
    };
    Failure {
        source: Some(Box::new(error)),
        ..failure
    }
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: i64, message: &str) -> Failure {
        classify_answer(&ServerError {
            status,
            code: Some(code),
            message: message.into(),
        })
    }

    fn outline(f: &Failure) -> (EtcdErrorKind, Applied, Next) {
        (f.kind, f.applied, f.next)
    }

    // The answers below are the ones etcd 3.4.23 gave (status, gRPC code, message).
    #[test]
    fn refusals_before_a_proposal_are_retried_as_not_applied() {
        use EtcdErrorKind::Unavailable;
        let no_leader = answer(503, 14, "etcdserver: no leader");
        assert_eq!(outline(&no_leader), (Unavailable, Applied::No, Next::Retry));
        let dropped = answer(500, 2, "raft proposal dropped");
        assert_eq!(outline(&dropped), (Unavailable, Applied::No, Next::Retry));
        assert_eq!(
            no_leader.detail,
            "etcdserver: no leader (HTTP 503, gRPC code 14)"
        );
    }

    #[test]
    fn timeouts_after_a_proposal_may_have_been_applied() {
        use EtcdErrorKind::{Timeout, Unavailable};
        for message in [
            "etcdserver: request timed out",
            "etcdserver: request timed out, possibly due to previous leader failure",
        ] {
            let f = answer(503, 14, message);
            assert_eq!(outline(&f), (Timeout, Applied::Maybe, Next::Retry));
        }
        let deadline = answer(500, 2, "context deadline exceeded");
        assert_eq!(outline(&deadline), (Timeout, Applied::Maybe, Next::Retry));
        let changed = answer(503, 14, "etcdserver: leader changed");
        assert_eq!(
            outline(&changed),
            (Unavailable, Applied::Maybe, Next::Retry)
        );
    }

    #[test]
    fn auth_answers_ask_for_a_new_token_or_give_up() {
        use EtcdErrorKind::{PermissionDenied, Unauthenticated};
        let empty = answer(400, 3, "etcdserver: user name is empty");
        assert_eq!(
            outline(&empty),
            (Unauthenticated, Applied::No, Next::Reauthenticate)
        );
        assert!(empty.detail.starts_with("etcd wants a user and password; "));
        let stale = answer(401, 16, "etcdserver: invalid auth token");
        assert_eq!(stale.next, Next::Reauthenticate);
        let refused = answer(
            400,
            3,
            "etcdserver: authentication failed, invalid user ID or password",
        );
        assert_eq!(
            outline(&refused),
            (Unauthenticated, Applied::No, Next::GiveUp)
        );
        let denied = answer(403, 7, "etcdserver: permission denied");
        assert_eq!(
            outline(&denied),
            (PermissionDenied, Applied::No, Next::GiveUp)
        );
    }

    #[test]
    fn rejections_are_final_and_not_applied() {
        use EtcdErrorKind::{Invalid, LeaseNotFound, Other};
        let cases = [
            (400, 3, "etcdserver: request is too large", Invalid),
            (
                429,
                8,
                "grpc: received message larger than max (2097200 vs. 2097152)",
                Invalid,
            ),
            (
                400,
                3,
                "etcdserver: duplicate key given in txn request",
                Invalid,
            ),
            (
                400,
                11,
                "etcdserver: mvcc: required revision is a future revision",
                Invalid,
            ),
            (
                404,
                5,
                "etcdserver: requested lease not found",
                LeaseNotFound,
            ),
            (429, 8, "etcdserver: mvcc: database space exceeded", Other),
        ];
        for (status, code, message, kind) in cases {
            let f = answer(status, code, message);
            assert_eq!(outline(&f), (kind, Applied::No, Next::GiveUp), "{message}");
        }
    }

    #[test]
    fn unknown_server_errors_are_final_but_may_have_been_applied() {
        let f = answer(
            500,
            2,
            "invalid character 'j' looking for beginning of value",
        );
        assert_eq!(
            outline(&f),
            (EtcdErrorKind::Other, Applied::Maybe, Next::GiveUp)
        );
        let bare = classify_answer(&ServerError {
            status: 404,
            code: None,
            message: "Not Found".into(),
        });
        assert_eq!(bare.kind, EtcdErrorKind::Invalid);
        assert_eq!(bare.detail, "Not Found (HTTP 404)");
    }

    #[test]
    fn the_message_names_etcd_endpoints_operation_and_doubt() {
        let failure = answer(503, 14, "etcdserver: request timed out");
        let endpoints = vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()];
        let error = failure.into_error("put", endpoints, true);
        assert_eq!(
            error.to_string(),
            "etcd (http://127.0.0.1:1, http://127.0.0.1:2): timed out: put: etcdserver: request \
             timed out (HTTP 503, gRPC code 14) (it may or may not have been applied)"
        );
        assert!(error.outcome_unknown() && error.is_temporary());
        assert_eq!(error.operation(), "put");
    }
}
