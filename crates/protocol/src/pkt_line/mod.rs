//! pkt-line framing: the length-prefixed packets every git protocol message is made of.
//!
//! A packet is four lower-case hexadecimal digits giving the total length (prefix included), then
//! that many bytes minus four. Three lengths are special: `0000` flush (end of a message), `0001`
//! delim (between sections, v2) and `0002` response-end (end of a stateless v2 response). Lengths 3
//! and above 65520 are errors. This module decodes one packet from the front of a byte slice
//! ([`decode`]), follows a growing buffer ([`PktReader`]) and encodes packets ([`encode`]).
//!
//! We do not use `gix-packetline`: its decoder rejects the empty packet `0004`, which C git accepts,
//! reports errors as untyped messages where we want an enum callers can match on and that quotes the
//! offending bytes, and it brings four more crates with monthly breaking releases for ~150 lines.

mod cursor;
pub mod encode;
mod reader;

pub use cursor::Parsed;
pub(crate) use cursor::{PacketCursor, next_packet};
pub use reader::PktReader;

use crate::escaped::EscapedBytes;

/// Largest packet, length prefix included (git's `LARGE_PACKET_MAX`).
pub const MAX_PACKET_LEN: usize = 65520;
/// Largest payload of one packet (git's `LARGE_PACKET_DATA_MAX`).
pub const MAX_DATA_LEN: usize = MAX_PACKET_LEN - 4;

/// The flush packet: ends a message (a ref advertisement, a want list, a response).
pub const FLUSH: &[u8; 4] = b"0000";
/// The delimiter packet: separates sections of a v2 request or response.
pub const DELIM: &[u8; 4] = b"0001";
/// The response-end packet: ends a v2 response on stateless transports (smart HTTP).
pub const RESPONSE_END: &[u8; 4] = b"0002";

/// One decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A data packet's payload (may be empty: `0004`).
    Data(&'a [u8]),
    /// `0000`.
    Flush,
    /// `0001`.
    Delim,
    /// `0002`.
    ResponseEnd,
}

impl<'a> Packet<'a> {
    /// The payload of a data packet with one trailing `\n` removed, as git reads text lines
    /// ("receivers MUST treat pkt-lines with non-binary data the same whether or not they contain
    /// the trailing LF"). `None` for flush, delim and response-end.
    pub fn as_text(&self) -> Option<&'a [u8]> {
        match *self {
            Packet::Data(data) => Some(data.strip_suffix(b"\n").unwrap_or(data)),
            _ => None,
        }
    }
}

/// The result of decoding the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole packet, which used the first `consumed` bytes of the buffer.
    Complete { packet: Packet<'a>, consumed: usize },
    /// The buffer holds only the start of a packet: at least `needed` more bytes must arrive.
    Incomplete { needed: usize },
}

/// A malformed packet. Nothing after it can be trusted: the connection should be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PktLineError {
    /// The four length bytes are not hexadecimal digits.
    #[error(
        "bad pkt-line length {prefix}: not four hexadecimal digits (is the client speaking the git protocol?)"
    )]
    LengthNotHex { prefix: EscapedBytes },
    /// The length is 3, which no packet can have (0, 1 and 2 are flush, delim and response-end).
    #[error("bad pkt-line length {length}: shorter than its own 4-byte prefix")]
    LengthTooShort { length: usize },
    /// The length exceeds 65520.
    #[error("bad pkt-line length {length}: longer than the maximum of {MAX_PACKET_LEN}")]
    LengthTooLong { length: usize },
}

/// Decode one packet from the front of `buf`.
///
/// Never reads past the packet; never panics. Upper-case hex digits are accepted, as git does.
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, PktLineError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(Decoded::Incomplete {
            needed: 4 - buf.len(),
        });
    };
    let length = parse_length(prefix)?;
    let packet = match length {
        0 => Packet::Flush,
        1 => Packet::Delim,
        2 => Packet::ResponseEnd,
        3 => return Err(PktLineError::LengthTooShort { length }),
        _ if length > MAX_PACKET_LEN => return Err(PktLineError::LengthTooLong { length }),
        _ => match buf.get(4..length) {
            Some(payload) => Packet::Data(payload),
            None => {
                return Ok(Decoded::Incomplete {
                    needed: length - buf.len(),
                });
            }
        },
    };
    Ok(Decoded::Complete {
        packet,
        consumed: length.max(4),
    })
}

