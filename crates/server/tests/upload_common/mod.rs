//! Shared by the upload-pack tests: an in-process git:// front for upload-pack on 127.0.0.1:0
//! ([`UploadServer`]) over a temporary local directory or the Swift named by
//! `SWIFTGIT_TEST_CONFIG`, repositories copied into it from real `git` repositories
//! ([`UploadServer::import`], [`UploadServer::update`]: packs ingested as a push would store
//! them), a sandboxed `git` ([`Git`]) and a history generator for `git fast-import`
//! ([`fixture`]).
#![allow(dead_code)]

pub mod fixture;
mod git;

#[allow(unused_imports)]
pub use git::{CloneContents, GitDaemon};
pub use swiftgit_test_support::git::Git;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::daemon_request::{self, Service};
use swiftgit_protocol::error_packet::encode_error;
use swiftgit_repo::odb::{IngestLimits, OdbOptions};
use swiftgit_repo::{Head, ObjectId, RefName, RefTransaction, RefUpdate, RepoName, Repository};
use swiftgit_server::registry::Registry;
use swiftgit_server::session::pkt_io::{OwnedPacket, PktSink, PktStream};
use swiftgit_server::session::upload_pack::{UploadPackOptions, serve_v0, serve_v2};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::retry::{RetryPolicy, Retrying};
use swiftgit_storage::swift::SwiftStorage;
use swiftgit_test_support::swift_test_config;
use tokio::io::AsyncWriteExt;

/// Where a test's repositories live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Swift,
}

/// Runs `fn name(Backend)` as `local::name` and `swift::name` (skipped, saying so, without
/// `SWIFTGIT_TEST_CONFIG`).
#[macro_export]
macro_rules! upload_tests {
    ($($name:ident),* $(,)?) => {
        mod local {
            $( #[test] fn $name() { super::$name($crate::upload_common::Backend::Local) } )*
        }
        mod swift {
            $( #[test] fn $name() { super::$name($crate::upload_common::Backend::Swift) } )*
        }
    };
}

/// upload-pack served on 127.0.0.1 from a runtime of its own.
pub struct UploadServer {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub storage: Arc<dyn Storage>,
    /// The Swift client under the retry wrapper, for its request counters.
    pub swift: Option<SwiftStorage>,
    pub registry: Arc<Registry>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
    repos: Vec<RepoName>,
    _dir: Option<tempfile::TempDir>,
}

impl UploadServer {
    /// Starts serving with `options` on `backend`; `None` for Swift without a config.
    pub fn start(backend: Backend, options: UploadPackOptions) -> Option<UploadServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a test runtime");
        let (storage, swift, dir): (Arc<dyn Storage>, _, _) = match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("holds because /tmp is writable");
                let storage = LocalStorage::open(dir.path()).expect("a fresh local storage");
                (Arc::new(storage), None, Some(dir))
            }
            Backend::Swift => {
                let Some(config) = swift_test_config() else {
                    eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
                    return None;
                };
                let swift = runtime
                    .block_on(SwiftStorage::connect(&config))
                    .unwrap_or_else(|e| panic!("SWIFTGIT_TEST_CONFIG is set but Swift fails: {e}"));
                let policy = RetryPolicy {
                    max_attempts: 8,
                    base_delay: Duration::from_millis(200),
                    max_delay: Duration::from_secs(5),
                };
                let storage = Arc::new(Retrying::new(swift.clone(), policy));
                (storage, Some(swift), None)
            }
        };
        let registry = Arc::new(Registry::new(storage.clone(), OdbOptions::default()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let serving_registry = registry.clone();
        let options = Arc::new(options);
        let serving = runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let registry = serving_registry.clone();
                        let options = options.clone();
                        tokio::spawn(serve_connection(registry, stream, options));
                    }
                }
            }
        });
        Some(UploadServer {
            addr,
            backend,
            storage,
            swift,
            registry,
            runtime: Some(runtime),
            stop: Some(stop),
            serving: Some(serving),
            repos: Vec::new(),
            _dir: dir,
        })
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("holds until drop")
            .block_on(future)
    }

    /// `git://127.0.0.1:<port>/<repo>`.
    pub fn url(&self, repo: &RepoName) -> String {
        format!("git://{}/{}", self.addr, repo)
    }

    /// Swift requests made so far (`None` on the local backend).
    pub fn swift_requests(&self) -> Option<u64> {
        self.swift.as_ref().map(|swift| swift.stats().requests)
    }

    /// A new, empty repository (HEAD → `refs/heads/master`, unborn).
    pub fn init_empty(&mut self, prefix: &str) -> RepoName {
        let name = RepoName::new(&format!("{prefix}-{:012x}", rand::random::<u64>() >> 16))
            .expect("a valid test repository name");
        self.block_on(Repository::init(self.storage.clone(), &name, "master"))
            .unwrap_or_else(|e| panic!("init {name}: {e}"));
        self.repos.push(name.clone());
        name
    }

    /// A new repository holding everything of the bare repository `source`: all objects in one
    /// pack (as `git pack-objects --all` writes it), its refs and its HEAD.
    pub fn import(&mut self, prefix: &str, git: &Git, source: &Path) -> RepoName {
        let name = self.init_empty(prefix);
        let head = git.ok(source, &["symbolic-ref", "HEAD"]);
        let pack = git.output_with_input(source, &["pack-objects", "--all", "--stdout", "-q"], b"");
        self.store(&name, &pack, source, git, Some(head.trim()));
        name
    }

    /// Brings `repo` up to date with `source`: a thin pack of what is new (as a push sends
    /// it), completed and stored, and the refs moved.
    pub fn update(&self, repo: &RepoName, git: &Git, source: &Path) {
        let old = self.refs(repo);
        let new = source_refs(git, source);
        let mut revs = String::new();
        for id in new.values() {
            revs.push_str(&format!("{id}\n"));
        }
        for id in old.values() {
            revs.push_str(&format!("^{id}\n"));
        }
        let pack = git.output_with_input(
            source,
            &["pack-objects", "--revs", "--thin", "--stdout", "-q"],
            revs.as_bytes(),
        );
        self.store(repo, &pack, source, git, None);
    }

    fn store(&self, repo: &RepoName, pack: &[u8], source: &Path, git: &Git, head: Option<&str>) {
        let wanted = source_refs(git, source);
        self.block_on(async {
            let handle = self.registry.get(repo).await.expect("open the repository");
            let state = handle.repo.state();
            let ingested = handle
                .objects(&state)
                .await
                .expect("load the pack indexes")
                .ingest(pack, &IngestLimits::default(), Arc::new(()))
                .await
                .expect("ingest the pack");
            let mut transaction = RefTransaction::new();
            for (name, id) in &wanted {
                let name = RefName::new(name.clone()).expect("a valid ref name");
                let id = ObjectId::from_hex(id.as_bytes()).expect("a hex id");
                let update = match state.get(name.as_str()) {
                    Some(old) if old == id => continue,
                    Some(old) => RefUpdate::update(name, old, id),
                    None => RefUpdate::create(name, id),
                };
                transaction = transaction.with_update(update);
            }
            for (name, old) in state.refs() {
                if !wanted.contains_key(name.as_str()) {
                    transaction = transaction.with_update(RefUpdate::delete(name.clone(), *old));
                }
            }
            if let Some(head) = head {
                let target = RefName::new(head.to_owned()).expect("a valid HEAD target");
                transaction = transaction.with_head(Head::Symbolic(target));
            }
            if let Some(pack) = ingested.pack_id() {
                transaction = transaction.with_pack_added(pack);
            }
            handle.repo.commit(transaction).await.expect("commit");
            handle.add_ingested(&ingested);
        });
    }

    /// The refs of `repo` (name → hex id).
    pub fn refs(&self, repo: &RepoName) -> BTreeMap<String, String> {
        let handle = self
            .block_on(self.registry.get(repo))
            .expect("open the repository");
        handle
            .repo
            .state()
            .refs()
            .iter()
            .map(|(name, id)| (name.to_string(), id.to_string()))
            .collect()
    }
}

