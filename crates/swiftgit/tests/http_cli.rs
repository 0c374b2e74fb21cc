//! The binary's smart HTTP side as an operator runs it: `swiftgit user add` writes an argon2
//! hash (never the password), `swiftgit daemon --no-git-daemon` with an `[http]` section serves
//! git over HTTP with those users, logs one access line per request without the password, and
//! stops on SIGTERM.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{git_command, listening_address};

const BINARY: &str = env!("CARGO_BIN_EXE_swiftgit");

fn swiftgit(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_remove("SWIFTGIT_CONFIG")
        .env_remove("DULWICH_SWIFT_CFG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swiftgit can be run");
    child
        .stdin
        .take()
        .expect("holds because stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write the password");
    child.wait_with_output().expect("swiftgit finishes")
}

fn git(home: &Path, dir: &Path, args: &[&str]) -> Output {
    git_command(home, dir)
        .args(args)
        .output()
        .expect("git can be run")
}

#[test]
fn user_add_then_serve_http_only() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let users_arg = users.to_str().unwrap();
    let added = swiftgit(
        &["user", "add", "alice", "--users-file", users_arg],
        "s3cret!\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.starts_with("alice:$argon2id$"), "{text}");
    assert!(!text.contains("s3cret"), "no plaintext password");
    let missing = swiftgit(&["user", "add", "bob", "-c", "/nonexistent/conf"], "x\n");
    assert!(!missing.status.success());
    let bad_name = swiftgit(&["user", "add", "a:b", "--users-file", users_arg], "x\n");
    assert!(!bad_name.status.success());

    let conf = dir.path().join("swiftgit.conf");
    std::fs::write(
        &conf,
        format!(
            "[local]\npath = {}\n[http]\nlisten = 127.0.0.1:0\nusers_file = {users_arg}\n\
             [access \"edeploy\"]\nwrite = alice\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let init = swiftgit(&["init", "-c", conf, "edeploy"], "");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut daemon = Command::new(BINARY)
        .args(["daemon", "-c", conf, "--no-git-daemon"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swiftgit daemon starts");
    let address = listening_address(&mut daemon, "http://");

    let home = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for args in [
        &["init", "-q", "-b", "master"][..],
        &["commit", "-q", "--allow-empty", "-m", "first"],
    ] {
        assert!(git(home.path(), &work, args).status.success());
    }
    let url = format!("http://alice:s3cret!@{address}/edeploy.git");
    let pushed = git(home.path(), &work, &["push", &url, "master"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let listed = git(home.path(), &work, &["ls-remote", &url]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("refs/heads/master"));
    let wrong = format!("http://alice:nope@{address}/edeploy.git");
    let refused = git(home.path(), &work, &["ls-remote", &wrong]);
    assert!(!refused.status.success());

    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while daemon.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "stops after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = daemon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("swiftgit::access"), "{log}");
    assert!(
        log.contains("user=\"alice\"") || log.contains("user=alice"),
        "{log}"
    );
    assert!(log.contains("status=401"), "{log}");
    assert!(
        !log.contains("s3cret") && !log.contains("nope"),
        "no password in the log"
    );
}

/// Every stderr line of `output` as a JSON object.
fn json_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

/// `--log-format json` and `[daemon] log_format = json`: every log line is a JSON object, and
/// an access line keeps its fields as keys.
#[test]
fn access_lines_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("swiftgit.conf");
    std::fs::write(
        &conf,
        format!(
            "[local]\npath = {}\n[daemon]\nlog_format = json\n[http]\nlisten = 127.0.0.1:0\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let init = Command::new(BINARY)
        .args(["init", "-c", conf, "edeploy"])
        .env("RUST_LOG", "info")
        .output()
        .expect("swiftgit init runs");
    assert!(init.status.success());
    let lines = json_lines(&init.stderr);
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "loaded config" && line["level"] == "INFO"),
        "{lines:?}"
    );

    // The config says json; the flag says text and wins.
    let text = Command::new(BINARY)
        .args(["--log-format", "text", "init", "-c", conf, "other"])
        .env("RUST_LOG", "info")
        .output()
        .expect("swiftgit init runs");
    assert!(text.status.success());
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains("loaded config") && !stderr.contains('{'),
        "{stderr}"
    );

    let mut daemon = Command::new(BINARY)
        .args(["daemon", "-c", conf, "--no-git-daemon"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swiftgit daemon starts");
    let address = listening_address(&mut daemon, "http://");
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://{address}/edeploy.git");
    let anonymous = git(home.path(), dir.path(), &["ls-remote", &url]);
    assert!(!anonymous.status.success(), "no anonymous reads");
    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = daemon.wait_with_output().unwrap();
    let lines = json_lines(&output.stderr);
    let access = lines
        .iter()
        .find(|line| line["target"] == "swiftgit::access" && line["status"] == 401)
        .unwrap_or_else(|| panic!("no access line: {lines:?}"));
    assert_eq!(access["method"], "GET");
    assert_eq!(access["repo"], "edeploy");
    assert!(
        access["path"]
            .as_str()
            .is_some_and(|path| path.starts_with("/edeploy.git/info/refs")),
        "{access}"
    );
    for key in [
        "peer",
        "user",
        "service",
        "bytes_in",
        "bytes_out",
        "ms",
        "result",
    ] {
        assert!(access.get(key).is_some(), "{key} in {access}");
    }
}
