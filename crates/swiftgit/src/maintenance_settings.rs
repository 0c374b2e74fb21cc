//! The `[maintenance]` section: repacking, pruning and log compaction (see
//! `swiftgit_server::maintenance`), run by `swiftgit gc` and, unless `auto = false`, by the
//! daemon in the background when a repository crosses a threshold. Its keys, defaults and
//! docs: [`swiftgit_config::sections::maintenance`].

use std::time::Duration;

use swiftgit_config::sections::maintenance;
use swiftgit_config::{Config, ConfigError};
use swiftgit_server::maintenance::{GcOptions, LOG_GRACE_FLOOR, Thresholds};

/// `[maintenance]`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceSettings {
    pub auto: bool,
    pub max_packs: usize,
    pub small_packs_bytes: u64,
    pub max_log_entries: u64,
    pub prune: Duration,
    pub retire_after: Duration,
}

impl MaintenanceSettings {
    pub fn load(config: &Config) -> Result<MaintenanceSettings, ConfigError> {
        let reader = config.section(&maintenance::TABLE);
        let grace = |key| {
            parse_grace(&reader.string(key)?).map_err(|message| reader.invalid(key, &message))
        };
        Ok(MaintenanceSettings {
            auto: reader.boolean(maintenance::AUTO)?,
            max_packs: reader.positive(maintenance::MAX_PACKS)?,
            small_packs_bytes: (reader.positive(maintenance::SMALL_PACKS_MB)? as u64)
                .saturating_mul(1 << 20),
            max_log_entries: reader.positive(maintenance::MAX_LOG_ENTRIES)? as u64,
            prune: grace(maintenance::PRUNE)?,
            retire_after: grace(maintenance::RETIRE_AFTER)?,
        })
    }

    /// When the daemon runs maintenance by itself.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_packs: self.max_packs,
            small_packs_bytes: self.small_packs_bytes,
            max_log_entries: self.max_log_entries,
        }
    }

    /// The options of a run: these graces, the log's at least [`LOG_GRACE_FLOOR`].
    pub fn gc_options(&self) -> GcOptions {
        GcOptions {
            prune: self.prune,
            retire_after: self.retire_after,
            log_grace: self.prune.max(LOG_GRACE_FLOOR),
            ..GcOptions::default()
        }
    }
}

/// A grace period: `now` (zero), `never`, or a number and a unit — `s`, `m`, `h`, `d`, `w` or
/// their words (`2 weeks`, `90min`, and git's `2.weeks.ago`).
pub fn parse_grace(text: &str) -> Result<Duration, String> {
    let original = text;
    let text = text.trim().to_ascii_lowercase();
    match text.as_str() {
        "now" => return Ok(Duration::ZERO),
        "never" => return Ok(Duration::MAX),
        _ => {}
    }
    let text = text.strip_suffix(".ago").unwrap_or(&text);
    let text = text.strip_suffix(" ago").unwrap_or(text);
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let bad = || {
        format!(
            "{original:?} is not a duration: expected now, never, or a number with a unit (s, m, h, d, w; \"2 weeks\", \"2.weeks.ago\")"
        )
    };
    let count: u64 = text[..digits].parse().map_err(|_| bad())?;
    let unit = text[digits..].trim_start_matches(['.', ' ']);
    let seconds = match unit.trim_end_matches('s') {
        "" if unit == "s" => 1,
        "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        "w" | "week" => 7 * 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(count.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::test_config as config;

    #[test]
    fn graces_parse_in_git_and_plain_spellings() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_grace("now"), Ok(Duration::ZERO));
        assert_eq!(parse_grace("never"), Ok(Duration::MAX));
        assert_eq!(parse_grace("2 weeks"), Ok(day * 14));
        assert_eq!(parse_grace("2.weeks.ago"), Ok(day * 14));
        assert_eq!(parse_grace("1.week.ago"), Ok(day * 7));
        assert_eq!(parse_grace("3d"), Ok(day * 3));
        assert_eq!(parse_grace("90min"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_grace("1 hour"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_grace("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_grace("30 seconds"), Ok(Duration::from_secs(30)));
        for bad in ["", "soon", "2 fortnights", "-1d", "weeks"] {
            assert!(parse_grace(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_section_has_defaults_and_refuses_garbage() {
        let defaults = MaintenanceSettings::load(&config("")).expect("defaults");
        assert!(defaults.auto);
        assert_eq!(defaults.max_packs, 16);
        // The table's text defaults are the server's (which its own defaults use).
        assert_eq!(defaults.prune, swiftgit_server::maintenance::DEFAULT_PRUNE);
        assert_eq!(
            defaults.retire_after,
            swiftgit_server::maintenance::DEFAULT_RETIRE_AFTER
        );
        let set = MaintenanceSettings::load(&config(
            "[maintenance]\nauto = false\nprune = now\nmax_packs = 4\n",
        ))
        .expect("valid");
        assert!(!set.auto);
        assert_eq!(set.prune, Duration::ZERO);
        assert_eq!(set.gc_options().log_grace, LOG_GRACE_FLOOR);
        assert!(MaintenanceSettings::load(&config("[maintenance]\nprune = soon\n")).is_err());
        assert!(MaintenanceSettings::load(&config("[maintenance]\nmax_packs = 0\n")).is_err());
    }
}
