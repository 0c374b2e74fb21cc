//! Ref names, validated like `git check-ref-format` (see git's `Documentation/git-check-ref-format`)
//! with one more rule: a stored ref lives under `refs/` (HEAD is kept apart, see
//! [`super::Head`]).

use std::borrow::Borrow;
use std::fmt;

/// A valid ref name such as `refs/heads/master`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefName(String);

/// The rule a ref name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefNameRule {
    /// Does not start with `refs/`.
    NotUnderRefs,
    /// Has an empty component: `//`, or ends with `/`.
    EmptyComponent,
    /// A component starts with `.`.
    ComponentStartsWithDot,
    /// A component ends with `.lock`.
    ComponentEndsWithLock,
    /// Contains `..`.
    DoubleDot,
    /// Contains `@{`.
    AtBrace,
    /// Ends with `.`.
    EndsWithDot,
    /// Contains an ASCII control character (including NUL and DEL).
    ControlCharacter,
    /// Contains a space or one of `~ ^ : ? * [ \`.
    ForbiddenCharacter(char),
}

impl fmt::Display for RefNameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefNameRule::NotUnderRefs => f.write_str("it does not start with 'refs/'"),
            RefNameRule::EmptyComponent => {
                f.write_str("it has an empty component ('//' or a trailing '/')")
            }
            RefNameRule::ComponentStartsWithDot => f.write_str("a component starts with '.'"),
            RefNameRule::ComponentEndsWithLock => f.write_str("a component ends with '.lock'"),
            RefNameRule::DoubleDot => f.write_str("it contains '..'"),
            RefNameRule::AtBrace => f.write_str("it contains '@{'"),
            RefNameRule::EndsWithDot => f.write_str("it ends with '.'"),
            RefNameRule::ControlCharacter => f.write_str("it contains a control character"),
            RefNameRule::ForbiddenCharacter(c) => write!(f, "it contains {c:?}"),
        }
    }
}

/// A string that is not a valid ref name, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ref name {name:?}: {rule}")]
pub struct RefNameError {
    pub name: String,
    pub rule: RefNameRule,
}

impl RefName {
    /// Validates `name` (a full name: `refs/heads/master`, not `master`).
    pub fn new(name: impl Into<String>) -> Result<RefName, RefNameError> {
        let name = name.into();
        match check(&name) {
            Ok(()) => Ok(RefName(name)),
            Err(rule) => Err(RefNameError { name, rule }),
        }
    }

    /// `refs/heads/<branch>`, validated.
    pub fn branch(branch: &str) -> Result<RefName, RefNameError> {
        RefName::new(format!("refs/heads/{branch}"))
    }

    /// The full name, `refs/…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(name: &str) -> Result<(), RefNameRule> {
    let rest = name
        .strip_prefix("refs/")
        .ok_or(RefNameRule::NotUnderRefs)?;
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(RefNameRule::ControlCharacter);
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(RefNameRule::ForbiddenCharacter(c));
    }
    if name.contains("..") {
        return Err(RefNameRule::DoubleDot);
    }
    if name.contains("@{") {
        return Err(RefNameRule::AtBrace);
    }
    for component in rest.split('/') {
        if component.is_empty() {
            return Err(RefNameRule::EmptyComponent);
        }
        if component.starts_with('.') {
            return Err(RefNameRule::ComponentStartsWithDot);
        }
        if component.ends_with(".lock") {
            return Err(RefNameRule::ComponentEndsWithLock);
        }
    }
    if name.ends_with('.') {
        return Err(RefNameRule::EndsWithDot);
    }
    Ok(())
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RefName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a `BTreeMap<RefName, _>` be searched by `&str`.
impl Borrow<str> for RefName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RefName {
    type Err = RefNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefName::new(s)
    }
}

impl TryFrom<&str> for RefName {
    type Error = RefNameError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        RefName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> RefNameRule {
        RefName::new(name).expect_err(name).rule
    }

    #[test]
    fn valid_names() {
        for name in [
            "refs/heads/master",
            "refs/heads",
            "refs/tags/v1.0",
            "refs/heads/feature/x-y_z",
            "refs/heads/é",
            "refs/heads/a.b",
            "refs/heads/a@b",
            "refs/heads/lock",
            "refs/heads/x.locks",
        ] {
            assert_eq!(RefName::new(name).expect(name).as_str(), name);
        }
        assert_eq!(
            RefName::branch("main").expect("valid").as_str(),
            "refs/heads/main"
        );
    }

    #[test]
    fn every_rule_is_enforced() {
        assert_eq!(rule("HEAD"), RefNameRule::NotUnderRefs);
        assert_eq!(rule("heads/master"), RefNameRule::NotUnderRefs);
        assert_eq!(rule("refs"), RefNameRule::NotUnderRefs);
        assert_eq!(rule("refs/"), RefNameRule::EmptyComponent);
        assert_eq!(rule("refs/heads/"), RefNameRule::EmptyComponent);
        assert_eq!(rule("refs//heads"), RefNameRule::EmptyComponent);
        assert_eq!(
            rule("refs/heads/.hidden"),
            RefNameRule::ComponentStartsWithDot
        );
        assert_eq!(
            rule("refs/heads/x.lock"),
            RefNameRule::ComponentEndsWithLock
        );
        assert_eq!(
            rule("refs/heads/x.lock/y"),
            RefNameRule::ComponentEndsWithLock
        );
        assert_eq!(rule("refs/heads/a..b"), RefNameRule::DoubleDot);
        assert_eq!(rule("refs/heads/a@{1}"), RefNameRule::AtBrace);
        assert_eq!(rule("refs/heads/a."), RefNameRule::EndsWithDot);
        assert_eq!(rule("refs/heads/a\tb"), RefNameRule::ControlCharacter);
        assert_eq!(rule("refs/heads/a\u{7f}"), RefNameRule::ControlCharacter);
        for c in [' ', '~', '^', ':', '?', '*', '[', '\\'] {
            assert_eq!(
                rule(&format!("refs/heads/a{c}b")),
                RefNameRule::ForbiddenCharacter(c)
            );
        }
        let message = RefName::new("refs/heads/a..b")
            .expect_err("bad")
            .to_string();
        assert_eq!(
            message,
            "invalid ref name \"refs/heads/a..b\": it contains '..'"
        );
    }
}
