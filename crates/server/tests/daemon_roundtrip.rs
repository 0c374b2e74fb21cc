//! A real history goes through the git:// daemon and comes back identical, in protocol v0 and
//! v2: 1 200 commits with two merged branches, annotated and lightweight tags, and binary files,
//! made with `git fast-import`; `git push --all --tags` into an empty swiftgit repository, then
//! `git clone --mirror` back, `git fsck --strict`, and the same refs and objects as the source.
//! Then an incremental push and fetch, and a shallow and a partial clone of the pushed history.

mod harness;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use harness::{Backend, Git, Server};
use swiftgit_server::daemon::DaemonOptions;

const COMMITS: usize = 1200;

/// A fast-import stream: `main` with COMMITS commits, a `topic` branch merged back twice, a
/// `release` branch left open, tags, and a few binary files rewritten now and then.
fn history_stream() -> String {
    let mut s = String::new();
    let mut mark = 0usize;
    let mut time = 1_700_000_000u64;
    let mut commit =
        |s: &mut String, branch: &str, parents: &[usize], files: &[(String, Vec<u8>)]| {
            mark += 1;
            time += 60;
            writeln!(s, "commit refs/heads/{branch}\nmark :{mark}").unwrap();
            writeln!(s, "author A U Thor <author@example.com> {time} +0000").unwrap();
            writeln!(
                s,
                "committer C O Mitter <committer@example.com> {time} +0000"
            )
            .unwrap();
            let message = format!("{branch} change {mark}\n");
            writeln!(s, "data {}\n{message}", message.len()).unwrap();
            if let Some((first, rest)) = parents.split_first() {
                writeln!(s, "from :{first}").unwrap();
                for parent in rest {
                    writeln!(s, "merge :{parent}").unwrap();
                }
            }
            for (path, data) in files {
                // Binary content goes through a hex-free `data` block: fast-import takes raw bytes.
                writeln!(s, "M 100644 inline {path}\ndata {}", data.len()).unwrap();
                s.push_str(&String::from_utf8_lossy(data));
                s.push('\n');
            }
            s.push('\n');
            mark
        };
    let text = |i: usize| format!("line {i}\n").repeat(1 + i % 7).into_bytes();
    let binary = |i: usize| -> Vec<u8> {
        // Valid UTF-8 so the stream stays a String, but with NULs: git treats it as binary.
        (0..2048).map(|j| ((i * 31 + j * 7) % 128) as u8).collect()
    };
    let mut main = 0;
    let mut topic = 0;
    for i in 0..COMMITS {
        let mut files = vec![(format!("src/file{}.txt", i % 40), text(i))];
        if i % 97 == 0 {
            files.push((format!("assets/blob{}.bin", i % 5), binary(i)));
        }
        let parents: Vec<usize> = if main == 0 { vec![] } else { vec![main] };
        main = commit(&mut s, "main", &parents, &files);
        if i == 300 || i == 800 {
            let base = if topic == 0 { main } else { topic };
            topic = commit(&mut s, "topic", &[base], &[("topic.txt".into(), text(i))]);
            topic = commit(
                &mut s,
                "topic",
                &[topic],
                &[("topic2.txt".into(), text(i + 1))],
            );
            main = commit(&mut s, "main", &[main, topic], &[]);
        }
        if i == 500 {
            writeln!(s, "tag v1.0\nfrom :{main}\ntagger T Agger <t@example.com> 1800000000 +0000\ndata 8\nrelease\n").unwrap();
            writeln!(s, "reset refs/tags/light-500\nfrom :{main}\n").unwrap();
        }
        if i == 1000 {
            commit(
                &mut s,
                "release",
                &[main],
                &[("RELEASE".into(), b"1.1\n".to_vec())],
            );
        }
    }
    writeln!(
        s,
        "tag v2.0\nfrom :{main}\ntagger T Agger <t@example.com> 1800000000 +0000\ndata 8\nrelease\n"
    )
    .unwrap();
    s
}

