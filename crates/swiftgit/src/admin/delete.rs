//! `swiftgit delete NAME [--yes] [--force]`: deletes a repository, every object of its
//! container and then the container (and, with `[coordinator]`, its registration in etcd).
//!
//! Confirmation: on a terminal the name must be typed again; otherwise `--yes` is required.
//!
//! Writers in flight: before deleting, the command takes the repository's maintenance lock.
//! Without `[coordinator]` that is the repository's writer lease, which a daemon holds while it
//! has pushed to the repository in the last ten minutes: so a daemon that may be pushing makes
//! the command refuse, naming it; once taken, a daemon's push is refused at its commit. With
//! etcd the lock only keeps maintenance runs away: a push in flight is not visible to anyone
//! before its commit, so a push that commits while the objects are being deleted fails (its
//! container is gone) or leaves an entry in etcd that the registration's removal then drops.
//! `--force` skips the lock (a crashed daemon's lease, say).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use swiftgit_config::Config;
use swiftgit_etcd::EtcdClient;
use swiftgit_repo::{RepoError, RepoName};

use super::Store;
use crate::coordinator_settings;

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    pub name: String,
    /// No confirmation asked.
    pub yes: bool,
    /// Delete without the maintenance lock (and writer lease).
    pub force: bool,
}

pub async fn run(config: &Config, request: &DeleteRequest) -> anyhow::Result<()> {
    let name = RepoName::new(&request.name)?;
    if !request.yes {
        confirm(&name)?;
    }
    let store = Store::open(config).await?;
    let outcome = delete(config, &store, &name, request.force).await;
    store.close().await;
    let objects = outcome?;
    println!("deleted repository '{name}' ({objects} objects)");
    Ok(())
}

/// Asks for the name again on a terminal.
fn confirm(name: &RepoName) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "refusing to delete repository {name} without confirmation: pass --yes (standard input is not a terminal)"
        );
    }
    eprint!("This deletes repository '{name}' and every object in it.\nType its name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the confirmation")?;
    if line.trim() != name.as_str() {
        bail!("not confirmed: nothing deleted");
    }
    Ok(())
}

/// Deletes `name`; how many objects its container held.
async fn delete(
    config: &Config,
    store: &Store,
    name: &RepoName,
    force: bool,
) -> anyhow::Result<usize> {
    let repo = match store.repository(name).await {
        Ok(repo) => Some(repo),
        Err(RepoError::NotFound {
            container_exists: true,
            ..
        }) if force => None,
        Err(RepoError::NotFound {
            container_exists: true,
            ..
        }) => bail!(
            "container {name} holds no repository: nothing deleted (--force deletes it anyway)"
        ),
        Err(error) => return Err(error.into()),
    };
    let lock = match (&repo, force) {
        (Some(repo), false) => {
            let lock = repo.lock_maintenance().await.with_context(|| {
                format!(
                    "repository {name} may have pushes in flight: nothing deleted (stop the daemon writing it, wait until its lease lapses, or pass --force)"
                )
            })?;
            let Some(lock) = lock else {
                bail!(
                    "a maintenance run holds repository {name}'s lock: nothing deleted; try again when it is done"
                );
            };
            Some(lock)
        }
        _ => None,
    };
    let storage = store.storage.as_ref();
    let container = name.as_str();
    let deleted = async {
        let objects = storage
            .list(container, "")
            .await
            .with_context(|| format!("cannot list container {container}"))?
            .len();
        storage
            .delete_container(container)
            .await
            .with_context(|| format!("cannot delete container {container}"))?;
        if storage.container_exists(container).await? {
            bail!("container {container} still exists after its deletion; run delete again");
        }
        unregister(config, name).await?;
        anyhow::Ok(objects)
    }
    .await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    deleted
}

/// Removes the repository's keys from etcd, so that the name can be made again (`swiftgit
/// init`) and no daemon reads a state whose packs are gone.
async fn unregister(config: &Config, name: &RepoName) -> anyhow::Result<()> {
    let Some(settings) = coordinator_settings::load(config)? else {
        return Ok(());
    };
    let client = EtcdClient::new(settings.etcd).context("invalid [coordinator]")?;
    let prefix = format!("{}repos/{name}/", settings.prefix);
    let end = swiftgit_etcd::prefix_end(prefix.as_bytes());
    client
        .delete_range(prefix.clone().into_bytes(), Some(end))
        .await
        .with_context(|| {
            format!("the container is deleted, but its registration {prefix} in etcd is not (remove it with `etcdctl del --prefix {prefix}`)")
        })?;
    Ok(())
}
