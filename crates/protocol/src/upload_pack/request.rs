//! The v0/v1 want list: everything the client sends before its first `have`.
//!
//! ```text
//! want <id> <capabilities>\n      (capabilities on the first want only)
//! want <id>\n                     (duplicates happen: git repeats HEAD's id)
//! shallow <id>                    (no \n from git 2.47)
//! deepen <n> | deepen-since <t> | deepen-not <ref>
//! filter <spec>                   (only after the filter capability)
//! 0000
//! ```
//!
//! A bare `0000` means the client wants nothing (ls-remote, or already up to date).

use gix_hash::ObjectId;

use super::deepen::{self, Deepen, DeepenAllowed, DeepenError};
use crate::capabilities::{
    CapabilityError, CapabilityList, UploadPackClientCaps, UploadPackFeatures,
};
use crate::escaped::EscapedBytes;
use crate::filter::{FilterError, FilterSpec};
use crate::object_id;
use crate::pkt_line::{Packet, PacketCursor, Parsed, PktLineError, next_packet};

/// A parsed want list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// Wanted objects in the order sent, duplicates included.
    pub wants: Vec<ObjectId>,
    /// What the client chose from the advertised capabilities.
    pub capabilities: UploadPackClientCaps,
    /// Commits the client has without their parents.
    pub shallows: Vec<ObjectId>,
    /// How to cut history.
    pub deepen: Deepen,
    /// Which objects to leave out (partial clone).
    pub filter: Option<FilterSpec>,
}

/// What the client's first message asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantList {
    /// A bare flush: the client wants nothing and will hang up.
    Empty,
    /// Wants, to be followed by negotiation.
    Wants(Box<UploadRequest>),
}

/// A want list that cannot be served. `offset` is the byte offset of the offending packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRequestError {
    /// Bad framing.
    #[error("bad packet at byte {offset} of the want list: {source}")]
    PktLine { offset: usize, source: PktLineError },
    /// A delim or response-end packet, which v0/v1 never use.
    #[error("unexpected {packet} packet at byte {offset} of the want list")]
    UnexpectedSpecialPacket { offset: usize, packet: &'static str },
    /// A line that is not want/shallow/deepen/filter.
    #[error(
        "protocol error at byte {offset}: expected want, shallow, deepen or filter, got '{line}'"
    )]
    UnexpectedLine { offset: usize, line: EscapedBytes },
    /// `want` without a valid object id.
    #[error("protocol error at byte {offset}: expected to get object ID, not '{line}'")]
    BadWant { offset: usize, line: EscapedBytes },
    /// Capabilities on a want line other than the first.
    #[error("protocol error at byte {offset}: capabilities after the first want line: '{line}'")]
    CapabilitiesAfterFirstWant { offset: usize, line: EscapedBytes },
    /// The capabilities on the first want line cannot be honoured.
    #[error("{source}")]
    Capabilities {
        #[from]
        source: CapabilityError,
    },
    /// A shallow or deepen line cannot be honoured.
    #[error("at byte {offset}: {source}")]
    Deepen { offset: usize, source: DeepenError },
    /// A filter line without the `filter` capability on the first want.
    #[error("at byte {offset}: filtering capability not negotiated")]
    FilterNotNegotiated { offset: usize },
    /// A second filter line.
    #[error("at byte {offset}: only one filter line is allowed")]
    DuplicateFilter { offset: usize },
    /// A filter spec that cannot be parsed.
    #[error("at byte {offset}: {source}")]
    Filter { offset: usize, source: FilterError },
    /// Shallow, deepen or filter lines but no want.
    #[error("the request has no want line")]
    NoWants,
}

/// Parse the want list at the front of `buf`, up to and including its flush.
pub fn parse_upload_request(
    buf: &[u8],
    features: &UploadPackFeatures,
) -> Result<Parsed<WantList>, UploadRequestError> {
    let pkt_error = |source, offset| UploadRequestError::PktLine { offset, source };
    let mut cursor = PacketCursor::new(buf);
    let mut wants = Vec::new();
    let mut capabilities = None;
    let mut shallows = Vec::new();
    let mut deepen = Deepen::default();
    let mut filter_lines = Vec::new();
    let mut saw_other_lines = false;
    let allowed = DeepenAllowed {
        shallow: features.shallow,
        since: features.deepen_since,
        not: features.deepen_not,
    };
    let flush_offset = loop {
        let (packet, offset) = next_packet!(cursor, pkt_error);
        let line = match packet {
            Packet::Flush => break offset,
            Packet::Delim => return Err(special(offset, "delim")),
            Packet::ResponseEnd => return Err(special(offset, "response-end")),
            Packet::Data(_) => packet.as_text().expect("holds for data packets"),
        };
        if let Some(rest) = line.strip_prefix(b"want ") {
            let bad_want = || UploadRequestError::BadWant {
                offset,
                line: EscapedBytes::new(line),
            };
            let (id, after) = object_id::split_leading(rest).ok_or_else(bad_want)?;
            let list = match after {
                [] => None,
                [b' ', list @ ..] => Some(list),
                _ => return Err(bad_want()),
            };
            match (wants.is_empty(), list) {
                (true, list) => {
                    let list = CapabilityList::parse(list.unwrap_or_default());
                    capabilities = Some(UploadPackClientCaps::negotiate(&list, features)?);
                }
                (false, Some(_)) => {
                    return Err(UploadRequestError::CapabilitiesAfterFirstWant {
                        offset,
                        line: EscapedBytes::new(line),
                    });
                }
                (false, None) => {}
            }
            wants.push(id);
            continue;
        }
        saw_other_lines = true;
        if deepen::parse_line(line, allowed, &mut shallows, &mut deepen)
            .map_err(|source| UploadRequestError::Deepen { offset, source })?
        {
            continue;
        }
        if let Some(spec) = line.strip_prefix(b"filter ") {
            filter_lines.push((offset, spec));
            continue;
        }
        return Err(UploadRequestError::UnexpectedLine {
            offset,
            line: EscapedBytes::new(line),
        });
    };
    let Some(capabilities) = capabilities else {
        if saw_other_lines {
            return Err(UploadRequestError::NoWants);
        }
        return Ok(Parsed::Complete {
            value: WantList::Empty,
            consumed: cursor.position(),
        });
    };
    deepen.relative = capabilities.deepen_relative;
    deepen
        .check()
        .map_err(|source| UploadRequestError::Deepen {
            offset: flush_offset,
            source,
        })?;
    let filter = match filter_lines.as_slice() {
        [] => None,
        [(offset, _), ..] if !capabilities.filter => {
            return Err(UploadRequestError::FilterNotNegotiated { offset: *offset });
        }
        [(offset, spec)] => {
            Some(
                FilterSpec::parse(spec).map_err(|source| UploadRequestError::Filter {
                    offset: *offset,
                    source,
                })?,
            )
        }
        [_, (offset, _), ..] => {
            return Err(UploadRequestError::DuplicateFilter { offset: *offset });
        }
    };
    Ok(Parsed::Complete {
        value: WantList::Wants(Box::new(UploadRequest {
            wants,
            capabilities,
            shallows,
            deepen,
            filter,
        })),
        consumed: cursor.position(),
    })
}

fn special(offset: usize, packet: &'static str) -> UploadRequestError {
    UploadRequestError::UnexpectedSpecialPacket { offset, packet }
}
