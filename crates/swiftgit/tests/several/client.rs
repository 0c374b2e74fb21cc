//! One git client: a sandboxed `git` with its own work repository whose `origin` is one daemon.
//! Local work (commits made with plumbing, so that no work tree is needed) must succeed; what
//! talks to the server returns what git printed, for the test to judge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use swiftgit_test_support::git::Git;

/// A client's work repository and its `origin`.
pub struct Client {
    pub git: Git,
    pub dir: PathBuf,
    pub url: String,
}

impl Client {
    /// An empty repository whose `origin` is `url`.
    pub fn new(url: &str) -> Client {
        let git = Git::new();
        let dir = git.path("work");
        std::fs::create_dir_all(&dir).expect("create the work repository");
        git.ok(&dir, &["init", "-q", "-b", "master"]);
        git.ok(&dir, &["config", "gc.auto", "0"]);
        git.ok(&dir, &["remote", "add", "origin", url]);
        Client {
            git,
            dir,
            url: url.to_owned(),
        }
    }

    /// Points `origin` at `url` (another daemon).
    pub fn set_origin(&self, url: &str) {
        self.git
            .ok(&self.dir, &["remote", "set-url", "origin", url]);
    }

    /// Runs `git ARGS` in the work repository.
    pub fn run(&self, args: &[&str]) -> Output {
        self.git.run(&self.dir, args)
    }

    /// A commit whose tree holds `file` with `content`, on `parent` (none: a root commit).
    pub fn commit(&self, parent: Option<&str>, file: &str, content: &str, message: &str) -> String {
        let blob = self.git.output_with_input(
            &self.dir,
            &["hash-object", "-w", "--stdin"],
            content.as_bytes(),
        );
        let blob = String::from_utf8_lossy(&blob).trim().to_owned();
        let tree = self.git.output_with_input(
            &self.dir,
            &["mktree"],
            format!("100644 blob {blob}\t{file}\n").as_bytes(),
        );
        let tree = String::from_utf8_lossy(&tree).trim().to_owned();
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        self.git.ok(&self.dir, &args).trim().to_owned()
    }

    /// Whether the commit `id` is in the work repository.
    pub fn has_commit(&self, id: &str) -> bool {
        self.run(&["cat-file", "-e", &format!("{id}^{{commit}}")])
            .status
            .success()
    }

    /// `git ls-remote origin NAME`: the ref's value (`None`: absent), or what git printed.
    pub fn ls_remote_ref(&self, name: &str) -> Result<Option<String>, String> {
        let output = self.run(&["ls-remote", "origin", name]);
        if !output.status.success() {
            return Err(printed(&output));
        }
        Ok(parse_refs(&String::from_utf8_lossy(&output.stdout))
            .remove(name)
            .map(|id| id.to_owned()))
    }

    /// `git push --porcelain origin REFSPECS`, with the result of every ref.
    pub fn push(&self, refspecs: &[String]) -> Push {
        let mut args = vec!["push", "--porcelain", "origin"];
        args.extend(refspecs.iter().map(String::as_str));
        Push::from_output(&self.run(&args))
    }
}

/// What one `git push --porcelain` did.
pub struct Push {
    pub success: bool,
    /// Per destination ref: (flag, summary), e.g. (`' '`, `"abc..def"`), (`'!'`, `"[rejected]
    /// (fetch first)"`), (`'!'`, `"[remote rejected] (failed to update ref)"`).
    pub refs: BTreeMap<String, (char, String)>,
    /// Everything git printed, stdout then stderr (the server's `remote:` lines are in it).
    pub printed: String,
}

impl Push {
    fn from_output(output: &Output) -> Push {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let refs = stdout
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, '\t');
                let flag = fields.next()?.chars().next()?;
                let (_, destination) = fields.next()?.rsplit_once(':')?;
                Some((destination.to_owned(), (flag, fields.next()?.to_owned())))
            })
            .collect();
        Push {
            success: output.status.success(),
            refs,
            printed: printed(output),
        }
    }

    /// Whether `name` was updated (or created).
    pub fn updated(&self, name: &str) -> bool {
        matches!(self.refs.get(name), Some((' ' | '*', _)))
    }

    /// The summary of `name`'s result, if git printed one.
    pub fn summary(&self, name: &str) -> Option<&str> {
        self.refs.get(name).map(|(_, summary)| summary.as_str())
    }
}

/// A fresh bare clone of `url` in `dir` (which must not exist), which must succeed; then `git
/// fsck --strict` of it, which must find nothing wrong.
pub fn clone_and_fsck(git: &Git, url: &str, dir: &Path) {
    let parent = dir.parent().expect("a clone directory has a parent");
    let dir_arg = dir.to_str().expect("a UTF-8 temporary path");
    git.ok(parent, &["clone", "-q", "--bare", url, dir_arg]);
    git.fsck(dir);
}

/// `<id>\t<name>` lines (`git ls-remote`) as name → id.
pub fn parse_refs(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (name, id))
        .collect()
}

/// Everything `output` printed, stdout then stderr.
pub fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
