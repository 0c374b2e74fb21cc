//! The pack file format's headers, as pure functions over bytes: the 12-byte pack header and each
//! entry's variable-length header (type, inflated size, and a delta's base). Both the ingest
//! scanner and the read path parse through here, so the two agree on every edge case.

use gix_hash::ObjectId;
use gix_object::Kind;

use crate::odb::error::{OdbError, Result};

/// Size of the pack header: `PACK`, version, object count.
pub const PACK_HEADER_LEN: usize = 12;
/// Size of a SHA-1 (object ids, pack trailer).
pub const HASH_LEN: usize = 20;
/// Longest entry header: 10 bytes of type+size, then a 20-byte base id (REF_DELTA) or at most 10
/// bytes of base distance (OFS_DELTA).
pub const MAX_ENTRY_HEADER_LEN: usize = 10 + HASH_LEN;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A whole object.
    Base(Kind),
    /// A delta against the entry at `base_offset` in the same pack (always earlier).
    OfsDelta { base_offset: u64 },
    /// A delta against the object `base_id`, wherever it is.
    RefDelta { base_id: ObjectId },
}

/// A parsed entry header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    pub kind: EntryKind,
    /// Inflated size of the entry's data: the object, or the delta instructions.
    pub size: u64,
    /// Bytes the header occupies; the zlib stream starts right after.
    pub len: usize,
}

/// Parses the pack header, returning the object count.
pub fn parse_pack_header(bytes: &[u8; PACK_HEADER_LEN]) -> Result<u32> {
    if &bytes[..4] != b"PACK" {
        return Err(OdbError::BadHeader {
            detail: format!(
                "signature is {:?}, not \"PACK\"",
                String::from_utf8_lossy(&bytes[..4])
            ),
        });
    }
    let version = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if version != 2 && version != 3 {
        return Err(OdbError::BadHeader {
            detail: format!("version {version} is not supported (only 2 and 3)"),
        });
    }
    Ok(u32::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11],
    ]))
}

/// Encodes a version 2 pack header.
pub fn encode_pack_header(objects: u32) -> [u8; PACK_HEADER_LEN] {
    let mut out = [0u8; PACK_HEADER_LEN];
    out[..4].copy_from_slice(b"PACK");
    out[4..8].copy_from_slice(&2u32.to_be_bytes());
    out[8..].copy_from_slice(&objects.to_be_bytes());
    out
}

/// Parses the entry header at pack offset `offset` from `bytes` (which start there). Returns
/// `Ok(None)` if `bytes` ends before the header does (and is shorter than the longest header).
pub fn parse_entry_header(bytes: &[u8], offset: u64) -> Result<Option<EntryHeader>> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let type_code = (first >> 4) & 0b111;
    let mut size = u64::from(first & 0b1111);
    let mut shift = 4u32;
    let mut pos = 1usize;
    let mut byte = first;
    while byte & 0x80 != 0 {
        let Some(&next) = bytes.get(pos) else {
            return Ok(None);
        };
        if shift > 53 {
            return Err(OdbError::entry(
                offset,
                "object size does not fit in 64 bits",
            ));
        }
        byte = next;
        pos += 1;
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    let kind = match type_code {
        1 => EntryKind::Base(Kind::Commit),
        2 => EntryKind::Base(Kind::Tree),
        3 => EntryKind::Base(Kind::Blob),
        4 => EntryKind::Base(Kind::Tag),
        6 => {
            let Some(distance_and_len) = parse_ofs_distance(&bytes[pos..], offset)? else {
                return Ok(None);
            };
            let (distance, len) = distance_and_len;
            pos += len;
            // Distance 0 names the entry itself; past the pack header names no entry at all.
            if distance == 0 || distance > offset.saturating_sub(PACK_HEADER_LEN as u64) {
                return Err(OdbError::BadDeltaBase {
                    offset,
                    base_offset: offset.wrapping_sub(distance),
                });
            }
            EntryKind::OfsDelta {
                base_offset: offset - distance,
            }
        }
        7 => {
            let Some(id) = bytes.get(pos..pos + HASH_LEN) else {
                return Ok(None);
            };
            pos += HASH_LEN;
            EntryKind::RefDelta {
                base_id: ObjectId::from_bytes_or_panic(id), // holds: `id` is HASH_LEN bytes
            }
        }
        other => {
            return Err(OdbError::entry(
                offset,
                format!("invalid object type {other}"),
            ));
        }
    };
    Ok(Some(EntryHeader {
        kind,
        size,
        len: pos,
    }))
}

