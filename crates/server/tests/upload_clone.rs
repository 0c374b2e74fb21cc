//! Real `git` cloning and fetching from swiftgit's upload-pack (protocol v0, v1 and v2) on a
//! local directory and, with `SWIFTGIT_TEST_CONFIG`, a real Swift: full clones checked with
//! `git fsck --strict` and against the source repository, `ls-remote`, incremental fetches of
//! thin packs, concurrent clones, and errors shown by git.

mod upload_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use swiftgit_server::session::upload_pack::UploadPackOptions;
use upload_common::fixture::History;
use upload_common::{Backend, Git, UploadServer, source_refs};

upload_tests!(
    clone_and_ls_remote_in_every_version,
    incremental_fetch_gets_a_thin_pack,
    twenty_clones_at_once,
    a_missing_object_is_not_our_ref,
);

fn ls_remote(git: &Git, version: &str, url: &str) -> BTreeMap<String, String> {
    let config = format!("protocol.version={version}");
    git.ok(git.work.path(), &["-c", &config, "ls-remote", url])
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect()
}

/// Every object reachable from every ref, sorted.
fn all_objects(git: &Git, dir: &Path) -> Vec<String> {
    let mut objects: Vec<String> = git
        .ok(
            dir,
            &["rev-list", "--objects", "--all", "--no-object-names"],
        )
        .lines()
        .map(str::to_owned)
        .collect();
    objects.sort();
    objects
}

fn clone_and_ls_remote_in_every_version(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 1000);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("clone", &git, &history.bare);
    let url = server.url(&repo);
    let source = history.bare.to_str().expect("a UTF-8 path");
    let expected = ls_remote(&git, "2", source);
    assert!(expected.contains_key("refs/tags/nested^{}"));
    for version in ["0", "1", "2"] {
        assert_eq!(
            ls_remote(&git, version, &url),
            expected,
            "ls-remote v{version}"
        );
    }

    let source_objects = all_objects(&git, &history.bare);
    for version in ["0", "1", "2"] {
        let dir = git.path(&format!("clone-v{version}"));
        let config = format!("protocol.version={version}");
        let before = server.swift_requests();
        let stderr = git.ok_stderr(
            git.work.path(),
            &[
                "-c",
                &config,
                "clone",
                "--progress",
                &url,
                dir.to_str().unwrap(),
            ],
        );
        if let (Some(before), Some(after)) = (before, server.swift_requests()) {
            println!("clone v{version} over Swift: {} requests", after - before);
        }
        assert!(
            stderr.contains("remote: Total"),
            "progress shown:\n{stderr}"
        );
        git.fsck(&dir);
        assert_eq!(git.rev(&dir, "HEAD"), git.rev(&history.bare, "main"));
        assert_eq!(
            all_objects(&git, &dir),
            source_objects,
            "v{version} clone objects"
        );
        let tags = git.ok(&dir, &["tag", "--list"]);
        assert_eq!(
            tags.lines().collect::<Vec<_>>(),
            ["light", "nested", "treetag", "v1.0"]
        );
        assert!(dir.join("assets/b0.bin").exists() && dir.join("link").exists());
    }

    // A bare clone without side-band or ofs-delta is what old clients do; --no-... flags do
    // not exist for those, so check the mirror clone in v0 instead (all refs, as stored).
    let mirror = git.path("mirror.git");
    git.ok(
        git.work.path(),
        &[
            "-c",
            "protocol.version=0",
            "clone",
            "-q",
            "--mirror",
            &url,
            mirror.to_str().unwrap(),
        ],
    );
    git.fsck(&mirror);
    assert_eq!(source_refs(&git, &mirror), source_refs(&git, &history.bare));
}