impl Drop for UploadServer {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = runtime.block_on(serving);
        }
        if self.backend == Backend::Swift {
            for repo in &self.repos {
                let storage = self.storage.clone();
                let _ = runtime.block_on(async move {
                    tokio::time::timeout(
                        Duration::from_secs(60),
                        storage.delete_container(repo.as_str()),
                    )
                    .await
                });
            }
        }
    }
}

/// One git:// connection: the daemon request, then upload-pack; failures as `ERR`.
async fn serve_connection(
    registry: Arc<Registry>,
    stream: tokio::net::TcpStream,
    options: Arc<UploadPackOptions>,
) {
    let (reader, writer) = stream.into_split();
    let mut input = PktStream::new(reader, Duration::from_secs(60));
    let mut output = PktSink::new(writer);
    let message = match serve_request(&registry, &mut input, &mut output, &options).await {
        Ok(()) => None,
        Err(message) => message,
    };
    if let Some(message) = message {
        encode_error(&mut output.buf, &message);
        let _ = output.flush().await;
    }
    let _ = output.writer_mut().shutdown().await;
}

async fn serve_request(
    registry: &Registry,
    input: &mut PktStream<tokio::net::tcp::OwnedReadHalf>,
    output: &mut PktSink<tokio::net::tcp::OwnedWriteHalf>,
    options: &UploadPackOptions,
) -> Result<(), Option<String>> {
    let Ok(Some(OwnedPacket::Data(first))) = input.next().await else {
        return Err(Some("expected a git-daemon request".into()));
    };
    let request = daemon_request::parse(&first).map_err(|e| Some(e.to_string()))?;
    if request.service != Service::UploadPack {
        return Err(Some("this test server only serves git-upload-pack".into()));
    }
    let path = String::from_utf8_lossy(&request.path);
    let path = path.trim_start_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let name = RepoName::new(path).map_err(|e| Some(e.to_string()))?;
    let handle = registry.get(&name).await.map_err(|e| Some(e.to_string()))?;
    let result = match request.version {
        ProtocolVersion::V2 => serve_v2(handle, input, output, options, true).await,
        version => serve_v0(handle, input, output, options, version, true).await,
    };
    result.map(drop).map_err(|e| e.client_message())
}

/// The refs of a bare repository (name → hex id).
pub fn source_refs(git: &Git, source: &Path) -> BTreeMap<String, String> {
    git.ok(
        source,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    )
    .lines()
    .filter_map(|line| line.split_once(' '))
    .map(|(name, id)| (name.to_owned(), id.to_owned()))
    .collect()
}
