//! HTTP Basic authentication: parsing the `Authorization` header and checking the name and
//! password against the users file ([`super::users`]) and, optionally, Keystone v3
//! ([`super::keystone`]).
//!
//! argon2 is deliberately slow, and git sends several requests per command, each with the
//! credentials: a successful check is remembered for [`CACHE_TTL`] under a keyed digest of
//! (user, password, stored hash), so the password itself is never kept and a changed hash
//! invalidates the entry. Failures are not cached. Verification runs on the blocking pool.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use blake2::digest::{Digest, Update};

use super::keystone::Keystone;
use super::users::UsersFile;

/// How long a successful check is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Entries remembered at most (the cache is emptied when full).
const CACHE_CAPACITY: usize = 10_000;

/// Credentials from an `Authorization: Basic` header. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// An `Authorization` header that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    #[error("only Basic authentication is supported")]
    UnsupportedScheme,
    #[error("the Basic credentials are not valid base64 of UTF-8 `user:password`")]
    Malformed,
}

/// Parses an `Authorization` header value.
pub fn parse_basic(value: &[u8]) -> Result<Credentials, AuthHeaderError> {
    let text = std::str::from_utf8(value).map_err(|_| AuthHeaderError::Malformed)?;
    let (scheme, encoded) = text
        .trim()
        .split_once(' ')
        .ok_or(AuthHeaderError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthHeaderError::UnsupportedScheme);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthHeaderError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthHeaderError::Malformed)?;
    let (user, password) = decoded.split_once(':').ok_or(AuthHeaderError::Malformed)?;
    if user.is_empty() {
        return Err(AuthHeaderError::Malformed);
    }
    Ok(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Checks credentials; cheap after the first success.
#[derive(Debug)]
pub struct Authenticator {
    users: Option<UsersFile>,
    keystone: Option<Keystone>,
    key: [u8; 32],
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    /// One argon2 verification per core at a time: a burst of logins queues instead of
    /// taking every blocking thread (and the memory each verification needs).
    verifying: tokio::sync::Semaphore,
}

impl Authenticator {
    /// Checks against `users` first, then `keystone`; with neither, nobody authenticates.
    pub fn new(users: Option<UsersFile>, keystone: Option<Keystone>) -> Authenticator {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Authenticator {
            users,
            keystone,
            key,
            verified: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }
    }

    /// Whether any user can authenticate.
    pub fn has_backends(&self) -> bool {
        self.users.is_some() || self.keystone.is_some()
    }

    /// Whether `credentials` were accepted within [`CACHE_TTL`] (checked without argon2).
    pub async fn remembered(&self, credentials: &Credentials) -> bool {
        let (_, digest) = self.stored(credentials).await;
        self.is_cached(&digest)
    }

    /// Whether `credentials` are right.
    pub async fn check(&self, credentials: &Credentials) -> bool {
        let (stored, digest) = self.stored(credentials).await;
        if self.is_cached(&digest) {
            return true;
        }
        let ok = match stored {
            Some(hash) => self.verify(&credentials.password, hash).await,
            None => match &self.keystone {
                Some(keystone) => keystone.check(credentials).await,
                None => {
                    // Spend the same time as for a known user, so that timing does not tell
                    // which names exist.
                    self.verify(&credentials.password, decoy_hash().to_owned())
                        .await;
                    false
                }
            },
        };
        if ok {
            self.remember(digest);
        }
        ok
    }

    /// The user's stored hash (if the users file has the user) and the cache key of
    /// `credentials` with it.
    async fn stored(&self, credentials: &Credentials) -> (Option<String>, [u8; 32]) {
        let stored = match &self.users {
            Some(users) => users.hash_of(&credentials.user).await,
            None => None,
        };
        let digest = self.digest(credentials, stored.as_deref().unwrap_or("keystone"));
        (stored, digest)
    }

    /// Checks `password` against argon2 `hash` on the blocking pool, one per core at a time.
    async fn verify(&self, password: &str, hash: String) -> bool {
        let password = password.to_owned();
        let _turn = self.verifying.acquire().await;
        tokio::task::spawn_blocking(move || super::users::verify_password(&password, &hash))
            .await
            .unwrap_or(false)
    }

    fn digest(&self, credentials: &Credentials, stored: &str) -> [u8; 32] {
        let mut hasher = blake2::Blake2s256::new();
        for part in [
            &self.key[..],
            credentials.user.as_bytes(),
            credentials.password.as_bytes(),
            stored.as_bytes(),
        ] {
            Update::update(&mut hasher, &(part.len() as u64).to_le_bytes());
            Update::update(&mut hasher, part);
        }
        hasher.finalize().into()
    }

    fn is_cached(&self, digest: &[u8; 32]) -> bool {
        let verified = self
            .verified
            .lock()
            .expect("holds because no holder panics");
        verified
            .get(digest)
            .is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut verified = self
            .verified
            .lock()
            .expect("holds because no holder panics");
        if verified.len() >= CACHE_CAPACITY {
            verified.retain(|_, at| at.elapsed() < CACHE_TTL);
            if verified.len() >= CACHE_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(digest, Instant::now());
    }
}

/// A hash no password matches (a random one's), checked for unknown users.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 24];
        OsRng.fill_bytes(&mut random);
        let password = base64::engine::general_purpose::STANDARD.encode(random);
        super::users::hash_password(&password).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s:ecret");
        let credentials = parse_basic(format!("Basic {encoded}").as_bytes()).unwrap();
        assert_eq!(credentials.user, "alice");
        assert_eq!(credentials.password, "s:ecret");
        assert!(!format!("{credentials:?}").contains("ecret"));
        assert_eq!(
            parse_basic(b"Bearer abc"),
            Err(AuthHeaderError::UnsupportedScheme)
        );
        assert_eq!(parse_basic(b"Basic !!!"), Err(AuthHeaderError::Malformed));
        assert_eq!(parse_basic(b"Basic"), Err(AuthHeaderError::Malformed));
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert_eq!(
            parse_basic(format!("Basic {no_colon}").as_bytes()),
            Err(AuthHeaderError::Malformed)
        );
    }
}
