//! Who may read and who may push each repository over HTTP: `[access "PATTERN"]` sections of
//! the config file, where PATTERN is a repository name or a glob (`*` any run of characters,
//! `?` one character).
//!
//! ```ini
//! [access "edeploy"]
//! read = alice, bob
//! write = alice
//! anonymous_read = true
//! ```
//!
//! The rule for a repository is the section naming it exactly, else the matching glob with the
//! longest pattern (ties: the alphabetically first). Within a rule, a user may read when listed
//! in `read` or `write` (or when either holds `*`, meaning every authenticated user), and push
//! when listed in `write` (or `write = *`); anyone may read when `anonymous_read` is true.
//! A repository that no rule matches is governed by [`DefaultAccess`] (`[http] default_access`:
//! by default every authenticated user may read it and nobody may push), and read anonymously
//! when `[http] anonymous_read` is true. Pushing always needs a user.

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Clone, fetch, ls-remote.
    Read,
    /// Push.
    Write,
}

/// What authenticated users may do on a repository that no rule matches (`[http]
/// default_access`). Ordered: each level allows what the one before it does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum DefaultAccess {
    /// Nothing: only repositories a rule names are served to users.
    None,
    /// Clone, fetch, ls-remote; pushing needs a rule's `write`.
    #[default]
    Read,
    /// Read and push.
    Write,
}

/// One `[access "PATTERN"]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRule {
    pub pattern: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub anonymous_read: bool,
}

/// Every rule, and what holds where none matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    pub rules: Vec<AccessRule>,
    /// Anonymous reads of repositories that no rule matches.
    pub default_anonymous_read: bool,
    /// What authenticated users may do on repositories that no rule matches.
    pub default_access: DefaultAccess,
}

/// Splits a `read =` / `write =` value: names separated by commas or whitespace.
pub fn parse_user_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

impl AccessRules {
    /// The rule that governs `repo`, if any.
    pub fn rule_for(&self, repo: &str) -> Option<&AccessRule> {
        if let Some(exact) = self.rules.iter().find(|rule| rule.pattern == repo) {
            return Some(exact);
        }
        self.rules
            .iter()
            .filter(|rule| glob_matches(rule.pattern.as_bytes(), repo.as_bytes()))
            .min_by(|a, b| {
                b.pattern
                    .len()
                    .cmp(&a.pattern.len())
                    .then_with(|| a.pattern.cmp(&b.pattern))
            })
    }

    /// Whether `user` (`None`: anonymous) may do `need` on `repo`.
    pub fn allows(&self, user: Option<&str>, repo: &str, need: Permission) -> bool {
        let Some(rule) = self.rule_for(repo) else {
            return match (need, user) {
                (Permission::Read, None) => self.default_anonymous_read,
                (Permission::Read, Some(_)) => {
                    self.default_anonymous_read || self.default_access >= DefaultAccess::Read
                }
                (Permission::Write, None) => false,
                (Permission::Write, Some(_)) => self.default_access == DefaultAccess::Write,
            };
        };
        let listed = |list: &[String], user: &str| list.iter().any(|n| n == "*" || n == user);
        match (need, user) {
            (Permission::Read, None) => rule.anonymous_read,
            (Permission::Read, Some(user)) => {
                rule.anonymous_read || listed(&rule.read, user) || listed(&rule.write, user)
            }
            (Permission::Write, None) => false,
            (Permission::Write, Some(user)) => listed(&rule.write, user),
        }
    }
}

/// Glob matching with `*` (any run, including empty) and `?` (one byte).
pub fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AccessRules {
        AccessRules {
            rules: vec![
                AccessRule {
                    pattern: "edeploy".into(),
                    read: parse_user_list("alice, bob"),
                    write: parse_user_list("alice"),
                    anonymous_read: true,
                },
                AccessRule {
                    pattern: "team-*".into(),
                    read: vec!["*".into()],
                    write: vec!["carol".into()],
                    anonymous_read: false,
                },
                AccessRule {
                    pattern: "team-secret*".into(),
                    read: vec!["dave".into()],
                    write: vec![],
                    anonymous_read: false,
                },
            ],
            default_anonymous_read: false,
            default_access: DefaultAccess::default(),
        }
    }

    #[test]
    fn rules_decide() {
        let rules = rules();
        use Permission::{Read, Write};
        assert!(rules.allows(None, "edeploy", Read));
        assert!(!rules.allows(None, "edeploy", Write));
        assert!(rules.allows(Some("bob"), "edeploy", Read));
        assert!(!rules.allows(Some("bob"), "edeploy", Write));
        assert!(rules.allows(Some("alice"), "edeploy", Write));
        assert!(!rules.allows(None, "team-a", Read));
        assert!(rules.allows(Some("zed"), "team-a", Read));
        assert!(rules.allows(Some("carol"), "team-a", Write));
        // The longer glob wins.
        assert!(!rules.allows(Some("zed"), "team-secret-x", Read));
        assert!(rules.allows(Some("dave"), "team-secret-x", Read));
        // No rule: authenticated users may read, not push (`default_access = read`).
        assert!(!rules.allows(None, "other", Read));
        assert!(rules.allows(Some("zed"), "other", Read));
        assert!(!rules.allows(Some("zed"), "other", Write));
    }

    #[test]
    fn default_access_governs_repositories_no_rule_matches() {
        use Permission::{Read, Write};
        let with = |default_access, default_anonymous_read| AccessRules {
            default_access,
            default_anonymous_read,
            ..rules()
        };
        let none = with(DefaultAccess::None, false);
        assert!(!none.allows(Some("zed"), "other", Read));
        assert!(!none.allows(Some("zed"), "other", Write));
        assert!(
            none.allows(Some("bob"), "edeploy", Read),
            "rules still apply"
        );
        let write = with(DefaultAccess::Write, false);
        assert!(write.allows(Some("zed"), "other", Write));
        assert!(!write.allows(None, "other", Write), "pushing needs a user");
        assert!(!write.allows(Some("zed"), "edeploy", Write), "a rule wins");
        // What anyone may read, a user may read too.
        let anonymous = with(DefaultAccess::None, true);
        assert!(anonymous.allows(None, "other", Read));
        assert!(anonymous.allows(Some("zed"), "other", Read));
        assert!(!anonymous.allows(Some("zed"), "other", Write));
    }

    #[test]
    fn globs() {
        assert!(glob_matches(b"*", b""));
        assert!(glob_matches(b"a*c", b"abbbc"));
        assert!(glob_matches(b"a?c", b"abc"));
        assert!(!glob_matches(b"a?c", b"ac"));
        assert!(glob_matches(b"*-*-x", b"a-b-c-x"));
        assert!(!glob_matches(b"team-*", b"tea"));
    }
}
