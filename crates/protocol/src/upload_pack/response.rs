//! What upload-pack answers in v0/v1: ACK/NAK lines and the shallow update.
//!
//! Byte forms as C git writes them: `ACK <id> common\n`, `ACK <id> ready\n`,
//! `ACK <id> continue\n`, `ACK <id>\n`, `NAK\n`; but `shallow <id>` and `unshallow <id>` without
//! `\n` (v0/v1 and v2's shallow-info alike).

use bytes::BufMut;
use gix_hash::ObjectId;

use crate::capabilities::AckMode;
use crate::object_id::Hex;
use crate::pkt_line::encode;

/// One acknowledgment line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// `ACK <id> common` (multi_ack_detailed): the server has this object.
    Common(ObjectId),
    /// `ACK <id> ready` (multi_ack_detailed): the server can make a pack now.
    Ready(ObjectId),
    /// `ACK <id> continue` (multi_ack): common, keep going.
    Continue(ObjectId),
    /// `ACK <id>`: the first common object without multi_ack, or the last one after `done`.
    Plain(ObjectId),
    /// `NAK`: nothing (more) in common yet.
    Nak,
}

impl AckMode {
    /// What to send for a `have` the server has, C git's way: `common` or `continue` in the
    /// multi_ack modes; without them a plain ACK for the first common object only.
    pub fn ack_common(self, id: ObjectId, first_common: bool) -> Option<Ack> {
        match self {
            AckMode::MultiDetailed => Some(Ack::Common(id)),
            AckMode::Multi => Some(Ack::Continue(id)),
            AckMode::Single => first_common.then_some(Ack::Plain(id)),
        }
    }

    /// What to send once the server is ready to make a pack: `ready` or `continue`; nothing
    /// without multi_ack.
    pub fn ack_ready(self, id: ObjectId) -> Option<Ack> {
        match self {
            AckMode::MultiDetailed => Some(Ack::Ready(id)),
            AckMode::Multi => Some(Ack::Continue(id)),
            AckMode::Single => None,
        }
    }
}

/// Write one ACK/NAK packet.
pub fn encode_ack(out: &mut impl BufMut, ack: &Ack) {
    let (id, suffix): (Option<&ObjectId>, &[u8]) = match ack {
        Ack::Common(id) => (Some(id), b" common\n"),
        Ack::Ready(id) => (Some(id), b" ready\n"),
        Ack::Continue(id) => (Some(id), b" continue\n"),
        Ack::Plain(id) => (Some(id), b"\n"),
        Ack::Nak => (None, b""),
    };
    let result = match id {
        Some(id) => encode::parts(out, &[b"ACK ", Hex::new(id).as_bytes(), suffix]),
        None => encode::text(out, b"NAK"),
    };
    result.expect("holds because ACK lines are under 80 bytes");
}

/// Write `shallow <id>` (no newline, as git).
pub fn encode_shallow_line(out: &mut impl BufMut, id: &ObjectId) {
    encode::parts(out, &[b"shallow ", Hex::new(id).as_bytes()])
        .expect("holds because the line is under 80 bytes");
}

/// Write `unshallow <id>` (no newline, as git).
pub fn encode_unshallow_line(out: &mut impl BufMut, id: &ObjectId) {
    encode::parts(out, &[b"unshallow ", Hex::new(id).as_bytes()])
        .expect("holds because the line is under 80 bytes");
}

/// Write the v0/v1 shallow update sent right after the want list: the new shallow boundary, the
/// commits no longer shallow, and a flush. Send it only when `Deepen::is_requested()`; a client
/// that just listed its shallow commits expects no update (and no flush).
pub fn encode_shallow_update(out: &mut impl BufMut, shallow: &[ObjectId], unshallow: &[ObjectId]) {
    for id in shallow {
        encode_shallow_line(out, id);
    }
    for id in unshallow {
        encode_unshallow_line(out, id);
    }
    encode::flush(out);
}
