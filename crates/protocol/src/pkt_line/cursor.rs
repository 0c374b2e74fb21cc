//! Reading a whole message (a request that ends with a flush) from the front of a buffer.
//!
//! Message parsers in this crate take the bytes received so far and answer [`Parsed::Complete`]
//! with how many bytes the message used, or [`Parsed::Incomplete`] when the message has not fully
//! arrived: the caller reads more and calls again with the longer buffer. Parsers never look past
//! the message, so whatever follows (a pack, the next request) stays in the buffer.

use super::{Decoded, Packet, PktLineError, decode};

/// The result of parsing a message from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The whole message was there; it used the first `consumed` bytes.
    Complete { value: T, consumed: usize },
    /// More bytes are needed before the message can be parsed.
    Incomplete,
}

impl<T> Parsed<T> {
    /// The value, if complete.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Parsed::Complete { value, consumed } => Some((value, consumed)),
            Parsed::Incomplete => None,
        }
    }
}

/// Walks the packets of a buffer, remembering where each began (for error messages).
#[derive(Debug)]
pub(crate) struct PacketCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> PacketCursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        PacketCursor { buf, pos: 0 }
    }

    /// The next packet and its byte offset, or `Ok(None)` if it has not fully arrived.
    pub(crate) fn next(&mut self) -> Result<Option<(Packet<'a>, usize)>, (PktLineError, usize)> {
        let offset = self.pos;
        match decode(&self.buf[offset..]) {
            Ok(Decoded::Complete { packet, consumed }) => {
                self.pos += consumed;
                Ok(Some((packet, offset)))
            }
            Ok(Decoded::Incomplete { .. }) => Ok(None),
            Err(err) => Err((err, offset)),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
}

/// Take the next packet from a [`PacketCursor`], returning `Ok(Parsed::Incomplete)` from the
/// enclosing function if it has not arrived, and converting a framing error with `$err`
/// (a function `(PktLineError, usize) -> E`).
macro_rules! next_packet {
    ($cursor:expr, $err:expr) => {
        match $cursor.next() {
            Ok(Some(found)) => found,
            Ok(None) => return Ok($crate::pkt_line::Parsed::Incomplete),
            Err((source, offset)) => return Err($err(source, offset)),
        }
    };
}
pub(crate) use next_packet;
