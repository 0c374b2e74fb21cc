//! Typed reads of one section through its table: a read names a [`Key`] of the section's
//! table, and an absent or empty value takes the key's default from the table (parsed like a
//! value). Errors name the file, line, key and value.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::InvalidValue;
use crate::table::{Key, SectionTable};
use crate::{ConfigError, Section};

/// What an absent section reads as.
static EMPTY: Section = Section {
    entries: BTreeMap::new(),
};

/// One section of the file (possibly absent), read through its table.
pub struct SectionReader<'a> {
    section: &'a Section,
    present: bool,
    /// The header as in the file: `daemon`, `access "team-*"`.
    header: &'a str,
    table: &'static SectionTable,
    path: &'a Path,
}

impl<'a> SectionReader<'a> {
    /// Reads `section` (`None`: absent, all defaults) of the file at `path`, whose header is
    /// `header`, through `table`.
    pub fn new(
        table: &'static SectionTable,
        header: &'a str,
        section: Option<&'a Section>,
        path: &'a Path,
    ) -> SectionReader<'a> {
        SectionReader {
            section: section.unwrap_or(&EMPTY),
            present: section.is_some(),
            header,
            table,
            path,
        }
    }

    /// Whether the file has this section.
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// The value written in the file, or `None` when the key is absent or empty (the default
    /// is not applied).
    pub fn optional(&self, key: Key) -> Option<String> {
        self.entry(key)
            .map(|(value, _)| value.to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value, else the table's default; `None` when both are empty.
    pub fn text(&self, key: Key) -> Option<String> {
        self.optional(key).or_else(|| {
            Some(key.default_text())
                .filter(|default| !default.is_empty())
                .map(str::to_owned)
        })
    }

    /// The value, else the table's default; an error when both are empty.
    pub fn string(&self, key: Key) -> Result<String, ConfigError> {
        self.text(key).ok_or_else(|| self.missing(key))
    }

    /// The value written in the file; an error when it is absent or empty.
    pub fn required(&self, key: Key) -> Result<String, ConfigError> {
        self.optional(key).ok_or_else(|| self.missing(key))
    }

    /// A non-negative integer: the value, else the table's default.
    pub fn number(&self, key: Key) -> Result<usize, ConfigError> {
        let text = self.string(key)?;
        self.parse_number(key, &text)
    }

    /// A non-negative integer: the value, else `default` (for keys whose default is computed).
    pub fn number_or(&self, key: Key, default: usize) -> Result<usize, ConfigError> {
        match self.optional(key) {
            None => Ok(default),
            Some(text) => self.parse_number(key, &text),
        }
    }

    /// Like [`Self::number`], but zero is refused.
    pub fn positive(&self, key: Key) -> Result<usize, ConfigError> {
        self.at_least_one(key, self.number(key)?)
    }

    /// Like [`Self::number_or`], but zero is refused.
    pub fn positive_or(&self, key: Key, default: usize) -> Result<usize, ConfigError> {
        self.at_least_one(key, self.number_or(key, default)?)
    }

    /// A boolean in configparser's spellings (`yes/no`, `true/false`, `on/off`, `1/0`): the
    /// value, else the table's default.
    pub fn boolean(&self, key: Key) -> Result<bool, ConfigError> {
        let text = self.string(key)?;
        self.parse_boolean(key, &text)
    }

    /// A boolean: the value, else `default` (for keys that fall back on another section).
    pub fn boolean_or(&self, key: Key, default: bool) -> Result<bool, ConfigError> {
        match self.optional(key) {
            None => Ok(default),
            Some(text) => self.parse_boolean(key, &text),
        }
    }

    pub fn missing(&self, key: Key) -> ConfigError {
        self.check(key);
        ConfigError::Missing {
            path: self.path.to_path_buf(),
            section: self.header.to_string(),
            key: Some(key.name().to_string()),
        }
    }

    /// An error for the value of `key` (its default when the file has none). Never call it for
    /// a secret.
    pub fn invalid(&self, key: Key, reason: &str) -> ConfigError {
        let (value, line) = self
            .entry(key)
            .filter(|(value, _)| !value.is_empty())
            .unwrap_or((key.default_text(), 0));
        ConfigError::InvalidValue(Box::new(InvalidValue {
            path: self.path.to_path_buf(),
            line,
            section: self.header.to_string(),
            key: key.name().to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }))
    }

    fn entry(&self, key: Key) -> Option<(&str, usize)> {
        self.check(key);
        self.section
            .entries
            .get(key.name())
            .map(|entry| (entry.value.as_str(), entry.line))
    }

    /// A key of another section's table is a bug of the caller, caught by its tests.
    fn check(&self, key: Key) {
        debug_assert!(
            self.table.keys.contains(&key),
            "[{}] is read through the table of [{}]",
            key.section(),
            self.table.name
        );
    }

    fn parse_number(&self, key: Key, text: &str) -> Result<usize, ConfigError> {
        text.parse()
            .map_err(|_| self.invalid(key, "expected a whole number"))
    }

    fn parse_boolean(&self, key: Key, text: &str) -> Result<bool, ConfigError> {
        match text.to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(true),
            "0" | "no" | "false" | "off" => Ok(false),
            _ => Err(self.invalid(key, "expected true or false")),
        }
    }

    fn at_least_one(&self, key: Key, value: usize) -> Result<usize, ConfigError> {
        match value {
            0 => Err(self.invalid(key, "must be at least 1")),
            n => Ok(n),
        }
    }
}
