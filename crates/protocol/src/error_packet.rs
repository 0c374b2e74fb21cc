//! `ERR <message>`: the packet that aborts a session with a message for the user.
//!
//! The C git client prints it as `fatal: remote error: <message>` and exits. It may replace any
//! packet the client expects, so a server can send it whenever it must give up (unknown
//! repository, `not our ref`, a malformed request). C git sends it without a trailing newline:
//! `0049ERR upload-pack: not our ref 0123…`, `003bERR access denied or repository not exported:
//! /nope.git`. With v2's `sideband-all`, errors travel on band 3 instead
//! ([`crate::sideband::encode`] with [`crate::sideband::Band::Error`]).

use bytes::BufMut;

use crate::pkt_line::{MAX_DATA_LEN, encode};

/// Write `ERR <message>`, cutting the message (at a UTF-8 boundary) to fit one packet.
pub fn encode_error(out: &mut impl BufMut, message: &str) {
    let room = MAX_DATA_LEN - 4;
    let mut end = message.len().min(room);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    encode::parts(out, &[b"ERR ", &message.as_bytes()[..end]])
        .expect("holds because the message was cut to fit");
}

/// If `payload` is an `ERR` packet, its message (a client-side helper for tests and tools).
pub fn parse_error(payload: &[u8]) -> Option<&[u8]> {
    payload.strip_prefix(b"ERR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_git_daemon() {
        let mut out = Vec::new();
        encode_error(
            &mut out,
            "access denied or repository not exported: /nope.git",
        );
        assert_eq!(
            out,
            b"003bERR access denied or repository not exported: /nope.git"
        );
        assert_eq!(
            parse_error(&out[4..]),
            Some(&b"access denied or repository not exported: /nope.git"[..])
        );
    }

    #[test]
    fn long_messages_are_cut_to_one_packet() {
        let mut out = Vec::new();
        encode_error(&mut out, &"é".repeat(40_000));
        assert!(out.len() <= crate::pkt_line::MAX_PACKET_LEN);
        assert!(std::str::from_utf8(&out[8..]).is_ok());
    }
}
