//! `swiftgit import PATH|URL NAME [--force]`: makes repository NAME from a git repository.
//!
//! 1. `git clone --mirror` of the source into a temporary bare repository: any path or URL git
//!    accepts, every ref (`refs/*`), and HEAD;
//! 2. its refs, HEAD and what each tag peels to, read with `git for-each-ref`, `git show-ref`
//!    and `git symbolic-ref`;
//! 3. the repository NAME, created if it does not exist (its HEAD the source's branch); an
//!    existing one must hold no ref unless `--force`;
//! 4. `git pack-objects --all` streamed into the object database's ingest, which checks every
//!    object and stores the pack, then must find it complete (a shallow source is refused);
//! 5. one state change: the pack, every ref and HEAD. With `--force`, the source's refs replace
//!    the repository's (refs only the repository has are deleted) only if no ref moved since
//!    step 3.
//!
//! A failure before step 5 changes no ref (a repository created at step 3 stays, empty: import
//! into it again).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, bail};
use swiftgit_config::Config;
use swiftgit_repo::odb::IngestLimits;
use swiftgit_repo::refs::{Head, RefName, RefValues};
use swiftgit_repo::{
    Expected, New, ObjectId, RefTransaction, RefUpdate, RepoError, RepoName, Repository,
};
use tokio::io::AsyncWriteExt;

use super::{Store, git};
use crate::settings;

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// A path or URL `git clone` accepts.
    pub source: String,
    pub name: String,
    /// Replace the refs of a repository that has some.
    pub force: bool,
}

/// The source's refs and HEAD.
#[derive(Debug, Default)]
struct SourceRefs {
    refs: BTreeMap<RefName, ObjectId>,
    /// What each annotated tag among them peels to.
    peeled: BTreeMap<RefName, ObjectId>,
    head: Option<Head>,
}

pub async fn run(config: &Config, request: &ImportRequest) -> anyhow::Result<()> {
    let name = RepoName::new(&request.name)?;
    let temporary = tempfile::Builder::new()
        .prefix("swiftgit-import-")
        .tempdir()
        .context("cannot make a temporary directory")?;
    let mirror = temporary.path().join("mirror.git");
    clone_mirror(&request.source, &mirror).await?;
    let source = read_refs(&mirror).await?;

    let store = Store::open(config).await?;
    let outcome = import(config, &store, &name, &mirror, &source, request.force).await;
    store.close().await;
    let (objects, repo) = outcome?;
    let head = match &source.head {
        Some(Head::Symbolic(branch)) => format!(" (HEAD -> {branch})"),
        Some(Head::Detached(id)) => format!(" (HEAD detached at {id})"),
        None => String::new(),
    };
    println!(
        "imported {} refs and {objects} objects from {} into '{repo}'{head}",
        source.refs.len(),
        request.source
    );
    Ok(())
}

