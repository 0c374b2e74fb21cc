//! `coordinator_three_daemons_lose_nothing`: three coordinated daemons (the third on a slow
//! Swift link) and twelve clients pushing at once, while the etcd leader is killed and
//! restarted; no acknowledged push is lost and `refs/heads/shared` stays linearizable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use swiftgit_test_support::git::Git;

use super::client::{Client, Push, clone_and_fsck, parse_refs, printed};
use super::daemon::{CoordinatorSection, TestRepo};
use super::environment::{etcd_available, swift_config};
use super::etcd_cluster::PrivateEtcd;
use super::history::{self, Read, SharedPush};

const TEST: &str = "coordinator_three_daemons_lose_nothing";
const ETCD_BASE: u16 = 24790;
const CLIENTS: usize = 12;
const ROUNDS: usize = 44;
const MIN_ACKNOWLEDGED: usize = 500;
const SHARED: &str = "refs/heads/shared";

/// What one client saw.
#[derive(Default)]
struct Record {
    reads: Vec<Read>,
    shared_pushes: Vec<SharedPush>,
    /// Its own branch's commits whose push was acknowledged, oldest first.
    acknowledged: Vec<String>,
    /// When each push began, and how long it took.
    push_times: Vec<(Instant, Duration)>,
    /// Shared updates refused because shared had moved, by git's summary.
    shared_rejected: BTreeMap<String, usize>,
    failures: Vec<String>,
}

