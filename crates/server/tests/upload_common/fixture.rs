//! Test histories written with `git fast-import` (a thousand commits in well under a second):
//! a bare repository with text files that grow commit by commit (so packs hold delta chains),
//! binary files, a big file, an executable, a symlink, a side branch merged back, annotated,
//! lightweight and nested tags, and a tag of a tree. Committer times are one hour apart from
//! [`T0`], so date cut-offs are easy to aim.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::Git;

/// Committer time of commit 0.
pub const T0: i64 = 1_600_000_000;

/// Text files, spread over directories.
const TEXT_FILES: usize = 40;

/// A generated history and the state needed to extend it.
pub struct History {
    /// The bare repository.
    pub bare: PathBuf,
    /// Commits on main so far (the merge included).
    pub main_commits: usize,
    files: BTreeMap<String, Vec<u8>>,
    next_time: i64,
}

impl History {
    /// A bare repository `name` under `git`'s work directory with `commits` commits on main.
    pub fn create(git: &Git, name: &str, commits: usize) -> History {
        let bare = git.path(name);
        std::fs::create_dir_all(&bare).expect("create the bare repository");
        git.ok(&bare, &["init", "-q", "--bare", "-b", "main"]);
        let mut history = History {
            bare,
            main_commits: 0,
            files: BTreeMap::new(),
            next_time: T0,
        };
        let mut stream = String::new();
        let branch_at = commits * 9 / 10;
        let tag_at = commits / 2;
        let light_at = commits * 7 / 10;
        for i in 0..commits {
            let changes = history.changes(i);
            history.commit(
                &mut stream,
                "refs/heads/main",
                i + 1,
                i.checked_sub(1).map(|p| p + 1),
                None,
                &changes,
            );
            if i == tag_at {
                writeln!(
                    stream,
                    "tag v1.0\nfrom :{}\ntagger Test Tagger <tagger@example.com> {} +0000",
                    i + 1,
                    history.next_time
                )
                .unwrap();
                data(&mut stream, "release 1.0\n");
            }
            if i == light_at {
                writeln!(stream, "reset refs/tags/light\nfrom :{}\n", i + 1).unwrap();
            }
        }
        // A side branch from `branch_at`, merged back into main.
        let side_base = branch_at + 1;
        let mut previous = side_base;
        for j in 0..10 {
            let mark = commits + 1 + j;
            let path = format!("side/s{}.txt", j % 3);
            let content = history.grow(&path, &format!("side change {j}\n"));
            history.commit(
                &mut stream,
                "refs/heads/side",
                mark,
                Some(previous),
                None,
                &[(path, Some(content))],
            );
            previous = mark;
        }
        let merge_mark = commits + 11;
        let side_files: Vec<(String, Option<Vec<u8>>)> = history
            .files
            .iter()
            .filter(|(path, _)| path.starts_with("side/"))
            .map(|(path, content)| (path.clone(), Some(content.clone())))
            .collect();
        history.commit(
            &mut stream,
            "refs/heads/main",
            merge_mark,
            Some(commits),
            Some(previous),
            &side_files,
        );
        history.main_commits = commits + 1;
        git.output_with_input(
            &history.bare,
            &["fast-import", "--quiet"],
            &encode_stream(&stream),
        );
        git.ok(
            &history.bare,
            &["tag", "-a", "-m", "a tag of a tag", "nested", "v1.0"],
        );
        git.ok(&history.bare, &["tag", "treetag", "main~5^{tree}"]);
        // No bitmap: with one, pack-objects skips the edge walk that finds thin-pack bases.
        git.ok(
            &history.bare,
            &["repack", "-a", "-d", "-q", "--no-write-bitmap-index"],
        );
        history
    }

    /// Adds `commits` commits on main that change existing files, `big.txt` among them (so a
    /// thin pack deltas against what a client has).
    pub fn extend(&mut self, git: &Git, commits: usize) {
        let mut stream = String::new();
        for k in 0..commits {
            let i = self.main_commits + k;
            let path = format!("src/d{}/f{}.txt", i % 5, (i * 3) % 8);
            let content = self.grow(&path, &format!("later change {i}\n"));
            let mark = k + 1;
            let from = if k == 0 { None } else { Some(k) };
            writeln!(stream, "commit refs/heads/main\nmark :{mark}").unwrap();
            self.signature(&mut stream);
            data(&mut stream, &format!("later commit {i}\n"));
            if k == 0 {
                stream.push_str("from refs/heads/main^0\n");
            } else if let Some(from) = from {
                writeln!(stream, "from :{from}").unwrap();
            }
            modify(&mut stream, &path, "100644", &content);
            let big = self.grow("big.txt", &format!("later line {i}\n"));
            modify(&mut stream, "big.txt", "100644", &big);
            stream.push('\n');
        }
        self.main_commits += commits;
        git.output_with_input(
            &self.bare,
            &["fast-import", "--quiet"],
            &encode_stream(&stream),
        );
    }

