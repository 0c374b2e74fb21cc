//! Maintenance (`swiftgit_server::maintenance::gc`) with real `git` clients of the in-process
//! daemon: many pushes then a repack, a deleted branch pruned, and clients pushing and fetching
//! while runs loop. On a local directory and (with `SWIFTGIT_TEST_CONFIG`) on a real Swift.

mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use harness::{Backend, Git, Server};
use swiftgit_repo::odb::{ObjectDb, OdbOptions};
use swiftgit_repo::refs::log::LOG_PREFIX;
use swiftgit_repo::refs::verify_log;
use swiftgit_repo::{ObjectId, RepoName, Repository};
use swiftgit_server::daemon::DaemonOptions;
use swiftgit_server::maintenance::{GcOptions, GcReport, gc};

on_every_backend!(
    many_pushes_then_gc,
    a_deleted_branch_is_pruned,
    clients_go_on_while_gc_loops,
);

/// Three weeks on: past every grace period.
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(21 * 24 * 3600)
}

/// One run through the daemon's own repository handle, as background maintenance does.
fn run_gc(server: &Server, repo: &RepoName, options: &GcOptions) -> GcReport {
    try_gc(server, repo, options).unwrap_or_else(|e| panic!("gc of {repo}: {e}"))
}

fn try_gc(server: &Server, repo: &RepoName, options: &GcOptions) -> Result<GcReport, String> {
    server.block_on(async {
        let handle = server.registry.get(repo).await.map_err(|e| e.to_string())?;
        let state = handle.repo.refresh().await.map_err(|e| e.to_string())?;
        let odb = handle.objects(&state).await.map_err(|e| e.to_string())?;
        let report = gc(&handle.repo, odb, options)
            .await
            .map_err(|e| e.to_string())?;
        handle.repo.published().await;
        Ok(report)
    })
}