fn make_source(git: &Git) -> std::path::PathBuf {
    let source = git.path("source");
    std::fs::create_dir_all(&source).expect("create the source repository");
    git.ok(&source, &["init", "-q", "-b", "main"]);
    let mut child = git
        .command(&source)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(history_stream().as_bytes())
        .expect("feed fast-import");
    assert!(child.wait().expect("fast-import").success());
    git.ok(&source, &["checkout", "-q", "main"]);
    source
}

fn objects(git: &Git, dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = git
        .ok(
            dir,
            &[
                "cat-file",
                "--batch-all-objects",
                "--batch-check=%(objectname) %(objecttype)",
            ],
        )
        .lines()
        .map(str::to_owned)
        .collect();
    all.sort();
    all
}

fn round_trip(backend: Backend, version: &str) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("roundtrip");
    let url = server.url(&repo);
    let git = Git::new();
    let source = make_source(&git);
    let proto = format!("protocol.version={version}");
    let count = git.ok(&source, &["rev-list", "--all", "--count"]);
    assert!(count.trim().parse::<usize>().unwrap() >= 1000, "{count}");

    git.ok(&source, &["-c", &proto, "push", "-q", &url, "--all"]);
    git.ok(&source, &["-c", &proto, "push", "-q", &url, "--tags"]);
    let remote = git.ls_remote(&source, &url, &[]);
    let mut local = git.ls_remote(&source, &source.to_string_lossy(), &[]);
    // The swiftgit repository's HEAD names refs/heads/master (init's default), which was not
    // pushed: it is unborn and not listed, as with git.
    local.remove("HEAD");
    assert_eq!(
        remote, local,
        "the server lists what was pushed, peeled tags included"
    );

    git.ok(
        git.work.path(),
        &["-c", &proto, "clone", "-q", "--mirror", &url, "mirror.git"],
    );
    let mirror = git.path("mirror.git");
    git.ok(&mirror, &["fsck", "--strict"]);
    assert_eq!(
        objects(&git, &mirror),
        objects(&git, &source),
        "same objects"
    );
    assert_eq!(
        git.ok(&mirror, &["for-each-ref"]),
        git.ok(&source, &["for-each-ref"]),
        "same refs"
    );

    // Incremental: 10 new commits pushed, then fetched into the mirror.
    for i in 0..10 {
        git.commit(
            &source,
            &format!("new{i}.txt"),
            &format!("{i}\n"),
            &format!("new {i}"),
        );
    }
    git.ok(&source, &["-c", &proto, "push", "-q", &url, "main"]);
    git.ok(&mirror, &["-c", &proto, "fetch", "-q", "origin"]);
    assert_eq!(git.rev(&mirror, "main"), git.rev(&source, "main"));
    git.ok(&mirror, &["fsck", "--strict"]);

    // Shallow and partial clones of the pushed history.
    git.ok(
        git.work.path(),
        &[
            "-c", &proto, "clone", "-q", "-b", "main", "--depth", "1", &url, "shallow",
        ],
    );
    let shallow = git.path("shallow");
    assert_eq!(
        git.ok(&shallow, &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
    git.ok(&shallow, &["-c", &proto, "fetch", "-q", "--deepen", "5"]);
    assert_eq!(
        git.ok(&shallow, &["rev-list", "--count", "HEAD"]).trim(),
        "6"
    );
    git.ok(
        git.work.path(),
        &[
            "-c",
            &proto,
            "clone",
            "-q",
            "--filter=blob:none",
            &url,
            "partial",
        ],
    );
    let partial = git.path("partial");
    git.ok(&partial, &["-c", &proto, "checkout", "-q", "v1.0"]);
    assert_eq!(
        git.ok(&partial, &["rev-parse", "HEAD:src/file0.txt"]),
        git.ok(&source, &["rev-parse", "v1.0^{commit}:src/file0.txt"])
    );
}

fn round_trip_v0(backend: Backend) {
    round_trip(backend, "0");
}

fn round_trip_v2(backend: Backend) {
    round_trip(backend, "2");
}

on_every_backend!(round_trip_v0, round_trip_v2);
