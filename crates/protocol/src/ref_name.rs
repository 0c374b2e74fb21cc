//! Ref name rules (gitprotocol-common, `git check-ref-format`).
//!
//! A pushed name must start with `refs/` and be valid after it with at least two components
//! (`refs/heads/x`, not `refs/x`), as C git's receive-pack requires; otherwise git reports
//! `ng <ref> funny refname`. Checking is the service layer's call: parsers in this crate accept any
//! name so that one bad command does not fail a whole push.

use crate::escaped::EscapedBytes;

/// Why a ref name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefNameError {
    /// A pushed ref must live under `refs/`.
    #[error("ref name {name} does not start with refs/")]
    NotUnderRefs { name: EscapedBytes },
    /// Fewer than two components (after `refs/` for pushes).
    #[error("ref name {name} has only one level")]
    OneLevel { name: EscapedBytes },
    /// An empty component (`a//b`, a leading or trailing `/`).
    #[error("ref name {name} has an empty component")]
    EmptyComponent { name: EscapedBytes },
    /// A component starting with `.` or ending with `.lock`, or a name ending with `.`.
    #[error("ref name {name} has a component that starts with '.' or ends with '.lock' or '.'")]
    BadComponent { name: EscapedBytes },
    /// `..`, `@{`, a lone `@`, or a forbidden byte (control, space, `~^:?*[\`, DEL).
    #[error("ref name {name} contains a forbidden sequence or character")]
    ForbiddenSequence { name: EscapedBytes },
}

/// Check a full ref name as `git check-ref-format` does (at least two components).
pub fn check_format(name: &[u8]) -> Result<(), RefNameError> {
    let escaped = || EscapedBytes::new(name);
    if name == b"@"
        || name.windows(2).any(|pair| pair == b".." || pair == b"@{")
        || name
            .iter()
            .any(|&byte| byte < b' ' || byte == 0x7f || b" ~^:?*[\\".contains(&byte))
    {
        return Err(RefNameError::ForbiddenSequence { name: escaped() });
    }
    let components: Vec<&[u8]> = name.split(|&byte| byte == b'/').collect();
    if components.iter().any(|component| component.is_empty()) {
        return Err(RefNameError::EmptyComponent { name: escaped() });
    }
    if components
        .iter()
        .any(|component| component.starts_with(b".") || component.ends_with(b".lock"))
        || name.ends_with(b".")
    {
        return Err(RefNameError::BadComponent { name: escaped() });
    }
    if components.len() < 2 {
        return Err(RefNameError::OneLevel { name: escaped() });
    }
    Ok(())
}

/// Check the name of a ref a client wants to update: `refs/` followed by a valid two-level name.
pub fn check_pushed(name: &[u8]) -> Result<(), RefNameError> {
    let rest = name
        .strip_prefix(b"refs/")
        .ok_or_else(|| RefNameError::NotUnderRefs {
            name: EscapedBytes::new(name),
        })?;
    check_format(rest).map_err(|err| match err {
        RefNameError::OneLevel { .. } => RefNameError::OneLevel {
            name: EscapedBytes::new(name),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            &b"refs/heads/main"[..],
            b"refs/tags/v1.0",
            b"refs/heads/feature/x-y_z",
            b"refs/heads/caf\xc3\xa9",
        ] {
            assert_eq!(check_pushed(name), Ok(()), "{}", name.escape_ascii());
        }
    }

    #[test]
    fn each_rule_has_its_error() {
        let kind = |name: &[u8]| match check_pushed(name) {
            Ok(()) => "ok",
            Err(RefNameError::NotUnderRefs { .. }) => "not-under-refs",
            Err(RefNameError::OneLevel { .. }) => "one-level",
            Err(RefNameError::EmptyComponent { .. }) => "empty",
            Err(RefNameError::BadComponent { .. }) => "component",
            Err(RefNameError::ForbiddenSequence { .. }) => "forbidden",
        };
        assert_eq!(kind(b"HEAD"), "not-under-refs");
        assert_eq!(kind(b"heads/main"), "not-under-refs");
        assert_eq!(kind(b"refs/main"), "one-level");
        assert_eq!(kind(b"refs/heads//x"), "empty");
        assert_eq!(kind(b"refs/heads/x/"), "empty");
        assert_eq!(kind(b"refs/heads/.x"), "component");
        assert_eq!(kind(b"refs/heads/x.lock"), "component");
        assert_eq!(kind(b"refs/heads/x."), "component");
        assert_eq!(kind(b"refs/heads/a..b"), "forbidden");
        assert_eq!(kind(b"refs/heads/a@{1}"), "forbidden");
        assert_eq!(kind(b"refs/heads/a b"), "forbidden");
        assert_eq!(kind(b"refs/heads/a~1"), "forbidden");
        assert_eq!(kind(b"refs/heads/a\\b"), "forbidden");
        assert_eq!(kind(b"refs/heads/a\x7f"), "forbidden");
        assert_eq!(kind(b"refs/heads/a:b"), "forbidden");
        assert_eq!(kind(b"refs/heads/a*"), "forbidden");
    }

    #[test]
    fn check_format_needs_two_levels() {
        assert!(check_format(b"heads/main").is_ok());
        assert!(matches!(
            check_format(b"main"),
            Err(RefNameError::OneLevel { .. })
        ));
        assert!(matches!(
            check_format(b"@"),
            Err(RefNameError::ForbiddenSequence { .. })
        ));
    }
}