/// Steps 3 to 5; the number of objects stored.
async fn import(
    config: &Config,
    store: &Store,
    name: &RepoName,
    mirror: &Path,
    source: &SourceRefs,
    force: bool,
) -> anyhow::Result<(usize, RepoName)> {
    let repo = open_or_create(config, store, name, source).await?;
    let state = repo.refresh().await?;
    if !state.refs().is_empty() && !force {
        bail!(
            "repository {name} already has {} refs: nothing imported (--force replaces them with the source's)",
            state.refs().len()
        );
    }
    let odb = store.object_db(&repo, &[]).await?;
    let detached = match &source.head {
        Some(Head::Detached(id)) => Some(*id),
        _ => None,
    };
    let pack = if source.refs.is_empty() && detached.is_none() {
        None
    } else {
        let mut packing = git::command(mirror)
            .args([
                "pack-objects",
                "--all",
                "--stdout",
                "--delta-base-offset",
                "-q",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run `git pack-objects` (is git installed?)")?;
        let mut stdin = packing.stdin.take().context("git's stdin")?;
        if let Some(id) = detached {
            stdin.write_all(format!("{id}\n").as_bytes()).await?;
        }
        drop(stdin);
        let stdout = packing.stdout.take().context("git's stdout")?;
        let limits = IngestLimits {
            max_pack_bytes: u64::MAX,
            ..IngestLimits::default()
        };
        let ingested = odb.ingest(stdout, &limits, Arc::new(())).await;
        let finished = packing.wait_with_output().await?;
        if !finished.status.success() {
            bail!(
                "`git pack-objects --all` failed ({}): {}",
                finished.status,
                String::from_utf8_lossy(&finished.stderr).trim()
            );
        }
        let ingested = ingested.context("storing the source's objects failed")?;
        if let Some(missing) = ingested.missing_references().first() {
            bail!(
                "the source lacks object {missing} (and {} more) that its history names: a shallow or partial clone cannot be imported",
                ingested.missing_references().len() - 1
            );
        }
        Some(ingested)
    };

    let mut transaction = RefTransaction::new();
    if let Some(id) = pack.as_ref().and_then(|pack| pack.pack_id()) {
        transaction = transaction.with_pack_just_stored(id);
    }
    for (ref_name, id) in &source.refs {
        let expected = if force {
            Expected::Any
        } else {
            Expected::Missing
        };
        transaction = transaction
            .with_update(RefUpdate {
                name: ref_name.clone(),
                expected,
                new: New::Value(*id),
            })
            .with_peeled(ref_name.clone(), source.peeled.get(ref_name).copied());
    }
    for (ref_name, id) in state.refs() {
        if !source.refs.contains_key(ref_name) {
            transaction = transaction.with_update(RefUpdate::delete(ref_name.clone(), *id));
        }
    }
    if let Some(head) = &source.head {
        transaction = transaction.with_head(head.clone());
    }
    transaction = transaction.with_refs_unchanged(RefValues::from(&*state));
    repo.commit(transaction).await?;
    repo.published().await;
    let objects = pack.as_ref().map_or(0, |pack| pack.object_count());
    Ok((objects, name.clone()))
}

/// The repository NAME; created if absent, its HEAD on the source's branch.
async fn open_or_create(
    config: &Config,
    store: &Store,
    name: &RepoName,
    source: &SourceRefs,
) -> anyhow::Result<Repository> {
    match store.repository(name).await {
        Ok(repo) => return Ok(repo),
        Err(RepoError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    let branch = match &source.head {
        Some(Head::Symbolic(head)) if head.as_str().starts_with("refs/heads/") => {
            head.as_str().trim_start_matches("refs/heads/").to_owned()
        }
        _ => settings::initial_branch(config, None)?,
    };
    let repo =
        Repository::init_with(store.storage.clone(), name, &branch, store.options.clone()).await?;
    tracing::info!(repo = %name, "created the repository");
    Ok(repo)
}

/// `git clone --mirror --quiet SOURCE MIRROR`.
async fn clone_mirror(source: &str, mirror: &Path) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("git")
        .args(["clone", "--mirror", "--quiet", "--"])
        .arg(source)
        .arg(mirror)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run `git clone` (is git installed?)")?;
    if !output.status.success() {
        bail!(
            "cannot fetch {source}: `git clone --mirror` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The mirror's refs, peeled tags and HEAD.
async fn read_refs(mirror: &Path) -> anyhow::Result<SourceRefs> {
    let mut source = SourceRefs::default();
    let listed = git::run(
        mirror,
        ["for-each-ref", "--format=%(objectname) %(refname)"],
    )
    .await?;
    for (id, name) in parse_lines(&listed)? {
        let name = RefName::new(name).map_err(|error| {
            anyhow::anyhow!("the source's ref {name:?} cannot be stored: {error}")
        })?;
        source.refs.insert(name, id);
    }
    if !source.refs.is_empty() {
        let shown = git::run(mirror, ["show-ref", "--dereference"]).await?;
        for (id, name) in parse_lines(&shown)? {
            if let Some(tag) = name.strip_suffix("^{}")
                && let Ok(tag) = RefName::new(tag)
            {
                source.peeled.insert(tag, id);
            }
        }
    }
    let symbolic = git::command(mirror)
        .args(["symbolic-ref", "-q", "HEAD"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("cannot run `git symbolic-ref`")?;
    let symbolic_name = String::from_utf8_lossy(&symbolic.stdout).trim().to_owned();
    source.head = if symbolic.status.success() && !symbolic_name.is_empty() {
        let head = RefName::new(symbolic_name.as_str())
            .map_err(|error| anyhow::anyhow!("the source's HEAD {symbolic_name:?}: {error}"))?;
        Some(Head::Symbolic(head))
    } else {
        let id = git::run(mirror, ["rev-parse", "--verify", "-q", "HEAD"])
            .await
            .ok()
            .and_then(|text| ObjectId::from_hex(text.trim().as_bytes()).ok());
        id.map(Head::Detached)
    };
    Ok(source)
}

/// `<id> <name>` lines.
fn parse_lines(text: &str) -> anyhow::Result<Vec<(ObjectId, &str)>> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (id, name) = line
                .split_once(' ')
                .with_context(|| format!("unexpected git output {line:?}"))?;
            let id = ObjectId::from_hex(id.as_bytes())
                .with_context(|| format!("unexpected object id in {line:?}"))?;
            Ok((id, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_lines_parse() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        let text = format!("{id} refs/heads/main\n{id} refs/tags/v1^{{}}\n");
        let lines = parse_lines(&text).expect("parses");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].1, "refs/tags/v1^{}");
        assert!(parse_lines("nonsense\n").is_err());
        assert!(parse_lines("zz refs/heads/x\n").is_err());
    }
}
