//! Real `git` against the in-process git:// daemon: the seed's walkthrough and every kind of
//! push, on a local directory and (with `SWIFTGIT_TEST_CONFIG`) on a real Swift.

mod harness;

use std::collections::BTreeMap;

use harness::{Backend, Git, Server, parse_ls_remote};
use swiftgit_repo::odb::OdbOptions;
use swiftgit_server::daemon::DaemonOptions;
use swiftgit_server::registry::Registry;
use swiftgit_server::session::advertise;
use swiftgit_server::session::receive_pack::{PushPolicy, ReceivePackOptions};

on_every_backend!(
    seed_walkthrough,
    ls_remote_in_every_protocol_version,
    peeled_tags_are_listed_from_the_log,
    new_branch_update_and_tags,
    forced_push,
    deny_non_fast_forwards,
    delete_branch,
    deny_deletes,
    atomic_push_rejected_by_the_client_changes_nothing,
    atomic_push_with_a_ref_moved_meanwhile_changes_nothing,
    non_atomic_push_with_a_ref_moved_meanwhile,
    push_options_and_protocol_v1,
    read_only_daemon_refuses_pushes,
);

fn options_with(policy: PushPolicy) -> DaemonOptions {
    DaemonOptions {
        receive_pack: ReceivePackOptions {
            policy,
            ..ReceivePackOptions::default()
        },
        ..DaemonOptions::default()
    }
}

/// A push records what its tags peel to in the ref log, so a fresh server lists annotated,
/// nested and tree tags without the pack indexes: here they are deleted before it starts.
fn peeled_tags_are_listed_from_the_log(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("peeled");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["tag", "-a", "v1", "-m", "annotated"]);
    git.ok(
        &work,
        &["tag", "-a", "nested", "-m", "a tag of a tag", "v1"],
    );
    let tree = git.rev(&work, "HEAD^{tree}");
    git.ok(&work, &["tag", "-a", "treetag", "-m", "a tree", &tree]);
    git.ok(&work, &["tag", "light"]);
    git.ok(&work, &["push", "-q", &url, "master", "--tags"]);
    let path = work.to_str().expect("a UTF-8 path");
    let expected: BTreeMap<String, String> = git
        .ls_remote(&work, path, &[])
        .into_iter()
        .filter(|(name, _)| name != "HEAD")
        .collect();
    assert_eq!(expected["refs/tags/nested^{}"], git.rev(&work, "master"));
    assert_eq!(expected["refs/tags/treetag^{}"], tree);

    for pack in server.packs(&repo) {
        server
            .block_on(
                server
                    .storage
                    .delete(repo.as_str(), &pack.object_name("idx")),
            )
            .expect("delete the index");
    }
    let fresh = Registry::new(server.storage.clone(), OdbOptions::default());
    let listed = server.block_on(async {
        let handle = fresh.get(&repo).await.expect("open the repository");
        let state = handle.repo.state();
        advertise::refs_with_peeled(&handle, &state).await
    });
    let listed = listed.expect("listed from the log alone");
    let mut found = BTreeMap::new();
    for listed in listed {
        found.insert(listed.name.clone(), listed.id.to_string());
        if let Some(peeled) = listed.peeled {
            found.insert(format!("{}^{{}}", listed.name), peeled.to_string());
        }
    }
    assert_eq!(found, expected);
}

