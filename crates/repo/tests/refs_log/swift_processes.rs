//! Two OS processes incrementing one counter ref through `commit()` against a real Swift. Swift
//! has no compare-and-swap, so acknowledged updates can be lost until a coordinator takes over
//! the commit step; this test measures how many (printed, not asserted) with and without the
//! default committer's read-back, and asserts only that the repository opens and is
//! consistent. Skipped (with a message) unless `SWIFTGIT_TEST_CONFIG` is set.

use std::process::{Command, Stdio};
use std::sync::Arc;

use swiftgit_repo::refs::{CreateOnly, verify_log};
use swiftgit_repo::{
    CommitError, Expected, New, RefName, RefTransaction, RefUpdate, RepoName, Repository,
    RepositoryOptions,
};

use crate::common::{id, number, remove, swift_storage, unique_name};

const REPO_VAR: &str = "SWIFTGIT_TWO_PROCESS_REPO";
const READ_BACK_VAR: &str = "SWIFTGIT_TWO_PROCESS_READ_BACK";
const INCREMENTS: u64 = 150;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn options(read_back: bool) -> RepositoryOptions {
    RepositoryOptions {
        committer: Arc::new(CreateOnly { read_back }),
        ..RepositoryOptions::default()
    }
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
    runtime().block_on(async {
        let storage = swift_storage()
            .await
            .expect("SWIFTGIT_TEST_CONFIG is set for the child");
        let name = RepoName::new(&repo_name).expect("valid");
        let repo = Repository::open_with(storage, &name, options(read_back))
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
    for read_back in [false, true] {
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
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("spawn a child")
            })
            .collect();
        let mut acknowledged = 0;
        for child in children {
            let output = child.wait_with_output().expect("child");
            assert!(output.status.success(), "a child failed: {output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("acknowledged ").map(|(_, rest)| rest))
                .unwrap_or_else(|| panic!("no summary line from the child:\n{stdout}"));
            eprintln!("child: acknowledged {line}");
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
            "two processes on Swift (read_back = {read_back}): {acknowledged} acknowledged, counter {counter}, \
             lost updates {}, entries {}, old-value mismatches {}, checkpoints differing from the replay {}",
            acknowledged - counter,
            report.entries,
            report.old_value_mismatches.len(),
            report.bad_checkpoints.len(),
        );
        // A lost race can leave a checkpoint from the losing writer; that is the hazard measured
        // here, not asserted. What must hold: the log parses to the end and no pack is missing.
        assert!(report.missing_packs.is_empty(), "{report:?}");
        assert_eq!(report.entries, state.seq());
        rt.block_on(remove(storage.as_ref(), &name));
    }
}
