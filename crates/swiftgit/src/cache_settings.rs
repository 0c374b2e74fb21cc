//! The `[cache]` section: the daemon's disk cache of pack files, in front of Swift (a local
//! directory backend is on disk already and gets none), which `--cache-dir` and
//! `--no-disk-cache` override; and the memory budget of open repositories. Its keys, defaults
//! and docs: [`swiftgit_config::sections::cache`].

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use swiftgit_config::sections::cache;
use swiftgit_config::{Config, ConfigError};

use crate::settings::DaemonFlags;

/// Where the disk cache lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub dir: PathBuf,
    pub budget_bytes: u64,
}

/// `[cache]` after the flags: `None` when the cache is off (`disk_mb = 0` or
/// `--no-disk-cache`). `env` reads environment variables (for the default directory).
pub fn load(
    config: &Config,
    flags: &DaemonFlags,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<CacheSettings>, ConfigError> {
    let reader = config.section(&cache::TABLE);
    let disk_mb = reader.number(cache::DISK_MB)?;
    if flags.no_disk_cache || disk_mb == 0 {
        return Ok(None);
    }
    let dir = match (&flags.cache_dir, reader.optional(cache::DIR)) {
        (Some(flag), _) => flag.clone(),
        (None, Some(configured)) => PathBuf::from(configured),
        (None, None) => default_dir(env),
    };
    Ok(Some(CacheSettings {
        dir,
        budget_bytes: (disk_mb as u64).saturating_mul(1 << 20),
    }))
}

/// `[cache] memory_mb` in bytes: the budget of what open repositories keep in memory (see
/// `swiftgit_server::registry`); zero is refused.
pub fn memory_budget(config: &Config) -> Result<u64, ConfigError> {
    let memory_mb = config.section(&cache::TABLE).positive(cache::MEMORY_MB)?;
    Ok((memory_mb as u64).saturating_mul(1 << 20))
}

/// `$XDG_CACHE_HOME/swiftgit/packs`, else `$HOME/.cache/swiftgit/packs`, else
/// `/tmp/swiftgit-<uid>/packs` (relative values do not count, as the XDG spec says).
fn default_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let absolute = |name: &str| {
        env(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(cache_home) = absolute("XDG_CACHE_HOME") {
        return cache_home.join("swiftgit").join("packs");
    }
    if let Some(home) = absolute("HOME") {
        return home.join(".cache").join("swiftgit").join("packs");
    }
    // The owner of /proc/self is this process's user.
    let uid =
        std::fs::metadata("/proc/self").map_or_else(|_| "user".to_owned(), |m| m.uid().to_string());
    Path::new("/tmp")
        .join(format!("swiftgit-{uid}"))
        .join("packs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::test_config as config;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn defaults_follow_the_xdg_variables() {
        let flags = DaemonFlags::default();
        let xdg = [("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")];
        assert_eq!(
            load(&config(""), &flags, env(&xdg)).unwrap(),
            Some(CacheSettings {
                dir: PathBuf::from("/xdg/swiftgit/packs"),
                budget_bytes: 4096 << 20,
            })
        );
        let home = [("XDG_CACHE_HOME", "relative"), ("HOME", "/home/u")];
        let settings = load(&config(""), &flags, env(&home)).unwrap().unwrap();
        assert_eq!(settings.dir, Path::new("/home/u/.cache/swiftgit/packs"));
        let settings = load(&config(""), &flags, env(&[])).unwrap().unwrap();
        let dir = settings.dir.to_string_lossy().into_owned();
        assert!(
            dir.starts_with("/tmp/swiftgit-") && dir.ends_with("/packs"),
            "{dir}"
        );
    }

    #[test]
    fn config_then_flags() {
        let config = config("[cache]\ndir = /var/cache/sg\ndisk_mb = 10\n");
        let flags = DaemonFlags::default();
        assert_eq!(
            load(&config, &flags, env(&[])).unwrap(),
            Some(CacheSettings {
                dir: PathBuf::from("/var/cache/sg"),
                budget_bytes: 10 << 20,
            })
        );
        let flags = DaemonFlags {
            cache_dir: Some(PathBuf::from("/elsewhere")),
            ..DaemonFlags::default()
        };
        let settings = load(&config, &flags, env(&[])).unwrap().unwrap();
        assert_eq!(settings.dir, Path::new("/elsewhere"));
        let flags = DaemonFlags {
            no_disk_cache: true,
            ..flags
        };
        assert_eq!(load(&config, &flags, env(&[])).unwrap(), None);
    }

    #[test]
    fn zero_turns_it_off_and_bad_values_name_the_key() {
        let flags = DaemonFlags::default();
        assert_eq!(
            load(&config("[cache]\ndisk_mb = 0\n"), &flags, env(&[])).unwrap(),
            None
        );
        let error = load(&config("[cache]\ndisk_mb = lots\n"), &flags, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("[cache] disk_mb = \"lots\""), "{error}");
        assert_eq!(
            config("[cache]\nsize = 1\n").warnings,
            ["config file test.conf, line 4: unknown key `size` in [cache] is ignored"]
        );
    }

    #[test]
    fn memory_budget_defaults_to_256_mib() {
        assert_eq!(memory_budget(&config("")).unwrap(), 256 << 20);
        let configured = config("[cache]\nmemory_mb = 64\n");
        assert_eq!(memory_budget(&configured).unwrap(), 64 << 20);
        assert!(configured.warnings.is_empty());
        for bad in ["-1", "0"] {
            let error = memory_budget(&config(&format!("[cache]\nmemory_mb = {bad}\n")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("[cache] memory_mb"), "{error}");
        }
    }
}
