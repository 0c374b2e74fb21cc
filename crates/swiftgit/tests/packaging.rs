//! The packaging files under `packaging/`, checked where this machine allows: the systemd unit
//! with `systemd-analyze verify` (its `ExecStart` pointed at the binary under test), the
//! container's build script with `shellcheck`, the Containerfile's promises (non-root user,
//! volumes, the daemon as entry point) read from the file, and the daemon's `Type=notify`
//! readiness messages on a socket of the test's own.
//!
//! `scripts/test` installs `shellcheck` and sets `SWIFTGIT_TEST_TOOLS_REQUIRED=1`: a missing
//! tool is then a failure; elsewhere the check is skipped, saying so.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::listening_address;

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository's root")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository_root().join(path))
        .unwrap_or_else(|error| panic!("read {path}: {error}"))
}

/// Whether `tool` runs; if not, fails under `scripts/test` and otherwise says the check is
/// skipped.
fn tool_available(tool: &str, test: &str) -> bool {
    let runs = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !runs {
        assert!(
            std::env::var("SWIFTGIT_TEST_TOOLS_REQUIRED").as_deref() != Ok("1"),
            "{tool} is not installed (scripts/test installs it)"
        );
        eprintln!("skipped {test}: {tool} is not installed");
    }
    runs
}

#[test]
fn systemd_unit_verifies() {
    if !tool_available("systemd-analyze", "systemd_unit_verifies") {
        return;
    }
    let unit = read("packaging/systemd/swiftgit.service");
    assert!(unit.contains("\nType=notify\n"), "{unit}");
    assert!(unit.contains("\nLimitNOFILE="), "{unit}");
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let tested = unit.replace("/usr/local/bin/swiftgit", BINARY);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("swiftgit.service");
    std::fs::write(&path, tested).expect("write the unit");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Unknown keys and bad values are warnings: the unit must verify without any.
    assert!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {:?}\n{said}",
        output.status
    );
}

#[test]
fn container_build_script_passes_shellcheck() {
    if !tool_available("shellcheck", "container_build_script_passes_shellcheck") {
        return;
    }
    let output = Command::new("shellcheck")
        .arg(repository_root().join("packaging/container/build.sh"))
        .output()
        .expect("run shellcheck");
    assert!(
        output.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn containerfile_runs_the_daemon_as_non_root_with_volumes() {
    let text = read("packaging/container/Containerfile");
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let final_stage = instructions
        .iter()
        .rposition(|line| line.starts_with("FROM "))
        .expect("a FROM");
    let last = &instructions[final_stage..];
    let user = last
        .iter()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap_or(user);
    assert!(
        uid != "0" && uid != "root",
        "the image runs as root: USER {user}"
    );
    let volumes = last
        .iter()
        .find_map(|line| line.strip_prefix("VOLUME "))
        .expect("the final stage declares volumes");
    for dir in ["/etc/swiftgit", "/var/cache/swiftgit"] {
        assert!(volumes.contains(dir), "{dir} is not a volume: {volumes}");
    }
    assert!(
        last.iter()
            .any(|line| line.starts_with("ENTRYPOINT") && line.contains("swiftgit")),
        "the entry point is not swiftgit"
    );
    assert!(
        last.iter()
            .any(|line| line.starts_with("CMD") && line.contains("\"daemon\"")),
        "the default command is not the daemon"
    );
    let ignored = read(".dockerignore");
    assert!(
        ignored.lines().any(|line| line.trim() == "target/"),
        "the build context would carry target/"
    );
}

#[test]
fn daemon_notifies_systemd_when_ready_and_when_stopping() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut daemon = Command::new(BINARY)
        .env_remove("SWIFTGIT_CONFIG")
        .env_remove("DULWICH_SWIFT_CFG")
        .env("SWIFTGIT_DATA_DIR", dir.path().join("data"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("NOTIFY_SOCKET", &socket_path)
        .args(["daemon", "-l", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let address = listening_address(&mut daemon, "git://");
    let mut buffer = [0u8; 256];
    let received = socket.recv(&mut buffer).expect("READY=1 within 30 s");
    assert_eq!(
        &buffer[..received],
        b"READY=1",
        "after listening on {address}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let received = socket.recv(&mut buffer).expect("STOPPING=1 within 30 s");
    assert_eq!(&buffer[..received], b"STOPPING=1");
    let status = daemon.wait().expect("the daemon exits");
    assert!(status.success(), "{status:?}");
}
