//! The v2 `fetch` answer, its sections always in the order the C git client reads them.
//!
//! ```text
//! acknowledgments\n (NAK\n | ACK <id>\n…) [ready\n]   then 0000 (not ready) or 0001 (ready)
//! shallow-info\n shallow <id> unshallow <id>           then 0001
//! wanted-refs\n <id> <name>\n …                        then 0001
//! packfile\n                                           then side-band packets and 0000
//! ```
//!
//! C git's client reads shallow-info *before* wanted-refs. C git 2.47's server writes them the other
//! way round, so a shallow clone with `uploadpack.allowRefInWant` fails against it ("expected
//! 'packfile', received 'shallow-info'"); [`PackfilePreamble`] always writes the client's order.
//! With `sideband-all` every line except flush and delim is wrapped in band 1, as C git does.

use bstr::BString;
use bytes::BufMut;
use gix_hash::ObjectId;

use crate::object_id::Hex;
use crate::pkt_line::encode::{self, EncodeError};
use crate::sideband::{self, Band, SidebandMode};

/// A ref sent in the wanted-refs section: what a `want-ref` name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedRef {
    /// The object the ref points to.
    pub id: ObjectId,
    /// The name as the client sent it.
    pub name: BString,
}

/// The shallow-info section's content.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShallowInfo<'a> {
    /// Commits whose parents are not sent.
    pub shallow: &'a [ObjectId],
    /// Commits the client said were shallow whose parents are now sent.
    pub unshallow: &'a [ObjectId],
}

/// Everything before the pack data, for a response that sends a pack.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackfilePreamble<'a> {
    /// `Some(common)` when the request had haves but no `done`: an acknowledgments section with
    /// these ACKs (or NAK if empty) and `ready`. `None` when the client sent `done`.
    pub acknowledgments: Option<&'a [ObjectId]>,
    /// `Some` when the client deepened, sent shallow lines, or the repository is shallow.
    pub shallow_info: Option<ShallowInfo<'a>>,
    /// One entry per `want-ref`; the section is left out when empty.
    pub wanted_refs: &'a [WantedRef],
    /// The client sent `sideband-all`.
    pub sideband_all: bool,
}

impl PackfilePreamble<'_> {
    /// Write the sections and the `packfile` header. Then send the pack with
    /// `sideband::encode(out, Band::Data, pack, SidebandMode::SideBand64k)` (progress on band 2)
    /// and end with a flush.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut lines = LineWriter {
            out,
            sideband_all: self.sideband_all,
        };
        if let Some(common) = self.acknowledgments {
            write_acknowledgments(&mut lines, common)?;
            lines.line(&[b"ready\n"])?;
            encode::delim(lines.out);
        }
        if let Some(info) = self.shallow_info {
            lines.line(&[b"shallow-info\n"])?;
            for id in info.shallow {
                lines.line(&[b"shallow ", Hex::new(id).as_bytes()])?;
            }
            for id in info.unshallow {
                lines.line(&[b"unshallow ", Hex::new(id).as_bytes()])?;
            }
            encode::delim(lines.out);
        }
        if !self.wanted_refs.is_empty() {
            lines.line(&[b"wanted-refs\n"])?;
            for wanted in self.wanted_refs {
                lines.line(&[Hex::new(&wanted.id).as_bytes(), b" ", &wanted.name, b"\n"])?;
            }
            encode::delim(lines.out);
        }
        lines.line(&[b"packfile\n"])
    }
}

/// Write a response that sends no pack yet: `acknowledgments`, `NAK` or one `ACK <id>` per common
/// object, and a flush. The client will send another request with more haves or `done`.
pub fn encode_acknowledgments_only(out: &mut impl BufMut, common: &[ObjectId], sideband_all: bool) {
    let mut lines = LineWriter { out, sideband_all };
    write_acknowledgments(&mut lines, common).expect("holds because ACK lines are short");
    encode::flush(lines.out);
}

fn write_acknowledgments<B: BufMut>(
    lines: &mut LineWriter<'_, B>,
    common: &[ObjectId],
) -> Result<(), EncodeError> {
    lines.line(&[b"acknowledgments\n"])?;
    if common.is_empty() {
        lines.line(&[b"NAK\n"])?;
    }
    for id in common {
        lines.line(&[b"ACK ", Hex::new(id).as_bytes(), b"\n"])?;
    }
    Ok(())
}

/// Writes data lines plain, or in band 1 under `sideband-all`.
struct LineWriter<'a, B> {
    out: &'a mut B,
    sideband_all: bool,
}

impl<B: BufMut> LineWriter<'_, B> {
    fn line(&mut self, parts: &[&[u8]]) -> Result<(), EncodeError> {
        if self.sideband_all {
            let line = parts.concat();
            if line.len() > SidebandMode::SideBand64k.max_payload() {
                return Err(EncodeError::PayloadTooLong {
                    length: line.len() + 1,
                });
            }
            sideband::encode(self.out, Band::Data, &line, SidebandMode::SideBand64k);
            Ok(())
        } else {
            encode::parts(self.out, parts)
        }
    }
}
