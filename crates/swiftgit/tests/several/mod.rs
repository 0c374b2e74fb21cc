//! The pieces of `several_daemons.rs`: several `swiftgit daemon` processes serving one
//! repository on a real Swift, with and without the etcd coordinator, driven by real `git`.
//!
//! - `environment`: what the tests need from the machine (Swift, etcd), and skipping without it;
//! - `etcd_cluster`: a private 3-member etcd cluster per test (`scripts/etcd-dev` on a port base
//!   of its own), so that its members can be killed without disturbing other tests;
//! - `daemon`: a test repository (config files, `swiftgit init`, removal) and daemon processes;
//! - `client`: one git client's work repository: commits, `ls-remote`, porcelain pushes;
//! - `history`: the clients' records of `refs/heads/shared` and their linearizability check;
//! - `lose_nothing`, `second_writer`, `faults`, `maintenance`: the bodies of the tests.
//!
//! Every process a test starts (daemons, proxies, etcd members) is stopped by a guard's `Drop`,
//! on failure too.

pub mod client;
pub mod daemon;
pub mod environment;
pub mod etcd_cluster;
pub mod faults;
pub mod history;
pub mod lose_nothing;
pub mod maintenance;
pub mod second_writer;