    /// The committer time of the `n`th commit of main (0-based, the merge not counted).
    pub fn time_of(&self, n: usize) -> i64 {
        T0 + n as i64 * 3600
    }

    fn changes(&mut self, i: usize) -> Vec<(String, Option<Vec<u8>>)> {
        let mut changes = Vec::new();
        if i == 0 {
            for f in 0..TEXT_FILES {
                let path = text_path(f);
                changes.push((path.clone(), Some(self.grow(&path, &format!("file {f}\n")))));
            }
            let big: String = (0..4000)
                .map(|n| format!("big line {n} of a big file\n"))
                .collect();
            self.files.insert("big.txt".into(), big.into_bytes());
            changes.push(("big.txt".into(), self.files.get("big.txt").cloned()));
            changes.push(("run.sh".into(), Some(b"#!/bin/sh\necho hi\n".to_vec())));
            return changes;
        }
        let path = text_path((i * 7) % TEXT_FILES);
        changes.push((
            path.clone(),
            Some(self.grow(&path, &format!("commit {i} changes this file\n"))),
        ));
        if i.is_multiple_of(97) {
            let path = format!("assets/b{}.bin", i % 5);
            let bytes = noise(i as u64, 8192 + i);
            self.files.insert(path.clone(), bytes.clone());
            changes.push((path, Some(bytes)));
        }
        if i.is_multiple_of(250) {
            let big = self
                .files
                .get_mut("big.txt")
                .expect("holds: added by commit 0");
            let at = (i * 131) % (big.len() - 10);
            big[at..at + 5].copy_from_slice(b"CHANG");
            changes.push(("big.txt".into(), Some(big.clone())));
        }
        if i == 40 {
            self.files.remove(&text_path(39));
            changes.push((text_path(39), None));
            changes.push(("docs/readme.md".into(), Some(b"# docs\n".to_vec())));
        }
        changes
    }

    fn grow(&mut self, path: &str, line: &str) -> Vec<u8> {
        let content = self.files.entry(path.to_owned()).or_default();
        content.extend_from_slice(line.as_bytes());
        content.clone()
    }

    fn signature(&mut self, stream: &mut String) {
        writeln!(
            stream,
            "author Test Author <author@example.com> {} +0000",
            self.next_time
        )
        .unwrap();
        writeln!(
            stream,
            "committer Test Committer <committer@example.com> {} +0000",
            self.next_time
        )
        .unwrap();
        self.next_time += 3600;
    }

    fn commit(
        &mut self,
        stream: &mut String,
        branch: &str,
        mark: usize,
        from: Option<usize>,
        merge: Option<usize>,
        changes: &[(String, Option<Vec<u8>>)],
    ) {
        writeln!(stream, "commit {branch}\nmark :{mark}").unwrap();
        self.signature(stream);
        data(stream, &format!("commit {mark}\n\nbody of commit {mark}\n"));
        if let Some(from) = from {
            writeln!(stream, "from :{from}").unwrap();
        }
        if let Some(merge) = merge {
            writeln!(stream, "merge :{merge}").unwrap();
        }
        for (path, content) in changes {
            match content {
                Some(content) => {
                    let mode = if path == "run.sh" { "100755" } else { "100644" };
                    modify(stream, path, mode, content);
                }
                None => writeln!(stream, "D {path}").unwrap(),
            }
        }
        if mark == 1 {
            stream.push_str("M 120000 inline link\n");
            data(stream, "run.sh");
        }
        stream.push('\n');
    }
}

fn text_path(f: usize) -> String {
    format!("src/d{}/f{}.txt", f % 5, f / 5)
}

fn data(stream: &mut String, text: &str) {
    writeln!(stream, "data {}\n{text}", text.len()).unwrap();
}

/// `M <mode> inline <path>` with binary-safe content (hex-free: fast-import takes raw bytes,
/// so non-UTF-8 content is written through a latin-1 round trip of the stream).
fn modify(stream: &mut String, path: &str, mode: &str, content: &[u8]) {
    writeln!(stream, "M {mode} inline {path}\ndata {}", content.len()).unwrap();
    stream.push_str(&latin1(content));
    stream.push('\n');
}

/// Bytes as a `String` of the same length in chars; [`encode_stream`] maps them back.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Pseudo-random bytes (xorshift), incompressible like real binaries.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The bytes fast-import must read for a stream built with [`latin1`] content.
fn encode_stream(stream: &str) -> Vec<u8> {
    stream.chars().map(|c| c as u32 as u8).collect()
}