/// The OFS_DELTA base distance: big-endian 7-bit groups, each continuation adding one (so that
/// every distance has exactly one encoding).
fn parse_ofs_distance(bytes: &[u8], offset: u64) -> Result<Option<(u64, usize)>> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let mut byte = first;
    let mut distance = u64::from(byte & 0x7f);
    let mut pos = 1;
    while byte & 0x80 != 0 {
        let Some(&next) = bytes.get(pos) else {
            return Ok(None);
        };
        byte = next;
        pos += 1;
        distance = distance
            .checked_add(1)
            .and_then(|d| d.checked_mul(128))
            .map(|d| d | u64::from(byte & 0x7f))
            .filter(|d| *d <= 1 << 62)
            .ok_or_else(|| OdbError::entry(offset, "delta base distance overflows"))?;
    }
    Ok(Some((distance, pos)))
}

/// Encodes the header of a whole object of `kind` and `size` (what thin-pack completion appends).
pub fn encode_base_header(kind: Kind, size: u64, out: &mut Vec<u8>) {
    let code: u8 = match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    };
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// The on-disk type name of `kind`, also its byte in `.meta` files.
pub fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    }
}

/// Inverse of [`kind_code`].
pub fn kind_from_code(code: u8) -> Option<Kind> {
    match code {
        1 => Some(Kind::Commit),
        2 => Some(Kind::Tree),
        3 => Some(Kind::Blob),
        4 => Some(Kind::Tag),
        _ => None,
    }
}

/// The object id of `data` as an object of `kind`, with collision detection.
pub fn hash_object(kind: Kind, data: &[u8]) -> std::result::Result<ObjectId, String> {
    let mut hasher = ObjectHasher::new(kind, data.len() as u64);
    hasher.update(data);
    hasher.finish()
}

/// Hashes an object fed in pieces (large blobs are never held whole).
pub struct ObjectHasher(gix_hash::Hasher);

impl ObjectHasher {
    pub fn new(kind: Kind, size: u64) -> Self {
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(&gix_object::encode::loose_header(kind, size));
        ObjectHasher(hasher)
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The id, or a message if SHA-1 collision detection fired.
    pub fn finish(self) -> std::result::Result<ObjectId, String> {
        self.0.try_finalize().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_headers_round_trip() {
        for size in [0u64, 15, 16, 127, 128, 1 << 20, u64::from(u32::MAX) + 7] {
            let mut out = Vec::new();
            encode_base_header(Kind::Blob, size, &mut out);
            let header = parse_entry_header(&out, 100).unwrap().unwrap();
            assert_eq!(header.kind, EntryKind::Base(Kind::Blob));
            assert_eq!((header.size, header.len), (size, out.len()));
            assert_eq!(
                parse_entry_header(&out[..out.len() - 1], 100).unwrap(),
                None
            );
        }
    }

    #[test]
    fn ofs_distance_uses_the_plus_one_encoding() {
        // Distance 128 is [0x80, 0x00]: (0 + 1) << 7 | 0.
        let bytes = [0x60 | 5, 0x80, 0x00];
        let header = parse_entry_header(&bytes, 1000).unwrap().unwrap();
        assert_eq!(header.kind, EntryKind::OfsDelta { base_offset: 872 });
        assert!(matches!(
            parse_entry_header(&[0x65, 0x00], 1000),
            Err(OdbError::BadDeltaBase { offset: 1000, .. })
        ));
        assert!(parse_entry_header(&[0x65, 0x7f], 100).is_err());
    }

    #[test]
    fn invalid_types_and_huge_sizes_are_errors() {
        assert!(parse_entry_header(&[0x50], 12).is_err());
        assert!(parse_entry_header(&[0x00], 12).is_err());
        let huge = [0xff; 12];
        assert!(parse_entry_header(&huge, 12).is_err());
    }
}
