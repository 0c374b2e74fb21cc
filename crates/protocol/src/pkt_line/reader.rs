//! [`PktReader`]: packets out of a buffer that grows as bytes arrive — no IO of its own.

use super::{Decoded, Packet, PktLineError, decode};

/// Collects bytes as they arrive and hands out whole packets.
///
/// Feed it with [`PktReader::push`] whatever the transport read; take packets with
/// [`PktReader::next_packet`] until it returns `Ok(None)` (the next packet is incomplete). Bytes that
/// are not pkt-lines (a pack after a push's commands) are taken with [`PktReader::take_rest`].
/// Consumed bytes are dropped on the next `push`, so memory stays at one packet plus what is unread.
#[derive(Debug, Default)]
pub struct PktReader {
    buf: Vec<u8>,
    pos: usize,
}

impl PktReader {
    /// An empty reader.
    pub fn new() -> Self {
        PktReader::default()
    }

    /// Append bytes received from the transport.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed. After an error the reader stays
    /// at the bad packet: the stream cannot be resynchronised.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, PktLineError> {
        match decode(&self.buf[self.pos..])? {
            Decoded::Complete { packet, consumed } => {
                self.pos += consumed;
                Ok(Some(packet))
            }
            Decoded::Incomplete { .. } => Ok(None),
        }
    }

    /// How many more bytes the next packet needs (0 if a whole packet is buffered, or on error).
    pub fn needed(&self) -> usize {
        match decode(&self.buf[self.pos..]) {
            Ok(Decoded::Incomplete { needed }) => needed,
            _ => 0,
        }
    }

    /// The bytes received but not yet consumed.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Remove `n` unread bytes without parsing them (for message parsers that reported
    /// `consumed`); `n` is clamped to what is unread.
    pub fn consume(&mut self, n: usize) {
        self.pos += n.min(self.buf.len() - self.pos);
    }

    /// Take every unread byte, leaving the reader empty.
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_out_as_their_bytes_arrive() {
        let mut reader = PktReader::new();
        reader.push(b"0009do");
        assert_eq!(reader.next_packet().unwrap(), None);
        assert_eq!(reader.needed(), 3);
        reader.push(b"ne\n00");
        assert_eq!(reader.next_packet().unwrap(), Some(Packet::Data(b"done\n")));
        assert_eq!(reader.next_packet().unwrap(), None);
        reader.push(b"00PACK");
        assert_eq!(reader.next_packet().unwrap(), Some(Packet::Flush));
        assert_eq!(reader.unread(), b"PACK");
        assert_eq!(reader.take_rest(), b"PACK");
        assert_eq!(reader.unread(), b"");
    }

    #[test]
    fn consume_skips_bytes_parsed_elsewhere() {
        let mut reader = PktReader::new();
        reader.push(b"0000rest");
        reader.consume(4);
        assert_eq!(reader.unread(), b"rest");
        reader.consume(100);
        assert_eq!(reader.unread(), b"");
    }

    #[test]
    fn errors_stay_errors() {
        let mut reader = PktReader::new();
        reader.push(b"zzzz");
        assert!(reader.next_packet().is_err());
        assert!(reader.next_packet().is_err());
    }
}
