//! Transactions: "if every compare holds, do `success`, else do `failure`", applied atomically
//! at one revision. Plain data with builder helpers; `wire` encodes it.
//!
//! ```
//! use swiftgit_etcd::{Compare, RangeRequest, Txn, TxnOp};
//!
//! // Create "locks/a" unless it exists; either way, read what is there afterwards.
//! let txn = Txn::new()
//!     .when(Compare::absent("locks/a"))
//!     .on_success(TxnOp::put("locks/a", "owner-1"))
//!     .on_failure(TxnOp::Range(RangeRequest::key("locks/a")));
//! assert!(!txn.is_read_only());
//! ```

use crate::kv::{LeaseId, RangeRequest, RangeResponse};

/// How a compare relates the key's current state to the given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    Greater,
    Less,
    NotEqual,
}

/// One condition of a transaction. A key that does not exist has value "", and revisions and
/// version 0: [`Compare::absent`] is `CreateRevision == 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's value, compared bytewise.
    Value {
        key: Vec<u8>,
        op: CompareOp,
        value: Vec<u8>,
    },
    /// The revision of the last put to the key.
    ModRevision {
        key: Vec<u8>,
        op: CompareOp,
        revision: i64,
    },
    /// The revision that created the key (0 if it does not exist).
    CreateRevision {
        key: Vec<u8>,
        op: CompareOp,
        revision: i64,
    },
    /// How many puts since the key was created.
    Version {
        key: Vec<u8>,
        op: CompareOp,
        version: i64,
    },
}

impl Compare {
    pub fn value(key: impl Into<Vec<u8>>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Compare::Value {
            key: key.into(),
            op,
            value: value.into(),
        }
    }

    pub fn mod_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        Compare::ModRevision {
            key: key.into(),
            op,
            revision,
        }
    }

    pub fn create_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        Compare::CreateRevision {
            key: key.into(),
            op,
            revision,
        }
    }

    pub fn version(key: impl Into<Vec<u8>>, op: CompareOp, version: i64) -> Self {
        Compare::Version {
            key: key.into(),
            op,
            version,
        }
    }

    /// Holds when the key does not exist.
    pub fn absent(key: impl Into<Vec<u8>>) -> Self {
        Compare::create_revision(key, CompareOp::Equal, 0)
    }

    /// The key this compare looks at.
    pub fn key(&self) -> &[u8] {
        match self {
            Compare::Value { key, .. }
            | Compare::ModRevision { key, .. }
            | Compare::CreateRevision { key, .. }
            | Compare::Version { key, .. } => key,
        }
    }
}

/// One operation of a transaction's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Range(RangeRequest),
    /// Sets the key's value; with a lease, the key goes when the lease does.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    /// Deletes `key`, or the keys in `[key, range_end)`.
    DeleteRange {
        key: Vec<u8>,
        range_end: Option<Vec<u8>>,
    },
}

impl TxnOp {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
            lease: None,
        }
    }

    pub fn put_with_lease(
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
            lease: Some(lease),
        }
    }

    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        TxnOp::DeleteRange {
            key: key.into(),
            range_end: None,
        }
    }

    pub fn range(request: RangeRequest) -> Self {
        TxnOp::Range(request)
    }
}

/// A transaction. etcd refuses one that writes the same key twice in a branch ("duplicate key
/// given in txn request", [`crate::EtcdErrorKind::Invalid`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    pub compare: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

impl Txn {
    pub fn new() -> Self {
        Txn::default()
    }

    /// Adds a condition; all of them must hold for `success` to run.
    pub fn when(mut self, compare: Compare) -> Self {
        self.compare.push(compare);
        self
    }

    /// Adds an operation to the branch run when every compare holds.
    pub fn on_success(mut self, op: TxnOp) -> Self {
        self.success.push(op);
        self
    }

    /// Adds an operation to the branch run when a compare fails.
    pub fn on_failure(mut self, op: TxnOp) -> Self {
        self.failure.push(op);
        self
    }

    /// Whether neither branch writes: such a transaction is retried like a read.
    pub fn is_read_only(&self) -> bool {
        self.success
            .iter()
            .chain(&self.failure)
            .all(|op| matches!(op, TxnOp::Range(_)))
    }
}

/// What a transaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held (so `success` ran; else `failure` did).
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// One answer per operation of the branch that ran, in order.
    pub responses: Vec<TxnOpResponse>,
}

/// The answer to one operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOpResponse {
    Range(RangeResponse),
    Put,
    DeleteRange { deleted: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_the_branches_in_order() {
        let txn = Txn::new()
            .when(Compare::absent("a"))
            .when(Compare::value("b", CompareOp::NotEqual, "x"))
            .on_success(TxnOp::put("a", "1"))
            .on_success(TxnOp::delete("b"))
            .on_failure(TxnOp::range(RangeRequest::key("a")));
        assert_eq!(txn.compare.len(), 2);
        assert_eq!(
            txn.compare[0],
            Compare::CreateRevision {
                key: b"a".to_vec(),
                op: CompareOp::Equal,
                revision: 0
            }
        );
        assert_eq!(txn.compare[1].key(), b"b");
        assert_eq!(txn.success[1], TxnOp::delete("b"));
        assert_eq!(txn.failure.len(), 1);
    }

    #[test]
    fn only_transactions_without_writes_are_read_only() {
        let read = Txn::new()
            .when(Compare::version("a", CompareOp::Greater, 0))
            .on_success(TxnOp::range(RangeRequest::key("a")))
            .on_failure(TxnOp::range(RangeRequest::prefix("b")));
        assert!(read.is_read_only());
        assert!(Txn::new().is_read_only());
        let write = read.on_failure(TxnOp::put_with_lease("c", "", LeaseId(5)));
        assert!(!write.is_read_only());
    }
}
