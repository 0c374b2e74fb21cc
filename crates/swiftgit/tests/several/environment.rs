//! What the tests need from the machine: a real Swift (`SWIFTGIT_TEST_CONFIG`, from
//! `scripts/swift-dev`) and etcd (the `etcd` binary, which `scripts/etcd-dev` installs on first
//! use). Without them a test prints that it was skipped; with `SWIFTGIT_TEST_ETCD_REQUIRED=1`
//! (`scripts/test`) a missing etcd is a failure instead.

use std::path::PathBuf;
use std::process::Command;

/// The swiftgit config of the test Swift, or `None` after printing that `test` is skipped.
pub fn swift_config(test: &str) -> Option<PathBuf> {
    match std::env::var_os("SWIFTGIT_TEST_CONFIG").filter(|value| !value.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            eprintln!("skipped {test}: SWIFTGIT_TEST_CONFIG is not set (scripts/swift-dev start)");
            None
        }
    }
}

/// Whether `test` can start a private etcd cluster. Required (`SWIFTGIT_TEST_ETCD_REQUIRED=1`):
/// always yes, and a cluster that does not start fails the test (`scripts/etcd-dev` installs
/// etcd if it is missing). Otherwise yes when `etcd` runs, else `false` after printing the skip.
pub fn etcd_available(test: &str) -> bool {
    if std::env::var("SWIFTGIT_TEST_ETCD_REQUIRED").as_deref() == Ok("1") {
        return true;
    }
    let runs = Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !runs {
        eprintln!("skipped {test}: etcd is not installed (scripts/etcd-dev start installs it)");
    }
    runs
}