fn parse_length(prefix: &[u8]) -> Result<usize, PktLineError> {
    prefix.iter().try_fold(0usize, |length, &digit| {
        let value = (digit as char)
            .to_digit(16)
            .ok_or_else(|| PktLineError::LengthNotHex {
                prefix: EscapedBytes::new(prefix),
            })?;
        Ok(length * 16 + value as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Packet<'_>, usize) {
        match decode(buf).expect("valid packet") {
            Decoded::Complete { packet, consumed } => (packet, consumed),
            other => panic!("expected a complete packet, got {other:?}"),
        }
    }

    #[test]
    fn examples_from_gitprotocol_common() {
        assert_eq!(complete(b"0006a\n"), (Packet::Data(b"a\n"), 6));
        assert_eq!(complete(b"0005a"), (Packet::Data(b"a"), 5));
        assert_eq!(complete(b"000bfoobar\n"), (Packet::Data(b"foobar\n"), 11));
        assert_eq!(complete(b"0004"), (Packet::Data(b""), 4));
    }

    #[test]
    fn special_packets() {
        assert_eq!(complete(b"0000rest"), (Packet::Flush, 4));
        assert_eq!(complete(b"0001"), (Packet::Delim, 4));
        assert_eq!(complete(b"0002"), (Packet::ResponseEnd, 4));
    }

    #[test]
    fn only_the_first_packet_is_consumed() {
        assert_eq!(complete(b"0009done\n0000"), (Packet::Data(b"done\n"), 9));
    }

    #[test]
    fn incomplete_input_says_how_much_is_missing() {
        assert_eq!(decode(b"").unwrap(), Decoded::Incomplete { needed: 4 });
        assert_eq!(decode(b"00").unwrap(), Decoded::Incomplete { needed: 2 });
        assert_eq!(
            decode(b"0009do").unwrap(),
            Decoded::Incomplete { needed: 3 }
        );
    }

    #[test]
    fn upper_case_length_is_accepted() {
        assert_eq!(complete(b"000Afoobar"), (Packet::Data(b"foobar"), 10));
    }

    #[test]
    fn bad_lengths_are_reported_with_the_bytes() {
        let err = decode(b"GET / HTTP/1.1").unwrap_err();
        assert_eq!(
            err,
            PktLineError::LengthNotHex {
                prefix: EscapedBytes::new(b"GET ")
            }
        );
        assert!(err.to_string().contains("GET "), "{err}");
        let err = decode(b"\x00\x01\xffz").unwrap_err();
        assert!(err.to_string().contains(r"\x00\x01\xffz"), "{err}");
        assert_eq!(
            decode(b"0003").unwrap_err(),
            PktLineError::LengthTooShort { length: 3 }
        );
        assert_eq!(
            decode(b"fff1").unwrap_err(),
            PktLineError::LengthTooLong { length: 0xfff1 }
        );
    }

    #[test]
    fn largest_packet_is_accepted() {
        let mut buf = b"fff0".to_vec();
        buf.resize(MAX_PACKET_LEN, b'x');
        let (packet, consumed) = complete(&buf);
        assert_eq!(consumed, MAX_PACKET_LEN);
        assert_eq!(packet, Packet::Data(&buf[4..]));
    }

    #[test]
    fn text_drops_one_newline_only() {
        assert_eq!(Packet::Data(b"NAK\n").as_text(), Some(&b"NAK"[..]));
        assert_eq!(Packet::Data(b"NAK").as_text(), Some(&b"NAK"[..]));
        assert_eq!(Packet::Data(b"x\n\n").as_text(), Some(&b"x\n"[..]));
        assert_eq!(Packet::Flush.as_text(), None);
    }
}
