//! The users file: one `NAME:HASH` line per user, where HASH is an argon2id PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`). Blank lines and `#` comments are ignored.
//! Passwords are never stored: [`hash_password`] makes the line `swiftgit user add` writes.
//!
//! The file is read again when its modification time changes, so users added while the
//! server runs can log in at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A users file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("users file {path}, line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid user name {0:?}: use letters, digits, '.', '_', '-' or '@'")]
    BadName(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Whether `name` may be a user name (it must fit in the file and in a Basic header).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Parses the text of a users file: user name to PHC string.
pub fn parse_users(text: &str, path: &Path) -> Result<HashMap<String, String>, UsersFileError> {
    let mut users = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = |message: &str| UsersFileError::Syntax {
            path: path.to_owned(),
            line: index + 1,
            message: message.to_owned(),
        };
        let (name, hash) = line
            .split_once(':')
            .ok_or_else(|| syntax("expected NAME:HASH"))?;
        if !valid_user_name(name) {
            return Err(syntax("invalid user name"));
        }
        if PasswordHash::new(hash).is_err() {
            return Err(syntax(
                "the hash is not a PHC string (make it with `swiftgit user add`)",
            ));
        }
        users.insert(name.to_owned(), hash.to_owned());
    }
    Ok(users)
}

/// An argon2id PHC string for `password`, with a fresh random salt. CPU-heavy: call it on a
/// blocking thread.
pub fn hash_password(password: &str) -> Result<String, UsersFileError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| UsersFileError::Hash(error.to_string()))
}

/// Whether `password` matches the PHC string `hash`. CPU-heavy (tens of milliseconds): call it
/// on a blocking thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The text of a users file with `name` set to `hash` (added, or replaced in place).
pub fn with_user(text: &str, name: &str, hash: &str) -> String {
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        let is_user = line
            .trim()
            .split_once(':')
            .is_some_and(|(existing, _)| existing == name);
        if is_user && !replaced {
            out.push_str(&format!("{name}:{hash}\n"));
            replaced = true;
        } else if !is_user {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{name}:{hash}\n"));
    }
    out
}

/// User name to PHC string, as last read.
type Users = Arc<HashMap<String, String>>;

/// A users file on disk, re-read when it changes.
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    loaded: Mutex<(Option<SystemTime>, Users)>,
}

impl UsersFile {
    /// Reads `path` now (a missing or malformed file is an error at startup).
    pub fn open(path: &Path) -> Result<UsersFile, UsersFileError> {
        let (modified, users) = read(path)?;
        Ok(UsersFile {
            path: path.to_owned(),
            loaded: Mutex::new((modified, Arc::new(users))),
        })
    }

    /// The stored hash of `name`. A file that became unreadable or malformed keeps its last
    /// good contents (and the problem is logged).
    pub async fn hash_of(&self, name: &str) -> Option<String> {
        let modified = tokio::fs::metadata(&self.path)
            .await
            .and_then(|meta| meta.modified())
            .ok();
        let stale = {
            let loaded = self.loaded.lock().expect("holds because no holder panics");
            modified.is_some() && loaded.0 != modified
        };
        if stale {
            let path = self.path.clone();
            match tokio::task::spawn_blocking(move || read(&path)).await {
                Ok(Ok((modified, users))) => {
                    *self.loaded.lock().expect("holds because no holder panics") =
                        (modified, Arc::new(users));
                    tracing::info!(path = %self.path.display(), "users file reloaded");
                }
                Ok(Err(error)) => tracing::warn!(%error, "users file not reloaded"),
                Err(error) => tracing::warn!(%error, "users file not reloaded"),
            }
        }
        let users = Arc::clone(
            &self
                .loaded
                .lock()
                .expect("holds because no holder panics")
                .1,
        );
        users.get(name).cloned()
    }
}

type Loaded = (Option<SystemTime>, HashMap<String, String>);

fn read(path: &Path) -> Result<Loaded, UsersFileError> {
    let read_error = |source| UsersFileError::Read {
        path: path.to_owned(),
        source,
    };
    let modified = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .map_err(read_error)?;
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    Ok((Some(modified), parse_users(&text, path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_and_file_edits() {
        let hash = hash_password("secret").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("secret", &hash));
        assert!(!verify_password("Secret", &hash));
        let text = with_user("# users\nbob:$argon2id$x\n", "alice", &hash);
        let text = with_user(&text, "alice", &hash);
        assert_eq!(text.matches("alice:").count(), 1, "{text}");
        assert!(text.starts_with("# users\nbob:"));
        let error = parse_users(&text, Path::new("u")).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        let users = parse_users(&format!("alice:{hash}\n\n"), Path::new("u")).unwrap();
        assert_eq!(users.get("alice"), Some(&hash));
        assert!(parse_users("alice:plaintext\n", Path::new("u")).is_err());
        assert!(!valid_user_name("a:b") && !valid_user_name("") && valid_user_name("a.b-c"));
    }
}
