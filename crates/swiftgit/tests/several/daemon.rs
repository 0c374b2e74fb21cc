//! A test repository on the test Swift (its config files, `swiftgit init`, its removal) and the
//! `swiftgit daemon` processes that serve it, each with its own data and cache directory and its
//! log in a file (printed when a test fails).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use swiftgit_test_support::swift_proxy::{ProxyFaults, SwiftProxy, config_through_proxy};

use crate::common::listening_address;

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");
/// Requests at once while removing a test's repository.
const REMOVAL_CONCURRENCY: usize = 32;

/// The `[coordinator]` section of a daemon's config.
pub struct CoordinatorSection {
    pub endpoints: String,
    /// A prefix no other test (or run) uses.
    pub prefix: String,
    /// `timeout` in seconds; `None`: the default ([swift] http_timeout).
    pub timeout: Option<u64>,
}

impl CoordinatorSection {
    /// The section for `endpoints` under a fresh random prefix.
    pub fn new(endpoints: String) -> CoordinatorSection {
        CoordinatorSection {
            endpoints,
            prefix: format!("several-daemons-{:08x}/", rand::random::<u32>()),
            timeout: None,
        }
    }

    fn text(&self) -> String {
        let mut text = format!(
            "\n[coordinator]\netcd_endpoints = {}\netcd_prefix = {}\n",
            self.endpoints, self.prefix
        );
        if let Some(timeout) = self.timeout {
            text.push_str(&format!("timeout = {timeout}\n"));
        }
        text
    }
}

/// A repository of this test on the test Swift, named `several-<label>-<random>`, with a
/// directory for its config files and daemons. Dropped after a success, it removes its
/// container; after a failure it is kept for inspection (its name is printed).
pub struct TestRepo {
    pub name: String,
    pub dir: tempfile::TempDir,
    swift_config: PathBuf,
}

impl TestRepo {
    pub fn new(swift_config: &Path, label: &str) -> TestRepo {
        TestRepo {
            name: format!("several-{label}-{:08x}", rand::random::<u32>()),
            dir: tempfile::tempdir().expect("a directory for configs and daemons"),
            swift_config: swift_config.to_path_buf(),
        }
    }

    /// Writes a copy of the test Swift config, with `coordinator` appended, as `<file>`.
    pub fn config(&self, file: &str, coordinator: Option<&CoordinatorSection>) -> PathBuf {
        self.config_with(file, coordinator, "")
    }

    /// [`TestRepo::config`] with `sections` (config text, e.g. a `[maintenance]` section)
    /// appended too.
    pub fn config_with(
        &self,
        file: &str,
        coordinator: Option<&CoordinatorSection>,
        sections: &str,
    ) -> PathBuf {
        let mut text = std::fs::read_to_string(&self.swift_config).expect("read the Swift config");
        if let Some(coordinator) = coordinator {
            text.push_str(&coordinator.text());
        }
        text.push('\n');
        text.push_str(sections);
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).expect("write a config");
        path
    }

    /// A proxy in front of the config's Swift that delays every request body by 40–80 ms, and
    /// a copy of `config` whose Swift traffic goes through it.
    pub fn slow_swift(&self, config: &Path) -> (SwiftProxy, PathBuf) {
        let text = std::fs::read_to_string(config).expect("read the config");
        let proxy = SwiftProxy::start(
            &upstream_of(&text),
            ProxyFaults {
                body_delay_ms: 40..80,
                refuse: false,
            },
        );
        let slow = config_through_proxy(config, &proxy, self.dir.path());
        (proxy, slow)
    }

    /// `swiftgit init -c config NAME`, which must succeed.
    pub fn init(&self, config: &Path) {
        let output = swiftgit(&self.dir.path().join("init"))
            .args(["init", "-c"])
            .arg(config)
            .arg(&self.name)
            .output()
            .expect("swiftgit can be run");
        assert!(
            output.status.success(),
            "swiftgit init {}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `swiftgit gc -c config NAME ARGS` (not started), its output piped.
    pub fn gc(&self, config: &Path, args: &[&str]) -> Command {
        let mut command = swiftgit(&self.dir.path().join("gc"));
        command
            .args(["gc", "-c"])
            .arg(config)
            .arg(&self.name)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts a daemon named `label` on `config` with `env` added to its environment.
    pub fn daemon(&self, label: &str, config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start(label, config, &self.dir.path().join(label), env)
    }
}

impl Drop for TestRepo {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the repository {} for inspection", self.name);
        } else {
            remove_container(&self.swift_config, &self.name);
        }
    }
}

/// `http://HOST:PORT` of the config's `[swift] auth_url` (the proxy's upstream).
fn upstream_of(config: &str) -> String {
    let auth_url = config
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "auth_url")
        .map(|(_, value)| value.trim())
        .expect("the Swift config has an auth_url");
    let rest = auth_url
        .strip_prefix("http://")
        .expect("the test Swift's auth_url is http://");
    format!("http://{}", rest.split('/').next().unwrap_or(rest))
}

/// `swiftgit` with no config from the environment and its data under `dir`.
fn swiftgit(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("SWIFTGIT_CONFIG")
        .env_remove("DULWICH_SWIFT_CFG")
        .env_remove("SWIFTGIT_TEST_FAILPOINT")
        .env("SWIFTGIT_DATA_DIR", dir.join("data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// A running `swiftgit daemon -p 0`; SIGKILLed when dropped (its log is printed if the test
/// is failing).
pub struct Daemon {
    label: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    fn start(label: &str, config: &Path, dir: &Path, env: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(dir).expect("create the daemon's directory");
        let log = dir.join("daemon.log");
        let log_file = std::fs::File::create(&log).expect("create the daemon's log");
        let mut child = swiftgit(dir)
            .args(["daemon", "-c"])
            .arg(config)
            .args(["-l", "127.0.0.1", "-p", "0", "--idle-timeout", "60"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start the daemon");
        let address = listening_address(&mut child, "git://");
        let port = address
            .strip_prefix("127.0.0.1:")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected address {address:?}"));
        Daemon {
            label: label.to_owned(),
            child,
            port,
            log,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- daemon {} (log {}), last lines:\n{}",
                self.label,
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}

/// Deletes the container `container` with its objects from the Swift of `config`.
fn remove_container(config: &Path, container: &str) {
    let source = swiftgit_config::ConfigSource::File(config.to_path_buf());
    let config = swiftgit_config::Config::load(&source, |_| None).expect("the test config");
    let swiftgit_config::StorageConfig::Swift(mut swift) = config.storage else {
        panic!("SWIFTGIT_TEST_CONFIG is not a [swift] config");
    };
    // A coordinated repository holds a few objects per push: delete them many at a time.
    swift.concurrency = REMOVAL_CONCURRENCY;
    swift.http_pool_length = REMOVAL_CONCURRENCY;
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let removed = runtime.block_on(async {
        use swiftgit_storage::Storage;
        let storage = swiftgit_storage::swift::SwiftStorage::connect(&swift).await?;
        storage.delete_container(container).await
    });
    match removed {
        Ok(()) => eprintln!(
            "removed the repository {container} in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(error) => eprintln!("could not remove the repository {container}: {error}"),
    }
}
