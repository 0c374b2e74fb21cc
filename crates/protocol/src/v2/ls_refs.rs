//! `ls-refs`: the v2 ref listing — its arguments and its answer.
//!
//! ```text
//! C: peel\n symrefs\n unborn\n ref-prefix HEAD\n ref-prefix refs/heads/\n 0000
//! S: <id> HEAD symref-target:refs/heads/main\n
//!    <id> refs/tags/v1 peeled:<id>\n
//!    unborn HEAD symref-target:refs/heads/main\n        (empty repository, with `unborn`)
//!    0000
//! ```

use bstr::BString;
use bytes::BufMut;
use gix_hash::ObjectId;

use super::capabilities::V2Features;
use crate::escaped::EscapedBytes;
use crate::object_id::Hex;
use crate::pkt_line::encode::{self, EncodeError};

/// As C git: with this many `ref-prefix` lines or more, prefixes are ignored and all refs listed.
pub const MAX_REF_PREFIXES: usize = 65536;

/// Parsed `ls-refs` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LsRefsRequest {
    /// `peel`: add `peeled:<id>` to annotated tags.
    pub peel: bool,
    /// `symrefs`: add `symref-target:<ref>` to symbolic refs.
    pub symrefs: bool,
    /// `unborn` (when advertised): list an unborn HEAD.
    pub unborn: bool,
    /// `ref-prefix` values; empty means all refs. A server may list more; clients filter.
    pub ref_prefixes: Vec<BString>,
}

/// Bad `ls-refs` arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsRefsError {
    /// An argument ls-refs does not know.
    #[error("ls-refs: unexpected line: '{line}'")]
    UnexpectedLine { line: EscapedBytes },
}

impl LsRefsRequest {
    /// Parse the argument lines (without their `\n`).
    pub fn parse(arguments: &[&[u8]], features: &V2Features) -> Result<Self, LsRefsError> {
        let mut request = LsRefsRequest::default();
        for &line in arguments {
            match line {
                b"peel" => request.peel = true,
                b"symrefs" => request.symrefs = true,
                // Like C git: accepted even when not advertised, honoured only when it is.
                b"unborn" => request.unborn = features.ls_refs_unborn,
                _ => match line.strip_prefix(b"ref-prefix ") {
                    Some(prefix) => {
                        if request.ref_prefixes.len() < MAX_REF_PREFIXES {
                            request.ref_prefixes.push(prefix.into());
                        }
                    }
                    None => {
                        return Err(LsRefsError::UnexpectedLine {
                            line: EscapedBytes::new(line),
                        });
                    }
                },
            }
        }
        if request.ref_prefixes.len() >= MAX_REF_PREFIXES {
            request.ref_prefixes.clear();
        }
        Ok(request)
    }

    /// Whether `name` matches the requested prefixes (all names do when none were given).
    pub fn wants(&self, name: &[u8]) -> bool {
        self.ref_prefixes.is_empty()
            || self
                .ref_prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix))
    }
}

/// What a listed ref points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefTarget {
    /// An object.
    Id(ObjectId),
    /// Nothing yet: HEAD of an empty repository (sent only with `unborn`).
    Unborn,
}

/// One line of the ls-refs answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsRefsRef {
    /// Full name.
    pub name: BString,
    /// Object or unborn.
    pub target: RefTarget,
    /// For a symbolic ref when `symrefs` was asked: the ref it points to.
    pub symref_target: Option<BString>,
    /// For an annotated tag when `peel` was asked: the object it peels to.
    pub peeled: Option<ObjectId>,
}

/// Write one ls-refs line: `<id>|unborn <name>[ symref-target:<ref>][ peeled:<id>]\n`.
/// End the answer with a flush (`pkt_line::encode::flush`).
pub fn encode_ls_refs_ref(out: &mut impl BufMut, listed: &LsRefsRef) -> Result<(), EncodeError> {
    let id;
    let target: &[u8] = match &listed.target {
        RefTarget::Id(object) => {
            id = Hex::new(object);
            id.as_bytes()
        }
        RefTarget::Unborn => b"unborn",
    };
    let symref: [&[u8]; 2] = match &listed.symref_target {
        Some(symref) => [b" symref-target:", symref],
        None => [b"", b""],
    };
    let peeled_hex = listed.peeled.as_ref().map(|id| Hex::new(id));
    let peeled: [&[u8]; 2] = match &peeled_hex {
        Some(hex) => [b" peeled:", hex.as_bytes()],
        None => [b"", b""],
    };
    encode::parts(
        out,
        &[
            target,
            b" ",
            &listed.name,
            symref[0],
            symref[1],
            peeled[0],
            peeled[1],
            b"\n",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_from_git_clone() {
        let request = LsRefsRequest::parse(
            &[
                b"peel",
                b"symrefs",
                b"unborn",
                b"ref-prefix HEAD",
                b"ref-prefix refs/heads/",
                b"ref-prefix refs/tags/",
            ],
            &V2Features::default(),
        )
        .unwrap();
        assert!(request.peel && request.symrefs && request.unborn);
        assert_eq!(request.ref_prefixes, ["HEAD", "refs/heads/", "refs/tags/"]);
        assert!(request.wants(b"refs/heads/main"));
        assert!(!request.wants(b"refs/notes/x"));
        assert!(LsRefsRequest::default().wants(b"refs/notes/x"));
    }

    #[test]
    fn unborn_is_ignored_unless_advertised() {
        let features = V2Features {
            ls_refs_unborn: false,
            ..V2Features::default()
        };
        assert!(
            !LsRefsRequest::parse(&[b"unborn"], &features)
                .unwrap()
                .unborn
        );
    }

    #[test]
    fn too_many_prefixes_mean_all_refs() {
        let lines: Vec<&[u8]> = vec![b"ref-prefix refs/heads/x"; MAX_REF_PREFIXES + 1];
        let request = LsRefsRequest::parse(&lines, &V2Features::default()).unwrap();
        assert!(request.ref_prefixes.is_empty());
    }

    #[test]
    fn unknown_argument_is_an_error() {
        let err = LsRefsRequest::parse(&[b"peel", b"tags"], &V2Features::default()).unwrap_err();
        assert_eq!(err.to_string(), "ls-refs: unexpected line: 'tags'");
    }
}
