//! `swiftgit config --defaults` as an operator uses it: the file it prints is a config that
//! `swiftgit init` and `swiftgit daemon -c` take as it is, without a warning.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::listening_address;

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");

#[test]
fn the_defaults_file_serves_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let printed = Command::new(BINARY)
        .args(["config", "--defaults"])
        .output()
        .expect("swiftgit runs");
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).expect("UTF-8");
    for header in [
        "[daemon]",
        "[http]",
        "[metrics]",
        "; [swift]",
        "; [coordinator]",
    ] {
        assert!(text.contains(&format!("\n{header}\n")), "{header}:\n{text}");
    }
    let conf = dir.path().join("defaults.conf");
    std::fs::write(&conf, &text).unwrap();
    let conf = conf.to_str().unwrap();

    // `[local] path = ./swiftgit-data`: relative to the working directory.
    let init = Command::new(BINARY)
        .args(["init", "-c", conf, "edeploy"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("swiftgit init runs");
    let stderr = String::from_utf8_lossy(&init.stderr);
    assert!(init.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "no warning: {stderr}");
    assert!(dir.path().join("swiftgit-data").is_dir());

    let mut daemon = Command::new(BINARY)
        .args(["daemon", "-c", conf, "-p", "0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swiftgit daemon starts");
    let address = listening_address(&mut daemon, "git://");
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "stops after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = daemon.wait_with_output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "no warning: {stderr}");
}
