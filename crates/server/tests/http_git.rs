//! Real `git` over smart HTTP against the in-process server: clone, fetch and push in protocol
//! v0 and v2, credentials in the URL and from a credential helper, permissions, anonymous
//! reads, git:// and HTTP on the same repository, HTTPS with a self-signed certificate. On a
//! local directory and (with `SWIFTGIT_TEST_CONFIG`) on a real Swift.

mod harness;
mod http_common;

use harness::{Backend, Git, Server};
use http_common::{options, rule, start};
use swiftgit_server::daemon::DaemonOptions;
use swiftgit_server::http::HttpOptions;
use swiftgit_server::http::access::{AccessRules, DefaultAccess};

on_every_backend!(
    clone_fetch_push_in_v0_and_v2,
    credential_helper_and_wrong_password,
    reader_cannot_push,
    anonymous_read_per_repository,
    git_and_http_see_each_other,
    https_with_a_self_signed_certificate,
    default_access_for_repositories_no_rule_matches,
);

const HELPER: &str = "credential.helper=!f() { echo username=alice; echo password=secret; }; f";

/// Clone, push, fetch in protocols v0, v1 and v2, with credentials in the
/// URL; the stored refs follow every push.
fn clone_fetch_push_in_v0_and_v2(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-basic");
    let http = start(&server, options(vec![]));
    let git = Git::new();
    let url = http.url(&format!("{repo}.git"), Some(("alice", "secret")));
    for version in ["0", "1", "2"] {
        let clone = format!("clone-v{version}");
        let protocol = format!("protocol.version={version}");
        let work = git.work_repo(&format!("work-v{version}"));
        let pushed = git.commit(&work, &format!("v{version}"), "data\n", "commit");
        git.ok(
            &work,
            &[
                "-c",
                &protocol,
                "push",
                &url,
                &format!("master:refs/heads/v{version}"),
            ],
        );
        assert_eq!(
            server.refs(&repo)[&format!("refs/heads/v{version}")],
            pushed
        );
        git.ok(
            git.work.path(),
            &["-c", &protocol, "clone", "-q", &url, &clone],
        );
        let clone = git.path(&clone);
        assert_eq!(git.rev(&clone, &format!("origin/v{version}")), pushed);
        // A second commit, pushed and fetched incrementally.
        let next = git.commit(&work, "more", &format!("more {version}\n"), "more");
        git.ok(
            &work,
            &[
                "-c",
                &protocol,
                "push",
                &url,
                &format!("master:refs/heads/v{version}"),
            ],
        );
        git.ok(&clone, &["-c", &protocol, "fetch", "-q", "origin"]);
        assert_eq!(git.rev(&clone, &format!("origin/v{version}")), next);
        let listed = git.ls_remote(&clone, &url, &[]);
        assert_eq!(listed[&format!("refs/heads/v{version}")], next);
    }
}

/// A credential helper supplies the password; a wrong password is an authentication failure
/// that changes nothing.
fn credential_helper_and_wrong_password(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-helper");
    let http = start(&server, options(vec![]));
    let git = Git::new();
    let work = git.work_repo("work");
    let plain = http.url(repo.as_str(), None);
    git.ok(&work, &["-c", HELPER, "push", &plain, "master"]);
    assert_eq!(
        server.refs(&repo)["refs/heads/master"],
        git.rev(&work, "HEAD")
    );
    git.ok(
        git.work.path(),
        &["-c", HELPER, "clone", "-q", &plain, "cloned"],
    );

    git.commit(&work, "x", "x\n", "second");
    let wrong = http.url(repo.as_str(), Some(("alice", "nope")));
    let stderr = git.fails(&work, &["push", &wrong, "master"]);
    assert!(stderr.contains("Authentication failed"), "{stderr}");
    let stderr = git.fails(&work, &["push", &plain, "master"]);
    assert!(
        stderr.contains("Authentication failed") || stderr.contains("could not read Username"),
        "{stderr}"
    );
    assert_ne!(
        server.refs(&repo)["refs/heads/master"],
        git.rev(&work, "HEAD")
    );
}

/// A user who may read but not write gets 403 on push, and the repository is unchanged.
fn reader_cannot_push(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-perm");
    let http = start(
        &server,
        options(vec![rule(repo.as_str(), &["bob"], &["alice"], false)]),
    );
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(
        &work,
        &[
            "push",
            &http.url(repo.as_str(), Some(("alice", "secret"))),
            "master",
        ],
    );
    let before = server.refs(&repo);
    let seq = server.seq(&repo);

    git.commit(&work, "y", "y\n", "bob's change");
    let bob = http.url(repo.as_str(), Some(("bob", "hunter2")));
    let stderr = git.fails(&work, &["push", &bob, "master"]);
    assert!(stderr.contains("403"), "{stderr}");
    assert_eq!(server.refs(&repo), before);
    assert_eq!(server.seq(&repo), seq, "nothing was committed");
    git.ok(git.work.path(), &["clone", "-q", &bob, "bobs"]);
    // carol is in no list: she may not even read.
    let carol = http.url(repo.as_str(), Some(("carol", "pw")));
    let stderr = git.fails(git.work.path(), &["clone", "-q", &carol, "carols"]);
    assert!(stderr.contains("403"), "{stderr}");
}

