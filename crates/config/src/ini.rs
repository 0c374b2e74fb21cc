//! A small INI reader with the rules of Python's `configparser` as the seed used it: `[section]`
//! headers, `key = value` or `key: value`, comments on their own lines starting with `#` or `;`,
//! indented continuation lines. Inline comments are NOT recognised, so `username = tenant;user`
//! keeps its `;` (several INI crates cut it there, which silently breaks the seed's config).

use std::collections::BTreeMap;

/// One `[section]`: keys (lower-cased, as configparser does) to values, and the line each came from.
/// `Debug` hides the values of keys that hold secrets (`password`, `*secret*`, `*token*`, `*key`).
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Section {
    pub entries: BTreeMap<String, Entry>,
}

/// Whether the value of `key` is a secret that must not be printed.
pub fn is_secret_key(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.contains("token")
        || key.ends_with("key")
}

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, entry) in &self.entries {
            if is_secret_key(key) {
                map.entry(key, &"***");
            } else {
                map.entry(key, &entry.value);
            }
        }
        map.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub line: usize,
}

/// A parsed file: section name (case kept) to its entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ini {
    pub sections: BTreeMap<String, Section>,
}

/// A syntax error: the 1-based line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl Ini {
    pub fn parse(text: &str) -> Result<Ini, SyntaxError> {
        let mut ini = Ini::default();
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                // A blank line ends a continuation (as in configparser with empty_lines_in_values
                // off for our purposes); comments never continue values.
                if trimmed.is_empty() {
                    last_key = None;
                }
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if indented && let (Some(section), Some(key)) = (&current, &last_key) {
                let entry = ini
                    .sections
                    .get_mut(section)
                    .and_then(|s| s.entries.get_mut(key))
                    .expect("holds because last_key was inserted into the current section");
                entry.value.push('\n');
                entry.value.push_str(trimmed);
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(SyntaxError {
                        line: line_no,
                        message: format!("section header {trimmed:?} has no closing ']'"),
                    });
                };
                let name = name.trim().to_string();
                ini.sections.entry(name.clone()).or_default();
                current = Some(name);
                last_key = None;
                continue;
            }
            let Some(section) = &current else {
                return Err(SyntaxError {
                    line: line_no,
                    message: "a key appears before any [section] header".to_string(),
                });
            };
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(SyntaxError {
                    line: line_no,
                    message: format!("expected 'key = value', found {trimmed:?}"),
                });
            };
            let key = trimmed[..split].trim().to_lowercase();
            if key.is_empty() {
                return Err(SyntaxError {
                    line: line_no,
                    message: "a value has no key before its '='".to_string(),
                });
            }
            let value = trimmed[split + 1..].trim().to_string();
            ini.sections
                .get_mut(section)
                .expect("holds because the current section was inserted at its header")
                .entries
                .insert(
                    key.clone(),
                    Entry {
                        value,
                        line: line_no,
                    },
                );
            last_key = Some(key);
        }
        Ok(ini)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolon_in_value_is_kept() {
        let ini = Ini::parse("[swift]\nusername = admin;admin\n").unwrap();
        assert_eq!(
            ini.sections["swift"].entries["username"].value,
            "admin;admin"
        );
    }

    #[test]
    fn comments_colons_and_continuations() {
        let text = "# top\n[a]\n; c\nk1: v1\nK2 = x\n  y\n\n[b]\nk = \n";
        let ini = Ini::parse(text).unwrap();
        assert_eq!(ini.sections["a"].entries["k1"].value, "v1");
        assert_eq!(ini.sections["a"].entries["k2"].value, "x\ny");
        assert_eq!(ini.sections["a"].entries["k2"].line, 5);
        assert_eq!(ini.sections["b"].entries["k"].value, "");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(Ini::parse("k = v\n").unwrap_err().line, 1);
        assert_eq!(Ini::parse("[s]\n\njunk\n").unwrap_err().line, 3);
        assert_eq!(Ini::parse("[s\n").unwrap_err().line, 1);
    }
}
