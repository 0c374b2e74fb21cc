//! Repository names: which strings name a repository, and how a path from a git URL maps to one.
//!
//! A repository is one storage container, so its name follows Swift's container rules (non-empty,
//! at most 256 bytes of UTF-8, no `/`) plus ours: no control characters, no leading `.` (names
//! starting with a dot are reserved, and `.`/`..` would be unusable), no leading `~`.
//!
//! Like `git daemon`, `edeploy` and `edeploy.git` name the same repository: a trailing `.git` is
//! dropped, so the canonical name (the container) never ends in `.git` and `a.git.git` is refused
//! rather than silently becoming `a.git`. [`RepoName::from_url_path`] also drops the one leading
//! `/` and any trailing `/` of the path part of `git://host/edeploy.git/`. `git daemon` maps
//! `~user/...` to a user's home only with `--user-path`; swiftgit has no user paths, so a leading
//! `~` is refused with [`RepoNameRule::UserPath`].

use std::fmt;

/// Longest container name Swift accepts, in bytes of UTF-8.
pub const MAX_REPO_NAME_BYTES: usize = 256;

/// A valid repository name in canonical form (no `.git` suffix): the name of its container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

/// The rule a repository name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoNameRule {
    /// Nothing is left once `/` and `.git` are stripped.
    Empty,
    /// More than [`MAX_REPO_NAME_BYTES`] bytes.
    TooLong,
    /// Contains `/`: repositories are not nested.
    Slash,
    /// `.` or `..`.
    DotPath,
    /// Starts with `.`: reserved.
    LeadingDot,
    /// Starts with `~`: user paths (`git daemon --user-path`) are not supported.
    UserPath,
    /// Contains an ASCII control character (including NUL, newline, DEL).
    ControlCharacter,
    /// Still ends in `.git` after the one `.git` suffix was dropped (`a.git.git`).
    GitSuffix,
}

impl fmt::Display for RepoNameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RepoNameRule::Empty => "it is empty",
            RepoNameRule::TooLong => "it is longer than 256 bytes",
            RepoNameRule::Slash => "it contains '/' (repositories are not nested)",
            RepoNameRule::DotPath => "'.' and '..' are not repository names",
            RepoNameRule::LeadingDot => "names starting with '.' are reserved",
            RepoNameRule::UserPath => "'~user' paths are not supported",
            RepoNameRule::ControlCharacter => "it contains a control character",
            RepoNameRule::GitSuffix => "it ends in '.git' twice",
        })
    }
}

/// A string that does not name a repository, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository name {name:?}: {rule}")]
pub struct RepoNameError {
    /// The name as given.
    pub name: String,
    pub rule: RepoNameRule,
}

impl RepoName {
    /// Validates `name` as given on a command line (`swiftgit init edeploy`); a trailing `.git`
    /// is dropped (`edeploy.git` is `edeploy`).
    pub fn new(name: &str) -> Result<RepoName, RepoNameError> {
        let fail = |rule| RepoNameError {
            name: name.to_owned(),
            rule,
        };
        let canonical = name.strip_suffix(".git").unwrap_or(name);
        if canonical.is_empty() {
            return Err(fail(RepoNameRule::Empty));
        }
        if canonical.len() > MAX_REPO_NAME_BYTES {
            return Err(fail(RepoNameRule::TooLong));
        }
        if canonical.starts_with('~') {
            return Err(fail(RepoNameRule::UserPath));
        }
        if canonical.contains('/') {
            return Err(fail(RepoNameRule::Slash));
        }
        if canonical == "." || canonical == ".." {
            return Err(fail(RepoNameRule::DotPath));
        }
        if canonical.starts_with('.') {
            return Err(fail(RepoNameRule::LeadingDot));
        }
        if canonical.chars().any(|c| c.is_ascii_control()) {
            return Err(fail(RepoNameRule::ControlCharacter));
        }
        if canonical.ends_with(".git") {
            return Err(fail(RepoNameRule::GitSuffix));
        }
        Ok(RepoName(canonical.to_owned()))
    }

