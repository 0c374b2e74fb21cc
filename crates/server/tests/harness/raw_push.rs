//! Pushes spoken byte by byte: a server with a repository at one commit, a work repository one
//! commit ahead, and helpers to send receive-pack commands and check that nothing changed.

use swiftgit_repo::RepoName;
use swiftgit_server::daemon::DaemonOptions;

use super::{Backend, Git, Raw, Server, pkt};

/// A work repository with one pushed commit and one more commit to push; the raw connection
/// has read receive-pack's advertisement.
pub struct PushSetup {
    pub server: Server,
    pub repo: RepoName,
    pub git: Git,
    pub work: std::path::PathBuf,
    /// The commit the server has.
    pub base: String,
    /// The commit to push (a 20 000-line file on top of `base`).
    pub head: String,
}

pub fn push_setup(backend: Backend, name: &str, options: DaemonOptions) -> Option<PushSetup> {
    let mut server = Server::start(backend, options)?;
    let repo = server.init_repo(name);
    let git = Git::new();
    let work = git.work_repo("work");
    git.ok(&work, &["push", "-q", &server.url(&repo), "master"]);
    let base = git.rev(&work, "master");
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let head = git.commit(&work, "big.txt", &big, "more");
    Some(PushSetup {
        server,
        repo,
        git,
        work,
        base,
        head,
    })
}

impl PushSetup {
    /// A receive-pack connection that has read the advertisement.
    pub fn receive_pack(&self) -> Raw {
        let mut raw = Raw::request(
            self.server.addr,
            "git-receive-pack",
            &format!("/{}", self.repo),
        );
        let advertisement = raw.read_until_flush();
        let first = String::from_utf8_lossy(&advertisement[0]).into_owned();
        assert!(first.contains("\0report-status"), "{first:?}");
        raw
    }

    /// One command line (with capabilities when `caps` is given).
    pub fn command(&self, old: &str, new: &str, name: &str, caps: Option<&str>) -> Vec<u8> {
        let line = match caps {
            Some(caps) => format!("{old} {new} {name}\0 {caps} agent=test"),
            None => format!("{old} {new} {name}"),
        };
        pkt(line.as_bytes())
    }

    /// Asserts that master and the pack list are as they were.
    pub fn unchanged(&self) {
        assert_eq!(
            self.server.refs(&self.repo)["refs/heads/master"],
            self.base,
            "master did not move"
        );
        assert_eq!(self.server.packs(&self.repo).len(), 1, "no pack was added");
    }
}
