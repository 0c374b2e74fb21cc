//! `coordinator_absent_second_writer_refused`: three daemons on one repository WITHOUT
//! `[coordinator]` (the third on a slow Swift link). The first daemon to push takes the
//! repository's writer lease; pushes through the others are refused with a message that says
//! why and what to configure, and nothing acknowledged is lost.

use std::collections::BTreeSet;
use std::time::Instant;

use swiftgit_test_support::git::Git;

use super::client::{Client, clone_and_fsck, parse_refs};
use super::daemon::TestRepo;
use super::environment::swift_config;

const TEST: &str = "coordinator_absent_second_writer_refused";
const CLIENTS: usize = 6;
const ROUNDS: usize = 10;
/// Rounds in which two daemons racing for a free lease may both see pushes accepted.
const FIRST_ROUNDS: usize = 2;

/// One push of a client's own branch.
struct Attempt {
    client: usize,
    daemon: usize,
    round: usize,
    commit: String,
    accepted: bool,
    printed: String,
}

pub fn run() {
    let Some(swift) = swift_config(TEST) else {
        return;
    };
    let started = Instant::now();
    let repo = TestRepo::new(&swift, "second-writer");
    let config = repo.config("single-writer.conf", None);
    repo.init(&config);
    let (_proxy, slow_config) = repo.slow_swift(&config);
    let daemons = [
        repo.daemon("d1", &config, &[]),
        repo.daemon("d2", &config, &[]),
        repo.daemon("d3-slow-swift", &slow_config, &[]),
    ];
    let urls: Vec<String> = daemons.iter().map(|d| d.url(&repo.name)).collect();

    // Daemon 1's first push takes the writer lease.
    let seed = Client::new(&urls[0]);
    let initial = seed.commit(None, "README", "one writer\n", "initial");
    let push = seed.push(&[format!("{initial}:refs/heads/master")]);
    assert!(push.success, "the first push, through d1: {}", push.printed);

    let attempts: Vec<Attempt> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let url = &urls[i % 3];
                scope.spawn(move || {
                    let client = Client::new(url);
                    let name = format!("refs/heads/client-{i}");
                    let mut parent: Option<String> = None;
                    (0..ROUNDS)
                        .map(|round| {
                            let content = format!("client {i} round {round}\n");
                            let file = format!("client-{i}");
                            let commit =
                                client.commit(parent.as_deref(), &file, &content, &content);
                            parent = Some(commit.clone());
                            let push = client.push(&[format!("{commit}:{name}")]);
                            Attempt {
                                client: i,
                                daemon: i % 3,
                                round,
                                commit,
                                accepted: push.updated(&name),
                                printed: push.printed,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });

    let refusal = |pid: u32| {
        (
            format!(
                "repository {} is written by another swiftgit process (",
                repo.name
            ),
            format!(", pid {pid}) without a coordinator; configure [coordinator]"),
        )
    };
    let writers: BTreeSet<usize> = attempts
        .iter()
        .filter(|a| a.accepted && a.round >= FIRST_ROUNDS)
        .map(|a| a.daemon)
        .collect();
    let acknowledged = attempts.iter().filter(|a| a.accepted).count();
    let refused = attempts.len() - acknowledged;
    let writer_names: Vec<String> = writers.iter().map(|d| format!("d{}", d + 1)).collect();
    println!(
        "{TEST}: {acknowledged} acknowledged and {refused} refused pushes of {}; from round \
         {FIRST_ROUNDS} on, pushes were accepted through {writer_names:?} only",
        attempts.len()
    );
    assert_eq!(
        writers.len(),
        1,
        "exactly one daemon writes once the lease is taken"
    );
    let writer = *writers.first().expect("holds because there is one writer");
    assert_eq!(writer, 0, "d1 pushed first, so it holds the writer lease");
    let (before_pid, after_pid) = refusal(daemons[writer].pid());
    for attempt in &attempts {
        let who = format!(
            "client {} round {} through d{}",
            attempt.client,
            attempt.round,
            attempt.daemon + 1
        );
        if attempt.daemon == writer {
            assert!(attempt.accepted, "{who} was refused:\n{}", attempt.printed);
        } else if attempt.round >= FIRST_ROUNDS || !attempt.accepted {
            assert!(!attempt.accepted, "{who} was accepted beside the writer");
            assert!(
                attempt.printed.contains(&before_pid) && attempt.printed.contains(&after_pid),
                "{who} was not refused for the lease of d{}:\n{}",
                writer + 1,
                attempt.printed
            );
        }
    }

    // Every acknowledged push is there, through every daemon and in a fresh clone.
    let checker = Git::new();
    for url in &urls {
        let listed = checker.ok(checker.work.path(), &["ls-remote", url]);
        let refs = parse_refs(&listed);
        for client in 0..CLIENTS {
            let last = attempts
                .iter()
                .filter(|a| a.client == client && a.accepted)
                .max_by_key(|a| a.round)
                .map(|a| a.commit.as_str());
            let name = format!("refs/heads/client-{client}");
            assert_eq!(
                refs.get(name.as_str()).copied(),
                last,
                "{name} through {url} is not at its last acknowledged push"
            );
        }
    }
    let clone = checker.path("clone.git");
    clone_and_fsck(&checker, &urls[writer], &clone);
    let all = checker.ok(&clone, &["rev-list", "--all"]);
    let present: BTreeSet<&str> = all.lines().collect();
    let lost = attempts
        .iter()
        .filter(|a| a.accepted && !present.contains(a.commit.as_str()))
        .count();
    println!(
        "{TEST}: lost {lost} of {acknowledged} acknowledged pushes; elapsed {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        lost, 0,
        "acknowledged pushes are missing from a fresh clone"
    );
}
