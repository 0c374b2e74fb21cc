//! Shared by the smart HTTP tests: an in-process [`HttpServer`] on 127.0.0.1:0 beside the
//! harness's git:// daemon (same runtime, same registry, so both see the same repositories),
//! a users file, and raw HTTP/1.1 requests for the bad-input tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use swiftgit_server::http::access::{AccessRule, AccessRules, DefaultAccess};
use swiftgit_server::http::auth::Authenticator;
use swiftgit_server::http::users::{UsersFile, hash_password};
use swiftgit_server::http::{HttpOptions, HttpServer};

use crate::harness::Server;

/// An HTTP server running on a harness [`Server`]'s runtime; stops when dropped.
pub struct Http {
    pub addr: SocketAddr,
    pub scheme: &'static str,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _users: tempfile::TempDir,
}

impl Drop for Http {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Http {
    /// Begins shutdown: no new connections; idle ones close.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// `http://127.0.0.1:PORT/REPO` (with `user:password@` when given).
    pub fn url(&self, repo: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => {
                format!("{}://{user}:{password}@{}/{repo}", self.scheme, self.addr)
            }
            None => format!("{}://{}/{repo}", self.scheme, self.addr),
        }
    }
}

/// The users of every test: alice (secret), bob (hunter2), carol (pw).
pub const USERS: [(&str, &str); 3] = [("alice", "secret"), ("bob", "hunter2"), ("carol", "pw")];

/// `[access "PATTERN"]`-like rule.
pub fn rule(pattern: &str, read: &[&str], write: &[&str], anonymous_read: bool) -> AccessRule {
    AccessRule {
        pattern: pattern.into(),
        read: read.iter().map(|s| s.to_string()).collect(),
        write: write.iter().map(|s| s.to_string()).collect(),
        anonymous_read,
    }
}

/// Options with `rules`; a repository no rule matches may be read and pushed by every user
/// (`default_access = write`: most tests push to such repositories; the tests of
/// `default_access` itself set it).
pub fn options(rules: Vec<AccessRule>) -> HttpOptions {
    HttpOptions {
        access: AccessRules {
            rules,
            default_anonymous_read: false,
            default_access: DefaultAccess::Write,
        },
        ..HttpOptions::default()
    }
}

/// Writes a users file with [`USERS`] into `dir`.
pub fn write_users(dir: &Path) -> PathBuf {
    let path = dir.join("users");
    let text: String = USERS
        .iter()
        .map(|(name, password)| format!("{name}:{}\n", hash_password(password).unwrap()))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts smart HTTP over `server`'s registry, with the users of [`USERS`].
pub fn start(server: &Server, options: HttpOptions) -> Http {
    let users_dir = tempfile::tempdir().unwrap();
    let users = UsersFile::open(&write_users(users_dir.path())).unwrap();
    start_with(
        server,
        options,
        Authenticator::new(Some(users), None),
        users_dir,
    )
}

/// Starts smart HTTP over `server`'s registry with `auth`; `users_dir` lives as long as the
/// server.
pub fn start_with(
    server: &Server,
    options: HttpOptions,
    auth: Authenticator,
    users_dir: tempfile::TempDir,
) -> Http {
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let http = HttpServer::new(server.registry.clone(), options, auth);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = server.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(http.serve(listener, async move {
            let _ = stopped.await;
        }));
        addr
    });
    Http {
        addr,
        scheme,
        stop: Some(stop),
        _users: users_dir,
    }
}

/// A raw HTTP/1.1 exchange: sends `request` as is, returns (status, whole response text).
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A request with `Connection: close` and a body with its Content-Length.
pub fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `Authorization: Basic …` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
