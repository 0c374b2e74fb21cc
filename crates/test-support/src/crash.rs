//! The crash tests' driver: the parent re-runs its own test binary as a child that runs one
//! ignored test (which does its work in a loop and prints `acked <seq>` after each acknowledged
//! step), kills it with SIGKILL at a random moment, and gets the acknowledged seqs back to
//! check the repository against.

use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;

/// Runs this test binary's ignored test `child_test` (its full path, e.g. `crash::child_loop`)
/// alone in a child process with the environment variable `dir_var` set to `dir`, kills it with
/// SIGKILL after a random delay of `kill_after_ms` milliseconds, and returns the seqs of the
/// `acked <seq>` lines it printed before dying.
pub fn run_child_until_killed(
    child_test: &str,
    dir_var: &str,
    dir: &Path,
    kill_after_ms: Range<u64>,
) -> Vec<u64> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            child_test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(dir_var, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // The first line also carries libtest's "test … ... " prefix.
            .filter_map(|line| line.rsplit_once("acked ")?.1.parse::<u64>().ok())
            .collect::<Vec<u64>>()
    });
    std::thread::sleep(Duration::from_millis(
        rand::rng().random_range(kill_after_ms),
    ));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    reader.join().expect("reader")
}
