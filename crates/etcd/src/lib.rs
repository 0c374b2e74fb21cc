//! A small etcd v3 client over etcd's JSON gateway (grpc-gateway, `POST /v3/...`), for
//! swiftgit's coordination: key ranges, transactions, leases and member status, with endpoint
//! failover inside one deadline per call. No gRPC stack: HTTP/1.1 and JSON through `reqwest`.
//!
//! Where things live: [`kv`] and [`txn`] hold the plain data a caller builds and gets back
//! (ranges, key-values, compares, transaction branches, lease ids); `wire` turns them into
//! etcd's JSON and decodes answers, pure functions checked against bodies recorded from a real
//! etcd 3.4; `error` has [`EtcdError`] and the one table of what etcd's failures mean (kind,
//! applied or not, worth another attempt or not); `transport` sends one call: endpoint choice,
//! attempts, pauses, the deadline and the auth token; `client` is the [`EtcdClient`] a caller
//! holds, one method per etcd call, each documenting its guarantees.
//!
//! Retries follow one rule: a read is repeated on any temporary failure until the deadline; a
//! write only when the failure proves it was not applied (connection refused, "no leader"
//! from the member asked). Otherwise the error says [`EtcdError::outcome_unknown`]. One attempt
//! waits for one member only its share of the deadline (see [`EtcdOptions::timeout`]), and
//! after any failed attempt later calls start at the next member: a member that accepts and
//! never answers costs the calls sent to it one share each (a read goes on to another member, a
//! write's outcome is unknown), and the calls after them nothing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), swiftgit_etcd::EtcdError> {
//! use swiftgit_etcd::{Compare, EtcdClient, EtcdOptions, RangeRequest, Txn, TxnOp};
//!
//! let client = EtcdClient::new(EtcdOptions::new(["http://127.0.0.1:23791"]))?;
//! let created = client
//!     .txn(Txn::new().when(Compare::absent("refs/main")).on_success(TxnOp::put("refs/main", "c0ffee")))
//!     .await?
//!     .succeeded;
//! let refs = client.range(RangeRequest::prefix("refs/").with_limit(100)).await?;
//! println!("created: {created}; {} of {} refs", refs.kvs.len(), refs.count);
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod kv;
mod stats;
mod transport;
pub mod txn;
mod wire;

pub use client::{EtcdClient, EtcdOptions};
pub use error::{EtcdError, EtcdErrorKind};
pub use kv::{KeyValue, LeaseId, MemberStatus, RangeRequest, RangeResponse, prefix_end};
pub use stats::TxnStats;
pub use txn::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse, TxnResponse};
