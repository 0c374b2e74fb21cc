//! upload-pack byte by byte and with the clients' less common paths: the empty repository in
//! every version, packs without side-band and with the small `side-band` (checked by
//! `git index-pack`), multi-round negotiation when the client has commits the server lacks,
//! and malformed requests answered with `ERR`.

mod upload_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use swiftgit_protocol::ProtocolVersion;
use swiftgit_server::session::pkt_io::{PktSink, PktStream};
use swiftgit_server::session::upload_pack::{UploadPackOptions, serve_v0, serve_v2};
use upload_common::fixture::History;
use upload_common::{Backend, Git, UploadServer};

upload_tests!(
    empty_repository_in_every_version,
    packs_without_side_band_and_with_small_side_band,
    negotiation_over_many_rounds,
    malformed_requests_get_err,
    stateless_requests_are_answered_once,
);

fn empty_repository_in_every_version(backend: Backend) {
    let git = Git::new();
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.init_empty("empty");
    let url = server.url(&repo);
    for version in ["0", "1", "2"] {
        let config = format!("protocol.version={version}");
        let listed = git.ok(git.work.path(), &["-c", &config, "ls-remote", &url]);
        assert!(listed.is_empty(), "v{version}: {listed}");
        let dir = git.path(&format!("empty-v{version}"));
        let stderr = git.ok_stderr(
            git.work.path(),
            &["-c", &config, "clone", &url, dir.to_str().unwrap()],
        );
        assert!(stderr.contains("cloned an empty repository"), "{stderr}");
    }
    // v2 tells the client which branch HEAD will be (ls-refs unborn).
    let branch = git.ok(&git.path("empty-v2"), &["symbolic-ref", "HEAD"]);
    assert_eq!(branch.trim(), "refs/heads/master");
    // v0 advertises the capabilities on the placeholder line.
    let mut raw = Raw::request(server.addr, &format!("/{repo}"), "");
    let advertisement = raw.read_until_flush();
    assert_eq!(advertisement.len(), 1);
    assert!(advertisement[0].starts_with(&[b'0'; 40]));
    assert!(advertisement[0][40..].starts_with(b" capabilities^{}\0multi_ack"));
}

fn packs_without_side_band_and_with_small_side_band(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 200);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("raw", &git, &history.bare);
    let main = git.rev(&history.bare, "main");
    for (caps, sideband) in [
        ("ofs-delta", false),
        ("side-band ofs-delta", true),
        ("", false),
    ] {
        let mut raw = Raw::request(server.addr, &format!("/{repo}"), "");
        raw.read_until_flush();
        let mut request = pkt(format!("want {main} {caps}\n").as_bytes());
        request.extend_from_slice(b"0000");
        request.extend_from_slice(&pkt(b"done\n"));
        raw.send(&request);
        let answer = raw.read_to_end();
        assert!(answer.starts_with(b"0008NAK\n"), "{caps}");
        let body = &answer[8..];
        let pack = if sideband {
            demultiplex(body, 1000)
        } else {
            body.to_vec()
        };
        assert!(pack.starts_with(b"PACK\0\0\0\x02"), "{caps}");
        let bare = git.path(&format!("index-{}", caps.len()));
        git.ok(
            git.work.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let out = git.output_with_input(&bare, &["index-pack", "--stdin", "--strict"], &pack);
        assert!(String::from_utf8_lossy(&out).starts_with("pack\t"));
        git.ok(&bare, &["update-ref", "refs/heads/main", &main]);
        git.fsck(&bare);
    }
}

/// The data of side-band packets (band 1) up to the flush; every packet at most `max` bytes.
fn demultiplex(mut bytes: &[u8], max: usize) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let length = usize::from_str_radix(std::str::from_utf8(&bytes[..4]).unwrap(), 16).unwrap();
        if length == 0 {
            return data;
        }
        assert!(length <= max, "a side-band packet of {length} bytes");
        let payload = &bytes[4..length];
        match payload[0] {
            1 => data.extend_from_slice(&payload[1..]),
            2 => {}
            band => panic!("band {band}: {}", String::from_utf8_lossy(&payload[1..])),
        }
        bytes = &bytes[length..];
    }
}

fn negotiation_over_many_rounds(backend: Backend) {
    let git = Git::new();
    let mut history = History::create(&git, "source.git", 300);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("rounds", &git, &history.bare);
    let url = server.url(&repo);
    // Clones of the current state with 100 local commits the server never sees: the client
    // sends its haves in rounds until the server finds common ground.
    let clones: Vec<_> = ["0", "2"]
        .iter()
        .map(|version| {
            let dir = git.path(&format!("local-v{version}"));
            let source = history.bare.to_str().unwrap();
            git.ok(
                git.work.path(),
                &["clone", "-q", "--no-local", source, dir.to_str().unwrap()],
            );
            for n in 0..100 {
                std::fs::write(dir.join("local.txt"), format!("local {n}\n")).unwrap();
                git.ok(&dir, &["add", "local.txt"]);
                git.ok(&dir, &["commit", "-q", "-m", &format!("local {n}")]);
            }
            git.ok(&dir, &["remote", "set-url", "origin", &url]);
            (version, dir)
        })
        .collect();
    history.extend(&git, 3);
    server.update(&repo, &git, &history.bare);
    let main = git.rev(&history.bare, "main");
    for (version, dir) in clones {
        let config = format!("protocol.version={version}");
        git.ok(&dir, &["-c", &config, "fetch", "-q", "origin"]);
        assert_eq!(git.rev(&dir, "origin/main"), main);
        git.fsck(&dir);
    }
}

