//! `swiftgit config --defaults`: every section and key of the tables as a commented INI file
//! that loads as it is and means what no file at all means (on a local directory).

use super::{InDefaultsFile, SectionTable, sections};

/// Comment lines are wrapped to this many columns.
const WIDTH: usize = 96;

/// The defaults file: sections whose presence alone changes behaviour ([`InDefaultsFile`]) are
/// commented out with `;`, every other key is written with its default (empty for "unset").
pub fn defaults_file() -> String {
    let mut out = String::from(
        "# swiftgit's config file with every key at its default (`swiftgit config --defaults`).\n\
         # Comments go on their own lines (# or ;); a ';' inside a value is part of it. An empty\n\
         # value means unset: the key's comment says what that means. Sections commented out with\n\
         # ';' turn something on by being present: uncomment them to use them.\n",
    );
    for table in sections::ALL {
        out.push('\n');
        write_section(&mut out, table);
    }
    out
}

fn write_section(out: &mut String, table: &SectionTable) {
    let prefix = match table.in_defaults_file {
        InDefaultsFile::Active => "",
        InDefaultsFile::Commented => "; ",
    };
    write_comment(out, "#", table.doc);
    out.push_str(&format!("{prefix}[{}]\n", table.header()));
    for key in table.keys {
        write_comment(out, "#", key.doc());
        let value = key.default_text();
        let separator = if value.is_empty() { "" } else { " " };
        out.push_str(&format!("{prefix}{} ={separator}{value}\n", key.name()));
    }
}

/// `text` as comment lines starting with `marker`, wrapped at [`WIDTH`].
fn write_comment(out: &mut String, marker: &str, text: &str) {
    let mut line = String::from(marker);
    for word in text.split_whitespace() {
        if line.len() > marker.len() && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from(marker);
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ini;

    #[test]
    fn every_key_is_in_the_file_once() {
        let text = defaults_file();
        let uncommented: String = text
            .lines()
            .map(|line| line.strip_prefix("; ").unwrap_or(line))
            .filter(|line| !line.starts_with('#'))
            .map(|line| format!("{line}\n"))
            .collect();
        let ini = Ini::parse(&uncommented).expect("the uncommented file parses");
        for table in sections::ALL {
            let section = &ini.sections[&table.header()];
            let names: Vec<&str> = section.entries.keys().map(String::as_str).collect();
            let mut expected: Vec<&str> = table.keys.iter().map(|key| key.name()).collect();
            expected.sort_unstable();
            assert_eq!(names, expected, "[{}]", table.header());
            for key in table.keys {
                assert_eq!(section.entries[key.name()].value, key.default_text());
            }
        }
        assert!(text.lines().all(|line| line.len() <= WIDTH), "{text}");
    }
}
