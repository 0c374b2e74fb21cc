//! Pack index files, version 2 (what `git index-pack` writes), encoded and decoded.
//!
//! Layout: `\377tOc`, version 2, a 256-entry fan-out table (count of ids whose first byte is at
//! most i), the sorted ids, a CRC-32 per entry, a 31-bit offset per entry (high bit set: an index
//! into the following table of 64-bit offsets), the pack's checksum, and the index's own
//! checksum. In memory an index keeps the ids and offsets (28 bytes per object) plus the offsets
//! sorted, which give every entry's end (8 more).

use std::io::Write;

use gix_hash::ObjectId;

use super::entry::HASH_LEN;

const MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const HEADER_LEN: usize = 8 + 256 * 4;

/// One object of a pack, as the index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: [u8; HASH_LEN],
    pub crc32: u32,
    pub offset: u64,
}

/// A decoded index, ready for lookups.
#[derive(Debug)]
pub struct PackIndex {
    fanout: [u32; 256],
    ids: Vec<[u8; HASH_LEN]>,
    offsets: Vec<u64>,
    sorted_offsets: Vec<u64>,
    pack_checksum: [u8; HASH_LEN],
}

impl PackIndex {
    /// Builds an index from entries sorted by id.
    pub fn from_sorted(entries: &[IndexEntry], pack_checksum: [u8; HASH_LEN]) -> PackIndex {
        let mut fanout = [0u32; 256];
        for entry in entries {
            fanout[usize::from(entry.id[0])] += 1;
        }
        let mut total = 0;
        for slot in fanout.iter_mut() {
            total += *slot;
            *slot = total;
        }
        let offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
        let mut sorted_offsets = offsets.clone();
        sorted_offsets.sort_unstable();
        PackIndex {
            fanout,
            ids: entries.iter().map(|e| e.id).collect(),
            offsets,
            sorted_offsets,
            pack_checksum,
        }
    }

    /// Decodes and verifies a version 2 index (both checksums' positions, fan-out consistency,
    /// sorted ids, offsets in range, the index's own SHA-1).
    pub fn decode(data: &[u8]) -> Result<PackIndex, String> {
        if data.len() < HEADER_LEN + 2 * HASH_LEN {
            return Err(format!("index of {} bytes is too short", data.len()));
        }
        if data[..4] != MAGIC || data[4..8] != 2u32.to_be_bytes() {
            return Err("not a version 2 pack index".into());
        }
        let (body, checksum) = data.split_at(data.len() - HASH_LEN);
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(body);
        let actual = hasher.try_finalize().map_err(|e| e.to_string())?;
        if actual.as_slice() != checksum {
            return Err(format!(
                "index checksum mismatch (content hashes to {actual})"
            ));
        }
        let mut fanout = [0u32; 256];
        let mut previous = 0;
        for (i, slot) in fanout.iter_mut().enumerate() {
            *slot = be32(&data[8 + i * 4..]);
            if *slot < previous {
                return Err("fan-out table is not monotonic".into());
            }
            previous = *slot;
        }
        let count = fanout[255] as usize;
        let ids_at = HEADER_LEN;
        let crc_at = ids_at + count * HASH_LEN;
        let offsets_at = crc_at + count * 4;
        let large_at = offsets_at + count * 4;
        let large_len = body
            .len()
            .checked_sub(large_at + HASH_LEN)
            .filter(|len| len % 8 == 0)
            .ok_or_else(|| format!("index size {} does not fit {count} objects", data.len()))?;
        let large = &body[large_at..large_at + large_len];
        let ids: Vec<[u8; HASH_LEN]> = body[ids_at..crc_at]
            .chunks_exact(HASH_LEN)
            .map(|id| {
                id.try_into()
                    .expect("holds because chunks are HASH_LEN bytes")
            })
            .collect();
        if ids.windows(2).any(|pair| pair[0] > pair[1]) {
            return Err("object ids are not sorted".into());
        }
        for (i, id) in ids.iter().enumerate() {
            let first = usize::from(id[0]);
            let below = if first == 0 {
                0
            } else {
                fanout[first - 1] as usize
            };
            if i < below || i >= fanout[first] as usize {
                return Err("fan-out table does not match the ids".into());
            }
        }
        let mut offsets = Vec::with_capacity(count);
        for raw in body[offsets_at..large_at].chunks_exact(4) {
            let small = be32(raw);
            let offset = if small & 0x8000_0000 == 0 {
                u64::from(small)
            } else {
                let at = (small & 0x7fff_ffff) as usize * 8;
                let bytes = large
                    .get(at..at + 8)
                    .ok_or_else(|| "64-bit offset index out of range".to_string())?;
                u64::from_be_bytes(
                    bytes
                        .try_into()
                        .expect("holds because the slice is 8 bytes"),
                )
            };
            offsets.push(offset);
        }
        let mut sorted_offsets = offsets.clone();
        sorted_offsets.sort_unstable();
        if sorted_offsets.first().is_some_and(|&first| first < 12) {
            return Err("an offset points into the pack header".into());
        }
        let pack_checksum = body[body.len() - HASH_LEN..]
            .try_into()
            .expect("holds because the slice is HASH_LEN bytes");
        Ok(PackIndex {
            fanout,
            ids,
            offsets,
            sorted_offsets,
            pack_checksum,
        })
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The checksum of the pack this index describes (its name).
    pub fn pack_checksum(&self) -> ObjectId {
        ObjectId::from_bytes_or_panic(&self.pack_checksum) // holds: HASH_LEN bytes
    }

    /// Position of `id` in id order.
    pub fn lookup(&self, id: &[u8]) -> Option<usize> {
        let first = usize::from(*id.first()?);
        let start = if first == 0 {
            0
        } else {
            self.fanout[first - 1] as usize
        };
        let end = self.fanout[first] as usize;
        let slice = self.ids.get(start..end)?;
        slice
            .binary_search_by(|probe| probe.as_slice().cmp(id))
            .ok()
            .map(|i| start + i)
    }

    /// The pack offset of the object at `position`.
    pub fn offset_at(&self, position: usize) -> u64 {
        self.offsets[position]
    }

    /// The offset of the next entry after the one at `offset`, or `None` for the last entry
    /// (which ends where the pack's trailer begins).
    pub fn next_offset(&self, offset: u64) -> Option<u64> {
        let i = self.sorted_offsets.partition_point(|&o| o <= offset);
        self.sorted_offsets.get(i).copied()
    }

    /// The ids in sorted order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ObjectId> + '_ {
        self.ids.iter().map(|id| ObjectId::from_bytes_or_panic(id))
    }
}