/// The seed's README, verbatim: clone the empty repository, push master to it as `alt`,
/// `git ls-remote alt` lists HEAD and refs/heads/master at the pushed commit.
fn seed_walkthrough(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("edeploy");
    let url = server.url(&repo);
    let git = Git::new();
    let clone = git.run(git.work.path(), &["clone", &url]);
    assert!(clone.status.success(), "{clone:?}");
    assert!(
        String::from_utf8_lossy(&clone.stderr)
            .contains("You appear to have cloned an empty repository"),
        "{clone:?}"
    );
    let project = git.work_repo("edeployclone");
    git.commit(&project, "setup.py", "print('edeploy')\n", "second");
    git.ok(&project, &["remote", "add", "alt", &url]);
    let pushed = git.run(&project, &["push", "alt", "master"]);
    assert!(pushed.status.success(), "{pushed:?}");
    assert!(
        String::from_utf8_lossy(&pushed.stderr).contains("* [new branch]      master -> master")
    );
    let head = git.rev(&project, "master");
    let listed = git.ok(&project, &["ls-remote", "alt"]);
    assert_eq!(listed, format!("{head}\tHEAD\n{head}\trefs/heads/master\n"));
    assert_eq!(
        server.refs(&repo).into_iter().collect::<Vec<_>>(),
        [("refs/heads/master".to_owned(), head.clone())]
    );
    assert_eq!(server.packs(&repo).len(), 1, "the pushed pack is live");
    // And back: a clone of what was pushed.
    git.ok(git.work.path(), &["clone", "-q", &url, "copy"]);
    assert_eq!(git.rev(&git.path("copy"), "HEAD"), head);
    git.ok(&git.path("copy"), &["fsck", "--strict"]);
}

/// ls-remote through v0, v1 and v2 lists the same refs, peeled tags included.
fn ls_remote_in_every_protocol_version(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("versions");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["tag", "-a", "v1", "-m", "annotated"]);
    git.ok(&work, &["tag", "light"]);
    git.ok(&work, &["push", "-q", &url, "master", "v1", "light"]);
    let head = git.rev(&work, "master");
    let tag = git.rev(&work, "v1");
    let expected = [
        ("HEAD", &head),
        ("refs/heads/master", &head),
        ("refs/tags/light", &head),
        ("refs/tags/v1", &tag),
        ("refs/tags/v1^{}", &head),
    ];
    for version in ["0", "1", "2"] {
        let listed = git.ok(
            &work,
            &[
                "-c",
                &format!("protocol.version={version}"),
                "ls-remote",
                &url,
            ],
        );
        let listed = parse_ls_remote(&listed);
        let listed: Vec<(&str, &String)> = listed.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(listed, expected, "protocol version {version}");
    }
    let heads = git.ls_remote(&work, &url, &["--heads"]);
    assert_eq!(heads.keys().collect::<Vec<_>>(), ["refs/heads/master"]);
    let symref = git.ok(&work, &["ls-remote", "--symref", &url, "HEAD"]);
    assert!(
        symref.starts_with("ref: refs/heads/master\tHEAD\n"),
        "{symref}"
    );
}

fn new_branch_update_and_tags(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("branches");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["remote", "add", "alt", &url]);
    git.ok(&work, &["push", "-q", "alt", "master"]);

    git.ok(&work, &["checkout", "-q", "-b", "feature"]);
    let feature = git.commit(&work, "feature.txt", "feature\n", "feature work");
    let pushed = git.run(&work, &["push", "alt", "feature"]);
    assert!(
        String::from_utf8_lossy(&pushed.stderr).contains("* [new branch]      feature -> feature")
    );

    git.ok(&work, &["checkout", "-q", "master"]);
    let old = git.rev(&work, "master");
    let new = git.commit(&work, "README", "hello again\n", "update");
    let pushed = git.run(&work, &["push", "alt", "master"]);
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    assert!(
        stderr.contains(&format!("{}..{}  master -> master", &old[..7], &new[..7])),
        "{stderr}"
    );

    git.ok(&work, &["tag", "-a", "v1.0", "-m", "release", "master"]);
    git.ok(&work, &["tag", "lightweight", "feature"]);
    git.ok(&work, &["push", "-q", "alt", "--tags"]);
    let tag = git.rev(&work, "v1.0");
    let refs = server.refs(&repo);
    assert_eq!(refs["refs/heads/master"], new);
    assert_eq!(refs["refs/heads/feature"], feature);
    assert_eq!(refs["refs/tags/v1.0"], tag);
    assert_eq!(refs["refs/tags/lightweight"], feature);
    let listed = git.ls_remote(&work, "alt", &[]);
    assert_eq!(listed["refs/tags/v1.0^{}"], new);
    assert_eq!(listed["HEAD"], new);
    assert_eq!(
        server.packs(&repo).len(),
        4,
        "one pack per push with objects"
    );
}

