//! Two OS processes incrementing one counter ref through `commit()` against a real Swift,
//! without a coordinator. Swift has no compare-and-swap, so without the writer lease
//! acknowledged updates can be lost; this test measures how many (printed, not asserted) with
//! and without the single writer's read-back, and asserts that the repository opens and is
//! readable. With the lease (the default), one of the two processes must be refused. Skipped
//! (with a message) unless `SWIFTGIT_TEST_CONFIG` is set.

use std::process::{Command, Stdio};
use std::sync::Arc;

use swiftgit_repo::refs::sequence::{LeaseHolder, LeaseOptions, SingleWriter};
use swiftgit_repo::refs::{LogError, verify_log};
use swiftgit_repo::{
    CommitError, Expected, New, RefName, RefTransaction, RefUpdate, RepoName, Repository,
    RepositoryOptions,
};

use crate::common::{id, number, remove, swift_storage, unique_name};

const REPO_VAR: &str = "SWIFTGIT_TWO_PROCESS_REPO";
const READ_BACK_VAR: &str = "SWIFTGIT_TWO_PROCESS_READ_BACK";
const LEASE_VAR: &str = "SWIFTGIT_TWO_PROCESS_LEASE";
const INCREMENTS: u64 = 150;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn options(read_back: bool, lease: bool) -> RepositoryOptions {
    RepositoryOptions::with_coordinator(Arc::new(SingleWriter {
        read_back,
        leases: lease.then(|| LeaseHolder::new(LeaseOptions::default())),
        ..SingleWriter::default()
    }))
}

/// The child: `INCREMENTS` acknowledged increments of `refs/heads/counter`, each from the value
/// it read; prints `acknowledged <n>` at the end.
#[test]
#[ignore = "a child process of two_processes_increment_one_counter"]
fn child_increments() {
    let Ok(repo_name) = std::env::var(REPO_VAR) else {
        return;
    };
    let read_back = std::env::var(READ_BACK_VAR).is_ok_and(|v| v == "1");
    let lease = std::env::var(LEASE_VAR).is_ok_and(|v| v == "1");
    runtime().block_on(async {
        let storage = swift_storage()
            .await
            .expect("SWIFTGIT_TEST_CONFIG is set for the child");
        let name = RepoName::new(&repo_name).expect("valid");
        let repo = Repository::open_with(storage, &name, options(read_back, lease))
            .await
            .expect("open");
        let counter = RefName::new("refs/heads/counter").expect("valid");
        let (mut acknowledged, mut rejected) = (0u64, 0u64);
        while acknowledged < INCREMENTS {
            let read = repo
                .refresh()
                .await
                .expect("refresh")
                .get(counter.as_str())
                .map(number);
            let tx = RefTransaction::new().with_update(RefUpdate {
                name: counter.clone(),
                expected: read.map_or(Expected::Missing, |v| Expected::Value(id(v))),
                new: New::Value(id(read.unwrap_or(0) + 1)),
            });
            match repo.commit(tx).await {
                Ok(_) => acknowledged += 1,
                Err(CommitError::Rejected { .. }) => rejected += 1,
                Err(CommitError::Log(LogError::OtherWriter { .. })) if lease => {
                    println!("acknowledged {acknowledged} rejected {rejected} refused");
                    return;
                }
                Err(e) => panic!("commit: {e}"),
            }
        }
        println!("acknowledged {acknowledged} rejected {rejected}");
    });
}

#[test]
fn two_processes_increment_one_counter() {
    let rt = runtime();
    let Some(storage) = rt.block_on(swift_storage()) else {
        eprintln!("skipped: SWIFTGIT_TEST_CONFIG is not set");
        return;
    };
    for (read_back, lease) in [(false, false), (true, false), (true, true)] {
        let name = unique_name("two-processes");
        rt.block_on(Repository::init(storage.clone(), &name, "master"))
            .expect("init");
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(std::env::current_exe().expect("test binary"))
                    .args([
                        "--ignored",
                        "--exact",
                        "swift_processes::child_increments",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(REPO_VAR, name.as_str())
                    .env(READ_BACK_VAR, if read_back { "1" } else { "0" })
                    .env(LEASE_VAR, if lease { "1" } else { "0" })
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("spawn a child")
            })
            .collect();
        let mut acknowledged = 0;
        let mut refused = 0;
        for child in children {
            let output = child.wait_with_output().expect("child");
            assert!(output.status.success(), "a child failed: {output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("acknowledged ").map(|(_, rest)| rest))
                .unwrap_or_else(|| panic!("no summary line from the child:\n{stdout}"));
            eprintln!("child: acknowledged {line}");
            refused += usize::from(line.ends_with("refused"));
            acknowledged += line
                .split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("count");
        }
        let repo = rt
            .block_on(Repository::open(storage.clone(), &name))
            .expect("open");
        let state = repo.state();
        let counter = state.get("refs/heads/counter").map(number).unwrap_or(0);
        let report = rt
            .block_on(verify_log(storage.as_ref(), name.as_str()))
            .expect("every entry parses");
        eprintln!(
            "two processes on Swift (read_back = {read_back}, lease = {lease}): {acknowledged} acknowledged, {refused} refused, counter {counter}, \
             lost updates {}, entries {}, old-value mismatches {}, checkpoints differing from the replay {}",
            acknowledged - counter,
            report.entries,
            report.old_value_mismatches.len(),
            report.bad_checkpoints.len(),
        );
        // A lost race can leave a checkpoint from the losing writer; that is the hazard measured
        // here, not asserted. What must hold: the log parses to the end and no pack is missing.
        assert!(report.missing_packs.is_empty(), "{report:?}");
        if lease {
            assert_eq!(refused, 1, "with the lease, the second writer is refused");
        }
        assert_eq!(report.entries, state.seq());
        rt.block_on(remove(storage.as_ref(), &name));
    }
}