/// `git rev-list --objects --all`, sorted.
fn all_objects(git: &Git, dir: &Path) -> Vec<String> {
    let listed = git.ok(dir, &["rev-list", "--objects", "--all"]);
    let mut ids: Vec<String> = listed
        .lines()
        .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A fresh clone of `url`, checked with `git fsck`.
fn checked_clone(git: &Git, url: &str, name: &str) -> std::path::PathBuf {
    let dir = git.path(name);
    let _ = std::fs::remove_dir_all(&dir);
    git.ok(
        Path::new("/"),
        &[
            "clone",
            "-q",
            "--mirror",
            url,
            dir.to_str().expect("UTF-8 path"),
        ],
    );
    git.fsck(&dir);
    dir
}

/// Whether any live pack of `repo`, read afresh from storage, holds `id`.
fn stored_holds(server: &Server, repo: &RepoName, id: &str) -> bool {
    let id = ObjectId::from_hex(id.as_bytes()).expect("an object id");
    server.block_on(async {
        let repository = Repository::open(server.storage.clone(), repo)
            .await
            .expect("open");
        let packs: Vec<_> = repository.state().packs().iter().copied().collect();
        let odb = ObjectDb::open(
            server.storage.clone(),
            repo.to_string(),
            &packs,
            OdbOptions::default(),
        )
        .await
        .expect("open the objects");
        odb.contains(&id)
    })
}

/// A thousand one-commit pushes (a hundred on Swift), then gc: one or two packs, the same
/// objects, and after the grace periods a log of a handful of objects and no retired pack.
fn many_pushes_then_gc(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let pushes = match backend {
        Backend::Local => 1000,
        Backend::Swift => 100,
    };
    let repo = server.init_repo("many-pushes");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    for i in 0..pushes {
        git.commit(
            &work,
            &format!("f{}", i % 50),
            &format!("{i}\n"),
            &format!("c{i}"),
        );
        git.ok(&work, &["push", "-q", &url, "master"]);
    }
    assert!(server.packs(&repo).len() >= pushes);

    let report = run_gc(&server, &repo, &GcOptions::default());
    assert!(report.packs_after <= 2, "{report:?}");
    assert!(report.rolled_up >= pushes - 1, "{report:?}");
    assert_eq!(report.garbage + report.dropped, 0, "{report:?}");
    let clone = checked_clone(&git, &url, "after-gc");
    assert_eq!(all_objects(&git, &clone), all_objects(&git, &work));

    // A push and a fetch after it.
    git.commit(&work, "after", "after\n", "after gc");
    git.ok(&work, &["push", "-q", &url, "master"]);
    git.ok(&clone, &["fetch", "-q", &url, "master:master"]);
    assert_eq!(git.rev(&clone, "master"), git.rev(&work, "master"));

    let report = run_gc(
        &server,
        &repo,
        &GcOptions {
            now: Some(later()),
            ..GcOptions::default()
        },
    );
    assert!(report.packs_deleted >= pushes, "{report:?}");
    assert!(
        report.log.entries_deleted as usize >= pushes - 16,
        "{report:?}"
    );
    let log: Vec<_> = server
        .block_on(server.storage.list(repo.as_str(), LOG_PREFIX))
        .expect("list the log");
    assert!(log.len() <= 16, "{} log entries left", log.len());
    let verified = server
        .block_on(verify_log(server.storage.as_ref(), repo.as_str()))
        .expect("verify the log");
    assert!(verified.is_consistent(), "{verified:?}");
    assert!(verified.compacted_to.is_some());
    let again = checked_clone(&git, &url, "after-compaction");
    assert_eq!(all_objects(&git, &again), all_objects(&git, &work));
}

/// A branch with a large blob of its own, deleted: with the default grace its objects go to a
/// garbage pack (still readable); with `--prune=now` the stored bytes drop by the blob.
fn a_deleted_branch_is_pruned(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("pruned");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master"]);
    git.ok(&work, &["checkout", "-q", "-b", "big"]);
    let blob_bytes = 2 << 20;
    let noise: Vec<u8> = (0..blob_bytes).map(|_| rand::random::<u8>()).collect();
    std::fs::write(work.join("big.bin"), &noise).expect("write the blob");
    git.ok(&work, &["add", "big.bin"]);
    git.ok(&work, &["commit", "-q", "-m", "big"]);
    let blob = git.rev(&work, "HEAD:big.bin");
    git.ok(&work, &["push", "-q", &url, "big"]);
    git.ok(&work, &["push", "-q", &url, ":big"]);
    git.ok(&work, &["checkout", "-q", "master"]);

    let kept = GcOptions {
        prune_everywhere: true,
        ..GcOptions::default()
    };
    let report = run_gc(&server, &repo, &kept);
    assert!(report.garbage >= 3, "commit, tree, blob: {report:?}");
    assert!(
        stored_holds(&server, &repo, &blob),
        "readable during the grace period"
    );

    let now = GcOptions {
        prune: Duration::ZERO,
        prune_everywhere: true,
        ..GcOptions::default()
    };
    let report = run_gc(&server, &repo, &now);
    assert!(
        report.stored_bytes_before - report.stored_bytes_after >= blob_bytes as u64,
        "{report:?}"
    );
    assert!(!stored_holds(&server, &repo, &blob));
    let clone = checked_clone(&git, &url, "clone");
    assert_eq!(git.rev(&clone, "master"), git.rev(&work, "master"));
}

/// Clients push to their own branches, clone and fetch while gc runs in a loop: no client
/// error, no acknowledged push lost, `git fsck` clean.
fn clients_go_on_while_gc_loops(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("busy");
    let url = server.url(&repo);
    let git = Arc::new(Git::new());
    let seed = git.work_repo("seed");
    git.ok(&seed, &["push", "-q", &url, "master"]);
    let rounds = 12;
    let pushers = 3;
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(pushers + 2));
    let mut clients = Vec::new();
    for p in 0..pushers {
        let (git, url, start) = (Arc::clone(&git), url.clone(), Arc::clone(&start));
        clients.push(std::thread::spawn(move || {
            let work = git.path(&format!("pusher-{p}"));
            git.ok(
                Path::new("/"),
                &["clone", "-q", &url, work.to_str().expect("UTF-8 path")],
            );
            start.wait();
            let branch = format!("b{p}");
            git.ok(&work, &["checkout", "-q", "-b", &branch]);
            for i in 0..rounds {
                git.commit(
                    &work,
                    &format!("p{p}"),
                    &format!("{i}\n"),
                    &format!("{p}/{i}"),
                );
                git.ok(&work, &["push", "-q", &url, &branch]);
            }
            (branch, git.rev(&work, "HEAD"))
        }));
    }
    let fetcher = {
        let (git, url, start, done) = (
            Arc::clone(&git),
            url.clone(),
            Arc::clone(&start),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            start.wait();
            let mut fetches = 0;
            while !done.load(Ordering::Relaxed) || fetches < 2 {
                let dir = git.path("fetcher");
                let _ = std::fs::remove_dir_all(&dir);
                git.ok(
                    Path::new("/"),
                    &[
                        "clone",
                        "-q",
                        "--mirror",
                        &url,
                        dir.to_str().expect("UTF-8 path"),
                    ],
                );
                git.ok(&dir, &["fetch", "-q", &url, "+refs/heads/*:refs/heads/*"]);
                fetches += 1;
            }
            fetches
        })
    };
    start.wait();
    let (mut runs, mut errors) = (0, Vec::new());
    while clients.iter().any(|client| !client.is_finished()) || runs < 2 {
        let options = GcOptions {
            full: runs % 3 == 2,
            ..GcOptions::default()
        };
        if let Err(error) = try_gc(&server, &repo, &options) {
            errors.push(error);
        }
        runs += 1;
    }
    let expected: BTreeSet<(String, String)> = clients
        .into_iter()
        .map(|client| client.join().expect("a pusher failed"))
        .collect();
    done.store(true, Ordering::Relaxed);
    let fetches = fetcher.join().expect("the fetcher failed");
    assert!(fetches >= 2);
    assert!(errors.is_empty(), "gc runs failed: {errors:#?}");
    let refs = server.refs(&repo);
    for (branch, head) in &expected {
        assert_eq!(refs.get(&format!("refs/heads/{branch}")), Some(head));
    }
    run_gc(&server, &repo, &GcOptions::default());
    let clone = checked_clone(&git, &url, "final");
    for (branch, head) in &expected {
        assert_eq!(&git.rev(&clone, branch), head);
    }
    eprintln!("{runs} gc runs, {fetches} clones and fetches");
}
