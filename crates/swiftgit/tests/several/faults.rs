//! Coordinated daemons under faults, each test on a private etcd cluster:
//! - `coordinator_sigkill_after_winning_leaves_a_complete_repository`: a daemon that won its
//!   push in etcd is SIGKILLed before answering or copying anything to Swift; another daemon
//!   serves the pushed branch, with all its objects, and goes on writing;
//! - `coordinator_etcd_outage`: with the whole cluster down a push fails within the
//!   coordinator's timeout and says that etcd is the reason; once the cluster is back the same
//!   daemon, not restarted, takes pushes again.

use std::time::{Duration, Instant};

use swiftgit_test_support::git::Git;

use super::client::{Client, clone_and_fsck, parse_refs};
use super::daemon::{CoordinatorSection, TestRepo};
use super::environment::{etcd_available, swift_config};
use super::etcd_cluster::PrivateEtcd;

const SIGKILL_TEST: &str = "coordinator_sigkill_after_winning_leaves_a_complete_repository";
const SIGKILL_ETCD_BASE: u16 = 24830;
const OUTAGE_TEST: &str = "coordinator_etcd_outage";
const OUTAGE_ETCD_BASE: u16 = 24870;
/// `[coordinator] timeout` of the outage test, in seconds.
const OUTAGE_TIMEOUT_SECS: u64 = 3;
/// How much longer than the timeout a failing push may take (an upper bound only: git, the
/// daemon and a loaded machine add their share).
const OUTAGE_MARGIN: Duration = Duration::from_secs(5);
/// How long pushes are retried after the cluster is back (it elects a leader first).
const RECOVERY: Duration = Duration::from_secs(15);
/// How long the pushed branch may take to show through the other daemon: a liveness bound of
/// the polling loop, far above what it takes.
const VISIBLE_WITHIN: Duration = Duration::from_secs(120);

