//! Pack entry headers and whole entries, as pure functions: the type-and-size header, an
//! OFS_DELTA's base distance, a REF_DELTA's base id, and zlib for objects sent whole.

use std::io::Write;

use gix_hash::ObjectId;
use gix_object::Kind;

/// Entry type codes of the pack format.
pub const OFS_DELTA: u8 = 6;
pub const REF_DELTA: u8 = 7;

/// The type code of a whole object of `kind`.
pub fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    }
}

/// Appends the 12-byte header of a version 2 pack of `objects` entries.
pub fn pack_header(objects: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(b"PACK");
    out[4..8].copy_from_slice(&2u32.to_be_bytes());
    out[8..].copy_from_slice(&objects.to_be_bytes());
    out
}

/// Appends an entry's type-and-size header: 3 bits of type, then the size in little-endian
/// 7-bit groups (4 bits in the first byte).
pub fn entry_header(type_code: u8, size: u64, out: &mut Vec<u8>) {
    let mut byte = ((type_code & 0b111) << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// Appends an OFS_DELTA's distance to its base: big-endian 7-bit groups where every
/// continuation adds one, so each distance has one encoding.
pub fn ofs_distance(distance: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let mut pos = buf.len() - 1;
    let mut rest = distance;
    buf[pos] = (rest & 0x7f) as u8;
    rest >>= 7;
    while rest != 0 {
        rest -= 1;
        pos -= 1;
        buf[pos] = 0x80 | (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.extend_from_slice(&buf[pos..]);
}

/// The header of a delta entry against `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaBase {
    /// The base was written `distance` bytes before this entry.
    Offset(u64),
    /// The base is named by id (elsewhere in the pack, or at the client for a thin pack).
    Id(ObjectId),
}

/// Appends the header of a delta entry whose instructions inflate to `size` bytes.
pub fn delta_header(base: DeltaBase, size: u64, out: &mut Vec<u8>) {
    match base {
        DeltaBase::Offset(distance) => {
            entry_header(OFS_DELTA, size, out);
            ofs_distance(distance, out);
        }
        DeltaBase::Id(id) => {
            entry_header(REF_DELTA, size, out);
            out.extend_from_slice(id.as_slice());
        }
    }
}

/// A whole entry for `data` of `kind`: header and zlib stream at compression `level` (0–9).
pub fn whole_entry(kind: Kind, data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    entry_header(kind_code(kind), data.len() as u64, &mut out);
    let mut zlib = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(level.min(9)));
    zlib.write_all(data)?;
    zlib.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftgit_repo::odb::raw::{EntryKind, parse_entry_header};

    #[test]
    fn headers_read_back_with_the_odb_parser() {
        for size in [0u64, 15, 16, 1 << 20, u64::from(u32::MAX) + 3] {
            let mut out = Vec::new();
            entry_header(kind_code(Kind::Blob), size, &mut out);
            let header = parse_entry_header(&out, 100).unwrap().unwrap();
            assert_eq!(header.kind, EntryKind::Base(Kind::Blob));
            assert_eq!((header.size, header.len), (size, out.len()));
        }
        for distance in [1u64, 127, 128, 16511, 16512, 1 << 40] {
            let mut out = Vec::new();
            delta_header(DeltaBase::Offset(distance), 77, &mut out);
            let offset = distance + 12;
            let header = parse_entry_header(&out, offset).unwrap().unwrap();
            assert_eq!(header.kind, EntryKind::OfsDelta { base_offset: 12 });
            assert_eq!((header.size, header.len), (77, out.len()));
        }
        let id = ObjectId::from_hex(b"d11ab594bc0b66858ede5168463bf6930701ec39").unwrap();
        let mut out = Vec::new();
        delta_header(DeltaBase::Id(id), 5, &mut out);
        let header = parse_entry_header(&out, 12).unwrap().unwrap();
        assert_eq!(header.kind, EntryKind::RefDelta { base_id: id });
    }

    #[test]
    fn whole_entries_inflate_to_their_data() {
        let data = b"hello hello hello hello".repeat(100);
        let entry = whole_entry(Kind::Blob, &data, 1).unwrap();
        let header = parse_entry_header(&entry, 12).unwrap().unwrap();
        let mut inflated = Vec::new();
        let mut z = flate2::read::ZlibDecoder::new(&entry[header.len..]);
        std::io::Read::read_to_end(&mut z, &mut inflated).unwrap();
        assert_eq!(inflated, data);
        assert_eq!(&pack_header(3)[..], b"PACK\0\0\0\x02\0\0\0\x03");
    }
}
