//! swiftgit's configuration: where the config file is found, how its INI text becomes typed
//! settings, and the defaults. The seed's `[swift]` template (dulwich `contrib/swift.py`) loads
//! verbatim; absent or empty keys take the seed's defaults. No file at all selects the embedded
//! default, a local directory. Nothing here does network IO; `load` reads one file.
//!
//! Every key, its default and its doc are declared once, in the tables of [`table`]; the
//! readers ([`SectionReader`]) read keys of those tables only, and the unknown-key warnings and
//! `swiftgit config --defaults` come from the same tables.
//!
//! Secrets never reach `Debug` output or error messages: see [`Secret`].

mod error;
mod ini;
mod reader;
mod swift;
pub mod table;

pub use error::{ConfigError, InvalidValue};
pub use ini::{Ini, Section};
pub use reader::SectionReader;
pub use swift::{AuthVersion, EndpointInterface, SwiftConfig};
pub use table::sections;

use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables that name a config file, in order of precedence (after `-c`).
pub const CONFIG_ENV_VARS: [&str; 2] = ["SWIFTGIT_CONFIG", "DULWICH_SWIFT_CFG"];
/// Where the embedded default keeps repositories when no config file is given.
pub const DEFAULT_DATA_DIR: &str = sections::local::PATH.default_text();
/// Overrides [`DEFAULT_DATA_DIR`] for the embedded default.
pub const DATA_DIR_ENV_VAR: &str = "SWIFTGIT_DATA_DIR";

/// A password or token: printed as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where repositories are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// One Swift account; one container per repository.
    Swift(SwiftConfig),
    /// A local directory; one subdirectory per repository.
    Local(LocalConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    pub path: PathBuf,
}

/// Everything a config file can say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this came from; `None` for the embedded default.
    pub origin: Option<PathBuf>,
    pub storage: StorageConfig,
    /// The parsed file, so that the upper layers (daemon, HTTP, permissions) can read their own
    /// sections with the same error reporting. Empty for the embedded default.
    pub ini: Ini,
    /// Things worth a log line that do not stop loading (unknown keys, say).
    pub warnings: Vec<String>,
}

/// Which config the command line and environment select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    EmbeddedDefault,
}

impl ConfigSource {
    /// `-c PATH` first, then `SWIFTGIT_CONFIG`, then `DULWICH_SWIFT_CFG`, else the embedded
    /// default. Empty values count as unset.
    pub fn locate(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> ConfigSource {
        if let Some(path) = flag {
            return ConfigSource::File(path.to_path_buf());
        }
        CONFIG_ENV_VARS
            .iter()
            .filter_map(|name| env(name).filter(|v| !v.is_empty()))
            .map(|v| ConfigSource::File(PathBuf::from(v)))
            .next()
            .unwrap_or(ConfigSource::EmbeddedDefault)
    }
}

impl Config {
    /// Loads the selected config. `env` supplies environment variables (for the data directory
    /// of the embedded default).
    pub fn load(
        source: &ConfigSource,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        match source {
            ConfigSource::EmbeddedDefault => Ok(Config::embedded_default(env)),
            ConfigSource::File(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
                        path: path.clone(),
                        error,
                    })?;
                Config::parse(&text, path)
            }
        }
    }

    /// The config used when no file is named: a local directory.
    pub fn embedded_default(env: impl Fn(&str) -> Option<String>) -> Config {
        let path = env(DATA_DIR_ENV_VAR)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
        Config {
            origin: None,
            storage: StorageConfig::Local(LocalConfig {
                path: PathBuf::from(path),
            }),
            ini: Ini::default(),
            warnings: Vec::new(),
        }
    }

    /// Parses config text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let ini = Ini::parse(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.line,
            message: e.message,
        })?;
        let warnings = table::unknown_keys(&ini, path);
        let storage = match (ini.sections.get("swift"), ini.sections.get("local")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    path: path.to_path_buf(),
                    message: "both [swift] and [local] are present; keep the one to use".into(),
                });
            }
            (Some(section), None) => StorageConfig::Swift(SwiftConfig::from_section(
                &SectionReader::new(&sections::swift::TABLE, "swift", Some(section), path),
            )?),
            (None, Some(section)) => {
                let local =
                    SectionReader::new(&sections::local::TABLE, "local", Some(section), path);
                let value = local
                    .text(sections::local::PATH)
                    .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
                StorageConfig::Local(LocalConfig {
                    path: PathBuf::from(value),
                })
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                    section: "swift".into(),
                    key: None,
                });
            }
        };
        Ok(Config {
            origin: Some(path.to_path_buf()),
            storage,
            ini,
            warnings,
        })
    }

    /// The file's name in messages.
    fn path(&self) -> &Path {
        self.origin
            .as_deref()
            .unwrap_or(Path::new("(embedded default)"))
    }

    /// The section of `table` (a section without pattern), absent or not, to read its keys.
    pub fn section(&self, table: &'static table::SectionTable) -> SectionReader<'_> {
        debug_assert!(
            !table.patterned,
            "[{} \"PATTERN\"] has one section per pattern",
            table.name
        );
        SectionReader::new(
            table,
            table.name,
            self.ini.sections.get(table.name),
            self.path(),
        )
    }

    /// Every `[NAME "PATTERN"]` section of `table`, with its pattern, in the file's order of
    /// names.
    pub fn patterned_sections(
        &self,
        table: &'static table::SectionTable,
    ) -> impl Iterator<Item = (&str, SectionReader<'_>)> {
        self.ini
            .sections
            .iter()
            .filter_map(move |(header, section)| {
                let pattern = table::pattern_of(table.name, header)?;
                Some((
                    pattern,
                    SectionReader::new(table, header, Some(section), self.path()),
                ))
            })
    }
}

#[cfg(test)]
mod tests;
