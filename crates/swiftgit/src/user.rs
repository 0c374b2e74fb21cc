//! `swiftgit user add NAME`: adds (or changes the password of) a user of the smart HTTP server
//! in the users file, as an argon2id hash. The password is prompted for twice without echo on
//! a terminal, or read from the first line of standard input otherwise. `swiftgit user list`
//! prints the users' names; `swiftgit user remove NAME` takes one out.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use swiftgit_server::http::users::{hash_password, parse_users, valid_user_name, with_user};

/// Adds `name` to `users_file` with a password read from the terminal or stdin.
pub fn add(users_file: &Path, name: &str) -> anyhow::Result<()> {
    if !valid_user_name(name) {
        bail!("invalid user name {name:?}: use letters, digits, '.', '_', '-' or '@'");
    }
    let password = read_password()?;
    if password.is_empty() {
        bail!("empty password: nothing changed");
    }
    let hash = hash_password(&password)?;
    let existing = read_existing(users_file)?;
    write_private(users_file, &with_user(&existing, name, &hash))?;
    println!("user {name} saved in {}", users_file.display());
    Ok(())
}

/// Prints the names of the users of `users_file`, sorted, one a line (none if it is absent).
pub fn list(users_file: &Path) -> anyhow::Result<()> {
    let text = read_existing(users_file)?;
    let mut names: Vec<String> = parse_users(&text, users_file)?.into_keys().collect();
    names.sort();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// Removes `name` from `users_file`; an error if it is not there. Its sessions end within the
/// minute the server caches a successful check.
pub fn remove(users_file: &Path, name: &str) -> anyhow::Result<()> {
    let text = read_existing(users_file)?;
    let users = parse_users(&text, users_file)?;
    if !users.contains_key(name) {
        bail!(
            "no user {name:?} in {}: nothing changed",
            users_file.display()
        );
    }
    write_private(users_file, &without_user(&text, name))?;
    println!("user {name} removed from {}", users_file.display());
    Ok(())
}

/// The text of a users file without the lines of `name` (comments and others kept).
fn without_user(text: &str, name: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let is_user = line
            .trim()
            .split_once(':')
            .is_some_and(|(existing, _)| existing == name);
        if !is_user {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The file's text; empty if it does not exist.
fn read_existing(users_file: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(users_file) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", users_file.display())),
    }
}

/// The users file: the flag, else `[http] users_file`.
pub fn users_file_path(
    flag: Option<PathBuf>,
    configured: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    flag.or(configured)
        .context("no users file: pass --users-file FILE or set [http] users_file in the config")
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt("Password: ")?;
    let second = prompt("Password again: ")?;
    if first != second {
        bail!("the passwords differ: nothing changed");
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off (through `stty`).
fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Replaces `path` with `text` through a temporary file (mode 0600) and a rename.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_keeps_comments_and_other_users() {
        let text = "# users\nalice:$argon2id$a\nbob:$argon2id$b\n\ncarol:$argon2id$c\n";
        assert_eq!(
            without_user(text, "bob"),
            "# users\nalice:$argon2id$a\n\ncarol:$argon2id$c\n"
        );
        assert_eq!(without_user(text, "dave"), text);
    }
}
