//! `fetch` arguments (v2): wants, haves, done and the options C git's `process_args` reads.
//!
//! Git 2.47 sends `want`/`have`/`done`/`want-ref` with `\n` and the option lines (`thin-pack`,
//! `ofs-delta`, `deepen 1`, `filter blob:none`, `shallow <id>`) without. `packfile-uris` is refused:
//! this server never advertises it.

use bstr::BString;
use gix_hash::ObjectId;

use super::capabilities::V2Features;
use crate::escaped::EscapedBytes;
use crate::filter::{FilterError, FilterSpec};
use crate::object_id;
use crate::upload_pack::deepen::{self, DeepenAllowed};
use crate::upload_pack::{Deepen, DeepenError};

/// Parsed `fetch` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchRequest {
    /// `want <id>` in the order sent, duplicates included.
    pub wants: Vec<ObjectId>,
    /// `want-ref <name>` (with `ref-in-want`): answer with a wanted-refs section.
    pub want_refs: Vec<BString>,
    /// `have <id>` in the order sent.
    pub haves: Vec<ObjectId>,
    /// `done`: send the pack now, without an acknowledgments section.
    pub done: bool,
    /// `thin-pack`.
    pub thin_pack: bool,
    /// `no-progress`.
    pub no_progress: bool,
    /// `include-tag`.
    pub include_tag: bool,
    /// `ofs-delta`.
    pub ofs_delta: bool,
    /// `shallow <id>`: commits the client has without parents.
    pub shallows: Vec<ObjectId>,
    /// `deepen`, `deepen-since`, `deepen-not`, `deepen-relative`.
    pub deepen: Deepen,
    /// `filter <spec>`.
    pub filter: Option<FilterSpec>,
    /// `wait-for-done`: never answer `ready`; wait for `done`.
    pub wait_for_done: bool,
    /// `sideband-all`: multiplex the whole response.
    pub sideband_all: bool,
}

/// Bad `fetch` arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// An argument fetch does not know.
    #[error("fetch: unexpected line: '{line}'")]
    UnexpectedLine { line: EscapedBytes },
    /// `want` without a valid id.
    #[error("fetch: protocol error, expected to get object ID, not '{line}'")]
    BadWant { line: EscapedBytes },
    /// `have` without a valid id.
    #[error("fetch: protocol error, expected to get object ID, not '{line}'")]
    BadHave { line: EscapedBytes },
    /// An argument whose feature was not advertised.
    #[error(
        "fetch: '{line}' requires the '{feature}' feature, which this server did not advertise"
    )]
    NotAdvertised {
        line: EscapedBytes,
        feature: &'static str,
    },
    /// The same `want-ref` twice.
    #[error("fetch: want-ref {name} sent more than once")]
    DuplicateWantRef { name: EscapedBytes },
    /// A shallow or deepen argument that cannot be honoured.
    #[error("fetch: {0}")]
    Deepen(#[from] DeepenError),
    /// A second `filter`.
    #[error("fetch: only one filter line is allowed")]
    DuplicateFilter,
    /// A filter spec that cannot be parsed.
    #[error("fetch: {0}")]
    Filter(#[from] FilterError),
    /// `packfile-uris`, which this server does not offer.
    #[error("fetch: packfile-uris is not supported by this server")]
    PackfileUrisUnsupported,
}

impl FetchRequest {
    /// Parse the argument lines (without their `\n`).
    pub fn parse(arguments: &[&[u8]], features: &V2Features) -> Result<Self, FetchError> {
        let mut request = FetchRequest::default();
        let allowed = DeepenAllowed {
            shallow: features.fetch_shallow,
            since: features.fetch_shallow,
            not: features.fetch_shallow,
        };
        for &line in arguments {
            let require = |on: bool, feature: &'static str| {
                if on {
                    Ok(())
                } else {
                    Err(FetchError::NotAdvertised {
                        line: EscapedBytes::new(line),
                        feature,
                    })
                }
            };
            match line {
                b"thin-pack" => request.thin_pack = true,
                b"ofs-delta" => request.ofs_delta = true,
                b"no-progress" => request.no_progress = true,
                b"include-tag" => request.include_tag = true,
                b"done" => request.done = true,
                b"wait-for-done" => {
                    require(features.fetch_wait_for_done, "wait-for-done")?;
                    request.wait_for_done = true;
                }
                b"deepen-relative" => {
                    require(features.fetch_shallow, "shallow")?;
                    request.deepen.relative = true;
                }
                b"sideband-all" => {
                    require(features.fetch_sideband_all, "sideband-all")?;
                    request.sideband_all = true;
                }
                _ => parse_valued(line, features, allowed, &mut request)?,
            }
        }
        request.deepen.check()?;
        Ok(request)
    }
}

fn parse_valued(
    line: &[u8],
    features: &V2Features,
    allowed: DeepenAllowed,
    request: &mut FetchRequest,
) -> Result<(), FetchError> {
    if let Some(hex) = line.strip_prefix(b"want ") {
        let id = object_id::parse_hex(hex).ok_or_else(|| FetchError::BadWant {
            line: EscapedBytes::new(line),
        })?;
        request.wants.push(id);
    } else if let Some(hex) = line.strip_prefix(b"have ") {
        let id = object_id::parse_hex(hex).ok_or_else(|| FetchError::BadHave {
            line: EscapedBytes::new(line),
        })?;
        request.haves.push(id);
    } else if let Some(name) = line.strip_prefix(b"want-ref ") {
        if !features.fetch_ref_in_want {
            return Err(FetchError::NotAdvertised {
                line: EscapedBytes::new(line),
                feature: "ref-in-want",
            });
        }
        if request.want_refs.iter().any(|wanted| wanted == name) {
            return Err(FetchError::DuplicateWantRef {
                name: EscapedBytes::new(name),
            });
        }
        request.want_refs.push(name.into());
    } else if let Some(spec) = line.strip_prefix(b"filter ") {
        if !features.fetch_filter {
            return Err(FetchError::NotAdvertised {
                line: EscapedBytes::new(line),
                feature: "filter",
            });
        }
        if request.filter.is_some() {
            return Err(FetchError::DuplicateFilter);
        }
        request.filter = Some(FilterSpec::parse(spec)?);
    } else if line.starts_with(b"packfile-uris ") {
        return Err(FetchError::PackfileUrisUnsupported);
    } else if !deepen::parse_line(line, allowed, &mut request.shallows, &mut request.deepen)? {
        return Err(FetchError::UnexpectedLine {
            line: EscapedBytes::new(line),
        });
    }
    Ok(())
}
