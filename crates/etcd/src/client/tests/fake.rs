//! A scripted fake of etcd's JSON gateway on 127.0.0.1:0: it answers each request with the
//! next reply of its script and records what it was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake does with the next request.
#[derive(Clone)]
pub(super) enum Reply {
    Json(u16, &'static str),
    /// Reads the request, then closes the connection without answering.
    Close,
    /// Reads the request and never answers.
    Hang,
}

pub(super) const OK_PUT: Reply = Reply::Json(200, r#"{"header":{"revision":"42"}}"#);
pub(super) const NO_LEADER: Reply = Reply::Json(
    503,
    r#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#,
);
pub(super) const TIMED_OUT: Reply = Reply::Json(
    503,
    r#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#,
);
pub(super) const BAD_TOKEN: Reply = Reply::Json(
    401,
    r#"{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}"#,
);

/// A request the fake saw: path, lower-cased headers, body.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }
}

pub(super) struct Fake {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Answers requests with `replies` in order, then with the last one forever.
    pub(super) async fn start(replies: Vec<Reply>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("holds because port 0 is always free");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("holds for a bound socket")
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new((replies, 0usize)));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, script.clone(), log.clone()));
            }
        });
        Fake { url, seen }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("holds: no test panics holding it")
            .clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Mutex<(Vec<Reply>, usize)>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        seen.lock()
            .expect("holds: no test panics holding it")
            .push(request);
        let reply = {
            let mut script = script.lock().expect("holds: no test panics holding it");
            let (replies, next) = &mut *script;
            let reply = replies[(*next).min(replies.len() - 1)].clone();
            *next += 1;
            reply
        };
        match reply {
            Reply::Json(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let sent = stream.write_all(format!("{head}{body}").as_bytes()).await;
                if sent.is_err() {
                    return;
                }
            }
            Reply::Close => return,
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

/// Reads one HTTP/1.1 request with a Content-Length body; `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Seen> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let path = lines.next()?.split(' ').nth(1)?.to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into();
                buffer.drain(..end + 4 + length);
                return Some(Seen {
                    path,
                    headers,
                    body,
                });
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A port nothing listens on: bound, then closed.
pub(super) async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("holds because port 0 is always free");
    let address = listener.local_addr().expect("holds for a bound socket");
    drop(listener);
    format!("http://{address}")
}
