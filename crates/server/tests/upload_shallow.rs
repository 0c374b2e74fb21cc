//! Shallow clones and fetches from swiftgit's upload-pack, each checked against the same
//! commands run on C `git daemon` serving the same repository: the clone must hold the same
//! commits and objects and the same shallow boundary (`.git/shallow`). Protocol v0 and v2.

mod upload_common;

use std::path::{Path, PathBuf};

use swiftgit_server::session::upload_pack::UploadPackOptions;
use upload_common::fixture::History;
use upload_common::{Backend, CloneContents, Git, GitDaemon, UploadServer};

upload_tests!(
    depth_clones_then_deepen_and_unshallow,
    shallow_since_and_shallow_exclude,
);

/// The same repository behind swiftgit and behind `git daemon`.
struct Twins {
    git: Git,
    history: History,
    server: UploadServer,
    ours: String,
    reference: String,
    _daemon: GitDaemon,
}

impl Twins {
    fn start(backend: Backend, commits: usize) -> Option<Twins> {
        let git = Git::new();
        let history = History::create(&git, "source.git", commits);
        let mut server = UploadServer::start(backend, UploadPackOptions::default())?;
        let repo = server.import("shallow", &git, &history.bare);
        let daemon = GitDaemon::start(&git, git.work.path());
        Some(Twins {
            ours: server.url(&repo),
            reference: daemon.url("source.git"),
            git,
            history,
            server,
            _daemon: daemon,
        })
    }

    /// Runs `git -c protocol.version=<v> <args…> <url> <dir>` against both servers; the two
    /// clone directories.
    fn clone(&self, version: &str, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
        let dirs = [
            (
                self.git.path(&format!("{name}-v{version}-ours")),
                &self.ours,
            ),
            (
                self.git.path(&format!("{name}-v{version}-git")),
                &self.reference,
            ),
        ];
        for (dir, url) in &dirs {
            let config = format!("protocol.version={version}");
            let mut all = vec!["-c", &config, "clone", "-q"];
            all.extend_from_slice(args);
            all.extend_from_slice(&[url.as_str(), dir.to_str().unwrap()]);
            self.git.ok(self.git.work.path(), &all);
        }
        let [(ours, _), (reference, _)] = dirs;
        self.same(&ours, &reference, &format!("clone {args:?} v{version}"));
        (ours, reference)
    }

    /// Runs `git <args…>` in both clones, then compares them.
    fn fetch(&self, version: &str, dirs: &(PathBuf, PathBuf), args: &[&str]) {
        let config = format!("protocol.version={version}");
        for dir in [&dirs.0, &dirs.1] {
            let mut all = vec!["-c", config.as_str(), "fetch", "-q"];
            all.extend_from_slice(args);
            self.git.ok(dir, &all);
        }
        self.same(&dirs.0, &dirs.1, &format!("fetch {args:?} v{version}"));
    }

    fn same(&self, ours: &Path, reference: &Path, what: &str) {
        let mine = CloneContents::of(&self.git, ours);
        let theirs = CloneContents::of(&self.git, reference);
        assert_eq!(mine.shallow, theirs.shallow, "{what}: shallow boundary");
        assert_eq!(mine.commits, theirs.commits, "{what}: commits");
        assert_eq!(mine.objects, theirs.objects, "{what}: objects");
        self.git.fsck(ours);
    }
}

fn depth_clones_then_deepen_and_unshallow(backend: Backend) {
    let Some(twins) = Twins::start(backend, 1000) else {
        return;
    };
    let full = twins.git.count(&twins.history.bare, "main");
    for version in ["0", "2"] {
        let dirs = twins.clone(version, "depth1", &["--depth", "1"]);
        assert_eq!(twins.git.count(&dirs.0, "HEAD"), 1);
        twins.fetch(version, &dirs, &["--deepen", "5"]);
        // Five more generations along both parents of the merge at the tip.
        assert_eq!(twins.git.count(&dirs.0, "HEAD"), 11);
        twins.fetch(version, &dirs, &["--depth", "20"]);
        twins.fetch(version, &dirs, &["--unshallow"]);
        assert_eq!(twins.git.count(&dirs.0, "HEAD"), full);

        let dirs = twins.clone(version, "depth3", &["--depth", "3", "--no-single-branch"]);
        assert_eq!(twins.git.count(&dirs.0, "origin/side"), 3);
    }
}

fn shallow_since_and_shallow_exclude(backend: Backend) {
    let Some(twins) = Twins::start(backend, 1000) else {
        return;
    };
    let since = format!("--shallow-since=@{}", twins.history.time_of(990));
    for version in ["0", "2"] {
        let dirs = twins.clone(version, "since", &[&since]);
        let count = twins.git.count(&dirs.0, "HEAD");
        assert!((10..30).contains(&count), "commits since 990: {count}");
        twins.fetch(
            version,
            &dirs,
            &[&format!("--shallow-since=@{}", twins.history.time_of(950))],
        );

        twins.clone(version, "exclude-side", &["--shallow-exclude=side"]);
        let dirs = twins.clone(version, "exclude-tag", &["--shallow-exclude=v1.0"]);
        twins.fetch(version, &dirs, &["--shallow-exclude=light"]);
    }
    // A date after every commit selects nothing: git shows the server's error.
    let late = format!("--shallow-since=@{}", twins.history.time_of(5000));
    let stderr = twins.git.fails(
        twins.git.work.path(),
        &[
            "clone",
            &late,
            &twins.ours,
            twins.git.path("late").to_str().unwrap(),
        ],
    );
    assert!(
        stderr.contains("no commits selected for shallow requests"),
        "{stderr}"
    );
    drop(twins.server);
}
