//! Smart HTTP requests sent byte by byte: the headers of good answers (advertisements, a
//! gzip-encoded v2 command), and bad requests, each with its specific 4xx, changing nothing.

mod harness;
mod http_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use harness::{Backend, Server};
use http_common::{basic, options, raw, request, start};
use swiftgit_server::daemon::DaemonOptions;
use swiftgit_server::http::throttle::LoginLimit;

const UPLOAD_REQUEST: &str = "Content-Type: application/x-git-upload-pack-request";
const RECEIVE_REQUEST: &str = "Content-Type: application/x-git-receive-pack-request";

fn server() -> (Server, swiftgit_repo::RepoName) {
    let mut server = Server::start(Backend::Local, DaemonOptions::default())
        .expect("holds because the local backend always starts");
    let repo = server.init_repo("bad");
    (server, repo)
}

/// After a burst of wrong passwords an address gets 429 without its password being checked,
/// except for a user whose password was accepted a moment ago.
#[test]
fn wrong_passwords_are_throttled_per_address() {
    let (server, repo) = server();
    let mut http_options = options(vec![http_common::rule("*", &["alice", "bob"], &[], false)]);
    http_options.login_limit = LoginLimit {
        burst: 3,
        forgive_every: Duration::from_secs(60),
    };
    let http = start(&server, http_options);
    let refs = format!("/{repo}/info/refs?service=git-upload-pack");
    let get = |user: &str, password: &str| {
        let header = basic(user, password);
        raw(http.addr, &request("GET", &refs, &[&header], b""))
    };
    assert_eq!(get("alice", "secret").0, 200);
    for _ in 0..3 {
        assert_eq!(get("bob", "wrong").0, 401);
    }
    let (status, text) = get("bob", "wrong");
    assert_eq!(status, 429, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 60"),
        "{text}"
    );
    assert_eq!(get("bob", "hunter2").0, 429, "a right password waits too");
    assert_eq!(get("alice", "secret").0, 200, "a remembered user passes");
}

#[test]
fn malformed_paths_and_unknown_services() {
    let (server, _repo) = server();
    let http = start(&server, options(vec![]));
    let alice = basic("alice", "secret");
    for (path, status) in [
        ("/../info/refs?service=git-upload-pack", 400),
        ("/%2e%2e/info/refs?service=git-upload-pack", 400),
        ("//info/refs?service=git-upload-pack", 400),
        ("/a%2fb/info/refs?service=git-upload-pack", 400),
        ("/bad%zz/info/refs?service=git-upload-pack", 400),
        ("/", 404),
        ("/bad/objects/info/packs", 404),
        ("/bad/info/refs", 403),
        ("/bad/info/refs?service=git-upload-archive", 403),
        ("/missing/info/refs?service=git-upload-pack", 404),
    ] {
        let (got, text) = raw(http.addr, &request("GET", path, &[&alice], b""));
        assert_eq!(got, status, "GET {path}: {text}");
    }
    let (got, _) = raw(
        http.addr,
        &request(
            "POST",
            "/bad/git-frobnicate",
            &[&alice, UPLOAD_REQUEST],
            b"0000",
        ),
    );
    assert_eq!(got, 403);
    let (got, _) = raw(
        http.addr,
        &request("GET", "/bad/git-upload-pack", &[&alice], b""),
    );
    assert_eq!(got, 405);
    let (got, _) = raw(
        http.addr,
        &request(
            "POST",
            "/%2E%2e/git-upload-pack",
            &[&alice, UPLOAD_REQUEST],
            b"0000",
        ),
    );
    assert_eq!(got, 400);
}

