//! The `[coordinator]` section: etcd, which decides every state change of every repository when
//! several swiftgit processes write to one Swift account. Without it one process writes (a
//! writer lease refuses a second) and any number of `--read-only` ones may serve beside it. Its
//! keys, defaults and docs: [`swiftgit_config::sections::coordinator`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use swiftgit_config::sections::coordinator;
use swiftgit_config::{Config, ConfigError, StorageConfig, SwiftConfig};
use swiftgit_etcd::{EtcdClient, EtcdOptions};
use swiftgit_repo::RepositoryOptions;
use swiftgit_repo::refs::sequence::{Coordinator, Etcd, SingleWriter};

/// Test-only: `pause-after-etcd-append` makes every append that won in etcd wait forever.
const FAILPOINT_VAR: &str = "SWIFTGIT_TEST_FAILPOINT";

/// `[coordinator]`: `None` when the section is absent (or names no endpoint).
#[derive(Debug, Clone)]
pub struct CoordinatorSettings {
    pub etcd: EtcdOptions,
    pub prefix: String,
}

pub fn load(config: &Config) -> Result<Option<CoordinatorSettings>, ConfigError> {
    let reader = config.section(&coordinator::TABLE);
    if !reader.is_present() {
        return Ok(None);
    }
    // Unset, `timeout` is [swift] http_timeout, whose default holds for a local directory.
    let default_timeout = match &config.storage {
        StorageConfig::Swift(swift) => swift.http_timeout.as_secs() as usize,
        StorageConfig::Local(_) => SwiftConfig::DEFAULT_HTTP_TIMEOUT_SECS as usize,
    };
    let endpoints: Vec<String> = reader
        .required(coordinator::ETCD_ENDPOINTS)?
        .split(',')
        .map(|endpoint| endpoint.trim().trim_end_matches('/').to_owned())
        .filter(|endpoint| !endpoint.is_empty())
        .collect();
    if endpoints.is_empty() {
        return Err(reader.missing(coordinator::ETCD_ENDPOINTS));
    }
    if let Some(bad) = endpoints
        .iter()
        .find(|e| !(e.starts_with("http://") || e.starts_with("https://")))
    {
        return Err(reader.invalid(
            coordinator::ETCD_ENDPOINTS,
            &format!("{bad:?} is not an http:// or https:// URL"),
        ));
    }
    let user = reader.optional(coordinator::ETCD_USER);
    let password = reader.optional(coordinator::ETCD_PASSWORD);
    if user.is_some() != password.is_some() {
        return Err(reader.missing(if user.is_some() {
            coordinator::ETCD_PASSWORD
        } else {
            coordinator::ETCD_USER
        }));
    }
    let prefix = reader.string(coordinator::ETCD_PREFIX)?;
    let timeout = reader.positive_or(coordinator::TIMEOUT, default_timeout.max(1))?;
    Ok(Some(CoordinatorSettings {
        etcd: EtcdOptions {
            endpoints,
            user,
            password,
            ca_file: reader
                .optional(coordinator::ETCD_CA_FILE)
                .map(PathBuf::from),
            timeout: Duration::from_secs(timeout as u64),
        },
        prefix,
    }))
}

/// The repository options of a process: the etcd coordinator with `[coordinator]`, else the
/// single writer (the object store alone, with its writer lease).
pub fn repository_options(config: &Config) -> anyhow::Result<RepositoryOptions> {
    Ok(coordination(config)?.options)
}

/// The repository options of a process, and the etcd client of its coordinator, if any (the
/// daemon's metrics and readiness read it).
pub struct Coordination {
    pub options: RepositoryOptions,
    pub etcd: Option<EtcdClient>,
}

/// [`repository_options`], with the etcd client.
pub fn coordination(config: &Config) -> anyhow::Result<Coordination> {
    let mut client = None;
    let coordinator: Arc<dyn Coordinator> = match load(config)? {
        Some(settings) => {
            let etcd_client = EtcdClient::new(settings.etcd).context("invalid [coordinator]")?;
            client = Some(etcd_client.clone());
            let mut etcd = Etcd::new(etcd_client, &settings.prefix);
            // For crash tests only (see `Etcd::pause_after_append`).
            etcd.pause_after_append =
                std::env::var(FAILPOINT_VAR).is_ok_and(|value| value == "pause-after-etcd-append");
            Arc::new(etcd)
        }
        // The process's one single writer: its reads may trust its lease.
        None => Arc::new(SingleWriter {
            trust_lease_for_reads: true,
            ..SingleWriter::default()
        }),
    };
    tracing::info!(coordinator = %coordinator.describe(), "repository states are decided by");
    Ok(Coordination {
        options: RepositoryOptions::with_coordinator(coordinator),
        etcd: client,
    })
}

/// `swiftgit check`: asks every etcd member of `[coordinator]` for its status; an error if no
/// member answers or none knows a leader.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    let Some(settings) = load(config)? else {
        println!("coordinator: none (one writing process per repository)");
        return Ok(());
    };
    let client = EtcdClient::new(settings.etcd).context("invalid [coordinator]")?;
    let mut healthy = 0;
    for (endpoint, status) in client.status().await {
        match status {
            Ok(status) if status.leader != 0 => {
                healthy += 1;
                println!(
                    "etcd {endpoint}: OK (version {}, leader {:x}, database {} MiB)",
                    status.version,
                    status.leader,
                    status.db_size >> 20
                );
            }
            Ok(status) => println!("etcd {endpoint}: no leader ({})", status.errors.join("; ")),
            Err(error) => println!("etcd {endpoint}: {error}"),
        }
    }
    if healthy == 0 {
        anyhow::bail!("no etcd member of [coordinator] is reachable with a leader");
    }
    println!("coordinator OK: etcd, prefix {}", settings.prefix);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(text: &str) -> Config {
        let text = format!("[local]\npath = /tmp/swiftgit-test\n{text}");
        Config::parse(&text, Path::new("/etc/test.conf")).expect("parses")
    }

    #[test]
    fn absent_means_no_coordinator() {
        assert!(
            load(&config("[daemon]\nport = 1\n"))
                .expect("loads")
                .is_none()
        );
    }

    #[test]
    fn endpoints_and_defaults() {
        let settings = load(&config(
            "[coordinator]\netcd_endpoints = http://a:2379/, https://b:2379 ,\n",
        ))
        .expect("loads")
        .expect("present");
        assert_eq!(settings.etcd.endpoints, ["http://a:2379", "https://b:2379"]);
        assert_eq!(settings.prefix, "swiftgit/");
        assert_eq!(settings.etcd.timeout, Duration::from_secs(20));
        assert_eq!(settings.etcd.user, None);
    }

    #[test]
    fn bad_sections_are_refused_with_the_key() {
        for (text, key) in [
            ("[coordinator]\n", "etcd_endpoints"),
            ("[coordinator]\netcd_endpoints = ,\n", "etcd_endpoints"),
            ("[coordinator]\netcd_endpoints = a:2379\n", "etcd_endpoints"),
            (
                "[coordinator]\netcd_endpoints = http://a\netcd_user = u\n",
                "etcd_password",
            ),
            (
                "[coordinator]\netcd_endpoints = http://a\ntimeout = 0\n",
                "timeout",
            ),
        ] {
            let error = load(&config(text)).expect_err(text).to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn the_password_is_never_printed() {
        let settings = load(&config(
            "[coordinator]\netcd_endpoints = http://a\netcd_user = u\netcd_password = hunter2\n",
        ))
        .expect("loads")
        .expect("present");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
