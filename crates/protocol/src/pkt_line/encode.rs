//! Writing packets into any [`BufMut`] (`Vec<u8>`, `BytesMut`).
//!
//! Lengths are written as git writes them: four lower-case hex digits. Text lines get their `\n`
//! here ([`text`]) — callers pass the line without it. A payload over [`MAX_DATA_LEN`] is refused
//! with [`EncodeError`]; nothing is written in that case.

use bytes::BufMut;

use super::{DELIM, FLUSH, MAX_DATA_LEN, RESPONSE_END};

/// A packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The payload does not fit in one packet.
    #[error("pkt-line payload of {length} bytes exceeds the maximum of {MAX_DATA_LEN}")]
    PayloadTooLong { length: usize },
}

/// Write one data packet carrying `payload` as is (binary safe).
pub fn data(out: &mut impl BufMut, payload: &[u8]) -> Result<(), EncodeError> {
    parts(out, &[payload])
}

/// Write one text packet: `line` followed by `\n`.
pub fn text(out: &mut impl BufMut, line: &[u8]) -> Result<(), EncodeError> {
    parts(out, &[line, b"\n"])
}

/// Write one data packet whose payload is the concatenation of `parts` (no allocation).
pub fn parts(out: &mut impl BufMut, parts: &[&[u8]]) -> Result<(), EncodeError> {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    if length > MAX_DATA_LEN {
        return Err(EncodeError::PayloadTooLong { length });
    }
    put_length(out, length + 4);
    for part in parts {
        out.put_slice(part);
    }
    Ok(())
}

/// Write `0000`.
pub fn flush(out: &mut impl BufMut) {
    out.put_slice(FLUSH);
}

/// Write `0001`.
pub fn delim(out: &mut impl BufMut) {
    out.put_slice(DELIM);
}

/// Write `0002`.
pub fn response_end(out: &mut impl BufMut) {
    out.put_slice(RESPONSE_END);
}

/// Write a length prefix; `length` includes the prefix itself and is at most 0xffff.
pub(crate) fn put_length(out: &mut impl BufMut, length: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    debug_assert!(length <= 0xffff, "holds because callers check MAX_DATA_LEN");
    out.put_slice(&[
        HEX[(length >> 12) & 0xf],
        HEX[(length >> 8) & 0xf],
        HEX[(length >> 4) & 0xf],
        HEX[length & 0xf],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkt_line::MAX_PACKET_LEN;

    #[test]
    fn lines_are_framed_like_git() {
        let mut out = Vec::new();
        text(&mut out, b"NAK").unwrap();
        data(&mut out, b"a").unwrap();
        data(&mut out, b"").unwrap();
        flush(&mut out);
        delim(&mut out);
        response_end(&mut out);
        assert_eq!(out, b"0008NAK\n0005a0004000000010002");
    }

    #[test]
    fn length_is_lower_case_hex() {
        let mut out = Vec::new();
        data(&mut out, &[b'x'; 0xab - 4]).unwrap();
        assert_eq!(&out[..4], b"00ab");
    }

    #[test]
    fn largest_payload_fits_and_one_more_byte_is_refused() {
        let mut out = Vec::new();
        data(&mut out, &vec![0; MAX_DATA_LEN]).unwrap();
        assert_eq!(out.len(), MAX_PACKET_LEN);
        assert_eq!(&out[..4], b"fff0");
        let mut out = Vec::new();
        assert_eq!(
            text(&mut out, &vec![b'x'; MAX_DATA_LEN]),
            Err(EncodeError::PayloadTooLong {
                length: MAX_DATA_LEN + 1
            })
        );
        assert!(out.is_empty());
    }
}
