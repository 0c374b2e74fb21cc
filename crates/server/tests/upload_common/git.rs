//! Real `git` as the reference: C `git daemon` as the server the tests compare with
//! ([`GitDaemon`]), and what a clone holds ([`CloneContents`]) for comparing the two. The
//! sandboxed client, [`Git`], is the workspace's shared one.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use swiftgit_test_support::git::Git;

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
