//! Speaking to the daemon byte by byte: pkt-lines, a raw connection, side-band reports, packs
//! made by `git pack-objects`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::Git;

/// One pkt-line.
pub fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A raw connection to the daemon.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect to the daemon");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        Raw { stream }
    }

    /// Connects and sends the first packet for `service` on `path`.
    pub fn request(addr: SocketAddr, service: &str, path: &str) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.send(&pkt(
            format!("{service} {path}\0host=127.0.0.1\0").as_bytes()
        ));
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the daemon");
    }

    /// Everything until the daemon closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    /// Reads packets until a flush; their payloads (the flush not included).
    pub fn read_until_flush(&mut self) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        loop {
            let mut length = [0u8; 4];
            self.stream
                .read_exact(&mut length)
                .expect("a packet length");
            let length = usize::from_str_radix(std::str::from_utf8(&length).expect("hex"), 16)
                .expect("hex length");
            if length == 0 {
                return packets;
            }
            let mut payload = vec![0u8; length - 4];
            self.stream
                .read_exact(&mut payload)
                .expect("a packet payload");
            packets.push(payload);
        }
    }
}

/// The payloads of the pkt-lines in `bytes` (flushes as empty payloads), stopping at the first
/// malformed length.
pub fn packets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 {
        let Some(length) = std::str::from_utf8(&rest[..4])
            .ok()
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        else {
            break;
        };
        if length < 4 {
            out.push(Vec::new());
            rest = &rest[4..];
            continue;
        }
        if rest.len() < length {
            break;
        }
        out.push(rest[4..length].to_vec());
        rest = &rest[length..];
    }
    out
}

/// The `ERR` message at the start of `bytes`, if that is what it is.
pub fn err_message(bytes: &[u8]) -> Option<String> {
    let first = packets(bytes).into_iter().next()?;
    first
        .strip_prefix(b"ERR ")
        .map(|message| String::from_utf8_lossy(message).into_owned())
}

/// The report inside side-band band 1 of a push response, as text lines; band-2 messages
/// separately.
pub fn sideband_report(bytes: &[u8]) -> (Vec<String>, String) {
    let mut report = Vec::new();
    let mut messages = String::new();
    for payload in packets(bytes) {
        match payload.split_first() {
            Some((1, data)) => report.extend_from_slice(data),
            Some((2, data)) => messages.push_str(&String::from_utf8_lossy(data)),
            _ => {}
        }
    }
    let lines = packets(&report)
        .into_iter()
        .map(|line| String::from_utf8_lossy(&line).trim_end().to_owned())
        .collect();
    (lines, messages)
}

/// A pack of everything reachable from `revs` minus `not`, built by `git pack-objects`.
pub fn pack_objects(git: &Git, dir: &Path, revs: &[&str], not: &[&str]) -> Vec<u8> {
    let mut input = String::new();
    for rev in revs {
        input.push_str(rev);
        input.push('\n');
    }
    for rev in not {
        input.push('^');
        input.push_str(rev);
        input.push('\n');
    }
    pipe(
        git,
        dir,
        &["pack-objects", "--revs", "--stdout", "-q"],
        input.as_bytes(),
    )
}

/// A pack of exactly `ids` (no walk), built by `git pack-objects`.
pub fn pack_exactly(git: &Git, dir: &Path, ids: &[&str]) -> Vec<u8> {
    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    pipe(
        git,
        dir,
        &["pack-objects", "--stdout", "-q"],
        input.as_bytes(),
    )
}

fn pipe(git: &Git, dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = git
        .command(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git pack-objects");
    child
        .stdin
        .take()
        .expect("holds: stdin is piped")
        .write_all(input)
        .expect("feed git pack-objects");
    let output = child.wait_with_output().expect("git pack-objects output");
    assert!(output.status.success(), "git {args:?} failed");
    output.stdout
}

pub const ZERO_ID: &str = "0000000000000000000000000000000000000000";
