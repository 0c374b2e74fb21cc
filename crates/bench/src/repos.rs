//! The repositories a benchmark pushes and fetches, prepared once and cached under
//! `target/bench/repos/` (generated ones by seed and shape; `--repo PATH` ones cloned afresh).
//!
//! Each prepared repository is a directory with
//! - `src.git`: the history to push, plus `refs/bench/inc`: ten more commits on top of the
//!   HEAD branch (the incremental push), outside `refs/heads/*` and `refs/tags/*`;
//! - `client-base.git`: a clone of `src.git` as it was before those ten commits (the client of
//!   the incremental fetch);
//! - `info.json`: what the repository holds (commits, refs, pack size, files).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::command::{command, run};
use crate::generate::{Rng, Shape, TextMaker, write_stream};

/// Bump when the generator's output changes, so that caches are rebuilt.
const GENERATOR_VERSION: u32 = 2;
/// Commits of the incremental push.
pub const INCREMENTAL_COMMITS: u32 = 10;

/// A repository ready to benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    /// `small`, `medium`, `large`, or `repo:<dir name>`.
    pub label: String,
    pub source: String,
    #[serde(skip)]
    pub dir: PathBuf,
    pub head_branch: String,
    pub commits: u64,
    pub branches: u64,
    pub tags: u64,
    pub files_at_head: u64,
    pub pack_bytes: u64,
    pub prepare_secs: f64,
}

impl Prepared {
    pub fn src(&self) -> PathBuf {
        self.dir.join("src.git")
    }

    pub fn client_base(&self) -> PathBuf {
        self.dir.join("client-base.git")
    }
}

/// A git command with the benchmark's client environment.
pub fn git(env: &crate::ClientEnv) -> std::process::Command {
    let mut git = command("git");
    env.apply(&mut git);
    git
}

/// The generated repository `preset` for `seed`, from the cache when it is there.
pub fn generated(
    env: &crate::ClientEnv,
    cache: &Path,
    preset: &str,
    seed: u64,
) -> anyhow::Result<Prepared> {
    let shape = Shape::preset(preset)
        .with_context(|| format!("unknown size `{preset}` (small, medium or large)"))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (GENERATOR_VERSION, format!("{shape:?}")).hash(&mut hasher);
    let dir = cache.join(format!("{preset}-seed{seed}-{:016x}", hasher.finish()));
    if let Some(prepared) = load(&dir)? {
        eprintln!("bench: {preset}: cached in {}", dir.display());
        return Ok(prepared);
    }
    eprintln!(
        "bench: {preset}: generating with git fast-import (seed {seed}) in {}",
        dir.display()
    );
    let started = Instant::now();
    let partial = dir.with_extension("partial");
    remove(&partial)?;
    std::fs::create_dir_all(&partial)?;
    let src = partial.join("src.git");
    run(git(env)
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&src))?;
    let mut import = git(env)
        .arg("-C")
        .arg(&src)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start git fast-import")?;
    let mut stdin = std::io::BufWriter::with_capacity(
        1 << 20,
        import.stdin.take().context("fast-import has no stdin")?,
    );
    write_stream(&shape, seed, &mut stdin).context("writing to git fast-import")?;
    stdin.flush()?;
    drop(stdin);
    let status = import.wait()?;
    if !status.success() {
        bail!("git fast-import failed ({status})");
    }
    // fast-import deltas a blob only against the blob written just before it (rarely the same
    // file), so a full delta search (-f) makes the pack look like a real, gc'ed repository.
    // Random multi-MiB blobs cannot delta: skip the search for them.
    run(git(env).arg("-C").arg(partial.join("src.git")).args([
        "-c",
        "core.bigFileThreshold=16m",
        "repack",
        "-adfq",
        "--write-bitmap-index",
    ]))?;
    finish(
        env,
        &partial,
        preset,
        &format!("generated, seed {seed}"),
        "main",
        started,
    )?;
    std::fs::rename(&partial, &dir)?;
    load(&dir)?.context("the repository just prepared has no info.json")
}

/// A bare clone of the existing repository at `path` (never modified), prepared afresh.
pub fn existing(env: &crate::ClientEnv, cache: &Path, path: &Path) -> anyhow::Result<Prepared> {
    let path = path
        .canonicalize()
        .with_context(|| format!("--repo {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".git").to_owned())
        .unwrap_or_else(|| "repo".to_owned());
    let label = format!("repo:{name}");
    let dir = cache.join(format!("repo-{name}"));
    eprintln!(
        "bench: {label}: cloning {} into {}",
        path.display(),
        dir.display()
    );
    let started = Instant::now();
    remove(&dir)?;
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("src.git");
    run(git(env)
        .args(["clone", "-q", "--bare", "--no-local"])
        .arg(&path)
        .arg(&src))?;
    run(git(env)
        .arg("-C")
        .arg(&src)
        .args(["remote", "remove", "origin"]))?;
    let head = run(git(env)
        .arg("-C")
        .arg(&src)
        .args(["symbolic-ref", "--short", "HEAD"]))?;
    let source = path.display().to_string();
    finish(env, &dir, &label, &source, head.trim(), started)?;
    load(&dir)?.context("the repository just prepared has no info.json")
}

/// Adds the incremental commits and the client base, measures the repository, writes
/// `info.json`.
fn finish(
    env: &crate::ClientEnv,
    dir: &Path,
    label: &str,
    source: &str,
    head_branch: &str,
    started: Instant,
) -> anyhow::Result<()> {
    let src = dir.join("src.git");
    run(git(env)
        .args(["clone", "-q", "--bare", "--no-local"])
        .arg(&src)
        .arg(dir.join("client-base.git")))?;
    add_incremental(env, &src, head_branch)?;
    let count = |args: &[&str]| -> anyhow::Result<u64> {
        let out = run(git(env).arg("-C").arg(&src).args(args))?;
        Ok(out.lines().count() as u64)
    };
    let commits =
        run(git(env)
            .arg("-C")
            .arg(&src)
            .args(["rev-list", "--count", "--branches", "--tags"]))?;
    let mut pack_bytes = 0;
    for entry in std::fs::read_dir(src.join("objects/pack"))? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "pack") {
            pack_bytes += entry.metadata()?.len();
        }
    }
    let prepared = Prepared {
        label: label.to_owned(),
        source: source.to_owned(),
        dir: dir.to_owned(),
        head_branch: head_branch.to_owned(),
        commits: commits.trim().parse().context("rev-list --count")?,
        branches: count(&["for-each-ref", "refs/heads"])?,
        tags: count(&["for-each-ref", "refs/tags"])?,
        files_at_head: count(&["ls-tree", "-r", "--name-only", head_branch])?,
        pack_bytes,
        prepare_secs: started.elapsed().as_secs_f64(),
    };
    std::fs::write(
        dir.join("info.json"),
        serde_json::to_string_pretty(&prepared)?,
    )?;
    Ok(())
}

