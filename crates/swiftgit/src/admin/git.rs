//! The real `git`, run as a subprocess by `import` and `export` on a bare repository of their
//! own (a temporary one, or the one `export` writes).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

/// `git` working on the bare repository `git_dir`, whatever the caller's environment says.
pub fn command(git_dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_DIR", git_dir)
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `git args…` on `git_dir` to its end; its stdout, or an error with its stderr.
pub async fn run<I, S>(git_dir: &Path, args: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = shown(&args);
    let output = command(git_dir)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("cannot run `{shown}` (is git installed?)"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{shown}` printed non-UTF-8"))
}

/// `git a b c`, for messages.
pub fn shown(args: &[std::ffi::OsString]) -> String {
    let mut text = "git".to_owned();
    for arg in args {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
