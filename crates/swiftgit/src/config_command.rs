//! `swiftgit config --defaults`: prints a config file with every section and key of the tables
//! ([`swiftgit_config::table`]) at its default, with its doc as a comment. The file loads as it
//! is (`swiftgit daemon -c FILE`) and means what no `[daemon]`, `[http]`, ... section means.

use std::io::Write;

/// Writes the defaults file to standard output.
pub fn print_defaults() -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(swiftgit_config::table::defaults_file().as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use swiftgit_config::Config;
    use swiftgit_config::table::{defaults_file, sections, table_for};

    use crate::cache_settings;
    use crate::coordinator_settings;
    use crate::http_settings::HttpSettings;
    use crate::maintenance_settings::MaintenanceSettings;
    use crate::settings::{DaemonFlags, DaemonSettings, initial_branch, test_config};

    /// The defaults file loads without a warning and every reader reads from it exactly what it
    /// reads when the sections are absent: the tables' defaults are the readers' defaults.
    #[test]
    fn the_defaults_file_means_what_no_sections_mean() {
        let written = Config::parse(&defaults_file(), Path::new("defaults.conf")).unwrap();
        assert!(written.warnings.is_empty(), "{:?}", written.warnings);
        let absent = test_config("");
        let flags = DaemonFlags::default();
        assert_eq!(
            DaemonSettings::load(&written, &flags).unwrap(),
            DaemonSettings::load(&absent, &flags).unwrap()
        );
        assert_eq!(
            HttpSettings::load(&written, None).unwrap(),
            HttpSettings::load(&absent, None).unwrap()
        );
        let env = |_: &str| Some("/home/u".to_owned());
        assert_eq!(
            cache_settings::load(&written, &flags, env).unwrap(),
            cache_settings::load(&absent, &flags, env).unwrap()
        );
        assert_eq!(
            cache_settings::memory_budget(&written).unwrap(),
            cache_settings::memory_budget(&absent).unwrap()
        );
        assert_eq!(
            MaintenanceSettings::load(&written).unwrap(),
            MaintenanceSettings::load(&absent).unwrap()
        );
        assert!(coordinator_settings::load(&written).unwrap().is_none());
        assert_eq!(
            initial_branch(&written, None).unwrap(),
            initial_branch(&absent, None).unwrap()
        );
    }

    /// Every key of every ```ini block of `text`, by table name (`access` for every `[access
    /// "…"]`); a section no table knows fails the test.
    fn documented_keys(text: &str) -> BTreeMap<&'static str, BTreeSet<String>> {
        let mut keys: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        let mut block: Option<(usize, String)> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            match (&mut block, trimmed) {
                (None, "```ini") => block = Some((line.len() - trimmed.len(), String::new())),
                (Some((_, ini)), "```") => {
                    let parsed = swiftgit_config::Ini::parse(ini)
                        .unwrap_or_else(|e| panic!("README ini block: {e:?}\n{ini}"));
                    for (header, section) in parsed.sections {
                        let table = table_for(&header)
                            .unwrap_or_else(|| panic!("README documents [{header}]: no table"));
                        keys.entry(table.name)
                            .or_default()
                            .extend(section.entries.into_keys());
                    }
                    block = None;
                }
                (Some((indent, ini)), _) => {
                    ini.push_str(line.get(*indent..).unwrap_or(trimmed));
                    ini.push('\n');
                }
                (None, _) => {}
            }
        }
        keys
    }

    /// The README's configuration reference lists every key of the tables, and no other.
    #[test]
    fn the_readme_documents_every_key_and_no_other() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let documented = documented_keys(readme);
        let tables: BTreeMap<&'static str, BTreeSet<String>> = sections::ALL
            .iter()
            .map(|table| {
                let names = table.keys.iter().map(|key| key.name().to_owned());
                (table.name, names.collect())
            })
            .collect();
        assert_eq!(documented, tables);
    }
}
