//! The sections of the config file that belong to the commands rather than to storage:
//! `[daemon]` and `[repository]`, with command-line flags taking precedence.
//!
//! ```ini
//! [daemon]
//! # address, port (0: any free one), refuse pushes, connection cap, seconds of client silence,
//! # seconds in-flight requests get at shutdown
//! listen = 127.0.0.1
//! port = 9418
//! read_only = false
//! max_connections = 256
//! idle_timeout = 60
//! shutdown_grace = 30
//!
//! [repository]
//! # HEAD of a new repository: refs/heads/<initial_branch>
//! initial_branch = master
//! # git's receive.denyNonFastForwards, receive.denyDeletes, receive.denyDeleteCurrent
//! deny_non_fast_forwards = false
//! deny_deletes = false
//! deny_delete_current = true
//! ```
//!
//! Comments go on their own lines: the config reader keeps everything after `=` as the value.
//! The three `deny_*` keys may also be written in `[daemon]`, which then wins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use swiftgit_config::{Config, ConfigError, Section, SectionReader};
use swiftgit_server::session::receive_pack::PushPolicy;

pub const DEFAULT_LISTEN: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 9418;
pub const DEFAULT_INITIAL_BRANCH: &str = "master";

const DAEMON_KEYS: [&str; 9] = [
    "listen",
    "port",
    "read_only",
    "max_connections",
    "idle_timeout",
    "shutdown_grace",
    "deny_non_fast_forwards",
    "deny_deletes",
    "deny_delete_current",
];
const REPOSITORY_KEYS: [&str; 4] = [
    "initial_branch",
    "deny_non_fast_forwards",
    "deny_deletes",
    "deny_delete_current",
];

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
}

/// A section of `config`, empty when absent, read with the config crate's typed reader.
pub(crate) fn with_section<T>(
    config: &Config,
    name: &'static str,
    read: impl FnOnce(&SectionReader<'_>) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let empty = Section::default();
    let section = config.ini.sections.get(name).unwrap_or(&empty);
    let path = config
        .origin
        .as_deref()
        .unwrap_or(Path::new("(embedded default)"));
    read(&SectionReader {
        section,
        name,
        path,
    })
}

/// Unknown keys of `[daemon]` and `[repository]`, as warnings.
pub fn warnings(config: &Config) -> Vec<String> {
    [
        ("daemon", &DAEMON_KEYS[..]),
        ("repository", &REPOSITORY_KEYS[..]),
    ]
    .into_iter()
    .filter_map(|(name, known)| Some(unknown_keys(name, config.ini.sections.get(name)?, known)))
    .flatten()
    .collect()
}

/// A warning for each key of the section `[name]` that is not in `known`: the readers ignore
/// such keys, so a misspelt one would otherwise go unnoticed.
pub(crate) fn unknown_keys<'a>(
    name: &'a str,
    section: &'a Section,
    known: &'a [&str],
) -> impl Iterator<Item = String> + 'a {
    section
        .entries
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .map(move |key| format!("unknown key `{key}` in [{name}] is ignored"))
}

/// The policy keys: `[daemon]` wins over `[repository]`.
fn policy(config: &Config) -> Result<PushPolicy, ConfigError> {
    let defaults = PushPolicy::default();
    let read = |key: &str, default: bool| -> Result<bool, ConfigError> {
        let from_repository = with_section(config, "repository", |r| r.boolean(key, default))?;
        with_section(config, "daemon", |r| r.boolean(key, from_repository))
    };
    Ok(PushPolicy {
        deny_non_fast_forwards: read("deny_non_fast_forwards", defaults.deny_non_fast_forwards)?,
        deny_deletes: read("deny_deletes", defaults.deny_deletes)?,
        deny_delete_current: read("deny_delete_current", defaults.deny_delete_current)?,
    })
}

impl DaemonSettings {
    pub fn load(config: &Config, flags: &DaemonFlags) -> Result<DaemonSettings, ConfigError> {
        let policy = policy(config)?;
        with_section(config, "daemon", |reader| {
            let port = match flags.port {
                Some(port) => port,
                None => u16::try_from(reader.number("port", DEFAULT_PORT.into())?)
                    .map_err(|_| reader.invalid("port", "expected a TCP port (0 to 65535)"))?,
            };
            let idle_secs = match flags.idle_timeout_secs {
                Some(secs) => secs,
                None => reader.positive("idle_timeout", 60)? as u64,
            };
            Ok(DaemonSettings {
                listen: flags
                    .listen
                    .clone()
                    .or_else(|| reader.optional("listen"))
                    .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
                port,
                read_only: flags.read_only || reader.boolean("read_only", false)?,
                max_connections: match flags.max_connections {
                    Some(n) => n,
                    None => reader.positive("max_connections", 256)?,
                },
                idle_timeout: Duration::from_secs(idle_secs.max(1)),
                shutdown_grace: Duration::from_secs(reader.number("shutdown_grace", 30)? as u64),
                policy,
            })
        })
    }
}

/// The initial branch of `swiftgit init`: the flag, else `[repository] initial_branch`, else
/// `master`.
pub fn initial_branch(config: &Config, flag: Option<&str>) -> Result<String, ConfigError> {
    if let Some(branch) = flag {
        return Ok(branch.to_owned());
    }
    with_section(config, "repository", |reader| {
        Ok(reader
            .optional("initial_branch")
            .unwrap_or_else(|| DEFAULT_INITIAL_BRANCH.to_owned()))
    })
}

/// `text` after a `[local]` storage section, as the settings tests' config.
#[cfg(test)]
pub(crate) fn test_config(text: &str) -> Config {
    Config::parse(
        &format!("[local]\npath = /tmp/x\n{text}"),
        Path::new("test.conf"),
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
            warnings(&config("[daemon]\nlisten_address = x\n")),
            ["unknown key `listen_address` in [daemon] is ignored"]
        );
    }
}
