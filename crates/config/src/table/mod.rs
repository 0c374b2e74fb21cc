//! Every key of the config file, in one declarative table per section: its name, its default as
//! a user writes it, and a one-line doc. The tables are the one source for the readers (a
//! [`SectionReader`](crate::SectionReader) reads a [`Key`], and a `Key` exists only in a
//! table), for the warnings about unknown sections and keys, and for `swiftgit config
//! --defaults` ([`defaults_file`]). The sections themselves are in [`sections`].

mod defaults_file;
pub mod sections;

pub use defaults_file::defaults_file;

use std::path::Path;

use crate::Ini;

/// One key of a section's table. Only the tables of this crate make them, so a reader cannot
/// ask for a key that no table lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    section: &'static str,
    name: &'static str,
    default: &'static str,
    doc: &'static str,
}

impl Key {
    pub(crate) const fn new(
        section: &'static str,
        name: &'static str,
        default: &'static str,
        doc: &'static str,
    ) -> Key {
        Key {
            section,
            name,
            default,
            doc,
        }
    }

    /// The section's table name (`access` for `[access "PATTERN"]`).
    pub const fn section(&self) -> &'static str {
        self.section
    }

    /// The key as written in the file (lower case).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The default as a user would write it; empty when the default is "unset" (the doc says
    /// what that means).
    pub const fn default_text(&self) -> &'static str {
        self.default
    }

    /// What the key does, in one line.
    pub const fn doc(&self) -> &'static str {
        self.doc
    }

    /// The default as a whole number. Meant for constant contexts (`const { KEY.default_number() }`),
    /// where a default that is not a whole number fails the build rather than a run.
    pub const fn default_number(&self) -> u64 {
        let digits = self.default.as_bytes();
        assert!(!digits.is_empty(), "the default is not a whole number");
        let mut value: u64 = 0;
        let mut index = 0;
        while index < digits.len() {
            let digit = digits[index];
            assert!(digit.is_ascii_digit(), "the default is not a whole number");
            value = value * 10 + (digit - b'0') as u64;
            index += 1;
        }
        value
    }

    /// The default as a boolean (`true` or `false`), for constant contexts like
    /// [`Self::default_number`].
    pub const fn default_bool(&self) -> bool {
        match self.default.as_bytes() {
            b"true" => true,
            b"false" => false,
            _ => panic!("the default is not true or false"),
        }
    }
}

/// How `swiftgit config --defaults` writes a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDefaultsFile {
    /// Written as is: its defaults are what an absent section means.
    Active,
    /// Written commented out: the section's presence alone changes what the server does (it
    /// selects Swift, turns etcd on, or adds a permission rule).
    Commented,
}

/// The table of one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionTable {
    /// `daemon` for `[daemon]`; with `patterned`, the word before the pattern.
    pub name: &'static str,
    /// `[NAME "PATTERN"]`: one section per pattern, as `[access "team-*"]`.
    pub patterned: bool,
    /// What the section is for, in a line or two.
    pub doc: &'static str,
    pub in_defaults_file: InDefaultsFile,
    pub keys: &'static [Key],
}

impl SectionTable {
    /// The key named `name`, if the table lists it.
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|key| key.name == name)
    }

    /// Whether the file's section `header` (as parsed, without brackets) is one of this table's.
    pub fn matches(&self, header: &str) -> bool {
        if self.patterned {
            pattern_of(self.name, header).is_some()
        } else {
            header == self.name
        }
    }

    /// The header as the defaults file and the docs write it: `daemon`, `access "PATTERN"`.
    pub fn header(&self) -> String {
        if self.patterned {
            format!("{} \"PATTERN\"", self.name)
        } else {
            self.name.to_owned()
        }
    }
}

/// The PATTERN of a section header `NAME "PATTERN"`.
pub fn pattern_of<'a>(name: &str, header: &'a str) -> Option<&'a str> {
    let rest = header.strip_prefix(name)?.trim_start();
    rest.strip_prefix('"')?.strip_suffix('"')
}

/// The table of a section header of the file, if any.
pub fn table_for(header: &str) -> Option<&'static SectionTable> {
    sections::ALL
        .iter()
        .copied()
        .find(|table| table.matches(header))
}

/// A warning for each section of `ini` that no table knows, and for each key that its
/// section's table does not list: the readers ignore them, so a misspelt one would otherwise go
/// unnoticed.
pub fn unknown_keys(ini: &Ini, path: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    for (header, section) in &ini.sections {
        let Some(table) = table_for(header) else {
            warnings.push(format!(
                "config file {}: unknown section [{header}] is ignored",
                path.display()
            ));
            continue;
        };
        for (key, entry) in &section.entries {
            if table.key(key).is_none() {
                warnings.push(format!(
                    "config file {}, line {}: unknown key `{key}` in [{header}] is ignored",
                    path.display(),
                    entry.line
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_named_once_and_documented() {
        for table in sections::ALL {
            for (index, key) in table.keys.iter().enumerate() {
                assert_eq!(key.section(), table.name);
                assert!(!key.doc().is_empty(), "[{}] {}", table.name, key.name());
                assert!(
                    !table.keys[..index].iter().any(|k| k.name() == key.name()),
                    "[{}] {} twice",
                    table.name,
                    key.name()
                );
                assert_eq!(key.name(), key.name().to_lowercase());
            }
        }
    }

    #[test]
    fn unknown_sections_and_keys_are_named_with_their_line() {
        let ini = Ini::parse(
            "[daemon]\nport = 1\nlisten_address = x\n[deamon]\n[access \"a*\"]\nread = x\nfoo = 1\n",
        )
        .unwrap();
        assert_eq!(
            unknown_keys(&ini, Path::new("/etc/s.conf")),
            [
                "config file /etc/s.conf, line 7: unknown key `foo` in [access \"a*\"] is ignored",
                "config file /etc/s.conf, line 3: unknown key `listen_address` in [daemon] is ignored",
                "config file /etc/s.conf: unknown section [deamon] is ignored",
            ]
        );
    }

    #[test]
    fn defaults_convert_in_constant_contexts() {
        assert_eq!(const { sections::daemon::PORT.default_number() }, 9418);
        assert!(const { sections::repository::DENY_DELETE_CURRENT.default_bool() });
        assert!(!const { sections::repository::DENY_DELETES.default_bool() });
    }

    #[test]
    fn access_sections_are_found_by_pattern() {
        assert_eq!(
            table_for("access \"team-*\"").map(|t| t.name),
            Some("access")
        );
        assert_eq!(pattern_of("access", "access \"team-*\""), Some("team-*"));
        assert!(table_for("access").is_none());
        assert!(table_for("accessory \"x\"").is_none());
    }
}