fn incremental_fetch_gets_a_thin_pack(backend: Backend) {
    let git = Git::new();
    let mut history = History::create(&git, "source.git", 1000);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("fetch", &git, &history.bare);
    let url = server.url(&repo);
    let clones: Vec<_> = ["0", "2"]
        .iter()
        .map(|version| {
            let dir = git.path(&format!("clone-v{version}"));
            let config = format!("protocol.version={version}");
            git.ok(
                git.work.path(),
                &["-c", &config, "clone", "-q", &url, dir.to_str().unwrap()],
            );
            (version, dir)
        })
        .collect();

    // One new version of big.txt: the pushed (thin) pack stores it as a delta against the
    // version the clones have, which the fetch sends as a thin-pack delta again.
    history.extend(&git, 1);
    server.update(&repo, &git, &history.bare);
    git.ok(&history.bare, &["tag", "-a", "-m", "two", "v2.0", "main"]);
    server.update(&repo, &git, &history.bare);
    let main = git.rev(&history.bare, "main");
    for (version, dir) in &clones {
        let config = format!("protocol.version={version}");
        let before = server.swift_requests();
        // index-pack (not unpack-objects, which small fetches get) reports thin-pack completion.
        let stderr = git.ok_stderr(
            dir,
            &[
                "-c",
                &config,
                "-c",
                "fetch.unpackLimit=1",
                "fetch",
                "--progress",
                "origin",
            ],
        );
        if let (Some(before), Some(after)) = (before, server.swift_requests()) {
            println!("fetch v{version} over Swift: {} requests", after - before);
        }
        // index-pack completes a thin pack with objects the client has.
        assert!(
            stderr.contains("completed with"),
            "v{version} fetch got a thin pack:\n{stderr}"
        );
        assert_eq!(git.rev(dir, "origin/main"), main);
        assert_eq!(
            git.rev(dir, "v2.0^{commit}"),
            main,
            "the new tag is followed"
        );
        git.fsck(dir);
        // Nothing new: the server says so without a pack.
        let again = git.ok_stderr(dir, &["-c", &config, "fetch", "origin"]);
        assert!(again.is_empty(), "nothing fetched: {again}");
    }
}

fn twenty_clones_at_once(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 1000);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("many", &git, &history.bare);
    let url = server.url(&repo);
    let main = git.rev(&history.bare, "main");
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let clones: Vec<_> = (0..20)
            .map(|n| {
                let git = &git;
                let url = &url;
                scope.spawn(move || {
                    let dir = git.path(&format!("clone-{n}.git"));
                    let version = if n % 2 == 0 { "2" } else { "0" };
                    let config = format!("protocol.version={version}");
                    git.ok(
                        git.work.path(),
                        &[
                            "-c",
                            &config,
                            "clone",
                            "-q",
                            "--bare",
                            url,
                            dir.to_str().unwrap(),
                        ],
                    );
                    dir
                })
            })
            .collect();
        for clone in clones {
            let dir = clone.join().expect("a clone thread");
            assert_eq!(git.rev(&dir, "main"), main);
        }
    });
    println!("20 concurrent clones: {:?}", started.elapsed());
    git.fsck(&git.path("clone-0.git"));
    git.fsck(&git.path("clone-1.git"));
}

fn a_missing_object_is_not_our_ref(backend: Backend) {
    let git = Git::new();
    let history = History::create(&git, "source.git", 20);
    let Some(mut server) = UploadServer::start(backend, UploadPackOptions::default()) else {
        return;
    };
    let repo = server.import("missing", &git, &history.bare);
    let url = server.url(&repo);
    let dir = git.path("clone");
    git.ok(
        git.work.path(),
        &["clone", "-q", &url, dir.to_str().unwrap()],
    );
    let missing = "0123456789abcdef0123456789abcdef01234567";
    for version in ["0", "2"] {
        let config = format!("protocol.version={version}");
        let stderr = git.fails(&dir, &["-c", &config, "fetch", "origin", missing]);
        assert!(
            stderr.contains(&format!("remote error: upload-pack: not our ref {missing}")),
            "v{version}: {stderr}"
        );
    }

    // Byte by byte: a v0 want of a missing object gets the ERR packet git daemon sends.
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout");
    let path = format!("/{repo}");
    stream
        .write_all(&pkt(
            format!("git-upload-pack {path}\0host=localhost\0").as_bytes()
        ))
        .expect("send");
    let mut request = pkt(format!("want {missing} side-band-64k ofs-delta\n").as_bytes());
    request.extend_from_slice(b"0000");
    request.extend_from_slice(&pkt(b"done\n"));
    stream.write_all(&request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let expected = format!("ERR upload-pack: not our ref {missing}");
    let framed = pkt(expected.as_bytes());
    assert!(
        answer.windows(framed.len()).any(|w| w == framed),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}
