//! Running child processes: every child dies with the benchmark (`PR_SET_PDEATHSIG`), SIGINT
//! and SIGTERM only raise a flag that the benchmark checks between steps (the terminal's
//! Ctrl-C reaches the children of the same process group directly), and timed runs of client
//! commands that never hang forever.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into [`interrupted`] so that the servers and containers this
/// process made are cleaned up by their `Drop`s.
pub fn install_signal_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails once SIGINT or SIGTERM arrived.
pub fn check_interrupted() -> anyhow::Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// `program` with SIGTERM delivered to it when this process dies, however it dies.
pub fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    // SAFETY: prctl is async-signal-safe and touches no memory of this process.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    command
}

/// Runs an untimed helper command to its end; fails with its stderr if it fails.
pub fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    stdout_of(command, output)
}

/// [`run`], with `input` written to the command's standard input.
pub fn run_with_input(command: &mut Command, input: &str) -> anyhow::Result<String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let mut stdin = child.stdin.take().context("the child has no stdin")?;
    stdin.write_all(input.as_bytes())?;
    drop(stdin);
    let output = child.wait_with_output()?;
    stdout_of(command, output)
}

/// The standard output of `command`, which ended with `output`; its stderr if it failed.
fn stdout_of(command: &Command, output: std::process::Output) -> anyhow::Result<String> {
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What one child reported when it ended.
struct Ended {
    status: std::io::Result<ExitStatus>,
    stderr: String,
    at: Instant,
}

fn spawn_waiter(mut child: Child, done: mpsc::Sender<Ended>) {
    std::thread::spawn(move || {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = child.wait();
        let _ = done.send(Ended {
            status,
            stderr,
            at: Instant::now(),
        });
    });
}

/// Starts every command at once and waits for all of them: the wall time from the first
/// spawn to the last exit. Any failure, the timeout or an interrupt kills the rest and is
/// returned as a one-line message.
pub fn run_timed(commands: Vec<Command>, timeout: Duration) -> Result<Duration, String> {
    let (done, ended) = mpsc::channel();
    let mut pids = Vec::new();
    let started = Instant::now();
    for mut command in commands {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"));
        match child {
            Ok(child) => {
                pids.push(child.id());
                spawn_waiter(child, done.clone());
            }
            Err(message) => {
                kill_all(&pids);
                return Err(message);
            }
        }
    }
    drop(done);
    let (mut last, mut failure) = (started, None::<String>);
    for _ in 0..pids.len() {
        let ended = loop {
            match ended.recv_timeout(Duration::from_millis(50)) {
                Ok(ended) => break ended,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if interrupted() || started.elapsed() > timeout {
                        kill_all(&pids);
                        if failure.is_none() {
                            failure = Some(if interrupted() {
                                "interrupted".to_owned()
                            } else {
                                format!("timed out after {} s", timeout.as_secs())
                            });
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(failure.unwrap_or_else(|| "a waiter thread died".to_owned()));
                }
            }
        };
        last = last.max(ended.at);
        let ok = matches!(&ended.status, Ok(status) if status.success());
        if !ok && failure.is_none() {
            let status = match &ended.status {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            let reason = ended
                .stderr
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("")
                .trim();
            failure = Some(format!("{status}: {reason}"));
            kill_all(&pids);
        }
    }
    match failure {
        Some(message) => Err(message),
        None => Ok(last - started),
    }
}

fn kill_all(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: kill has no memory effects; a pid already reaped fails harmlessly (the
        // waiter threads reap only after the kill below, or the child already exited).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}