fn forced_push(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("forced");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.commit(&work, "a.txt", "a\n", "to be rewritten");
    git.ok(&work, &["push", "-q", &url, "master"]);
    let before = server.refs(&repo);
    git.ok(&work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    let rewritten = git.rev(&work, "master");

    let stderr = git.fails(&work, &["push", &url, "master"]);
    assert!(
        stderr.contains("! [rejected]        master -> master (non-fast-forward)"),
        "{stderr}"
    );
    assert_eq!(
        server.refs(&repo),
        before,
        "the client refused: nothing sent"
    );

    let pushed = git.run(&work, &["push", &url, "+master"]);
    assert!(pushed.status.success(), "{pushed:?}");
    assert!(
        String::from_utf8_lossy(&pushed.stderr).contains("+ "),
        "{pushed:?}"
    );
    assert!(String::from_utf8_lossy(&pushed.stderr).contains("(forced update)"));
    assert_eq!(server.refs(&repo)["refs/heads/master"], rewritten);
}

fn deny_non_fast_forwards(backend: Backend) {
    let policy = PushPolicy {
        deny_non_fast_forwards: true,
        ..PushPolicy::default()
    };
    let Some(mut server) = Server::start(backend, options_with(policy)) else {
        return;
    };
    let repo = server.init_repo("denynonff");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master"]);
    let forward = git.commit(&work, "b.txt", "b\n", "fast-forward");
    git.ok(&work, &["push", "-q", &url, "master"]);
    assert_eq!(
        server.refs(&repo)["refs/heads/master"],
        forward,
        "fast-forwards pass"
    );

    git.ok(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    git.commit(&work, "c.txt", "c\n", "diverged");
    let stderr = git.fails(&work, &["push", &url, "+master"]);
    assert!(
        stderr.contains("! [remote rejected] master -> master (non-fast-forward)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("denying non-fast-forward refs/heads/master"),
        "{stderr}"
    );
    assert_eq!(server.refs(&repo)["refs/heads/master"], forward);
    // Tags are not branches: the policy leaves them alone.
    git.ok(&work, &["tag", "t", "HEAD~1"]);
    git.ok(&work, &["push", "-q", &url, "t"]);
    git.ok(&work, &["tag", "-f", "t", "HEAD"]);
    git.ok(&work, &["push", "-q", "--force", &url, "t"]);
    assert_eq!(server.refs(&repo)["refs/tags/t"], git.rev(&work, "HEAD"));
}

fn delete_branch(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("deletes");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master", "master:feature"]);
    let pushed = git.run(&work, &["push", &url, "--delete", "feature"]);
    assert!(pushed.status.success(), "{pushed:?}");
    assert!(String::from_utf8_lossy(&pushed.stderr).contains("- [deleted]         feature"));
    assert!(!server.refs(&repo).contains_key("refs/heads/feature"));

    let stderr = git.fails(&work, &["push", &url, ":master"]);
    assert!(
        stderr.contains("! [remote rejected] master (deletion of the current branch prohibited)"),
        "{stderr}"
    );
    assert!(server.refs(&repo).contains_key("refs/heads/master"));
}

fn deny_deletes(backend: Backend) {
    let policy = PushPolicy {
        deny_deletes: true,
        ..PushPolicy::default()
    };
    let Some(mut server) = Server::start(backend, options_with(policy)) else {
        return;
    };
    let repo = server.init_repo("denydeletes");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["tag", "v1"]);
    git.ok(
        &work,
        &["push", "-q", &url, "master", "master:feature", "v1"],
    );
    let stderr = git.fails(&work, &["push", &url, "--delete", "feature"]);
    assert!(
        stderr.contains("! [remote rejected] feature (deletion prohibited)"),
        "{stderr}"
    );
    assert!(server.refs(&repo).contains_key("refs/heads/feature"));
    // As in git, the policy covers branches only.
    git.ok(&work, &["push", "-q", &url, "--delete", "v1"]);
    assert!(!server.refs(&repo).contains_key("refs/tags/v1"));
}

fn atomic_push_rejected_by_the_client_changes_nothing(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("atomicclient");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.commit(&work, "x", "x\n", "x");
    git.ok(&work, &["push", "-q", &url, "master", "master:other"]);
    let before = server.refs(&repo);
    git.commit(&work, "y", "y\n", "y");
    git.ok(&work, &["branch", "-f", "other", "HEAD~2"]);
    let stderr = git.fails(&work, &["push", "--atomic", &url, "master", "other"]);
    assert!(stderr.contains("atomic push failed"), "{stderr}");
    assert_eq!(server.refs(&repo), before);
}

/// Sets up a push whose advertisement goes stale: a `pre-push` hook (run after the client read
/// the advertisement, before it sends its commands) moves `other` through a second clone.
fn push_with_a_ref_moved_meanwhile(backend: Backend, atomic: bool) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo(if atomic { "stale-atomic" } else { "stale" });
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &url, "master", "master:other"]);
    let racer = git.path("racer");
    let (work_path, racer_path) = (
        work.to_str().expect("utf-8 path"),
        racer.to_str().expect("utf-8 path"),
    );
    git.ok(git.work.path(), &["clone", "-q", work_path, racer_path]);
    let raced = git.commit(&racer, "race", "race\n", "moved meanwhile");
    let hook = work.join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX\n\
             cd '{}' && git push -q '{url}' HEAD:other\n",
            racer.display()
        ),
    )
    .expect("write the hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make the hook executable");

    let master = git.commit(&work, "m", "m\n", "master moves");
    git.ok(&work, &["branch", "-f", "other", "master"]);
    let mut args = vec!["push"];
    if atomic {
        args.push("--atomic");
    }
    args.extend([url.as_str(), "master", "other"]);
    let stderr = git.fails(&work, &args);
    let refs = server.refs(&repo);
    assert_eq!(refs["refs/heads/other"], raced, "the racing push won");
    if atomic {
        assert!(
            stderr.contains("! [remote rejected] master -> master (atomic transaction failed)"),
            "{stderr}"
        );
        assert!(
            stderr.contains("! [remote rejected] other -> other (atomic transaction failed)"),
            "{stderr}"
        );
        assert_ne!(
            refs["refs/heads/master"], master,
            "nothing of the atomic push applied"
        );
    } else {
        assert!(
            stderr.contains("! [remote rejected] other -> other (failed to update ref)"),
            "{stderr}"
        );
        assert_eq!(
            refs["refs/heads/master"], master,
            "the other ref was updated"
        );
    }
}

