//! Shared by the `swiftgit` binary's tests: a sandboxed `git` command and the address a
//! starting daemon prints on its first line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};

/// `git` in `dir` that sees no user or system configuration (its `HOME` is `home`), with a fixed
/// author and committer.
pub fn git_command(home: &Path, dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "C")
        .env("GIT_COMMITTER_EMAIL", "c@example.com")
        .env_remove("GIT_DIR");
    command
}

/// Reads the first line of `daemon`'s piped stdout, `swiftgit: listening on <scheme>ADDRESS`,
/// and returns what follows `scheme` (`git://` or `http://`).
pub fn listening_address(daemon: &mut Child, scheme: &str) -> String {
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().expect("holds because stdout is piped"))
        .read_line(&mut line)
        .expect("read the daemon's first line");
    line.trim()
        .strip_prefix("swiftgit: listening on ")
        .and_then(|rest| rest.strip_prefix(scheme))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