/// Writes a version 2 index of `entries` (sorted by id) for the pack `pack_checksum`.
pub fn encode(
    entries: &[IndexEntry],
    pack_checksum: &[u8; HASH_LEN],
    out: impl Write,
) -> std::io::Result<()> {
    let mut out = HashingWriter {
        inner: out,
        hasher: gix_hash::hasher(gix_hash::Kind::Sha1),
    };
    out.write_all(&MAGIC)?;
    out.write_all(&2u32.to_be_bytes())?;
    let mut fanout = [0u32; 256];
    for entry in entries {
        fanout[usize::from(entry.id[0])] += 1;
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        out.write_all(&total.to_be_bytes())?;
    }
    for entry in entries {
        out.write_all(&entry.id)?;
    }
    for entry in entries {
        out.write_all(&entry.crc32.to_be_bytes())?;
    }
    let mut large = Vec::new();
    for entry in entries {
        if entry.offset < 0x8000_0000 {
            out.write_all(&(entry.offset as u32).to_be_bytes())?;
        } else {
            out.write_all(&(0x8000_0000 | large.len() as u32).to_be_bytes())?;
            large.push(entry.offset);
        }
    }
    for offset in large {
        out.write_all(&offset.to_be_bytes())?;
    }
    out.write_all(pack_checksum)?;
    let HashingWriter { mut inner, hasher } = out;
    let checksum = hasher
        .try_finalize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    inner.write_all(checksum.as_slice())?;
    inner.flush()
}

struct HashingWriter<W> {
    inner: W,
    hasher: gix_hash::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode() {
        let mut entries: Vec<IndexEntry> = (0..300u32)
            .map(|i| {
                let mut id = [0u8; HASH_LEN];
                id[..4].copy_from_slice(&(i.wrapping_mul(2654435761)).to_be_bytes());
                IndexEntry {
                    id,
                    crc32: i,
                    offset: if i == 7 {
                        5 << 31
                    } else {
                        12 + u64::from(i) * 10
                    },
                }
            })
            .collect();
        entries.sort_by_key(|e| e.id);
        let mut bytes = Vec::new();
        encode(&entries, &[9; HASH_LEN], &mut bytes).unwrap();
        let index = PackIndex::decode(&bytes).unwrap();
        assert_eq!(index.len(), 300);
        for entry in &entries {
            let at = index.lookup(&entry.id).unwrap();
            assert_eq!(index.offset_at(at), entry.offset);
        }
        assert_eq!(index.lookup(&[1; HASH_LEN]), None);
        assert_eq!(index.next_offset(12), Some(22));
        assert_eq!(index.next_offset(5 << 31), None);
        let mut corrupt = bytes.clone();
        corrupt[HEADER_LEN + 3] ^= 1;
        assert!(PackIndex::decode(&corrupt).is_err());
        assert!(PackIndex::decode(&bytes[..100]).is_err());
    }
}
