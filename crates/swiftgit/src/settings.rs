//! The sections of the config file that belong to the commands rather than to storage:
//! `[daemon]` and `[repository]`, with command-line flags taking precedence. Their keys,
//! defaults and docs are the tables [`swiftgit_config::sections::daemon`] and
//! [`swiftgit_config::sections::repository`]
//! (`swiftgit config --defaults` prints them). The three `deny_*` keys may also be written in
//! `[daemon]`, which then wins.

use std::path::PathBuf;
use std::time::Duration;

use swiftgit_config::sections::{daemon, repository};
use swiftgit_config::{Config, ConfigError};
use swiftgit_server::session::receive_pack::PushPolicy;

/// `[daemon]` after flags were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    pub listen: String,
    pub port: u16,
    pub read_only: bool,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub policy: PushPolicy,
}

/// Flags of `swiftgit daemon` that override `[daemon]`.
#[derive(Debug, Clone, Default)]
pub struct DaemonFlags {
    pub listen: Option<String>,
    pub port: Option<u16>,
    pub read_only: bool,
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
    /// `--http ADDR:PORT`: also serve smart HTTP there.
    pub http: Option<String>,
    /// `--no-git-daemon`: serve HTTP only.
    pub no_git_daemon: bool,
    /// `--cache-dir PATH`: the disk cache's directory (`[cache] dir`).
    pub cache_dir: Option<PathBuf>,
    /// `--no-disk-cache`: no disk cache, whatever `[cache]` says.
    pub no_disk_cache: bool,
    /// `--metrics ADDR:PORT`: serve metrics and health checks there (`[metrics] listen`).
    pub metrics: Option<String>,
}

/// The policy keys: `[daemon]` wins over `[repository]`.
fn policy(config: &Config) -> Result<PushPolicy, ConfigError> {
    let (in_daemon, in_repository) = (
        config.section(&daemon::TABLE),
        config.section(&repository::TABLE),
    );
    let read = |daemon_key, repository_key| -> Result<bool, ConfigError> {
        in_daemon.boolean_or(daemon_key, in_repository.boolean(repository_key)?)
    };
    Ok(PushPolicy {
        deny_non_fast_forwards: read(
            daemon::DENY_NON_FAST_FORWARDS,
            repository::DENY_NON_FAST_FORWARDS,
        )?,
        deny_deletes: read(daemon::DENY_DELETES, repository::DENY_DELETES)?,
        deny_delete_current: read(daemon::DENY_DELETE_CURRENT, repository::DENY_DELETE_CURRENT)?,
    })
}

impl DaemonSettings {
    pub fn load(config: &Config, flags: &DaemonFlags) -> Result<DaemonSettings, ConfigError> {
        let policy = policy(config)?;
        let reader = config.section(&daemon::TABLE);
        let port = match flags.port {
            Some(port) => port,
            None => u16::try_from(reader.number(daemon::PORT)?)
                .map_err(|_| reader.invalid(daemon::PORT, "expected a TCP port (0 to 65535)"))?,
        };
        let idle_secs = match flags.idle_timeout_secs {
            Some(secs) => secs,
            None => reader.positive(daemon::IDLE_TIMEOUT)? as u64,
        };
        Ok(DaemonSettings {
            listen: match &flags.listen {
                Some(listen) => listen.clone(),
                None => reader.string(daemon::LISTEN)?,
            },
            port,
            read_only: flags.read_only || reader.boolean(daemon::READ_ONLY)?,
            max_connections: match flags.max_connections {
                Some(n) => n,
                None => reader.positive(daemon::MAX_CONNECTIONS)?,
            },
            idle_timeout: Duration::from_secs(idle_secs.max(1)),
            shutdown_grace: Duration::from_secs(reader.number(daemon::SHUTDOWN_GRACE)? as u64),
            policy,
        })
    }
}

/// The initial branch of `swiftgit init`: the flag, else `[repository] initial_branch` (whose
/// default the table gives).
pub fn initial_branch(config: &Config, flag: Option<&str>) -> Result<String, ConfigError> {
    if let Some(branch) = flag {
        return Ok(branch.to_owned());
    }
    config
        .section(&repository::TABLE)
        .string(repository::INITIAL_BRANCH)
}

/// `text` after a `[local]` storage section, as the settings tests' config.
#[cfg(test)]
pub(crate) fn test_config(text: &str) -> Config {
    Config::parse(
        &format!("[local]\npath = /tmp/x\n{text}"),
        std::path::Path::new("test.conf"),
    )
    .expect("holds for the tests' well-formed configs")
}

#[cfg(test)]
mod tests {
    use super::test_config as config;
    use super::*;

    #[test]
    fn defaults_without_sections() {
        let settings = DaemonSettings::load(&config(""), &DaemonFlags::default()).unwrap();
        assert_eq!(settings.listen, "127.0.0.1");
        assert_eq!(settings.port, 9418);
        assert!(!settings.read_only);
        assert_eq!(settings.max_connections, 256);
        assert_eq!(settings.idle_timeout, Duration::from_secs(60));
        assert_eq!(settings.policy, PushPolicy::default());
        assert_eq!(initial_branch(&config(""), None).unwrap(), "master");
    }

    #[test]
    fn config_then_flags() {
        let config = config(
            "[daemon]\nlisten = 0.0.0.0\nport = 9000\nread_only = yes\nmax_connections = 4\n\
             idle_timeout = 5\ndeny_deletes = true\n\
             [repository]\ninitial_branch = main\ndeny_non_fast_forwards = on\ndeny_deletes = no\n",
        );
        let settings = DaemonSettings::load(&config, &DaemonFlags::default()).unwrap();
        assert_eq!(
            (settings.listen.as_str(), settings.port, settings.read_only),
            ("0.0.0.0", 9000, true)
        );
        assert_eq!(settings.max_connections, 4);
        assert_eq!(settings.idle_timeout, Duration::from_secs(5));
        assert!(settings.policy.deny_non_fast_forwards);
        assert!(settings.policy.deny_deletes, "[daemon] wins");
        assert_eq!(initial_branch(&config, None).unwrap(), "main");
        assert_eq!(initial_branch(&config, Some("trunk")).unwrap(), "trunk");

        let flags = DaemonFlags {
            listen: Some("::1".into()),
            port: Some(0),
            read_only: false,
            max_connections: Some(9),
            idle_timeout_secs: Some(2),
            ..DaemonFlags::default()
        };
        let settings = DaemonSettings::load(&config, &flags).unwrap();
        assert_eq!((settings.listen.as_str(), settings.port), ("::1", 0));
        assert!(settings.read_only, "a flag cannot turn read_only off");
        assert_eq!(settings.max_connections, 9);
        assert_eq!(settings.idle_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_the_key() {
        let error = DaemonSettings::load(&config("[daemon]\nport = 70000\n"), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("[daemon] port = \"70000\""), "{error}");
        let error = DaemonSettings::load(
            &config("[daemon]\nread_only = maybe\n"),
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("read_only"), "{error}");
        assert_eq!(
            config("[daemon]\nlisten_address = x\n").warnings,
            ["config file test.conf, line 4: unknown key `listen_address` in [daemon] is ignored"]
        );
    }
}
