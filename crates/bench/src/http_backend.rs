//! The smart HTTP baseline: C `git http-backend` (CGI) behind a minimal HTTP/1.1 front, run as
//! `swiftgit-bench serve-http-backend BACKEND ROOT` so that it is a child process of its own
//! whose CPU time and memory (the backend and the `upload-pack`/`receive-pack` it starts
//! included) are measured like git daemon's. One request per connection (answered with
//! `Connection: close`), request bodies by `Content-Length` or chunked, answers streamed as the
//! backend writes them. No authentication: every request runs as `REMOTE_USER=bench`, which
//! lets `http-backend` accept pushes. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The first argument that turns this program into the front.
pub const SUBCOMMAND: &str = "serve-http-backend";
/// What the front prints on stdout once it listens (then `ADDR:PORT`).
pub const READY: &str = "http-backend front: listening on http://";

/// Serves `git http-backend` (the program at `backend`) for the bare repositories under
/// `root` until killed; `args` are the ones after [`SUBCOMMAND`].
pub fn serve(args: &[String]) -> anyhow::Result<()> {
    let [backend, root] = args else {
        bail!("usage: swiftgit-bench {SUBCOMMAND} GIT-HTTP-BACKEND PROJECT-ROOT");
    };
    let (backend, root) = (PathBuf::from(backend), PathBuf::from(root));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{READY}{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        let (backend, root) = (backend.clone(), root.clone());
        std::thread::spawn(move || {
            if let Err(error) = answer(stream, &backend, &root) {
                eprintln!("http-backend front: {error:#}");
            }
        });
    }
    Ok(())
}

/// The request line and headers (names in lower case).
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn read(reader: &mut impl BufRead) -> anyhow::Result<Request> {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut words = line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            bail!("malformed request line {line:?}");
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("the connection closed inside the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header
                .split_once(':')
                .with_context(|| format!("malformed header {header:?}"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        Ok(Request {
            method,
            target,
            headers,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs the backend for one request and streams its answer back.
fn answer(stream: TcpStream, backend: &Path, root: &Path) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let request = Request::read(&mut reader)?;
    let (path, query) = (request.target.split_once('?')).unwrap_or((&request.target, ""));
    let mut cgi = Command::new(backend);
    cgi.env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "bench")
        .env("REMOTE_ADDR", "127.0.0.1");
    for (header, variable) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            cgi.env(variable, value);
        }
    }
    let mut child = cgi
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", backend.display()))?;
    if (request.header("expect")).is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut stdin = child.stdin.take().context("the backend has no stdin")?;
    let chunked = (request.header("transfer-encoding")).is_some_and(|t| t.contains("chunked"));
    let length: Option<u64> = request
        .header("content-length")
        .and_then(|l| l.parse().ok());
    let body = std::thread::spawn(move || -> anyhow::Result<()> {
        if chunked {
            copy_chunked(&mut reader, &mut stdin)?;
        } else if let Some(length) = length {
            std::io::copy(&mut reader.take(length), &mut stdin)?;
        }
        Ok(())
    });
    let mut output = BufReader::new(child.stdout.take().context("the backend has no stdout")?);
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if output.read_line(&mut line)? == 0 {
            break;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        match header.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => {
                status = value.trim().to_owned();
            }
            _ => {
                headers.push_str(header);
                headers.push_str("\r\n");
            }
        }
    }
    write!(
        writer,
        "HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n"
    )?;
    std::io::copy(&mut output, &mut writer)?;
    writer.flush()?;
    child.wait()?;
    body.join()
        .map_err(|_| anyhow::anyhow!("the body thread panicked"))??;
    Ok(())
}

/// Copies a chunked body (RFC 9112 §7.1), trailers dropped.
fn copy_chunked(reader: &mut impl BufRead, out: &mut impl Write) -> anyhow::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .with_context(|| format!("malformed chunk size {line:?}"))?;
        if size == 0 {
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let copied = std::io::copy(&mut reader.by_ref().take(size), out)?;
        if copied != size {
            bail!("the body ended inside a chunk");
        }
        line.clear();
        reader.read_line(&mut line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_chunked_body() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        let mut out = Vec::new();
        copy_chunked(&mut &body[..], &mut out).expect("well-formed");
        assert_eq!(out, b"hello, world");
        let error = copy_chunked(&mut &b"z\r\n"[..], &mut Vec::new()).expect_err("bad size");
        assert!(
            error.to_string().contains("malformed chunk size"),
            "{error}"
        );
    }
}