    /// Maps the path of a git URL to a repository, as `git daemon` does with a base path:
    /// `/edeploy`, `/edeploy.git`, `/edeploy/` and `edeploy` all name `edeploy`.
    pub fn from_url_path(path: &str) -> Result<RepoName, RepoNameError> {
        let stripped = path.strip_prefix('/').unwrap_or(path).trim_end_matches('/');
        RepoName::new(stripped).map_err(|e| RepoNameError {
            name: path.to_owned(),
            rule: e.rule,
        })
    }

    /// The canonical name, which is also the container's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RepoName {
    type Err = RepoNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> RepoNameRule {
        RepoName::new(name).expect_err(name).rule
    }

    #[test]
    fn git_suffix_names_the_same_repository() {
        let plain = RepoName::new("edeploy").expect("valid");
        assert_eq!(RepoName::new("edeploy.git").expect("valid"), plain);
        assert_eq!(
            RepoName::from_url_path("/edeploy.git").expect("valid"),
            plain
        );
        assert_eq!(RepoName::from_url_path("/edeploy").expect("valid"), plain);
        assert_eq!(RepoName::from_url_path("/edeploy/").expect("valid"), plain);
        assert_eq!(
            RepoName::from_url_path("/edeploy.git/").expect("valid"),
            plain
        );
        assert_eq!(RepoName::from_url_path("edeploy").expect("valid"), plain);
        assert_eq!(plain.as_str(), "edeploy");
        assert_eq!(plain.to_string(), "edeploy");
    }

    #[test]
    fn canonical_names_round_trip() {
        for name in ["a", "my-repo_1", "dé pôt", "a.b", "a..b", "x.gi", "a~b"] {
            let parsed = RepoName::new(name).expect(name);
            assert_eq!(RepoName::new(parsed.as_str()).expect("canonical"), parsed);
        }
    }

    #[test]
    fn every_rule_is_enforced() {
        assert_eq!(rule(""), RepoNameRule::Empty);
        assert_eq!(rule(".git"), RepoNameRule::Empty);
        assert_eq!(rule(&"x".repeat(257)), RepoNameRule::TooLong);
        assert!(RepoName::new(&"x".repeat(256)).is_ok());
        assert_eq!(
            rule(&format!("{}.git", "é".repeat(129))),
            RepoNameRule::TooLong
        );
        assert_eq!(rule("a/b"), RepoNameRule::Slash);
        assert_eq!(rule("."), RepoNameRule::DotPath);
        assert_eq!(rule(".."), RepoNameRule::DotPath);
        assert_eq!(rule("..git"), RepoNameRule::DotPath);
        assert_eq!(rule(".hidden"), RepoNameRule::LeadingDot);
        assert_eq!(rule("~alice"), RepoNameRule::UserPath);
        assert_eq!(rule("a\nb"), RepoNameRule::ControlCharacter);
        assert_eq!(rule("a\0"), RepoNameRule::ControlCharacter);
        assert_eq!(rule("a\x7f"), RepoNameRule::ControlCharacter);
        assert_eq!(rule("a.git.git"), RepoNameRule::GitSuffix);
    }

    #[test]
    fn url_paths() {
        let err = RepoName::from_url_path("/~alice/repo").expect_err("user path");
        assert_eq!(err.rule, RepoNameRule::UserPath);
        assert_eq!(err.name, "/~alice/repo");
        assert_eq!(
            RepoName::from_url_path("/~alice").expect_err("user").rule,
            RepoNameRule::UserPath
        );
        assert_eq!(
            RepoName::from_url_path("/a/b.git")
                .expect_err("nested")
                .rule,
            RepoNameRule::Slash
        );
        assert_eq!(
            RepoName::from_url_path("//a").expect_err("double").rule,
            RepoNameRule::Slash
        );
        assert_eq!(
            RepoName::from_url_path("/").expect_err("root").rule,
            RepoNameRule::Empty
        );
        let message = RepoName::from_url_path("/.secret")
            .expect_err("dot")
            .to_string();
        assert_eq!(
            message,
            "invalid repository name \"/.secret\": names starting with '.' are reserved"
        );
    }
}
