//! Shared by the daemon tests: an in-process git:// daemon on 127.0.0.1:0 over a temporary
//! local directory or the Swift named by `SWIFTGIT_TEST_CONFIG` ([`Server`]), a sandboxed `git`
//! ([`Git`]), and raw pkt-line helpers for speaking to the daemon byte by byte.
//!
//! Tests are plain `#[test]` functions: the server runs on its own runtime, so the test thread
//! can run `git` synchronously. Every server stops when its [`Server`] is dropped.
#![allow(dead_code)]

pub mod raw_push;
pub mod wire;

#[allow(unused_imports)]
pub use swiftgit_test_support::git::{Git, parse_ls_remote};
pub use wire::*;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use swiftgit_repo::odb::OdbOptions;
use swiftgit_repo::{PackId, RepoName, Repository};
use swiftgit_server::daemon::{Daemon, DaemonOptions};
use swiftgit_server::registry::Registry;
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_test_support::swift_test_config;

/// Where a test's repositories live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Swift,
}

/// Runs a scenario `fn name(Backend)` as two tests: `local::name` and `swift::name` (the
/// latter skipped, saying so, unless `SWIFTGIT_TEST_CONFIG` is set).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            $( #[test] fn $name() { super::$name($crate::harness::Backend::Local) } )*
        }
        mod swift {
            $( #[test] fn $name() { super::$name($crate::harness::Backend::Swift) } )*
        }
    };
}

/// A git:// daemon serving on 127.0.0.1 in a runtime of its own.
pub struct Server {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub storage: Arc<dyn Storage>,
    pub registry: Arc<Registry>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
    repos: Vec<RepoName>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a daemon with `options` on `backend`; `None` (after saying so) for Swift without
    /// a config.
    pub fn start(backend: Backend, options: DaemonOptions) -> Option<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a test runtime");
        let (storage, dir): (Arc<dyn Storage>, _) = match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("holds because /tmp is writable");
                let storage = LocalStorage::open(dir.path()).expect("a fresh local storage");
                (Arc::new(storage), Some(dir))
            }
            Backend::Swift => {
                let Some(config) = swift_test_config() else {
                    eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
                    return None;
                };
                let storage = runtime
                    .block_on(SwiftStorage::connect(&config))
                    .unwrap_or_else(|e| panic!("SWIFTGIT_TEST_CONFIG is set but Swift fails: {e}"));
                let policy = RetryPolicy {
                    max_attempts: 8,
                    base_delay: Duration::from_millis(200),
                    max_delay: Duration::from_secs(5),
                };
                (Arc::new(Retrying::new(storage, policy)), None)
            }
        };
        let registry = Arc::new(Registry::new(storage.clone(), OdbOptions::default()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let daemon = Daemon::new(registry.clone(), options);
        let serving = runtime.spawn(daemon.serve(listener, async move {
            let _ = stopped.await;
        }));
        Some(Server {
            addr,
            backend,
            storage,
            registry,
            runtime: Some(runtime),
            stop: Some(stop),
            serving: Some(serving),
            repos: Vec::new(),
            _dir: dir,
        })
    }

    /// Stops accepting connections; those in flight go on (for the shutdown grace period). The
    /// server is waited for when dropped.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (up to `timeout`) for the server to finish after [`Server::begin_shutdown`]; whether
    /// it did.
    pub fn wait_stopped(&mut self, timeout: Duration) -> bool {
        let Some(serving) = self.serving.take() else {
            return true;
        };
        self.block_on(async { tokio::time::timeout(timeout, serving).await.is_ok() })
    }

    /// Runs a future on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("holds until drop")
            .block_on(future)
    }

    /// Creates a repository whose name starts with `prefix` (unique on Swift, where
    /// repositories outlive the test until it cleans up) and returns its name.
    pub fn init_repo(&mut self, prefix: &str) -> RepoName {
        let name = match self.backend {
            Backend::Local => RepoName::new(prefix).expect("a valid test repository name"),
            Backend::Swift => {
                RepoName::new(&format!("{prefix}-{:012x}", rand::random::<u64>() >> 16))
                    .expect("a valid test repository name")
            }
        };
        self.block_on(Repository::init(self.storage.clone(), &name, "master"))
            .unwrap_or_else(|e| panic!("init {name}: {e}"));
        self.repos.push(name.clone());
        name
    }

    /// `git://127.0.0.1:<port>/<repo>`.
    pub fn url(&self, repo: &RepoName) -> String {
        format!("git://{}/{}", self.addr, repo)
    }

    /// The refs of `repo` as stored, read by a fresh `Repository` (not through the daemon).
    pub fn refs(&self, repo: &RepoName) -> BTreeMap<String, String> {
        let state = self
            .block_on(Repository::open(self.storage.clone(), repo))
            .unwrap_or_else(|e| panic!("open {repo}: {e}"))
            .state();
        state
            .refs()
            .iter()
            .map(|(name, id)| (name.to_string(), id.to_string()))
            .collect()
    }

    /// The live packs of `repo` as stored.
    pub fn packs(&self, repo: &RepoName) -> Vec<PackId> {
        let state = self
            .block_on(Repository::open(self.storage.clone(), repo))
            .unwrap_or_else(|e| panic!("open {repo}: {e}"))
            .state();
        state.packs().iter().copied().collect()
    }

    /// The log position of `repo` (how many commits it has seen).
    pub fn seq(&self, repo: &RepoName) -> u64 {
        self.block_on(Repository::open(self.storage.clone(), repo))
            .unwrap_or_else(|e| panic!("open {repo}: {e}"))
            .state()
            .seq()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), serving).await });
        }
        if self.backend == Backend::Swift {
            for repo in &self.repos {
                runtime.block_on(remove_container(self.storage.as_ref(), repo.as_str()));
            }
        }
    }
}

/// Connection limits for a test daemon.
pub fn listener_limits(
    max_connections: usize,
    shutdown_grace: Duration,
) -> swiftgit_server::listener::ConnectionLimits {
    swiftgit_server::listener::ConnectionLimits {
        max_connections,
        shutdown_grace,
    }
}

/// Best-effort removal of a test's container and everything in it.
async fn remove_container(storage: &dyn Storage, container: &str) {
    if let Ok(objects) = storage.list(container, "").await {
        for object in objects {
            let _ = storage.delete(container, &object.name).await;
        }
    }
    let _ = storage.delete_container(container).await;
}