/// `anonymous_read` lets anyone clone one repository; another asks for credentials.
fn anonymous_read_per_repository(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let open = server.init_repo("http-open");
    let closed = server.init_repo("http-closed");
    let http = start(
        &server,
        options(vec![
            rule(open.as_str(), &[], &["alice"], true),
            rule(closed.as_str(), &["alice"], &["alice"], false),
        ]),
    );
    let git = Git::new();
    let work = git.work_repo("work");
    for repo in [&open, &closed] {
        let url = http.url(repo.as_str(), Some(("alice", "secret")));
        git.ok(&work, &["push", &url, "master"]);
    }
    git.ok(
        git.work.path(),
        &["clone", "-q", &http.url(open.as_str(), None), "open"],
    );
    assert_eq!(git.rev(&git.path("open"), "HEAD"), git.rev(&work, "HEAD"));
    let stderr = git.fails(
        git.work.path(),
        &["clone", "-q", &http.url(closed.as_str(), None), "closed"],
    );
    assert!(stderr.contains("could not read Username"), "{stderr}");
    // Anonymous push to the open repository: refused.
    git.commit(&work, "z", "z\n", "anonymous");
    let stderr = git.fails(&work, &["push", &http.url(open.as_str(), None), "master"]);
    assert!(stderr.contains("could not read Username"), "{stderr}");
}

/// A push over one transport is seen at once over the other.
fn git_and_http_see_each_other(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-both");
    let http = start(&server, options(vec![]));
    let git = Git::new();
    let work = git.work_repo("work");
    let http_url = http.url(repo.as_str(), Some(("alice", "secret")));
    git.ok(&work, &["push", &http_url, "master"]);
    let over_git = git.ls_remote(&work, &server.url(&repo), &[]);
    assert_eq!(over_git["refs/heads/master"], git.rev(&work, "HEAD"));
    let next = git.commit(&work, "g", "g\n", "over git://");
    git.ok(&work, &["push", &server.url(&repo), "master"]);
    let over_http = git.ls_remote(&work, &http_url, &[]);
    assert_eq!(over_http["refs/heads/master"], next);
}

/// HTTPS with a certificate made for the test, trusted through `http.sslCAInfo`.
fn https_with_a_self_signed_certificate(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-tls");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl can be run");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut tls_options = options(vec![]);
    tls_options.tls = Some(swiftgit_server::http::tls::server_config(&cert, &key).unwrap());
    let http = start(&server, tls_options);
    let git = Git::new();
    let work = git.work_repo("work");
    let url = http.url(repo.as_str(), Some(("alice", "secret")));
    assert!(url.starts_with("https://"));
    let ca = format!("http.sslCAInfo={}", cert.display());
    // The environment's GIT_SSL_CAINFO would override http.sslCAInfo.
    let tls_git = |dir: &std::path::Path, args: &[&str]| {
        git.command(dir)
            .env_remove("GIT_SSL_CAINFO")
            .args(args)
            .output()
            .expect("git can be run")
    };
    let refused = tls_git(&work, &["push", &url, "master"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an unknown CA is refused");
    assert!(stderr.contains("certificate"), "{stderr}");
    for (dir, args) in [
        (work.as_path(), vec!["-c", &ca, "push", &url, "master"]),
        (
            git.work.path(),
            vec!["-c", &ca, "clone", "-q", &url, "cloned"],
        ),
    ] {
        let output = tls_git(dir, &args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(git.rev(&git.path("cloned"), "HEAD"), git.rev(&work, "HEAD"));
}

/// `[http] default_access` on a repository that no `[access]` section matches, over HTTP:
/// `none` refuses every user, `read` (the default) lets users clone but not push, `write` lets
/// them push; anonymous requests are asked for credentials in every case.
fn default_access_for_repositories_no_rule_matches(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("http-default-access");
    let with = |default_access| HttpOptions {
        access: AccessRules {
            default_access,
            ..AccessRules::default()
        },
        ..HttpOptions::default()
    };
    let write = start(&server, with(DefaultAccess::Write));
    let read = start(&server, HttpOptions::default());
    let none = start(&server, with(DefaultAccess::None));
    let git = Git::new();
    let work = git.work_repo("work");
    let bob = |http: &http_common::Http| http.url(repo.as_str(), Some(("bob", "hunter2")));

    git.ok(&work, &["push", &bob(&write), "master"]);
    let pushed = server.refs(&repo);
    git.ok(git.work.path(), &["clone", "-q", &bob(&write), "by-write"]);

    git.ok(git.work.path(), &["clone", "-q", &bob(&read), "by-read"]);
    assert_eq!(
        git.rev(&git.path("by-read"), "HEAD"),
        git.rev(&work, "HEAD")
    );
    git.commit(&work, "r", "r\n", "refused by read");
    let stderr = git.fails(&work, &["push", &bob(&read), "master"]);
    assert!(stderr.contains("403"), "{stderr}");
    assert_eq!(server.refs(&repo), pushed, "nothing was pushed");

    let stderr = git.fails(git.work.path(), &["clone", "-q", &bob(&none), "by-none"]);
    assert!(stderr.contains("403"), "{stderr}");
    let stderr = git.fails(&work, &["push", &bob(&none), "master"]);
    assert!(stderr.contains("403"), "{stderr}");

    for http in [&write, &read, &none] {
        let anonymous = http.url(repo.as_str(), None);
        let stderr = git.fails(git.work.path(), &["ls-remote", &anonymous]);
        assert!(stderr.contains("could not read Username"), "{stderr}");
    }
    assert_eq!(server.refs(&repo), pushed);
}