pub fn run() {
    let Some(swift) = swift_config(TEST) else {
        return;
    };
    if !etcd_available(TEST) {
        return;
    }
    let started = Instant::now();
    let etcd = PrivateEtcd::start(ETCD_BASE);
    let repo = TestRepo::new(&swift, "lose-nothing");
    let config = repo.config(
        "coordinated.conf",
        Some(&CoordinatorSection::new(etcd.endpoints())),
    );
    repo.init(&config);
    let (_proxy, slow_config) = repo.slow_swift(&config);
    let daemons = [
        repo.daemon("d1", &config, &[]),
        repo.daemon("d2", &config, &[]),
        repo.daemon("d3-slow-swift", &slow_config, &[]),
    ];
    let urls: Vec<String> = daemons.iter().map(|d| d.url(&repo.name)).collect();

    let seed = Client::new(&urls[0]);
    let initial = seed.commit(None, "README", "shared history\n", "initial");
    let push = seed.push(&[
        format!("{initial}:refs/heads/master"),
        format!("{initial}:{SHARED}"),
    ]);
    assert!(push.success, "the first push: {}", push.printed);

    let clients: Vec<Client> = (0..CLIENTS).map(|i| Client::new(&urls[i % 3])).collect();
    let progress = AtomicUsize::new(0);
    let total = CLIENTS * ROUNDS;
    let mut kill: Option<(u16, Duration)> = None;
    let mut leader_known = false;
    let mut restart: Option<Duration> = None;
    let records: Vec<Record> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let progress = &progress;
                scope.spawn(move || {
                    let mut record = Record::default();
                    let mut own: Option<String> = None;
                    for round in 0..ROUNDS {
                        client_round(client, i, round, &mut own, &mut record);
                        progress.fetch_add(1, Ordering::SeqCst);
                    }
                    record
                })
            })
            .collect();
        // The fault schedule follows the clients' progress, not the clock.
        while !handles.iter().all(|handle| handle.is_finished()) {
            let done = progress.load(Ordering::SeqCst);
            if kill.is_none() && done >= total / 3 {
                let leader = etcd.leader();
                leader_known = leader.is_some();
                let member = leader.unwrap_or(1);
                etcd.kill_member(member);
                kill = Some((member, started.elapsed()));
            }
            if let (Some((member, _)), None) = (kill, restart)
                && done >= 2 * total / 3
            {
                etcd.start_member(member);
                restart = Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let clients_done = started.elapsed();

    let failures: Vec<&String> = records.iter().flat_map(|r| &r.failures).collect();
    let shared_pushes: Vec<SharedPush> = records
        .iter()
        .flat_map(|r| r.shared_pushes.iter().cloned())
        .collect();
    let reads: Vec<Read> = records
        .iter()
        .flat_map(|r| r.reads.iter().cloned())
        .collect();
    let acknowledged: usize = records.iter().map(|r| r.acknowledged.len()).sum();
    let mut rejected: BTreeMap<&str, usize> = BTreeMap::new();
    for (summary, count) in records.iter().flat_map(|r| &r.shared_rejected) {
        *rejected.entry(summary.as_str()).or_default() += count;
    }
    println!(
        "{TEST}: {acknowledged} acknowledged pushes ({} moved shared; shared updates rejected \
         because it had moved: {rejected:?}), {total} rounds, {} reads, {} failed commands; \
         etcd member {}{} killed at {:.1} s, restarted at {:.1} s; clients done in {:.1} s",
        shared_pushes.len(),
        reads.len(),
        failures.len(),
        kill.map_or(0, |(member, _)| member),
        if leader_known { " (the leader)" } else { "" },
        kill.map_or(0.0, |(_, at)| at.as_secs_f64()),
        restart.map_or(0.0, |at| at.as_secs_f64()),
        clients_done.as_secs_f64(),
    );
    assert!(
        failures.is_empty(),
        "{} client commands failed; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    assert!(
        acknowledged >= MIN_ACKNOWLEDGED,
        "only {acknowledged} pushes were acknowledged"
    );
    let (Some((_, killed_at)), Some(restarted_at)) = (kill, restart) else {
        panic!("the etcd fault did not run");
    };
    let slowest = |from: Duration, to: Duration| {
        let (from, to) = (started + from, started + to);
        records
            .iter()
            .flat_map(|r| &r.push_times)
            .filter(|(began, _)| (from..to).contains(began))
            .map(|(_, took)| took.as_secs_f64())
            .fold(0.0, f64::max)
    };
    println!(
        "{TEST}: slowest push {:.2} s before the kill, {:.2} s with a member down, {:.2} s \
         after the restart",
        slowest(Duration::ZERO, killed_at),
        slowest(killed_at, restarted_at),
        slowest(restarted_at, clients_done),
    );

    let chain = history::check(&initial, &shared_pushes, &reads).unwrap_or_else(|violations| {
        panic!("shared is not linearizable:\n{}", violations.join("\n"))
    });
    let newest_shared = chain
        .last()
        .expect("holds because the chain starts at the initial value");

    let checker = Git::new();
    for url in &urls {
        let listed = checker.ok(checker.work.path(), &["ls-remote", url]);
        let refs = parse_refs(&listed);
        for (i, record) in records.iter().enumerate() {
            let name = format!("refs/heads/client-{i}");
            assert_eq!(
                refs.get(name.as_str()).copied(),
                record.acknowledged.last().map(String::as_str),
                "{name} through {url} is not at the last acknowledged push"
            );
        }
        assert_eq!(
            refs.get(SHARED),
            Some(&newest_shared.as_str()),
            "{SHARED} through {url}"
        );
    }
    let clone = checker.path("clone.git");
    clone_and_fsck(&checker, &urls[1], &clone);
    let all = checker.ok(&clone, &["rev-list", "--all"]);
    let present: BTreeSet<&str> = all.lines().collect();
    let lost = records
        .iter()
        .flat_map(|r| &r.acknowledged)
        .chain(shared_pushes.iter().map(|push| &push.new))
        .filter(|id| !present.contains(id.as_str()))
        .count();
    println!(
        "{TEST}: lost {lost} of {} acknowledged commits; shared chain {} long; elapsed {:.1} s",
        acknowledged + shared_pushes.len(),
        chain.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        lost, 0,
        "acknowledged commits are missing from a fresh clone"
    );
}

/// One round of client `i`: read shared, commit on the own branch and on what was read, push
/// both in one non-atomic push; every result goes into `record`.
fn client_round(
    client: &Client,
    i: usize,
    round: usize,
    own: &mut Option<String>,
    record: &mut Record,
) {
    let fail = |record: &mut Record, what: &str, printed: &str| {
        record.failures.push(format!(
            "client {i} ({}) round {round}: {what}:\n{printed}",
            client.url
        ));
    };
    let started = Instant::now();
    let value = match client.ls_remote_ref(SHARED) {
        Ok(Some(value)) => value,
        Ok(None) => return fail(record, "ls-remote does not list shared", ""),
        Err(printed) => return fail(record, "ls-remote failed", &printed),
    };
    record.reads.push(Read {
        client: i,
        started,
        value: value.clone(),
    });
    if !client.has_commit(&value) {
        let fetch = client.run(&[
            "fetch",
            "-q",
            "origin",
            &format!("+{SHARED}:refs/remotes/origin/shared"),
        ]);
        if !fetch.status.success() {
            return fail(record, "fetch failed", &printed(&fetch));
        }
        if !client.has_commit(&value) {
            return fail(
                record,
                &format!("fetch did not bring {value}, which ls-remote listed"),
                "",
            );
        }
    }
    let content = format!("client {i} round {round}\n");
    let own_commit = client.commit(own.as_deref(), &format!("client-{i}"), &content, &content);
    let shared_commit = client.commit(Some(&value), "shared", &content, &content);
    let own_ref = format!("refs/heads/client-{i}");
    let pushing = Instant::now();
    let push = client.push(&[
        format!("{own_commit}:{own_ref}"),
        format!("{shared_commit}:{SHARED}"),
    ]);
    let returned = Instant::now();
    record.push_times.push((pushing, returned - pushing));
    // A failed push may or may not have moved the own branch: the next commit fast-forwards
    // from both.
    *own = Some(own_commit.clone());
    if push.updated(&own_ref) {
        record.acknowledged.push(own_commit);
    } else {
        fail(record, "the push of the own branch failed", &push.printed);
    }
    if push.updated(SHARED) {
        record.shared_pushes.push(SharedPush {
            client: i,
            old: value,
            new: shared_commit,
            returned,
        });
    } else if is_stale_rejection(&push) {
        let summary = push.summary(SHARED).unwrap_or_default().to_owned();
        *record.shared_rejected.entry(summary).or_default() += 1;
    } else {
        fail(record, "the push of shared failed", &push.printed);
    }
}

/// Whether shared was refused only because it had moved since it was read: by git
/// (non-fast-forward, fetch first) or by the server (the ref was not at the expected value).
fn is_stale_rejection(push: &Push) -> bool {
    match push.summary(SHARED) {
        Some("[rejected] (non-fast-forward)" | "[rejected] (fetch first)") => true,
        Some("[remote rejected] (non-fast-forward)") => true,
        Some("[remote rejected] (failed to update ref)") => push
            .printed
            .contains(&format!("cannot update: {SHARED} is at ")),
        _ => false,
    }
}
