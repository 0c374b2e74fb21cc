//! Removes the repositories a benchmark made on each server, as it goes and — through `Drop` —
//! when it stops early (an error, Ctrl-C). swiftgit has no delete command, so swiftgit's
//! repositories are deleted through the storage crate: the local directory backend, or the
//! Swift account of the config (the container with its large-object segments; `etcd`'s
//! repositories live in the same account). At the end, the run's etcd prefix goes too.

use std::path::{Path, PathBuf};

use anyhow::Context;
use swiftgit_config::{Config, ConfigSource, StorageConfig};
use swiftgit_etcd::{EtcdClient, prefix_end};
use swiftgit_storage::Storage;
use swiftgit_storage::local::LocalStorage;
use swiftgit_storage::swift::SwiftStorage;

use crate::etcd_dev::EtcdDev;
use crate::servers::ServerKind;

pub struct Cleanup {
    runtime: tokio::runtime::Runtime,
    git_base: PathBuf,
    local: Box<dyn Storage>,
    swift_config: Option<PathBuf>,
    swift: Option<SwiftStorage>,
    /// The etcd cluster and the run's prefix, until [`Cleanup::finish`] deletes it.
    etcd: Option<(EtcdClient, String)>,
    made: Vec<(ServerKind, String)>,
    keep: bool,
}

impl Cleanup {
    /// `keep`: leave everything in place (for looking at it afterwards).
    pub fn new(
        git_base: &Path,
        local_config: &Path,
        swift_config: Option<&Path>,
        etcd: Option<&EtcdDev>,
        keep: bool,
    ) -> anyhow::Result<Cleanup> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let local = match load(local_config)?.storage {
            StorageConfig::Local(local) => LocalStorage::open(&local.path)?,
            StorageConfig::Swift(_) => {
                anyhow::bail!("{} is not a [local] config", local_config.display())
            }
        };
        Ok(Cleanup {
            runtime,
            git_base: git_base.to_owned(),
            local: Box::new(local),
            swift_config: swift_config.map(Path::to_owned),
            swift: None,
            etcd: match etcd {
                Some(etcd) => Some((etcd.client()?, etcd.prefix.clone())),
                None => None,
            },
            made: Vec::new(),
            keep,
        })
    }

    /// Remembers a repository to delete.
    pub fn made(&mut self, kind: ServerKind, name: &str) {
        self.made.push((kind, name.to_owned()));
    }

    /// Deletes every repository made so far (unless keeping them).
    pub fn delete_all(&mut self) -> anyhow::Result<()> {
        if self.keep {
            self.made.clear();
            return Ok(());
        }
        let mut first_error = None;
        for (kind, name) in std::mem::take(&mut self.made) {
            if let Err(error) = self.delete(kind, &name) {
                eprintln!("bench: cannot delete {kind} repository {name}: {error:#}");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Deletes every repository made so far and the run's etcd prefix (unless keeping them).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let repos = self.delete_all();
        let Some((client, prefix)) = self.etcd.take() else {
            return repos;
        };
        if self.keep {
            eprintln!("bench: kept the etcd keys under {prefix}");
            return repos;
        }
        let key = prefix.as_bytes().to_vec();
        let end = prefix_end(&key);
        let deleted = self.runtime.block_on(client.delete_range(key, Some(end)));
        match deleted {
            Ok(count) => eprintln!("bench: deleted {count} etcd keys under {prefix}"),
            Err(error) => {
                eprintln!("bench: cannot delete the etcd keys under {prefix}: {error}");
                return repos.and(Err(error.into()));
            }
        }
        repos
    }

    /// The names of the objects swiftgit's repository `name` holds in its storage (the
    /// storage this keeps to delete repositories answers that as well).
    pub fn list_objects(
        &mut self,
        kind: ServerKind,
        name: &str,
    ) -> anyhow::Result<Vec<(String, u64)>> {
        if kind.uses_swift() {
            self.swift()?;
        }
        let storage: &dyn Storage = match kind {
            ServerKind::GitDaemon => {
                anyhow::bail!("git daemon's repositories are not in a storage")
            }
            ServerKind::SwiftgitLocal => self.local.as_ref(),
            ServerKind::SwiftgitSwift | ServerKind::SwiftgitEtcd => {
                self.swift.as_ref().context("connected above")?
            }
        };
        let objects = self.runtime.block_on(storage.list(name, ""))?;
        Ok(objects.into_iter().map(|o| (o.name, o.size)).collect())
    }

    /// The Swift account of the config, connected on first use.
    fn swift(&mut self) -> anyhow::Result<&SwiftStorage> {
        if self.swift.is_none() {
            let path = self.swift_config.as_ref().context("no Swift config")?;
            let StorageConfig::Swift(config) = load(path)?.storage else {
                anyhow::bail!("{} is not a [swift] config", path.display());
            };
            self.swift = Some(self.runtime.block_on(SwiftStorage::connect(&config))?);
        }
        self.swift.as_ref().context("connected above")
    }

    fn delete(&mut self, kind: ServerKind, name: &str) -> anyhow::Result<()> {
        match kind {
            ServerKind::GitDaemon => {
                crate::repos::remove(&self.git_base.join(format!("{name}.git")))
            }
            ServerKind::SwiftgitLocal => {
                let storage = &self.local;
                self.runtime
                    .block_on(delete_container(storage.as_ref(), name))
            }
            ServerKind::SwiftgitSwift | ServerKind::SwiftgitEtcd => {
                self.swift()?;
                let storage = self.swift.as_ref().context("connected above")?;
                self.runtime.block_on(delete_container(storage, name))
            }
        }
    }
}

async fn delete_container(storage: &dyn Storage, name: &str) -> anyhow::Result<()> {
    match storage.delete_container(name).await {
        Err(e) if e.kind() != swiftgit_storage::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(&ConfigSource::File(path.to_owned()), |_| None)
        .with_context(|| format!("cannot load {}", path.display()))
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
