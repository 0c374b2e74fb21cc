//! Shallow-clone requests: `shallow <id>`, `deepen <n>`, `deepen-since <t>`, `deepen-not <ref>`
//! (and v2's `deepen-relative` line), as v0/v1 and v2 both spell them.

use bstr::BString;
use gix_hash::ObjectId;

use crate::escaped::EscapedBytes;
use crate::filter::decimal;
use crate::object_id;

/// How the client wants its history cut.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deepen {
    /// `deepen <n>`: at most `n` commits from each want (1..=2147483647; `git fetch --unshallow`
    /// sends 2147483647).
    pub depth: Option<u32>,
    /// `deepen-since <t>`: no commits older than this Unix time.
    pub since: Option<u64>,
    /// `deepen-not <ref>`: no commits reachable from these refs (names as sent, not yet resolved).
    pub not: Vec<BString>,
    /// `deepen-relative`: `depth` counts from the client's current shallow boundary.
    pub relative: bool,
}

impl Deepen {
    /// Whether the client asked to cut or deepen history. In v0/v1 the server sends its
    /// shallow/unshallow list (and the flush closing it) only in this case.
    pub fn is_requested(&self) -> bool {
        self.depth.is_some() || self.since.is_some() || !self.not.is_empty()
    }

    /// Reject `deepen <n>` combined with `deepen-since`/`deepen-not`, as git does.
    pub(crate) fn check(&self) -> Result<(), DeepenError> {
        if self.depth.is_some() && (self.since.is_some() || !self.not.is_empty()) {
            return Err(DeepenError::DepthWithRevisions);
        }
        Ok(())
    }
}

/// Which deepen lines the server advertised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeepenAllowed {
    pub(crate) shallow: bool,
    pub(crate) since: bool,
    pub(crate) not: bool,
}

/// A shallow or deepen line that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeepenError {
    /// `shallow` without a valid object id.
    #[error("invalid shallow line: {line}")]
    BadShallow { line: EscapedBytes },
    /// `deepen` without a positive decimal depth.
    #[error("invalid deepen line: {line} (expected a depth from 1 to 2147483647)")]
    BadDepth { line: EscapedBytes },
    /// `deepen-since` without a positive decimal timestamp.
    #[error("invalid deepen-since line: {line} (expected a positive Unix time)")]
    BadSince { line: EscapedBytes },
    /// `deepen-not` without a ref.
    #[error("deepen-not names no ref")]
    EmptyDeepenNot,
    /// The line needs a capability this server did not advertise.
    #[error("{line} requires the '{capability}' capability, which this server did not advertise")]
    NotAdvertised {
        line: EscapedBytes,
        capability: &'static str,
    },
    /// Depth combined with a date or a ref cut.
    #[error("deepen and deepen-since (or deepen-not) cannot be used together")]
    DepthWithRevisions,
}

