//! What the etcd tests share: the test cluster's client, a prefix of keys per case, and
//! a macro that runs a case on memory storage and on Swift.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use swiftgit_etcd::{EtcdClient, EtcdOptions, RangeRequest, prefix_end};
use swiftgit_repo::refs::sequence::Etcd;
use swiftgit_repo::refs::{LogEntry, format};
use swiftgit_repo::{
    Expected, New, PackId, RefName, RefTransaction, RefUpdate, RepoName, RepoState,
    RepositoryOptions,
};

use crate::common::id;

pub fn r(name: &str) -> RefName {
    RefName::new(name).expect("valid ref name")
}

/// The test cluster's client, or `None` after saying the case is skipped.
pub fn etcd_client() -> Option<EtcdClient> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let endpoints = std::env::var("SWIFTGIT_TEST_ETCD")
        .ok()
        .filter(|v| !v.is_empty());
    let Some(endpoints) = endpoints else {
        assert!(
            std::env::var_os("SWIFTGIT_TEST_ETCD_REQUIRED").is_none(),
            "SWIFTGIT_TEST_ETCD_REQUIRED is set but SWIFTGIT_TEST_ETCD is not"
        );
        eprintln!("skipped: SWIFTGIT_TEST_ETCD is not set");
        return None;
    };
    let mut options = EtcdOptions::new(endpoints.split(','));
    options.timeout = Duration::from_secs(10);
    Some(EtcdClient::new(options).expect("SWIFTGIT_TEST_ETCD names valid endpoints"))
}

/// The test cluster, with keys under a prefix of the case's own (removed at its end).
pub struct Cluster {
    pub client: EtcdClient,
    pub prefix: String,
}

impl Cluster {
    pub fn new() -> Option<Cluster> {
        Some(Cluster {
            client: etcd_client()?,
            prefix: format!("test-{:016x}/", rand::random::<u64>()),
        })
    }

    /// A new "process": its own coordinator and commit locks.
    pub fn process(&self) -> RepositoryOptions {
        self.process_with(|_| {})
    }

    pub fn process_with(&self, adjust: impl FnOnce(&mut Etcd)) -> RepositoryOptions {
        let mut etcd = Etcd::new(self.client.clone(), &self.prefix);
        adjust(&mut etcd);
        RepositoryOptions::with_coordinator(Arc::new(etcd))
    }

    pub fn key(&self, repo: &RepoName, rest: &str) -> Vec<u8> {
        format!("{}repos/{repo}/{rest}", self.prefix).into_bytes()
    }

    /// Entries of `repo` still held in etcd.
    pub async fn entries_in_etcd(&self, repo: &RepoName) -> Vec<u64> {
        let prefix = self.key(repo, "log/");
        let found = self
            .client
            .range(RangeRequest::prefix(prefix.clone()).with_keys_only())
            .await
            .expect("range");
        found
            .kvs
            .iter()
            .map(|kv| {
                std::str::from_utf8(&kv.key[prefix.len()..])
                    .expect("ascii")
                    .parse()
                    .expect("a seq")
            })
            .collect()
    }

    /// Waits until the entries up to `seq` were copied into the object store (in the background,
    /// after the commits were answered: a loaded machine's Swift may take seconds).
    pub async fn wait_archived(&self, repo: &RepoName, seq: u64) {
        for _ in 0..1_200 {
            let found = self
                .client
                .range(RangeRequest::key(self.key(repo, "archived")))
                .await
                .expect("range");
            let archived: u64 = found
                .kvs
                .first()
                .map(|kv| String::from_utf8_lossy(&kv.value).parse().expect("a seq"))
                .unwrap_or(0);
            if archived >= seq {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("entries up to {seq} of {repo} were not archived within 60 s");
    }

    pub async fn clean(&self) {
        let prefix = self.prefix.as_bytes().to_vec();
        let end = prefix_end(&prefix);
        self.client
            .delete_range(prefix, Some(end))
            .await
            .expect("delete the case's keys");
    }
}

pub fn set(name: &str, n: u64) -> RefTransaction {
    RefTransaction::new().with_update(RefUpdate {
        name: r(name),
        expected: Expected::Any,
        new: New::Value(id(n)),
    })
}

#[macro_export]
macro_rules! on_memory_and_swift {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fixture) = $crate::common::fixture($crate::common::Backend::Memory).await else { return };
                    super::$case(fixture.storage).await;
                }
            )*
        }
        mod swift {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fixture) = $crate::common::fixture($crate::common::Backend::Swift).await else { return };
                    super::$case(fixture.storage).await;
                }
            )*
        }
    };
}

/// The entry after `base` that sets `name` to `id(n)` (and adds `pack`).
pub fn entry_after(base: &RepoState, name: &str, n: u64, pack: Option<PackId>) -> LogEntry {
    let bytes = format!(
        r#"{{"format":"swiftgit-log-entry/1","seq":{},"time_ms":1,"nonce":"{:016x}","refs":[{{"name":"{name}","old":{},"new":"{}"}}]{}}}"#,
        base.seq() + 1,
        rand::random::<u64>(),
        base.get(name)
            .map_or("null".to_owned(), |old| format!("\"{old}\"")),
        id(n),
        pack.map_or(String::new(), |p| format!(r#","packs_added":["{}"]"#, p.0)),
    );
    format::decode_entry(bytes.as_bytes()).expect("a valid entry")
}

impl Cluster {
    /// Removes every key of repository `name` (what an operator does with `etcdctl del
    /// --prefix` for a stale registration).
    pub async fn delete_repo_keys(&self, name: &RepoName) {
        let prefix = self.key(name, "");
        let end = prefix_end(&prefix);
        self.client
            .delete_range(prefix, Some(end))
            .await
            .expect("delete the repository's keys");
    }
}

/// Writes the writer lease of another process that is alive (on another host) into `repo`.
pub async fn write_foreign_lease(storage: &dyn swiftgit_storage::Storage, repo: &RepoName) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let record = format!(
        r#"{{"format":"swiftgit-writer/1","host":"another-host","pid":42,"token":"00000000000000aa","boot":"b/ns","renewed_ms":{now},"ttl_ms":30000}}"#
    );
    storage
        .put(
            repo.as_str(),
            swiftgit_repo::refs::sequence::WRITER_OBJECT,
            bytes::Bytes::from(record).into(),
            swiftgit_storage::PutMode::Overwrite,
        )
        .await
        .expect("write a lease");
}

pub async fn delete_lease(storage: &dyn swiftgit_storage::Storage, repo: &RepoName) {
    storage
        .delete(repo.as_str(), swiftgit_repo::refs::sequence::WRITER_OBJECT)
        .await
        .expect("delete the lease");
}
