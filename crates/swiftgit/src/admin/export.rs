//! `swiftgit export NAME PATH` / `swiftgit export NAME --bundle FILE`: writes repository NAME
//! out as a plain bare git repository (or a git bundle), the way back from swiftgit to git.
//!
//! From one state: `git init --bare`, every live pack streamed from the storage into `git
//! index-pack --stdin` (which checks every object and writes the `.idx` itself), the refs in
//! one `git update-ref --stdin` transaction, HEAD, then `git fsck --connectivity-only`. A
//! bundle is `git bundle create --all` of such a repository made in a temporary directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use futures::StreamExt;
use swiftgit_config::Config;
use swiftgit_repo::refs::{Head, RepoState};
use swiftgit_repo::{ObjectId, PackId, RepoName};
use swiftgit_storage::Storage;
use tokio::io::AsyncWriteExt;

use super::{Store, git};

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub name: String,
    /// The bare repository to write (absent or an empty directory).
    pub path: Option<PathBuf>,
    /// A bundle file to write instead.
    pub bundle: Option<PathBuf>,
}

pub async fn run(config: &Config, request: &ExportRequest) -> anyhow::Result<()> {
    let name = RepoName::new(&request.name)?;
    let temporary;
    let (bare, bundle) = match (&request.path, &request.bundle) {
        (Some(path), None) => (path.clone(), None),
        (None, Some(bundle)) => {
            if bundle.exists() {
                bail!("{} exists: nothing exported", bundle.display());
            }
            temporary = tempfile::Builder::new()
                .prefix("swiftgit-export-")
                .tempdir()
                .context("cannot make a temporary directory")?;
            (temporary.path().join("export.git"), Some(bundle))
        }
        _ => bail!("give either PATH or --bundle FILE"),
    };
    refuse_non_empty(&bare)?;
    let existed = bare.exists();

    let store = Store::open(config).await?;
    let outcome = async {
        let repo = store.repository(&name).await?;
        let state = repo.refresh().await?;
        write_bare(store.storage.as_ref(), repo.container(), &state, &bare).await?;
        anyhow::Ok(state)
    }
    .await;
    store.close().await;
    if outcome.is_err() {
        discard(&bare, existed);
    }
    let state = outcome?;
    match bundle {
        Some(bundle) => {
            if state.refs().is_empty() {
                bail!("repository {name} has no refs: git cannot bundle an empty repository");
            }
            let absolute = std::path::absolute(bundle)
                .with_context(|| format!("cannot resolve {}", bundle.display()))?;
            git::run(
                &bare,
                [
                    OsStr::new("bundle"),
                    OsStr::new("create"),
                    OsStr::new("-q"),
                    absolute.as_os_str(),
                    OsStr::new("--all"),
                ],
            )
            .await?;
            println!(
                "exported '{name}' ({} refs) to the bundle {}",
                state.refs().len(),
                bundle.display()
            );
        }
        None => println!(
            "exported '{name}' ({} refs, {} packs) to {}",
            state.refs().len(),
            state.packs().len(),
            bare.display()
        ),
    }
    Ok(())
}

/// After a failed export: leaves `bare` as it was before, absent or an empty directory (it was
/// one of the two, see [`refuse_non_empty`]). Best effort: what cannot be removed is said.
fn discard(bare: &Path, existed: bool) {
    let removed = std::fs::remove_dir_all(bare).or_else(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(error),
    });
    let restored = removed.and_then(|()| match existed {
        true => std::fs::create_dir(bare),
        false => Ok(()),
    });
    if let Err(error) = restored {
        eprintln!(
            "swiftgit: could not remove the partial export in {}: {error}",
            bare.display()
        );
    }
}

/// Fails unless `path` is absent or an empty directory.
fn refuse_non_empty(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty: nothing exported", path.display());
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot use {}", path.display())),
    }
}

/// Writes the bare repository `bare` holding `state`.
async fn write_bare(
    storage: &dyn Storage,
    container: &str,
    state: &RepoState,
    bare: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(bare).with_context(|| format!("cannot create {}", bare.display()))?;
    git::run(bare, ["init", "--bare", "-q"]).await?;
    for pack in state.packs() {
        index_pack(storage, container, *pack, bare).await?;
    }
    let mut updates = String::new();
    for (name, id) in state.refs() {
        updates += &format!("create {name} {id}\n");
    }
    if !updates.is_empty() {
        let mut updating = git::command(bare)
            .args(["update-ref", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run `git update-ref`")?;
        let mut stdin = updating.stdin.take().context("git's stdin")?;
        stdin.write_all(updates.as_bytes()).await?;
        drop(stdin);
        let finished = updating.wait_with_output().await?;
        if !finished.status.success() {
            bail!(
                "`git update-ref --stdin` failed: {}",
                String::from_utf8_lossy(&finished.stderr).trim()
            );
        }
    }
    match state.head() {
        Head::Symbolic(name) => git::run(bare, ["symbolic-ref", "HEAD", name.as_str()]).await?,
        Head::Detached(id) => {
            git::run(bare, ["update-ref", "--no-deref", "HEAD", &id.to_string()]).await?
        }
    };
    if !state.refs().is_empty() {
        git::run(
            bare,
            [
                "fsck",
                "--connectivity-only",
                "--no-progress",
                "--no-dangling",
            ],
        )
        .await
        .context("the exported repository is incomplete")?;
    }
    Ok(())
}

/// Streams `pack` into `git index-pack --stdin` in `bare`, which stores it with its index.
async fn index_pack(
    storage: &dyn Storage,
    container: &str,
    pack: PackId,
    bare: &Path,
) -> anyhow::Result<()> {
    let name = pack.object_name("pack");
    let found = storage
        .get(container, &name)
        .await
        .with_context(|| format!("cannot read {container}/{name}"))?;
    let mut indexing = git::command(bare)
        .args(["index-pack", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `git index-pack`")?;
    let mut stdin = indexing.stdin.take().context("git's stdin")?;
    let mut body = found.body;
    let copied = async {
        while let Some(piece) = body.next().await {
            let piece = piece.with_context(|| format!("cannot read {container}/{name}"))?;
            stdin.write_all(&piece).await?;
        }
        stdin.shutdown().await?;
        drop(stdin);
        anyhow::Ok(())
    }
    .await;
    let finished = indexing.wait_with_output().await?;
    if !finished.status.success() {
        bail!(
            "`git index-pack` refused {name}: {}",
            String::from_utf8_lossy(&finished.stderr).trim()
        );
    }
    copied?;
    let written = String::from_utf8_lossy(&finished.stdout);
    let written = written.trim().trim_start_matches("pack\t");
    if ObjectId::from_hex(written.as_bytes()).ok() != Some(pack.0) {
        bail!("`git index-pack` wrote pack {written} from {name}");
    }
    Ok(())
}
