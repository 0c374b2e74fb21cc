//! Bad input to the git:// daemon, byte by byte: every case gets its specific `ERR` or report,
//! changes nothing, and leaves the daemon serving others.

mod harness;

use std::net::Shutdown;
use std::time::{Duration, Instant};

use harness::raw_push::push_setup;
use harness::{
    Backend, Git, Raw, Server, ZERO_ID, err_message, pack_exactly, pack_objects, packets, pkt,
    sideband_report,
};
use swiftgit_server::daemon::DaemonOptions;

on_every_backend!(
    disconnect_in_the_middle_of_a_pack_changes_nothing,
    client_stalling_in_the_middle_of_a_pack_is_dropped,
    corrupt_pack_is_reported_and_changes_nothing,
    missing_objects_are_refused,
    server_side_checks_in_atomic_and_non_atomic_pushes,
);

fn local() -> Server {
    Server::start(Backend::Local, DaemonOptions::default()).expect("a local server")
}

fn err_for(server: &Server, request: &[u8]) -> String {
    let mut raw = Raw::connect(server.addr);
    raw.send(request);
    let response = raw.read_to_end();
    err_message(&response).unwrap_or_else(|| {
        panic!(
            "expected an ERR packet, got {:?}",
            String::from_utf8_lossy(&response)
        )
    })
}

#[test]
fn garbage_and_bad_lengths_get_an_err_packet() {
    let server = local();
    let http = err_for(&server, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    assert_eq!(
        http,
        "invalid pkt-line from the client: bad pkt-line length GET : not four hexadecimal digits \
         (is the client speaking the git protocol?)"
    );
    let long = err_for(&server, b"fff5git-upload-pack /x\0");
    assert!(
        long.contains("bad pkt-line length 65525: longer than the maximum of 65520"),
        "{long}"
    );
    let short = err_for(&server, b"0003");
    assert!(
        short.contains("shorter than its own 4-byte prefix"),
        "{short}"
    );
    let flush = err_for(&server, b"0000");
    assert!(flush.contains("got a flush packet"), "{flush}");
}

#[test]
fn unknown_services_and_malformed_paths() {
    let server = local();
    let service = err_for(&server, &pkt(b"git-frobnicate /x\0host=h\0"));
    assert!(
        service.starts_with("unknown service in request git-frobnicate /x"),
        "{service}"
    );
    let archive = err_for(&server, &pkt(b"git-upload-archive /x\0host=h\0"));
    assert_eq!(
        archive,
        "service git-upload-archive is not supported by this server"
    );
    for (path, reason) in [
        ("/..", "'.' and '..' are not repository names"),
        ("/a/../b", "it contains '/' (repositories are not nested)"),
        (
            "/../../etc/passwd",
            "it contains '/' (repositories are not nested)",
        ),
        ("/", "it is empty"),
        ("/.hidden", "names starting with '.' are reserved"),
        ("/~alice/repo", "'~user' paths are not supported"),
    ] {
        let message = err_for(
            &server,
            &pkt(format!("git-upload-pack {path}\0host=h\0").as_bytes()),
        );
        assert_eq!(
            message,
            format!("invalid repository name {path:?}: {reason}"),
            "{path}"
        );
    }
    let empty = err_for(&server, &pkt(b"git-upload-pack \0host=h\0"));
    assert!(empty.contains("names no repository path"), "{empty}");
}

#[test]
fn missing_repositories_are_not_created() {
    let server = local();
    let message = err_for(&server, &pkt(b"git-receive-pack /nope.git\0host=h\0"));
    assert_eq!(message, "repository 'nope' not found");
    let git = Git::new();
    let work = git.work_repo("work");
    let url = format!("git://{}/nope", server.addr);
    let stderr = git.fails(&work, &["ls-remote", &url]);
    assert!(
        stderr.contains("fatal: remote error: repository 'nope' not found"),
        "{stderr}"
    );
    let stderr = git.fails(&work, &["push", &url, "master"]);
    assert!(
        stderr.contains("fatal: remote error: repository 'nope' not found"),
        "{stderr}"
    );
    assert!(
        !server
            .block_on(server.storage.container_exists("nope"))
            .unwrap()
    );
    assert_eq!(
        server.registry.open_count(),
        0,
        "failed names are not remembered"
    );
}

#[test]
fn idle_clients_are_dropped_and_others_are_served_meanwhile() {
    let options = DaemonOptions {
        idle_timeout: Duration::from_millis(400),
        ..DaemonOptions::default()
    };
    let mut server = Server::start(Backend::Local, options).expect("a local server");
    let repo = server.init_repo("busy");
    let started = Instant::now();
    let mut silent = Raw::connect(server.addr);
    let mut garbage = Raw::connect(server.addr);
    garbage.send(b"\x16\x03\x01\x02\x00"); // a TLS client hello
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &server.url(&repo), "master"]);
    assert_eq!(git.ls_remote(&work, &server.url(&repo), &[]).len(), 2);
    let response = silent.read_to_end();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(
        err_message(&response).as_deref(),
        Some("the client sent nothing for 400ms")
    );
    assert!(err_message(&garbage.read_to_end()).is_some());
}

