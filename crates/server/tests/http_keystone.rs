//! Users checked against a real Keystone v3 (the one `scripts/swift-dev` starts, named by
//! `SWIFTGIT_TEST_CONFIG_V3`): its user's password lets git push and clone, unscoped and scoped
//! to its project; a wrong password is an authentication failure. Skipped without the variable.

mod harness;
mod http_common;

use std::time::Duration;

use harness::{Backend, Git, Server};
use http_common::{options, start_with};
use swiftgit_server::daemon::DaemonOptions;
use swiftgit_server::http::auth::Authenticator;
use swiftgit_server::http::keystone::Keystone;
use swiftgit_test_support::swift_config_from;

#[test]
fn keystone_users_push_and_clone() {
    let Some(swift) = swift_config_from("SWIFTGIT_TEST_CONFIG_V3") else {
        eprintln!("skipped: SWIFTGIT_TEST_CONFIG_V3 is not set");
        return;
    };
    let mut server = Server::start(Backend::Local, DaemonOptions::default())
        .expect("holds because the local backend always starts");
    let repo = server.init_repo("keystone");
    let git = Git::new();
    let work = git.work_repo("work");
    let project = swift
        .tenant
        .clone()
        .map(|tenant| (tenant, swift.project_domain_name.clone()));
    for (round, scope) in [None, project].into_iter().enumerate() {
        let keystone = Keystone::new(
            &swift.auth_url,
            &swift.user_domain_name,
            scope,
            Duration::from_secs(20),
        )
        .unwrap();
        let http = start_with(
            &server,
            options(vec![]),
            Authenticator::new(None, Some(keystone)),
            tempfile::tempdir().unwrap(),
        );
        let good = http.url(repo.as_str(), Some((&swift.user, swift.password.expose())));
        let head = git.commit(&work, "round", &format!("{round}\n"), "keystone push");
        git.ok(&work, &["push", &good, "master"]);
        assert_eq!(server.refs(&repo)["refs/heads/master"], head);
        git.ok(
            git.work.path(),
            &["clone", "-q", &good, &format!("clone{round}")],
        );
        let bad = http.url(repo.as_str(), Some((&swift.user, "wrong-password")));
        let stderr = git.fails(git.work.path(), &["ls-remote", &bad]);
        assert!(stderr.contains("Authentication failed"), "{stderr}");
    }
}
