//! What the server tells a metrics collector: one call per finished request, per connection
//! opened, closed or refused, per push and per maintenance run. The transports and sessions
//! call a [`ServerObserver`] at the points where they already write their log lines; the
//! binary supplies one that counts (Prometheus), and [`NoObserver`] is the default.
//!
//! Every label an observer receives is a `&'static str` from a small fixed set (transport,
//! service, result): never a repository name, a user or a peer address, so a collector can
//! use them as metric labels without growing without bound. Calls happen on the request's
//! task, once per request or connection (never per byte): an implementation must not block.

use std::fmt;
use std::time::Duration;

/// The protocol a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// git:// (the daemon on port 9418).
    Git,
    /// Smart HTTP(S).
    Http,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Git => "git",
            Transport::Http => "http",
        }
    }
}

/// Why a connection was closed without serving any request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `accept` failed (too many open files, say).
    AcceptError,
    /// The TLS handshake failed or timed out.
    TlsHandshake,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::AcceptError => "accept_error",
            Refusal::TlsHandshake => "tls_handshake",
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    pub transport: Transport,
    /// `upload-pack`, `receive-pack`, `ls-refs` or `fetch` (a protocol v2 command over HTTP),
    /// `info-refs` (HTTP's advertisement), or `none` when the request named no service.
    pub service: &'static str,
    /// `ok`, or a short word for what went wrong (the log line's label: `not-found`,
    /// `unauthorized`, `idle`, …).
    pub result: &'static str,
    pub duration: Duration,
    /// Bytes read from the client (as sent, before gunzipping).
    pub bytes_in: u64,
    /// Bytes written to the client.
    pub bytes_out: u64,
}

/// One push: a git:// receive-pack request, or an HTTP receive-pack POST. Refused unless the
/// pack was valid and every ref update was applied (so a push refused by `--read-only`, the
/// access rules or a ref that moved meanwhile counts as refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushRecord {
    pub transport: Transport,
    /// Every ref update was applied and the pack was valid.
    pub accepted: bool,
    pub refs_updated: u64,
    pub objects_received: u64,
}

/// How a background maintenance run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintenanceResult {
    Done,
    /// Another process runs maintenance on the repository.
    Busy,
    Failed,
}

impl MaintenanceResult {
    pub fn name(self) -> &'static str {
        match self {
            MaintenanceResult::Done => "done",
            MaintenanceResult::Busy => "busy",
            MaintenanceResult::Failed => "failed",
        }
    }
}

/// Receives the server's events; see the module doc. Every method does nothing by default.
pub trait ServerObserver: Send + Sync + fmt::Debug {
    /// A connection was accepted.
    fn connection_opened(&self, _transport: Transport) {}
    /// A connection accepted earlier ended.
    fn connection_closed(&self, _transport: Transport) {}
    /// A connection ended, or could not be accepted, before any request.
    fn connection_refused(&self, _transport: Transport, _reason: Refusal) {}
    /// A request ended (its log line was written).
    fn request(&self, _record: &RequestRecord) {}
    /// A push ended.
    fn push(&self, _record: &PushRecord) {}
    /// A background maintenance run ended after `duration`.
    fn maintenance(&self, _result: MaintenanceResult, _duration: Duration) {}
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl ServerObserver for NoObserver {}
