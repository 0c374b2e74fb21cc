//! What the workspace's tests share, so that each test tree does not carry its own copy: the
//! Swift config the tests run against ([`swift_test_config`], from `SWIFTGIT_TEST_CONFIG`), a
//! `git` that sees no user or system configuration ([`git::Git`]), the driver of the crash tests
//! that SIGKILL a child test process ([`crash::run_child_until_killed`]), and a global allocator
//! that records the peak of live heap bytes ([`counting_alloc::CountingAllocator`]).
//!
//! A dev-dependency only: nothing here is used outside tests, and it depends on no swiftgit
//! crate but the config, so that every crate's tests can use it without a dependency cycle.

pub mod counting_alloc;
pub mod crash;
pub mod git;
pub mod swift_proxy;

use std::path::PathBuf;

use swiftgit_config::{Config, ConfigSource, StorageConfig, SwiftConfig};

/// The Swift config named by `SWIFTGIT_TEST_CONFIG`, or `None` when it is unset or empty (the
/// caller then skips its Swift case, saying so). See [`swift_config_from`].
pub fn swift_test_config() -> Option<SwiftConfig> {
    swift_config_from("SWIFTGIT_TEST_CONFIG")
}

/// The Swift config named by the environment variable `var` (`scripts/swift-dev env` sets one per
/// auth version), or `None` when it is unset or empty. Panics if the variable names a file that
/// does not load or is not a `[swift]` config: a run that asked for Swift must not skip it.
pub fn swift_config_from(var: &str) -> Option<SwiftConfig> {
    let path = std::env::var(var).ok().filter(|v| !v.is_empty())?;
    let config = Config::load(&ConfigSource::File(PathBuf::from(&path)), |_| None)
        .unwrap_or_else(|e| panic!("{var}={path}: {e}"));
    match config.storage {
        StorageConfig::Swift(swift) => Some(swift),
        other => panic!("{var}={path} is not a [swift] config: {other:?}"),
    }
}