pub fn sigkill_after_winning() {
    let Some(swift) = swift_config(SIGKILL_TEST) else {
        return;
    };
    if !etcd_available(SIGKILL_TEST) {
        return;
    }
    let started = Instant::now();
    let etcd = PrivateEtcd::start(SIGKILL_ETCD_BASE);
    let repo = TestRepo::new(&swift, "sigkill-winner");
    let config = repo.config(
        "coordinated.conf",
        Some(&CoordinatorSection::new(etcd.endpoints())),
    );
    repo.init(&config);
    let failpoint = [("SWIFTGIT_TEST_FAILPOINT", "pause-after-etcd-append")];
    let mut pausing = repo.daemon("a-pauses-after-winning", &config, &failpoint);
    let survivor = repo.daemon("b", &config, &[]);

    let via_b = Client::new(&survivor.url(&repo.name));
    let base = via_b.commit(None, "README", "base\n", "base");
    let push = via_b.push(&[format!("{base}:refs/heads/master")]);
    assert!(push.success, "the first push, through B: {}", push.printed);

    let via_a = Client::new(&pausing.url(&repo.name));
    let fetch = via_a.run(&["fetch", "-q", "origin", "master"]);
    assert!(fetch.status.success(), "fetch through A: {fetch:?}");
    let first = via_a.commit(Some(&base), "a.txt", "first through A\n", "a 1");
    let pushed = via_a.commit(Some(&first), "a.txt", "second through A\n", "a 2");
    let branch = "refs/heads/from-a";
    let refspec = format!("{pushed}:{branch}");
    let hanging = std::thread::spawn(move || via_a.push(&[refspec]));

    let waiting = Instant::now();
    loop {
        if via_b.ls_remote_ref(branch).ok().flatten().as_deref() == Some(pushed.as_str()) {
            break;
        }
        assert!(
            waiting.elapsed() < VISIBLE_WITHIN && !hanging.is_finished(),
            "the push through A never showed through B (A's push finished: {})",
            hanging.is_finished()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let visible_after = waiting.elapsed();
    pausing.kill();
    let push = hanging
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(
        !push.updated(branch),
        "A answered a push it was paused in:\n{}",
        push.printed
    );
    println!(
        "{SIGKILL_TEST}: {branch} showed through B {:.1} s after the push through A began; \
         A SIGKILLed; its client saw: {}",
        visible_after.as_secs_f64(),
        push.printed.trim().replace('\n', " | ")
    );

    // B reads what A pushed, and writes on top of it.
    let fetch = via_b.run(&["fetch", "-q", "origin", &format!("+{branch}:{branch}")]);
    assert!(fetch.status.success(), "fetch through B: {fetch:?}");
    let after = via_b.commit(Some(&pushed), "b.txt", "after A died\n", "b after");
    let push = via_b.push(&[format!("{after}:refs/heads/master")]);
    assert!(
        push.success,
        "a push through B after A died: {}",
        push.printed
    );

    let checker = Git::new();
    let clone = checker.path("clone.git");
    clone_and_fsck(&checker, &survivor.url(&repo.name), &clone);
    let listed = checker.ok(&clone, &["show-ref"]);
    let refs: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|line| line.split_once(' '))
        .collect();
    assert!(refs.contains(&(pushed.as_str(), branch)), "{listed}");
    assert!(
        refs.contains(&(after.as_str(), "refs/heads/master")),
        "{listed}"
    );
    assert_eq!(
        checker.ok(&clone, &["show", &format!("{first}:a.txt")]),
        "first through A\n"
    );
    assert_eq!(
        checker.ok(&clone, &["show", &format!("{branch}:a.txt")]),
        "second through A\n"
    );
    println!(
        "{SIGKILL_TEST}: elapsed {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

pub fn etcd_outage() {
    let Some(swift) = swift_config(OUTAGE_TEST) else {
        return;
    };
    if !etcd_available(OUTAGE_TEST) {
        return;
    }
    let started = Instant::now();
    let etcd = PrivateEtcd::start(OUTAGE_ETCD_BASE);
    let repo = TestRepo::new(&swift, "etcd-outage");
    let mut coordinator = CoordinatorSection::new(etcd.endpoints());
    coordinator.timeout = Some(OUTAGE_TIMEOUT_SECS);
    let config = repo.config("coordinated.conf", Some(&coordinator));
    repo.init(&config);
    let daemon = repo.daemon("d", &config, &[]);
    let client = Client::new(&daemon.url(&repo.name));
    let master = "refs/heads/master";
    let first = client.commit(None, "README", "before the outage\n", "first");
    let push = client.push(&[format!("{first}:{master}")]);
    assert!(push.success, "a push with etcd up: {}", push.printed);

    etcd.stop_all();
    let second = client.commit(Some(&first), "README", "during the outage\n", "second");
    let pushing = Instant::now();
    let push = client.push(&[format!("{second}:{master}")]);
    let failed_after = pushing.elapsed();
    println!(
        "{OUTAGE_TEST}: with etcd down the push failed after {:.2} s (timeout \
         {OUTAGE_TIMEOUT_SECS} s); git printed: {}",
        failed_after.as_secs_f64(),
        push.printed.trim().replace('\n', " | ")
    );
    assert!(
        !push.updated(master),
        "a push succeeded without etcd:\n{}",
        push.printed
    );
    assert!(
        failed_after < Duration::from_secs(OUTAGE_TIMEOUT_SECS) + OUTAGE_MARGIN,
        "the push took {failed_after:?} to fail"
    );
    assert!(
        push.printed.contains("etcd"),
        "the failed push does not name the coordinator:\n{}",
        push.printed
    );
    let reading = Instant::now();
    match client.ls_remote_ref(master) {
        Err(printed) => {
            println!(
                "{OUTAGE_TEST}: ls-remote failed after {:.2} s: {}",
                reading.elapsed().as_secs_f64(),
                printed.trim().replace('\n', " | ")
            );
            assert!(
                printed.contains("etcd"),
                "ls-remote does not say etcd is why:\n{printed}"
            );
        }
        Ok(value) => {
            println!("{OUTAGE_TEST}: ls-remote still answered: {master} = {value:?}");
            assert_eq!(
                value.as_deref(),
                Some(first.as_str()),
                "ls-remote during the outage"
            );
        }
    }

    etcd.start_all();
    let recovering = Instant::now();
    let mut attempts = 0;
    let recovered = loop {
        attempts += 1;
        let push = client.push(&[format!("{second}:{master}")]);
        if push.success {
            break push;
        }
        assert!(
            recovering.elapsed() < RECOVERY,
            "no push succeeded within {RECOVERY:?} of etcd's return ({attempts} attempts); the \
             last one:\n{}",
            push.printed
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(recovered.updated(master), "{}", recovered.printed);
    println!(
        "{OUTAGE_TEST}: etcd back; push {attempts} succeeded {:.2} s later",
        recovering.elapsed().as_secs_f64()
    );
    let checker = Git::new();
    let clone = checker.path("clone.git");
    clone_and_fsck(&checker, &daemon.url(&repo.name), &clone);
    let listed = checker.ok(checker.work.path(), &["ls-remote", &daemon.url(&repo.name)]);
    assert_eq!(parse_refs(&listed).get(master), Some(&second.as_str()));
    println!(
        "{OUTAGE_TEST}: elapsed {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
