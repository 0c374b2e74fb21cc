//! `swiftgit init NAME`: create a repository (a container with the first entry of its ref log,
//! HEAD → `refs/heads/<initial branch>`, no refs yet), registered with the coordinator if the
//! config has one.

use swiftgit_config::Config;
use swiftgit_repo::{RepoName, Repository};

use crate::{backend, coordinator_settings, settings};

pub async fn run(config: &Config, name: &str, initial_branch: Option<&str>) -> anyhow::Result<()> {
    let name = RepoName::new(name)?;
    let branch = settings::initial_branch(config, initial_branch)?;
    let storage = backend::open(config).await?;
    let options = coordinator_settings::repository_options(config)?;
    Repository::init_with(storage, &name, &branch, options).await?;
    println!("Initialized empty repository '{name}' (HEAD -> refs/heads/{branch})");
    Ok(())
}
