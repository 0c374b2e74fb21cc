//! What the storage wrappers tell a metrics collector: each call a [`crate::counting::Counting`]
//! storage forwarded (its kind, outcome and latency) and each retry a
//! [`crate::retry::Retrying`] storage made. The binary supplies an observer that counts
//! (Prometheus); without one, the wrappers measure nothing beyond their own counters.
//!
//! An observer learns no container or object name, only small fixed sets of labels, and is
//! called once per call or retry on the caller's task: it must not block.

use std::fmt;
use std::time::Duration;

use crate::ErrorKind;

/// What a storage call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    Get,
    GetRange,
    Head,
    Put,
    Delete,
    DeleteMany,
    List,
    /// Create, check, delete or list containers.
    Container,
}

impl CallKind {
    /// The metric label: `get`, `get_range`, `head`, `put`, `delete`, `delete_many`, `list`,
    /// `container`.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Get => "get",
            CallKind::GetRange => "get_range",
            CallKind::Head => "head",
            CallKind::Put => "put",
            CallKind::Delete => "delete",
            CallKind::DeleteMany => "delete_many",
            CallKind::List => "list",
            CallKind::Container => "container",
        }
    }
}

/// The class of a call's outcome, as a metric label: `success`, `not_found`, `conflict`
/// (AlreadyExists, Precondition), `client_error` (a bad range or name), `auth_error`
/// (Unauthorized, Forbidden), `unavailable` (5xx, timeouts, connection errors), `error` (local
/// IO and anything else).
pub fn status_class(outcome: Result<(), ErrorKind>) -> &'static str {
    match outcome {
        Ok(()) => "success",
        Err(ErrorKind::NotFound) => "not_found",
        Err(ErrorKind::AlreadyExists | ErrorKind::Precondition) => "conflict",
        Err(ErrorKind::RangeNotSatisfiable | ErrorKind::Invalid) => "client_error",
        Err(ErrorKind::Unauthorized | ErrorKind::Forbidden) => "auth_error",
        Err(ErrorKind::Unavailable) => "unavailable",
        Err(ErrorKind::Io | ErrorKind::Other) => "error",
    }
}

/// Hears of storage calls; see the module doc.
pub trait StorageObserver: Send + Sync + fmt::Debug {
    /// A call of `kind` ended with `outcome` after `elapsed` (for `get`: once the body
    /// started; its bytes stream afterwards).
    fn call(&self, kind: CallKind, outcome: Result<(), ErrorKind>, elapsed: Duration);

    /// A call of `kind` failed with a temporary error and is being tried again.
    fn retry(&self, kind: CallKind);
}

/// An observer that records what it hears, for the wrappers' tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub calls: std::sync::Mutex<Vec<(CallKind, &'static str)>>,
    pub retries: std::sync::Mutex<Vec<CallKind>>,
}

#[cfg(test)]
impl StorageObserver for Recorder {
    fn call(&self, kind: CallKind, outcome: Result<(), ErrorKind>, _elapsed: Duration) {
        let mut calls = self.calls.lock().expect("not poisoned");
        calls.push((kind, status_class(outcome)));
    }

    fn retry(&self, kind: CallKind) {
        self.retries.lock().expect("not poisoned").push(kind);
    }
}
