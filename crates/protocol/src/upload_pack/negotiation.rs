//! The client's `have` rounds after the want list.
//!
//! Each round is up to 32 `have <id>` lines (git starts with 16) ending in a flush — the server
//! answers with ACKs and a NAK, the client sends more — or ending in `done`, after which the
//! server sends its last ACK or NAK and the pack. Over smart HTTP every request repeats the want
//! list and carries all rounds so far.

use gix_hash::ObjectId;

use crate::escaped::EscapedBytes;
use crate::object_id;
use crate::pkt_line::{Packet, PacketCursor, Parsed, PktLineError, next_packet};

/// How a round of haves ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundEnd {
    /// A flush: the client waits for ACKs/NAK and will send more haves or `done`.
    Flush,
    /// `done`: negotiation is over; send the final ACK/NAK and the pack.
    Done,
}

/// One round of haves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaveRound {
    /// The ids in the order sent.
    pub haves: Vec<ObjectId>,
    /// Flush or done.
    pub end: RoundEnd,
}

/// A negotiation round that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// Bad framing.
    #[error("bad packet at byte {offset} of the have list: {source}")]
    PktLine { offset: usize, source: PktLineError },
    /// A delim or response-end packet.
    #[error("unexpected {packet} packet at byte {offset} of the have list")]
    UnexpectedSpecialPacket { offset: usize, packet: &'static str },
    /// `have` without a valid object id.
    #[error("protocol error at byte {offset}: invalid have line '{line}'")]
    BadHave { offset: usize, line: EscapedBytes },
    /// Neither `have` nor `done`.
    #[error("protocol error at byte {offset}: expected have or done, got '{line}'")]
    UnexpectedLine { offset: usize, line: EscapedBytes },
}

/// Parse one round of haves at the front of `buf`.
pub fn parse_have_round(buf: &[u8]) -> Result<Parsed<HaveRound>, NegotiationError> {
    let pkt_error = |source, offset| NegotiationError::PktLine { offset, source };
    let mut cursor = PacketCursor::new(buf);
    let mut haves = Vec::new();
    let end = loop {
        let (packet, offset) = next_packet!(cursor, pkt_error);
        let line = match packet {
            Packet::Flush => break RoundEnd::Flush,
            Packet::Delim | Packet::ResponseEnd => {
                let packet = if packet == Packet::Delim {
                    "delim"
                } else {
                    "response-end"
                };
                return Err(NegotiationError::UnexpectedSpecialPacket { offset, packet });
            }
            Packet::Data(_) => packet.as_text().expect("holds for data packets"),
        };
        if line == b"done" {
            break RoundEnd::Done;
        }
        let Some(hex) = line.strip_prefix(b"have ") else {
            return Err(NegotiationError::UnexpectedLine {
                offset,
                line: EscapedBytes::new(line),
            });
        };
        let id = object_id::parse_hex(hex).ok_or_else(|| NegotiationError::BadHave {
            offset,
            line: EscapedBytes::new(line),
        })?;
        haves.push(id);
    };
    Ok(Parsed::Complete {
        value: HaveRound { haves, end },
        consumed: cursor.position(),
    })
}
