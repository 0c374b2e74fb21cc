//! `swiftgit gc NAME|--all`: one maintenance run (repack, prune, log compaction; see
//! `swiftgit_server::maintenance`) on one repository or every repository of the storage, with
//! the `[maintenance]` graces unless `--prune` says otherwise.
//!
//! Safe beside running daemons: the run takes the repository's maintenance lock, and pushes and
//! fetches go on while it runs. Without `[coordinator]`, only the process holding a
//! repository's writer lease may commit to it, so a daemon that serves it makes this command
//! fail with a message naming that daemon (its own maintenance runs there, see `auto`).

use std::time::Duration;

use anyhow::Context;
use swiftgit_config::Config;
use swiftgit_repo::odb::ObjectDb;
use swiftgit_repo::{RepoError, RepoName, Repository};
use swiftgit_server::maintenance::{GcOptions, GcReport, LOG_GRACE_FLOOR, gc};

use crate::maintenance_settings::{MaintenanceSettings, parse_grace};
use crate::{backend, coordinator_settings, daemon};

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct GcRequest {
    /// One repository, or `None` for every one.
    pub name: Option<String>,
    /// `--prune=DURATION`.
    pub prune: Option<String>,
    /// `--full`.
    pub full: bool,
}

pub async fn run(config: &Config, request: &GcRequest) -> anyhow::Result<()> {
    let settings = MaintenanceSettings::load(config)?;
    let mut options = settings.gc_options();
    options.full = request.full;
    if let Some(text) = &request.prune {
        options.prune =
            parse_grace(text).map_err(|message| anyhow::anyhow!("--prune: {message}"))?;
        options.log_grace = options.prune.max(LOG_GRACE_FLOOR);
        options.prune_everywhere = true;
    }
    options.prune_everywhere |= request.full;
    let storage = backend::open(config).await?;
    let repository_options = coordinator_settings::repository_options(config)?;
    let coordinator = repository_options.coordinator.clone();
    let names = match &request.name {
        Some(name) => vec![RepoName::new(name)?],
        None => storage
            .list_containers()
            .await
            .context("cannot list repositories")?
            .iter()
            .filter_map(|name| RepoName::new(name).ok())
            .collect(),
    };
    let mut failed = 0;
    for name in &names {
        let outcome = async {
            let repo = match Repository::open_with(
                storage.clone(),
                name,
                repository_options.clone(),
            )
            .await
            {
                Ok(repo) => repo,
                // With --all, a container that holds no repository is not one to collect.
                Err(RepoError::NotFound { .. }) if request.name.is_none() => return Ok(None),
                Err(error) => return Err(anyhow::Error::from(error)),
            };
            let packs: Vec<_> = repo.state().packs().iter().copied().collect();
            let odb = ObjectDb::open(
                storage.clone(),
                name.to_string(),
                &packs,
                daemon::odb_options(config),
            )
            .await?;
            let report = gc(&repo, &odb, &options).await?;
            repo.published().await;
            Ok(Some(report))
        }
        .await;
        match outcome {
            Ok(Some(report)) => println!("{name}: {}", describe(&report, &options)),
            Ok(None) => {}
            Err(error) => {
                failed += 1;
                eprintln!("swiftgit: {name}: {error:#}");
            }
        }
    }
    coordinator.shutdown().await;
    match failed {
        0 => Ok(()),
        n => anyhow::bail!("maintenance failed for {n} of {} repositories", names.len()),
    }
}

/// One line on what a run did.
fn describe(report: &GcReport, options: &GcOptions) -> String {
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let mut text = format!(
        "packs {} -> {}, stored {:.2} MiB -> {:.2} MiB; {} objects reachable",
        report.packs_before,
        report.packs_after,
        mib(report.stored_bytes_before),
        mib(report.stored_bytes_after),
        report.reachable,
    );
    if report.rolled_up > 0 {
        text += &format!(
            "; {} packs rolled up into {} objects",
            report.rolled_up, report.written
        );
    }
    if report.garbage > 0 {
        text += &format!(
            "; {} unreachable objects kept for {}",
            report.garbage,
            human(options.prune)
        );
    }
    if report.dropped > 0 {
        text += &format!("; {} unreachable objects dropped", report.dropped);
    }
    if report.packs_deleted > 0 {
        text += &format!("; {} packs deleted", report.packs_deleted);
    }
    if report.orphans_found > 0 {
        text += &format!(
            "; {} stored packs no state names (deleted after {})",
            report.orphans_found,
            human(options.prune)
        );
    }
    if report.log.entries_deleted + report.log.checkpoints_deleted > 0 {
        text += &format!(
            "; log: {} entries and {} checkpoints deleted",
            report.log.entries_deleted, report.log.checkpoints_deleted
        );
    }
    text
}

fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => "0 s".to_owned(),
        _ if duration == Duration::MAX => "ever".to_owned(),
        _ if secs.is_multiple_of(86_400) => format!("{} days", secs / 86_400),
        _ if secs.is_multiple_of(3600) => format!("{} hours", secs / 3600),
        _ => format!("{secs} s"),
    }
}