#[test]
fn a_first_packet_trickling_in_is_cut_off_at_the_idle_timeout() {
    let options = DaemonOptions {
        idle_timeout: Duration::from_millis(400),
        ..DaemonOptions::default()
    };
    let server = Server::start(Backend::Local, options).expect("a local server");
    let mut raw = Raw::connect(server.addr);
    let started = Instant::now();
    let request = pkt(b"git-upload-pack /somewhere\0host=h\0");
    for byte in &request[..12] {
        raw.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_millis(100));
    }
    let response = raw.read_to_end();
    assert_eq!(
        err_message(&response).as_deref(),
        Some("the client sent nothing for 400ms")
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn disconnect_in_the_middle_of_a_pack_changes_nothing(backend: Backend) {
    let Some(setup) = push_setup(backend, "cut", DaemonOptions::default()) else {
        return;
    };
    let pack = pack_objects(&setup.git, &setup.work, &["master"], &[&setup.base]);
    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status"),
    );
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pack[..pack.len() / 2]);
    raw.send(&request);
    raw.stream.shutdown(Shutdown::Both).expect("hang up");
    drop(raw);
    std::thread::sleep(Duration::from_millis(300));
    setup.unchanged();
    // The daemon still serves, and the same push works in one piece.
    setup.git.ok(
        &setup.work,
        &["push", "-q", &setup.server.url(&setup.repo), "master"],
    );
    assert_eq!(
        setup.server.refs(&setup.repo)["refs/heads/master"],
        setup.head
    );
}

fn client_stalling_in_the_middle_of_a_pack_is_dropped(backend: Backend) {
    let options = DaemonOptions {
        idle_timeout: Duration::from_millis(500),
        ..DaemonOptions::default()
    };
    let Some(setup) = push_setup(backend, "stall", options) else {
        return;
    };
    let pack = pack_objects(&setup.git, &setup.work, &["master"], &[&setup.base]);
    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status side-band-64k"),
    );
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pack[..pack.len() / 2]);
    raw.send(&request);
    let started = Instant::now();
    let (report, _) = sideband_report(&raw.read_to_end());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(report[0].starts_with("unpack "), "{report:?}");
    assert!(report[0].contains("sent nothing for 500ms"), "{report:?}");
    assert_eq!(report[1], "ng refs/heads/master unpacker error");
    setup.unchanged();
}

fn corrupt_pack_is_reported_and_changes_nothing(backend: Backend) {
    let Some(setup) = push_setup(backend, "corrupt", DaemonOptions::default()) else {
        return;
    };
    let mut pack = pack_objects(&setup.git, &setup.work, &["master"], &[&setup.base]);
    let middle = pack.len() / 2;
    pack[middle] ^= 0xff;
    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status"),
    );
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pack);
    raw.send(&request);
    let report: Vec<String> = packets(&raw.read_to_end())
        .iter()
        .map(|line| String::from_utf8_lossy(line).trim_end().to_owned())
        .collect();
    assert!(report[0].starts_with("unpack "), "{report:?}");
    assert_ne!(report[0], "unpack ok");
    assert_eq!(report[1], "ng refs/heads/master unpacker error");
    setup.unchanged();

    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status-v2 side-band-64k"),
    );
    request.extend_from_slice(b"0000PACK\0\0\0\x02\0\0\0\x01not a zlib stream at all");
    raw.send(&request);
    raw.stream.shutdown(Shutdown::Write).expect("end the pack");
    let (report, messages) = sideband_report(&raw.read_to_end());
    assert!(report[0].starts_with("unpack "), "{report:?}");
    assert_eq!(report[1], "ng refs/heads/master unpacker error");
    assert!(messages.contains("error: unpack failed: "), "{messages}");
    setup.unchanged();
}

