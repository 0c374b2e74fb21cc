//! Real `git` for the tests, sandboxed: its own empty `HOME`, no system config, fixed author and
//! committer, nothing inherited from a surrounding `GIT_DIR` or protocol setting.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

    /// `git ls-remote <extra> <url>` as (name → id).
    pub fn ls_remote(&self, dir: &Path, url: &str, extra: &[&str]) -> BTreeMap<String, String> {
        let mut args = vec!["ls-remote"];
        args.extend_from_slice(extra);
        args.push(url);
        parse_ls_remote(&self.ok(dir, &args))
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

/// `<id>\t<name>` lines (what `git ls-remote` prints) as (name → id).
pub fn parse_ls_remote(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect()
}
