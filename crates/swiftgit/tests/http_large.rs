//! A 200 MiB push and clone over smart HTTP through the `swiftgit` binary, with the server's
//! peak memory (VmHWM of the child process) asserted far below the data's size: request and
//! response bodies are streamed, never held whole. `SWIFTGIT_TEST_LARGE_MIB` changes the size.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::{git_command, listening_address};

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");
/// Peak resident memory allowed to the server, whatever the data's size.
const MAX_PEAK_MIB: u64 = 160;

fn git(home: &Path, dir: &Path, args: &[&str]) -> Output {
    let output = git_command(home, dir)
        .args(args)
        .output()
        .expect("git can be run");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Incompressible bytes from a xorshift generator (fast, and the same on every run).
fn write_noise(path: &Path, mib: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
}

/// The child's peak resident set, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("holds because Linux reports VmHWM");
    kib / 1024
}

#[test]
fn large_push_and_clone_over_http_in_bounded_memory() {
    let mib: usize = std::env::var("SWIFTGIT_TEST_LARGE_MIB")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let mut add = Command::new(BINARY)
        .args([
            "user",
            "add",
            "alice",
            "--users-file",
            users.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    assert!(add.wait().unwrap().success());
    let conf = dir.path().join("conf");
    std::fs::write(
        &conf,
        format!(
            "[local]\npath = {}\n[http]\nusers_file = {}\ndefault_access = write\n",
            dir.path().join("data").display(),
            users.display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let init = Command::new(BINARY)
        .args(["init", "-c", conf, "big"])
        .output()
        .unwrap();
    assert!(init.status.success());

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(home.path(), &work, &["init", "-q", "-b", "master"]);
    write_noise(&work.join("noise.bin"), mib);
    git(home.path(), &work, &["add", "noise.bin"]);
    git(home.path(), &work, &["commit", "-q", "-m", "large"]);

    let mut daemon = Command::new(BINARY)
        .args([
            "daemon",
            "-c",
            conf,
            "--no-git-daemon",
            "--http",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = listening_address(&mut daemon, "http://");
    let url = format!("http://alice:secret@{address}/big");

    let started = Instant::now();
    git(home.path(), &work, &["push", "-q", &url, "master"]);
    let pushed = started.elapsed();
    let after_push = peak_mib(daemon.id());
    let started = Instant::now();
    git(home.path(), dir.path(), &["clone", "-q", &url, "cloned"]);
    let cloned = started.elapsed();
    let peak = peak_mib(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    eprintln!(
        "{mib} MiB: push {pushed:?}, clone {cloned:?}; server peak RSS {after_push} MiB after \
         the push, {peak} MiB after the clone"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("cloned/noise.bin"))
            .unwrap()
            .len(),
        (mib as u64) << 20
    );
    assert!(
        peak < MAX_PEAK_MIB,
        "the server's peak RSS was {peak} MiB for {mib} MiB of data"
    );
}
