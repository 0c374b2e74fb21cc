//! Object ids on the wire: 40 hexadecimal digits (SHA-1, the only object format served).
//!
//! Git sends ids in lower case and reads them case-insensitively; so do we. Every id is a
//! [`gix_hash::ObjectId`]; [`ZERO_ID`] is the all-zero id that means "no object" in ref updates.

use gix_hash::{Kind, ObjectId};

/// The one object format this server speaks, as named in `object-format=` capabilities.
pub const OBJECT_FORMAT: &str = "sha1";

/// Length of an object id in hexadecimal.
pub const HEX_LEN: usize = 40;

/// The all-zero id (`0000…0000`): "no object" — the old value of a created ref, the new value of a
/// deleted one, the id of the `capabilities^{}` placeholder.
pub const ZERO_ID: ObjectId = ObjectId::null(Kind::Sha1);

/// Parse exactly 40 hexadecimal digits; anything else is `None`.
pub fn parse_hex(hex: &[u8]) -> Option<ObjectId> {
    if hex.len() != HEX_LEN || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    ObjectId::from_hex(hex).ok()
}

/// An id in lower-case hex, ready to be written into a packet.
#[derive(Clone, Copy)]
pub(crate) struct Hex {
    buf: [u8; 64],
    len: usize,
}

impl Hex {
    pub(crate) fn new(id: &gix_hash::oid) -> Self {
        let mut buf = [0u8; 64];
        let len = id.hex_to_buf(&mut buf).len();
        Hex { buf, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Split `<40 hex><rest>` into the id and the rest; `None` if the line does not start with an id.
pub(crate) fn split_leading(line: &[u8]) -> Option<(ObjectId, &[u8])> {
    let hex = line.get(..HEX_LEN)?;
    Some((parse_hex(hex)?, &line[HEX_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_case_insensitively() {
        let lower = parse_hex(b"d11ab594bc0b66858ede5168463bf6930701ec39").expect("valid id");
        let upper = parse_hex(b"D11AB594BC0B66858EDE5168463BF6930701EC39").expect("valid id");
        assert_eq!(lower, upper);
        assert_eq!(
            lower.to_string(),
            "d11ab594bc0b66858ede5168463bf6930701ec39"
        );
    }

    #[test]
    fn wrong_length_or_digits_are_rejected() {
        assert_eq!(parse_hex(b"d11ab594"), None);
        assert_eq!(parse_hex(b"g11ab594bc0b66858ede5168463bf6930701ec39"), None);
        assert_eq!(parse_hex(&[b'0'; 64]), None);
        assert_eq!(parse_hex(b"+11ab594bc0b66858ede5168463bf6930701ec39"), None);
    }

    #[test]
    fn zero_id_is_forty_zeros() {
        assert_eq!(ZERO_ID.to_string(), "0".repeat(40));
    }
}
