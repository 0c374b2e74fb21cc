//! Shared by the daemon tests: an in-process git:// daemon on 127.0.0.1:0 over a temporary
//! local directory or the Swift named by `SWIFTGIT_TEST_CONFIG` ([`Server`]), a sandboxed `git`
//! ([`Git`]), and raw pkt-line helpers for speaking to the daemon byte by byte.
//!
//! Tests are plain `#[test]` functions: the server runs on its own runtime, so the test thread
//! can run `git` synchronously. Every server stops when its [`Server`] is dropped.
#![allow(dead_code)]

pub mod raw_push;
pub mod wire;

pub use wire::*;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use swiftgit_config::{Config, ConfigSource, StorageConfig};
use swiftgit_repo::odb::OdbOptions;
use swiftgit_repo::{PackId, RepoName, Repository};
use swiftgit_server::daemon::{Daemon, DaemonOptions};
use swiftgit_server::registry::Registry;
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;

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

fn swift_config() -> Option<swiftgit_config::SwiftConfig> {
    let path = std::env::var("SWIFTGIT_TEST_CONFIG")
        .ok()
        .filter(|v| !v.is_empty())?;
    let config = Config::load(&ConfigSource::File(PathBuf::from(&path)), |_| None)
        .unwrap_or_else(|e| panic!("SWIFTGIT_TEST_CONFIG: {e}"));
    match config.storage {
        StorageConfig::Swift(swift) => Some(swift),
        other => panic!("SWIFTGIT_TEST_CONFIG={path} is not a [swift] config: {other:?}"),
    }
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
                let Some(config) = swift_config() else {
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

/// A `git` that sees no user or system configuration.
pub struct Git {
    home: tempfile::TempDir,
    pub work: tempfile::TempDir,
}

impl Default for Git {
    fn default() -> Self {
        Git::new()
    }
}

impl Git {
    pub fn new() -> Git {
        Git {
            home: tempfile::tempdir().expect("a temporary HOME"),
            work: tempfile::tempdir().expect("a temporary work directory"),
        }
    }

    /// A directory under the work directory (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    pub fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new("git");
        command
            .current_dir(dir)
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_PROTOCOL")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir)
            .args(args)
            .output()
            .expect("git can be run")
    }

    /// Runs git, which must succeed; its stdout.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.run(dir, args);
        assert!(
            output.status.success(),
            "git {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs git, which must fail; its stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.run(dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "git {args:?} should have failed:\n{}{stderr}",
            String::from_utf8_lossy(&output.stdout),
        );
        stderr
    }

    /// A new work repository `name` on branch master with one commit.
    pub fn work_repo(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).expect("create the work repository");
        self.ok(&dir, &["init", "-q", "-b", "master"]);
        self.commit(&dir, "README", "hello\n", "first");
        dir
    }

    /// Writes `file` and commits it; the new commit's id.
    pub fn commit(&self, dir: &Path, file: &str, content: &str, message: &str) -> String {
        std::fs::write(dir.join(file), content).expect("write a file");
        self.ok(dir, &["add", file]);
        self.ok(dir, &["commit", "-q", "-m", message]);
        self.rev(dir, "HEAD")
    }

    pub fn rev(&self, dir: &Path, rev: &str) -> String {
        self.ok(dir, &["rev-parse", rev]).trim().to_owned()
    }

    /// `git ls-remote <url>` as (name → id).
    pub fn ls_remote(&self, dir: &Path, url: &str, extra: &[&str]) -> BTreeMap<String, String> {
        let mut args = vec!["ls-remote"];
        args.extend_from_slice(extra);
        args.push(url);
        parse_ls_remote(&self.ok(dir, &args))
    }
}

/// `<id>\t<name>` lines as (name → id).
pub fn parse_ls_remote(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect()
}