fn atomic_push_with_a_ref_moved_meanwhile_changes_nothing(backend: Backend) {
    push_with_a_ref_moved_meanwhile(backend, true);
}

fn non_atomic_push_with_a_ref_moved_meanwhile(backend: Backend) {
    push_with_a_ref_moved_meanwhile(backend, false);
}

fn push_options_and_protocol_v1(backend: Backend) {
    let Some(mut server) = Server::start(backend, DaemonOptions::default()) else {
        return;
    };
    let repo = server.init_repo("options");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(
        &work,
        &[
            "push",
            "-q",
            "-o",
            "ci.skip",
            "-o",
            "note=hello world",
            &url,
            "master",
        ],
    );
    let head = git.commit(&work, "v1", "v1\n", "over protocol v1");
    git.ok(
        &work,
        &["-c", "protocol.version=1", "push", "-q", &url, "master"],
    );
    let second = git.commit(&work, "v2", "v2\n", "asked for v2, answered in v0");
    git.ok(
        &work,
        &["-c", "protocol.version=2", "push", "-q", &url, "master"],
    );
    assert_ne!(head, second);
    assert_eq!(server.refs(&repo)["refs/heads/master"], second);
}

fn read_only_daemon_refuses_pushes(backend: Backend) {
    let options = DaemonOptions {
        read_only: true,
        ..DaemonOptions::default()
    };
    let Some(mut server) = Server::start(backend, options) else {
        return;
    };
    let repo = server.init_repo("readonly");
    let url = server.url(&repo);
    let git = Git::new();
    let work = git.work_repo("work");
    let stderr = git.fails(&work, &["push", &url, "master"]);
    assert!(
        stderr.contains("fatal: remote error: this server is read-only: pushes are refused"),
        "{stderr}"
    );
    assert!(server.refs(&repo).is_empty());
    assert!(
        git.ls_remote(&work, &url, &[]).is_empty(),
        "reading still works"
    );
}
