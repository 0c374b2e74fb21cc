//! Real `git` for the tests: a sandboxed client ([`Git`]), C `git daemon` as the reference
//! server ([`GitDaemon`]), and what a clone holds ([`CloneContents`]) for comparing the two.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

    /// Runs git, which must succeed; its stderr (where progress goes).
    pub fn ok_stderr(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.run(dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "git {args:?} failed:\n{stderr}");
        stderr
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

    /// Runs git with `input` on stdin, which must succeed; its stdout.
    pub fn output_with_input(&self, dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = self
            .command(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("git can be run");
        let mut stdin = child.stdin.take().expect("a piped stdin");
        let input = input.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("git runs to its end");
        feeder.join().expect("the stdin feeder");
        assert!(
            output.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub fn rev(&self, dir: &Path, rev: &str) -> String {
        self.ok(dir, &["rev-parse", rev]).trim().to_owned()
    }

    /// `git ls-remote <url>` as (name → id).
    pub fn ls_remote(&self, dir: &Path, args: &[&str]) -> BTreeMap<String, String> {
        let mut all = vec!["ls-remote"];
        all.extend_from_slice(args);
        self.ok(dir, &all)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(id, name)| (name.to_owned(), id.to_owned()))
            .collect()
    }

    /// `git fsck --strict` of `dir`, which must find nothing wrong.
    pub fn fsck(&self, dir: &Path) {
        let output = self.run(dir, &["fsck", "--strict", "--no-dangling"]);
        assert!(
            output.status.success(),
            "fsck failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Objects `rev-list` reports missing in `dir` (a partial clone's omitted objects).
    pub fn missing_objects(&self, dir: &Path) -> Vec<String> {
        self.ok(
            dir,
            &[
                "rev-list",
                "--objects",
                "--all",
                "--missing=print",
                "--no-object-names",
            ],
        )
        .lines()
        .filter_map(|line| line.strip_prefix('?'))
        .map(str::to_owned)
        .collect()
    }

    /// Number of commits reachable from `rev` in `dir`.
    pub fn count(&self, dir: &Path, rev: &str) -> usize {
        self.ok(dir, &["rev-list", "--count", rev])
            .trim()
            .parse()
            .expect("a count")
    }
}

/// C `git daemon` serving the bare repositories under a directory: the reference the tests
/// compare with, and the bar the benchmark measures against.
pub struct GitDaemon {
    child: std::process::Child,
    pub port: u16,
}

impl GitDaemon {
    /// Serves every repository under `base` (upload-pack only) on a free port of 127.0.0.1.
    pub fn start(git: &Git, base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = git
            .command(base)
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = GitDaemon { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("git daemon did not start listening on port {port}");
    }

    /// `git://127.0.0.1:<port>/<path relative to the base>`.
    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a clone holds, for comparing two clones: every commit, every object present, the
/// objects a partial clone lacks, and the shallow boundary.
#[derive(Debug, PartialEq, Eq)]
pub struct CloneContents {
    pub commits: Vec<String>,
    pub objects: Vec<String>,
    pub missing: Vec<String>,
    pub shallow: Vec<String>,
}

impl CloneContents {
    pub fn of(git: &Git, dir: &Path) -> CloneContents {
        let sorted = |text: String| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let listed = git.ok(
            dir,
            &[
                "rev-list",
                "--objects",
                "--all",
                "--missing=print",
                "--no-object-names",
            ],
        );
        let (missing, objects): (Vec<String>, Vec<String>) = sorted(listed)
            .into_iter()
            .partition(|line| line.starts_with('?'));
        let git_dir = git.ok(dir, &["rev-parse", "--git-dir"]);
        let shallow =
            std::fs::read_to_string(dir.join(git_dir.trim()).join("shallow")).unwrap_or_default();
        CloneContents {
            commits: sorted(git.ok(dir, &["rev-list", "--all"])),
            objects,
            missing,
            shallow: sorted(shallow),
        }
    }
}