fn malformed_requests_get_err(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 10);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("bad", &git, &history.bare);
    let path = format!("/{repo}");
    let main = git.rev(&history.bare, "main");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("", pkt(b"want 12345\n"), "expected to get object ID"),
        (
            "",
            pkt(b"frobnicate\n"),
            "expected want, shallow, deepen or filter",
        ),
        (
            "",
            [
                pkt(format!("want {main} filter\n").as_bytes()),
                pkt(b"filter sparse:oid=main:x"),
                b"0000".to_vec(),
            ]
            .concat(),
            "filter 'sparse:oid=main:x' is not supported",
        ),
        (
            "version=2",
            [
                pkt(b"command=fetch"),
                b"0001".to_vec(),
                pkt(b"want nothex\n"),
                b"0000".to_vec(),
            ]
            .concat(),
            "expected to get object ID",
        ),
    ];
    for (parameters, request, expected) in cases {
        let mut raw = Raw::request(server.addr, &path, parameters);
        raw.read_until_flush();
        raw.send(&request);
        if expected.contains("not supported") {
            raw.send(&pkt(b"done\n"));
        }
        let answer = String::from_utf8_lossy(&raw.read_to_end()).into_owned();
        assert!(
            answer.contains("ERR ") && answer.contains(expected),
            "{expected}: {answer}"
        );
    }
}

/// Smart HTTP's way: no advertisement, one request body, one answer.
fn stateless_requests_are_answered_once(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 50);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("stateless", &git, &history.bare);
    let main = git.rev(&history.bare, "main");
    let older = git.rev(&history.bare, "main~10");
    let options = UploadPackOptions::default();
    let run = |body: Vec<u8>, version: ProtocolVersion| -> String {
        server.block_on(async {
            let handle = server.registry.get(&repo).await.expect("open");
            let mut input = PktStream::new(&body[..], Duration::from_secs(5));
            let mut output = PktSink::new(Vec::new());
            match version {
                ProtocolVersion::V2 => serve_v2(handle, &mut input, &mut output, &options, false)
                    .await
                    .expect("served"),
                version => serve_v0(handle, &mut input, &mut output, &options, version, false)
                    .await
                    .expect("served"),
            };
            String::from_utf8_lossy(&output.into_inner()).into_owned()
        })
    };
    let wants = [
        pkt(format!("want {main} multi_ack_detailed side-band-64k ofs-delta\n").as_bytes()),
        b"0000".to_vec(),
        pkt(format!("have {older}\n").as_bytes()),
    ]
    .concat();
    let round = run(
        [wants.clone(), b"0000".to_vec()].concat(),
        ProtocolVersion::V0,
    );
    assert!(round.contains(&format!("ACK {older} common")) && round.ends_with("0008NAK\n"));
    assert!(!round.contains("PACK"), "{round}");
    let done = run([wants, pkt(b"done\n")].concat(), ProtocolVersion::V0);
    assert!(
        done.contains(&format!("ACK {older}\n")) && done.contains("PACK"),
        "{done}"
    );

    let ls_refs = [
        pkt(b"command=ls-refs\n"),
        b"0001".to_vec(),
        pkt(b"symrefs\n"),
        b"0000".to_vec(),
    ];
    let listing = run(ls_refs.concat(), ProtocolVersion::V2);
    assert!(listing.contains(&format!("{main} HEAD symref-target:refs/heads/main")));
    assert!(
        !listing.contains("version 2"),
        "no capability advertisement"
    );
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A raw git:// connection.
struct Raw {
    stream: TcpStream,
}

impl Raw {
    /// Connects and asks for upload-pack on `path` with extra `parameters` (`version=2`).
    fn request(addr: SocketAddr, path: &str, parameters: &str) -> Raw {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let extra = if parameters.is_empty() {
            String::new()
        } else {
            format!("\0{parameters}\0")
        };
        let first = format!("git-upload-pack {path}\0host=127.0.0.1\0{extra}");
        stream.write_all(&pkt(first.as_bytes())).expect("send");
        Raw { stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    /// Payloads of the packets up to a flush.
    fn read_until_flush(&mut self) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        loop {
            let mut length = [0u8; 4];
            self.stream
                .read_exact(&mut length)
                .expect("a packet length");
            let length = usize::from_str_radix(std::str::from_utf8(&length).unwrap(), 16).unwrap();
            if length == 0 {
                return packets;
            }
            let mut payload = vec![0u8; length - 4];
            self.stream.read_exact(&mut payload).expect("a payload");
            packets.push(payload);
        }
    }
}