fn missing_objects_are_refused(backend: Backend) {
    let Some(setup) = push_setup(backend, "missing", DaemonOptions::default()) else {
        return;
    };
    // A pack holding the new commit but not its tree or blob.
    let pack = pack_exactly(&setup.git, &setup.work, &[&setup.head]);
    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status side-band-64k"),
    );
    request.extend_from_slice(&setup.command(ZERO_ID, &setup.base, "refs/heads/copy", None));
    request.extend_from_slice(&setup.command(ZERO_ID, &"1".repeat(40), "refs/heads/phantom", None));
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pack);
    raw.send(&request);
    let (report, messages) = sideband_report(&raw.read_to_end());
    assert_eq!(
        report,
        [
            "unpack ok",
            "ng refs/heads/master missing necessary objects",
            "ok refs/heads/copy",
            "ng refs/heads/phantom missing necessary objects",
            ""
        ]
    );
    assert!(
        messages.contains("refer to 1 object(s) the server lacks"),
        "{messages}"
    );
    assert!(
        messages.contains("object 1111111111111111111111111111111111111111 is missing"),
        "{messages}"
    );
    let refs = setup.server.refs(&setup.repo);
    assert_eq!(
        refs["refs/heads/copy"], setup.base,
        "a ref to a present commit is fine"
    );
    setup.unchanged();
}

fn server_side_checks_in_atomic_and_non_atomic_pushes(backend: Backend) {
    let Some(setup) = push_setup(backend, "checks", DaemonOptions::default()) else {
        return;
    };
    let empty_pack = pack_exactly(&setup.git, &setup.work, &[]);
    for atomic in [false, true] {
        let caps = if atomic {
            "report-status side-band-64k atomic"
        } else {
            "report-status side-band-64k"
        };
        let mut raw = setup.receive_pack();
        let mut request = setup.command(ZERO_ID, &setup.base, "refs/heads/a..b", Some(caps));
        request.extend_from_slice(&setup.command(
            &"2".repeat(40),
            &setup.base,
            "refs/heads/master",
            None,
        ));
        let created = format!("refs/heads/created-{atomic}");
        request.extend_from_slice(&setup.command(ZERO_ID, &setup.base, &created, None));
        request.extend_from_slice(b"0000");
        request.extend_from_slice(&empty_pack);
        raw.send(&request);
        let (report, messages) = sideband_report(&raw.read_to_end());
        assert!(
            messages.contains("error: refusing to update funny ref 'refs/heads/a..b' remotely"),
            "{messages}"
        );
        let expected: Vec<String> = if atomic {
            vec![
                "unpack ok".into(),
                "ng refs/heads/a..b funny refname".into(),
                "ng refs/heads/master atomic push failure".into(),
                format!("ng {created} atomic push failure"),
                String::new(),
            ]
        } else {
            vec![
                "unpack ok".into(),
                "ng refs/heads/a..b funny refname".into(),
                "ng refs/heads/master failed to update ref".into(),
                format!("ok {created}"),
                String::new(),
            ]
        };
        assert_eq!(report, expected, "atomic: {atomic}");
        assert_eq!(
            setup.server.refs(&setup.repo).contains_key(&created),
            !atomic
        );
    }

    // A request that breaks the protocol after the advertisement gets an ERR.
    let mut raw = setup.receive_pack();
    raw.send(&pkt(b"this is not a command\0report-status"));
    raw.send(b"0000");
    let message = err_message(&raw.read_to_end()).expect("an ERR packet");
    assert!(message.contains("expected old/new/ref"), "{message}");
    setup.unchanged();
}
