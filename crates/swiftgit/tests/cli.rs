//! The `swiftgit` binary as a user runs it: `init`, then `daemon -p 0` driven by real `git`,
//! stopped with SIGTERM. On a temporary local directory (the embedded default, no `-c`) and,
//! with `SWIFTGIT_TEST_CONFIG`, on a real Swift through `-c`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{git_command, listening_address};

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");

/// `swiftgit` with no config from the environment and its data (and, on Swift, its disk cache
/// of packs) in `data`.
fn swiftgit(data: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("SWIFTGIT_CONFIG")
        .env_remove("DULWICH_SWIFT_CFG")
        .env("SWIFTGIT_DATA_DIR", data)
        .env("XDG_CACHE_HOME", data.join("cache"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("swiftgit can be run")
}

/// A `git` that sees no user or system configuration.
struct Git {
    home: tempfile::TempDir,
}

impl Git {
    fn new() -> Git {
        Git {
            home: tempfile::tempdir().expect("a temporary HOME"),
        }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        git_command(self.home.path(), dir)
            .args(args)
            .output()
            .expect("git can be run")
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.run(dir, args);
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A work repository on `branch` with one commit.
    fn project(&self, dir: &Path, branch: &str) -> String {
        std::fs::create_dir_all(dir).expect("create the project");
        self.ok(dir, &["init", "-q", "-b", branch]);
        std::fs::write(dir.join("README"), "edeploy\n").expect("write a file");
        self.ok(dir, &["add", "README"]);
        self.ok(dir, &["commit", "-q", "-m", "first"]);
        self.ok(dir, &["rev-parse", "HEAD"]).trim().to_owned()
    }
}

/// A running `swiftgit daemon -p 0` and the port it printed.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    /// Starts `command` (`swiftgit daemon [-c CONF]`) on a free port.
    fn start(mut command: Command) -> Daemon {
        let mut child = command
            .args(["-p", "0", "--idle-timeout", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the daemon");
        let address = listening_address(&mut child, "git://");
        let port = address
            .strip_prefix("127.0.0.1:")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected address {address:?}"));
        Daemon { child, port }
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }

    /// SIGTERM, then the exit status (which must come within 10 s).
    fn terminate(mut self) -> std::process::ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the daemon") {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed's walkthrough against a daemon started by `command`'s binary.
fn seed_walkthrough(init: Command, daemon: Command, repo: &str) {
    let output = run(init);
    assert!(
        output.status.success(),
        "init: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("Initialized empty repository '{repo}' (HEAD -> refs/heads/master)\n")
    );
    let daemon = Daemon::start(daemon);
    let git = Git::new();
    let work = tempfile::tempdir().expect("a work directory");
    let clone = git.run(work.path(), &["clone", &daemon.url(repo)]);
    assert!(clone.status.success(), "{clone:?}");
    let project = work.path().join("edeployclone");
    let head = git.project(&project, "master");
    git.ok(&project, &["remote", "add", "alt", &daemon.url(repo)]);
    git.ok(&project, &["push", "alt", "master"]);
    assert_eq!(
        git.ok(&project, &["ls-remote", "alt"]),
        format!("{head}\tHEAD\n{head}\trefs/heads/master\n")
    );
    let status = daemon.terminate();
    assert!(
        status.success(),
        "the daemon exits cleanly on SIGTERM: {status:?}"
    );
}

#[test]
fn seed_walkthrough_on_the_embedded_default() {
    let data = tempfile::tempdir().expect("a data directory");
    let mut init = swiftgit(data.path());
    init.args(["init", "edeploy"]);
    let mut daemon = swiftgit(data.path());
    daemon.arg("daemon");
    seed_walkthrough(init, daemon, "edeploy");
}

#[test]
fn seed_walkthrough_on_swift() {
    let Some(config) = std::env::var_os("SWIFTGIT_TEST_CONFIG").filter(|v| !v.is_empty()) else {
        eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
        return;
    };
    let config = PathBuf::from(config);
    let data = tempfile::tempdir().expect("unused data directory");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let repo = format!("cli-{}-{nanos:x}", std::process::id());
    let mut init = swiftgit(data.path());
    init.args(["init", "-c"]).arg(&config).arg(&repo);
    let mut daemon = swiftgit(data.path());
    daemon.args(["daemon", "-c"]).arg(&config);
    seed_walkthrough(init, daemon, &repo);
    remove_swift_container(&config, &repo);
}

/// Deletes a test's container and its objects from the Swift of `config`.
fn remove_swift_container(config: &Path, container: &str) {
    let source = swiftgit_config::ConfigSource::File(config.to_path_buf());
    let config = swiftgit_config::Config::load(&source, |_| None).expect("the test config");
    let swiftgit_config::StorageConfig::Swift(swift) = config.storage else {
        panic!("SWIFTGIT_TEST_CONFIG is not a [swift] config");
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        use swiftgit_storage::Storage;
        let storage = swiftgit_storage::swift::SwiftStorage::connect(&swift)
            .await
            .expect("connect to Swift");
        for object in storage
            .list(container, "")
            .await
            .expect("list the container")
        {
            let _ = storage.delete(container, &object.name).await;
        }
        let _ = storage.delete_container(container).await;
    });
}

#[test]
fn init_refuses_existing_and_invalid_names() {
    let data = tempfile::tempdir().expect("a data directory");
    let mut first = swiftgit(data.path());
    first.args(["init", "repo"]);
    assert!(run(first).status.success());
    let mut again = swiftgit(data.path());
    again.args(["init", "repo.git"]);
    let output = run(again);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("swiftgit: cannot create repository repo: it holds a swiftgit repository"),
        "{stderr}"
    );
    for (name, reason) in [
        ("../x", "it contains '/'"),
        (".hidden", "names starting with '.' are reserved"),
        ("", "it is empty"),
    ] {
        let mut init = swiftgit(data.path());
        init.args(["init", name]);
        let output = run(init);
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid repository name"), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    }
    let mut branch = swiftgit(data.path());
    branch.args(["init", "--initial-branch", "a..b", "other"]);
    let output = run(branch);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid initial branch"));
}

#[test]
fn config_file_sections_and_initial_branch() {
    let data = tempfile::tempdir().expect("a data directory");
    let config = data.path().join("swiftgit.conf");
    std::fs::write(
        &config,
        format!(
            "[local]\npath = {}\n\n[daemon]\nread_only = true\n\n[repository]\ninitial_branch = trunk\n",
            data.path().join("repos").display()
        ),
    )
    .expect("write the config");
    let mut init = swiftgit(data.path());
    init.args(["init", "-c"]).arg(&config).arg("fromconf");
    let output = run(init);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("HEAD -> refs/heads/trunk"));
    let mut init = swiftgit(data.path());
    init.args(["init", "-c"])
        .arg(&config)
        .args(["--initial-branch", "main", "fromflag"]);
    assert!(String::from_utf8_lossy(&run(init).stdout).contains("HEAD -> refs/heads/main"));

    let mut command = swiftgit(data.path());
    command.args(["daemon", "-c"]).arg(&config);
    let daemon = Daemon::start(command);
    let git = Git::new();
    let work = tempfile::tempdir().expect("a work directory");
    git.project(work.path(), "trunk");
    let output = git.run(work.path(), &["push", &daemon.url("fromconf"), "trunk"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("fatal: remote error: this server is read-only"),
        "{output:?}"
    );
    let symref = git.ok(
        work.path(),
        &["ls-remote", "--symref", &daemon.url("fromconf")],
    );
    assert_eq!(
        symref, "",
        "an empty repository lists nothing over v2 ls-remote"
    );
    assert!(daemon.terminate().success());
}

#[test]
fn daemon_help_warns_about_git_protocol() {
    let data = tempfile::tempdir().expect("a data directory");
    let mut help = swiftgit(data.path());
    help.args(["daemon", "--help"]);
    let output = run(help);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("no authentication and no"), "{text}");
    assert!(text.contains("--read-only"), "{text}");
    assert!(text.contains("--max-connections"), "{text}");
    assert!(text.contains("--idle-timeout"), "{text}");
}
