//! Operator commands on the repositories of one storage account: [`list`], [`delete`],
//! [`fsck`] (with its [`repair`]), [`import`] and [`export`]. Each opens the storage and the
//! coordinator the way `swiftgit gc` does ([`Store`]), works through the library (the
//! repository's state, its object database, the server's walk and the maintenance listings)
//! and prints one line per repository, or JSON with `--json` where it lists things.
//!
//! [`import`] and [`export`] run the real `git` ([`git`]) for what git does best: fetching any
//! URL, making a pack of a repository, indexing packs into a bare repository.

pub mod delete;
pub mod export;
pub mod fsck;
mod git;
pub mod import;
pub mod list;
mod pack_check;
mod repair;
mod time;

use std::sync::Arc;

use anyhow::Context;
use swiftgit_config::Config;
use swiftgit_repo::odb::{ObjectDb, OdbOptions};
use swiftgit_repo::{PackId, RepoError, RepoName, Repository, RepositoryOptions};
use swiftgit_storage::Storage;

use crate::{backend, coordinator_settings, daemon};

/// The storage, the coordinator and the read settings every admin command works with.
pub struct Store {
    pub storage: Arc<dyn Storage>,
    pub options: RepositoryOptions,
    pub odb: OdbOptions,
}

impl Store {
    /// Opens the backend of `config` (without a disk cache) and its coordinator.
    pub async fn open(config: &Config) -> anyhow::Result<Store> {
        let storage = backend::open(config).await?;
        let options = coordinator_settings::repository_options(config)?;
        Ok(Store {
            storage,
            options,
            odb: daemon::odb_options(config),
        })
    }

    /// `name` alone, or every container of the storage whose name is a valid repository name.
    pub async fn names(&self, name: Option<&str>) -> anyhow::Result<Vec<RepoName>> {
        if let Some(name) = name {
            return Ok(vec![RepoName::new(name)?]);
        }
        Ok(self
            .storage
            .list_containers()
            .await
            .context("cannot list repositories")?
            .iter()
            .filter_map(|name| RepoName::new(name).ok())
            .collect())
    }

    /// Opens repository `name` through the coordinator.
    pub async fn repository(&self, name: &RepoName) -> Result<Repository, RepoError> {
        Repository::open_with(self.storage.clone(), name, self.options.clone()).await
    }

    /// The object database of `repo` reading `packs`.
    pub async fn object_db(
        &self,
        repo: &Repository,
        packs: &[PackId],
    ) -> swiftgit_repo::odb::Result<ObjectDb> {
        ObjectDb::open(
            self.storage.clone(),
            repo.container().to_owned(),
            packs,
            self.odb.clone(),
        )
        .await
    }

    /// Gives up what the coordinator holds (writer leases, etcd locks) before the process exits.
    pub async fn close(&self) {
        self.options.coordinator.shutdown().await;
    }
}
