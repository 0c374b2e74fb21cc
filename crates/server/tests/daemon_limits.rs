//! The daemon's limits: graceful shutdown with a push in flight, the connection cap, a client
//! that stops reading, and concurrent pushes to one repository.

mod harness;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::listener_limits;
use harness::raw_push::push_setup;
use harness::{Backend, Git, Raw, Server, pack_objects, pkt, sideband_report};
use swiftgit_server::daemon::DaemonOptions;

on_every_backend!(concurrent_pushes_to_one_repository);

/// Sends the commands and the first half of the pack of a push from `base` to `head`; returns
/// the connection and the rest of the pack.
fn half_a_push(setup: &harness::raw_push::PushSetup) -> (Raw, Vec<u8>) {
    let pack = pack_objects(&setup.git, &setup.work, &["master"], &[&setup.base]);
    let mut raw = setup.receive_pack();
    let mut request = setup.command(
        &setup.base,
        &setup.head,
        "refs/heads/master",
        Some("report-status side-band-64k"),
    );
    request.extend_from_slice(b"0000");
    let (first, rest) = pack.split_at(pack.len() / 2);
    request.extend_from_slice(first);
    raw.send(&request);
    (raw, rest.to_vec())
}

#[test]
fn shutdown_lets_a_push_in_flight_finish() {
    let mut setup =
        push_setup(Backend::Local, "inflight", DaemonOptions::default()).expect("a local server");
    let (mut raw, rest) = half_a_push(&setup);
    std::thread::sleep(Duration::from_millis(100));
    setup.server.begin_shutdown();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(setup.server.addr).is_err(),
        "no new connections once shutdown began"
    );
    raw.send(&rest);
    let (report, _) = sideband_report(&raw.read_to_end());
    assert_eq!(report, ["unpack ok", "ok refs/heads/master", ""]);
    assert!(setup.server.wait_stopped(Duration::from_secs(10)));
    assert_eq!(
        setup.server.refs(&setup.repo)["refs/heads/master"],
        setup.head
    );
}

#[test]
fn shutdown_grace_running_out_drops_a_stalled_push_unapplied() {
    let options = DaemonOptions {
        limits: listener_limits(8, Duration::from_millis(300)),
        ..DaemonOptions::default()
    };
    let mut setup = push_setup(Backend::Local, "stalled", options).expect("a local server");
    let (mut raw, _rest) = half_a_push(&setup);
    std::thread::sleep(Duration::from_millis(100));
    setup.server.begin_shutdown();
    let started = Instant::now();
    assert!(setup.server.wait_stopped(Duration::from_secs(10)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(raw.read_to_end().is_empty(), "the connection was dropped");
    setup.unchanged();
}

#[test]
fn connection_cap_makes_further_clients_wait() {
    let options = DaemonOptions {
        limits: listener_limits(1, Duration::from_secs(5)),
        idle_timeout: Duration::from_millis(800),
        ..DaemonOptions::default()
    };
    let mut server = Server::start(Backend::Local, options).expect("a local server");
    let repo = server.init_repo("capped");
    let _silent = Raw::connect(server.addr);
    std::thread::sleep(Duration::from_millis(100));
    let git = Git::new();
    let started = Instant::now();
    let listed = git.ls_remote(git.work.path(), &server.url(&repo), &[]);
    let waited = started.elapsed();
    assert!(listed.is_empty());
    assert!(
        waited >= Duration::from_millis(500),
        "served only once the silent client was dropped ({waited:?})"
    );
}

#[test]
fn a_client_that_stops_reading_is_dropped() {
    let options = DaemonOptions {
        limits: listener_limits(1, Duration::from_secs(5)),
        idle_timeout: Duration::from_secs(1),
        ..DaemonOptions::default()
    };
    let mut server = Server::start(Backend::Local, options).expect("a local server");
    let repo = server.init_repo("unread");
    let git = Git::new();
    let work = git.work_repo("work");
    // Incompressible, and larger than the socket buffers on both ends can hold.
    const BLOB_BYTES: usize = 48 << 20;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let blob: Vec<u8> = (0..BLOB_BYTES / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    std::fs::write(work.join("big.bin"), &blob).expect("write the blob");
    git.ok(&work, &["add", "big.bin"]);
    git.ok(&work, &["commit", "-q", "-m", "big"]);
    // Stored uncompressed, so that the push sends at once (the daemon's idle timeout is short).
    let url = server.url(&repo);
    git.ok(
        &work,
        &["-c", "pack.compression=0", "push", "-q", &url, "master"],
    );
    let head = git.rev(&work, "master");

    let mut stalled = Raw::request(server.addr, "git-upload-pack", &format!("/{repo}"));
    stalled.read_until_flush();
    let mut request = pkt(format!("want {head}\n").as_bytes());
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pkt(b"done\n"));
    stalled.send(&request);

    // The only connection slot is taken until the stalled response times out.
    let started = Instant::now();
    let mut next = Raw::request(server.addr, "git-upload-pack", &format!("/{repo}"));
    let advertised = next.read_until_flush();
    assert!(!advertised.is_empty());
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "the stalled client was dropped ({waited:?})"
    );
    let received = stalled.read_to_end();
    assert!(
        received.len() < BLOB_BYTES,
        "the response was cut short ({} bytes)",
        received.len()
    );
}

fn concurrent_pushes_to_one_repository(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("concurrent");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master"]);
    let branches: Vec<(String, String)> = (0..4)
        .map(|i| {
            let branch = format!("topic-{i}");
            git.ok(&work, &["checkout", "-q", "-b", &branch, "master"]);
            let id = git.commit(&work, &format!("f{i}"), &format!("{i}\n"), &branch);
            (branch, id)
        })
        .collect();
    std::thread::scope(|scope| {
        for (branch, _) in &branches {
            let (git, work, url) = (&git, &work, &url);
            scope.spawn(move || git.ok(work, &["push", "-q", url, branch]));
        }
    });
    let refs = server.refs(&repo);
    for (branch, id) in &branches {
        assert_eq!(&refs[&format!("refs/heads/{branch}")], id);
    }
    assert_eq!(server.packs(&repo).len(), 5);
}