#[test]
fn advertisement_headers_and_a_gzipped_v2_command() {
    let (server, _repo) = server();
    let http = start(&server, options(vec![]));
    let alice = basic("alice", "secret");
    let (status, text) = raw(
        http.addr,
        &request(
            "GET",
            "/bad.git/info/refs?service=git-upload-pack",
            &[&alice],
            b"",
        ),
    );
    assert_eq!(status, 200, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/x-git-upload-pack-advertisement"));
    assert!(lower.contains("cache-control: no-cache, max-age=0, must-revalidate"));
    assert!(
        text.contains("001e# service=git-upload-pack\n0000"),
        "{text}"
    );
    let (status, text) = raw(
        http.addr,
        &request(
            "GET",
            "/bad/info/refs?service=git-upload-pack",
            &[&alice, "Git-Protocol: version=2"],
            b"",
        ),
    );
    assert_eq!(status, 200);
    assert!(text.contains("000eversion 2\n"), "{text}");
    assert!(!text.contains("# service="), "v2 has no service line");

    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(b"0014command=ls-refs\n00010009peel\n0000")
        .unwrap();
    let (status, text) = raw(
        http.addr,
        &request(
            "POST",
            "/bad/git-upload-pack",
            &[
                &alice,
                UPLOAD_REQUEST,
                "Content-Encoding: gzip",
                "Git-Protocol: version=2",
            ],
            &gzip.finish().unwrap(),
        ),
    );
    assert_eq!(status, 200, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/x-git-upload-pack-result"));
    // Chunked: one chunk holding the flush that ends an empty ref list.
    assert!(text.ends_with("\r\n4\r\n0000\r\n0\r\n\r\n"), "{text}");
}

#[test]
fn bad_bodies_and_headers() {
    let (server, repo) = server();
    let mut small = options(vec![]);
    small.max_body_bytes = 1000;
    small.idle_timeout = Duration::from_secs(1);
    let http = start(&server, small);
    let alice = basic("alice", "secret");
    let post = |headers: &[&str], body: &[u8]| {
        let mut all = vec![alice.as_str()];
        all.extend_from_slice(headers);
        raw(
            http.addr,
            &request("POST", "/bad/git-upload-pack", &all, body),
        )
    };
    // Wrong content type.
    let (status, _) = post(&["Content-Type: text/plain"], b"0000");
    assert_eq!(status, 415);
    let (status, _) = post(&[UPLOAD_REQUEST, "Content-Encoding: br"], b"0000");
    assert_eq!(status, 415);
    // Not pkt-lines.
    let (status, text) = post(&[UPLOAD_REQUEST], b"hello, world");
    assert_eq!(status, 400, "{text}");
    // A truncated gzip body.
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(b"0032want 0000000000000000000000000000000000000000\n")
        .unwrap();
    let gzipped = gzip.finish().unwrap();
    let (status, text) = post(
        &[UPLOAD_REQUEST, "Content-Encoding: gzip"],
        &gzipped[..gzipped.len() - 6],
    );
    assert_eq!(status, 400, "{text}");
    // Over the body limit, declared or (chunked) discovered.
    let (status, _) = post(&[UPLOAD_REQUEST], &vec![b'0'; 2000]);
    assert_eq!(status, 413);
    let mut chunked =
        b"POST /bad/git-upload-pack HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".to_vec();
    chunked.extend_from_slice(format!("{alice}\r\n{UPLOAD_REQUEST}\r\n").as_bytes());
    chunked.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    let pkt = format!("{:04x}{}", 1004, "x".repeat(1000));
    chunked.extend_from_slice(format!("{:x}\r\n{pkt}\r\n0\r\n\r\n", pkt.len()).as_bytes());
    let (status, text) = raw(http.addr, &chunked);
    assert_eq!(status, 413, "{text}");
    // Bad Authorization headers.
    for header in ["Authorization: Basic !!!", "Authorization: Basic"] {
        let (status, _) = raw(
            http.addr,
            &request(
                "GET",
                "/bad/info/refs?service=git-upload-pack",
                &[header],
                b"",
            ),
        );
        assert_eq!(status, 400, "{header}");
    }
    let (status, text) = raw(
        http.addr,
        &request(
            "GET",
            "/bad/info/refs?service=git-upload-pack",
            &["Authorization: Bearer x"],
            b"",
        ),
    );
    assert_eq!(status, 401);
    assert!(
        text.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"swiftgit\""),
        "{text}"
    );
    // A push body that is not pkt-lines: refused, nothing changed.
    let seq = server.seq(&repo);
    let (status, _) = raw(
        http.addr,
        &request(
            "POST",
            "/bad/git-receive-pack",
            &[&alice, RECEIVE_REQUEST],
            b"garbage!",
        ),
    );
    assert_eq!(status, 400);
    assert_eq!(server.seq(&repo), seq);
}

#[test]
fn slow_clients_are_dropped() {
    let (server, _repo) = server();
    let mut quick = options(vec![]);
    quick.header_timeout = Duration::from_secs(1);
    quick.idle_timeout = Duration::from_secs(1);
    let http = start(&server, quick);
    // Headers that never end.
    let started = Instant::now();
    let mut stream = TcpStream::connect(http.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /bad/info/refs HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "dropped by the header timeout"
    );
    // A body that stops coming.
    let started = Instant::now();
    let mut stream = TcpStream::connect(http.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = request(
        "POST",
        "/bad/git-upload-pack",
        &[&basic("alice", "secret"), UPLOAD_REQUEST],
        b"",
    );
    let head = String::from_utf8(head)
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 100");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"0032want").unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn idle_keep_alive_connections_close_at_shutdown() {
    let (server, _repo) = server();
    let mut http = start(&server, options(vec![]));
    let mut stream = TcpStream::connect(http.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let keep_alive = format!(
        "GET /bad/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: t\r\n{}\r\n\r\n",
        basic("alice", "secret")
    );
    stream.write_all(keep_alive.as_bytes()).unwrap();
    let mut buffer = [0u8; 4096];
    let read = stream.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    http.stop();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the idle connection closed at shutdown, not after a timeout"
    );
}