/// Handle `line` if it is a shallow or deepen line; `Ok(false)` if it is something else.
pub(crate) fn parse_line(
    line: &[u8],
    allowed: DeepenAllowed,
    shallows: &mut Vec<ObjectId>,
    deepen: &mut Deepen,
) -> Result<bool, DeepenError> {
    let require = |on: bool, capability: &'static str| {
        if on {
            Ok(())
        } else {
            Err(DeepenError::NotAdvertised {
                line: EscapedBytes::new(line),
                capability,
            })
        }
    };
    if let Some(hex) = line.strip_prefix(b"shallow ") {
        require(allowed.shallow, "shallow")?;
        let id = object_id::parse_hex(hex).ok_or_else(|| DeepenError::BadShallow {
            line: EscapedBytes::new(line),
        })?;
        shallows.push(id);
    } else if let Some(depth) = line.strip_prefix(b"deepen ") {
        require(allowed.shallow, "shallow")?;
        let depth = decimal(depth)
            .filter(|depth| (1..=i32::MAX as u64).contains(depth))
            .ok_or_else(|| DeepenError::BadDepth {
                line: EscapedBytes::new(line),
            })?;
        deepen.depth = Some(u32::try_from(depth).expect("holds because depth <= i32::MAX"));
    } else if let Some(since) = line.strip_prefix(b"deepen-since ") {
        require(allowed.since, "deepen-since")?;
        let since = decimal(since)
            .filter(|&since| since > 0 && since < u64::MAX)
            .ok_or_else(|| DeepenError::BadSince {
                line: EscapedBytes::new(line),
            })?;
        deepen.since = Some(since);
    } else if let Some(name) = line.strip_prefix(b"deepen-not ") {
        require(allowed.not, "deepen-not")?;
        if name.is_empty() {
            return Err(DeepenError::EmptyDeepenNot);
        }
        deepen.not.push(name.into());
    } else {
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: DeepenAllowed = DeepenAllowed {
        shallow: true,
        since: true,
        not: true,
    };

    fn parse(
        lines: &[&[u8]],
        allowed: DeepenAllowed,
    ) -> Result<(Vec<ObjectId>, Deepen), DeepenError> {
        let mut shallows = Vec::new();
        let mut deepen = Deepen::default();
        for line in lines {
            assert!(parse_line(line, allowed, &mut shallows, &mut deepen)?);
        }
        deepen.check()?;
        Ok((shallows, deepen))
    }

    #[test]
    fn lines_from_git_traces() {
        let (shallows, deepen) = parse(
            &[
                b"shallow d11ab594bc0b66858ede5168463bf6930701ec39",
                b"deepen 1",
            ],
            ALL,
        )
        .unwrap();
        assert_eq!(shallows.len(), 1);
        assert_eq!(deepen.depth, Some(1));
        assert!(deepen.is_requested());
        let (_, deepen) = parse(&[b"deepen-since 1704187400", b"deepen-not side"], ALL).unwrap();
        assert_eq!(deepen.since, Some(1704187400));
        assert_eq!(deepen.not, vec![BString::from("side")]);
        let (_, deepen) = parse(&[b"deepen 2147483647"], ALL).unwrap();
        assert_eq!(deepen.depth, Some(2147483647));
    }

    #[test]
    fn only_shallow_lines_are_not_a_deepen_request() {
        let (_, deepen) =
            parse(&[b"shallow 1c5bf890c7004775ce35e2740bd33a2e045de60e"], ALL).unwrap();
        assert!(!deepen.is_requested());
    }

    #[test]
    fn bad_lines_get_specific_errors() {
        let kind = |line: &[u8]| parse(&[line], ALL).unwrap_err();
        assert!(matches!(
            kind(b"shallow 123"),
            DeepenError::BadShallow { .. }
        ));
        assert!(matches!(kind(b"deepen 0"), DeepenError::BadDepth { .. }));
        assert!(matches!(kind(b"deepen -1"), DeepenError::BadDepth { .. }));
        assert!(matches!(
            kind(b"deepen 2147483648"),
            DeepenError::BadDepth { .. }
        ));
        assert!(matches!(kind(b"deepen 0x10"), DeepenError::BadDepth { .. }));
        assert!(matches!(
            kind(b"deepen-since 0"),
            DeepenError::BadSince { .. }
        ));
        assert!(matches!(
            kind(b"deepen-since yesterday"),
            DeepenError::BadSince { .. }
        ));
        assert_eq!(kind(b"deepen-not "), DeepenError::EmptyDeepenNot);
        assert_eq!(
            parse(&[b"deepen 1", b"deepen-not side"], ALL).unwrap_err(),
            DeepenError::DepthWithRevisions
        );
    }

    #[test]
    fn unadvertised_lines_are_refused() {
        let none = DeepenAllowed {
            shallow: false,
            since: false,
            not: false,
        };
        let err = parse(&[b"deepen 1"], none).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deepen 1 requires the 'shallow' capability, which this server did not advertise"
        );
        assert!(matches!(
            parse(&[b"deepen-since 5"], none).unwrap_err(),
            DeepenError::NotAdvertised {
                capability: "deepen-since",
                ..
            }
        ));
        assert!(matches!(
            parse(&[b"deepen-not x"], none).unwrap_err(),
            DeepenError::NotAdvertised {
                capability: "deepen-not",
                ..
            }
        ));
    }

    #[test]
    fn other_lines_are_left_alone() {
        let mut shallows = Vec::new();
        let mut deepen = Deepen::default();
        assert_eq!(
            parse_line(b"want x", ALL, &mut shallows, &mut deepen),
            Ok(false)
        );
        assert_eq!(
            parse_line(b"deepen-relative", ALL, &mut shallows, &mut deepen),
            Ok(false)
        );
    }
}