/// Ten commits on top of `head_branch`, each adding a file of new text and editing the one
/// before, as `refs/bench/inc`.
fn add_incremental(env: &crate::ClientEnv, src: &Path, head_branch: &str) -> anyhow::Result<()> {
    let mut text = TextMaker::new(Rng::new(0x1c2));
    let mut stream = Vec::new();
    let mut previous: Option<(String, Vec<String>)> = None;
    for i in 1..=INCREMENTAL_COMMITS {
        let when = 1_900_000_000 + u64::from(i) * 60;
        let message = format!("Incremental change {i}\n");
        writeln!(stream, "commit refs/bench/inc")?;
        writeln!(
            stream,
            "committer Ada Bench <ada@bench.invalid> {when} +0000"
        )?;
        writeln!(stream, "data {}\n{message}", message.len())?;
        if i == 1 {
            writeln!(stream, "from refs/heads/{head_branch}^0")?;
        }
        let path = format!("bench-incremental/change-{i:02}.txt");
        let lines = text.lines(3000);
        let mut files = vec![(path.clone(), lines.clone())];
        if let Some((old_path, mut old_lines)) = previous.take() {
            old_lines.extend(text.lines(500));
            files.push((old_path, old_lines));
        }
        for (path, lines) in &files {
            let data = lines.join("\n") + "\n";
            writeln!(
                stream,
                "M 100644 inline {path}\ndata {}\n{data}",
                data.len()
            )?;
        }
        writeln!(stream)?;
        previous = Some((path, lines));
    }
    writeln!(stream, "done")?;
    let mut import = git(env)
        .arg("-C")
        .arg(src)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start git fast-import")?;
    import
        .stdin
        .take()
        .context("fast-import has no stdin")?
        .write_all(&stream)?;
    let status = import.wait()?;
    if !status.success() {
        bail!("git fast-import of the incremental commits failed ({status})");
    }
    Ok(())
}

/// Commit `number` of the one-commit pushes: a new commit on top of `refs/heads/{branch}` of
/// the bare repository `repo`, which then points at it. It writes `bench-push-1/change.txt`
/// with one line per commit so far (a new blob, and a new tree per directory on its path)
/// through a scratch index beside `repo`, so that nothing is checked out.
pub fn add_commit(
    env: &crate::ClientEnv,
    repo: &Path,
    branch: &str,
    number: u32,
) -> anyhow::Result<()> {
    let git_in_repo = || {
        let mut git = git(env);
        git.arg("-C")
            .arg(repo)
            .env("GIT_INDEX_FILE", repo.with_extension("index"));
        git
    };
    let branch_ref = format!("refs/heads/{branch}");
    let parent_id = run(git_in_repo().args(["rev-parse", "--verify", &branch_ref]))?;
    let parent_id = parent_id.trim();
    let text: String = (1..=number)
        .map(|i| format!("Change {i} of the one-commit pushes.\n"))
        .collect();
    let text_file = repo.with_extension("change.txt");
    std::fs::write(&text_file, text)?;
    let blob_id = run(git_in_repo().args(["hash-object", "-w"]).arg(&text_file))?;
    run(git_in_repo().args(["read-tree", parent_id]))?;
    let entry = format!("100644,{},bench-push-1/change.txt", blob_id.trim());
    run(git_in_repo().args(["update-index", "--add", "--cacheinfo", &entry]))?;
    let tree_id = run(git_in_repo().arg("write-tree"))?;
    let commit_id = run(git_in_repo()
        .args(["commit-tree", tree_id.trim(), "-p", parent_id, "-m"])
        .arg(format!("Push-1 change {number}")))?;
    run(git_in_repo().args(["update-ref", &branch_ref, commit_id.trim(), parent_id]))?;
    Ok(())
}

fn load(dir: &Path) -> anyhow::Result<Option<Prepared>> {
    let info = dir.join("info.json");
    if !info.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&info)?;
    let mut prepared: Prepared =
        serde_json::from_str(&text).with_context(|| format!("reading {}", info.display()))?;
    prepared.dir = dir.to_owned();
    Ok(Some(prepared))
}

pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
