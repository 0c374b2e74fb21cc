//! Pack index files, version 2 (what `git index-pack` writes), encoded and decoded.
//!
//! Layout: `\377tOc`, version 2, a 256-entry fan-out table (count of ids whose first byte is at
//! most i), the sorted ids, a CRC-32 per entry, a 31-bit offset per entry (high bit set: an index
//! into the following table of 64-bit offsets), the pack's checksum, and the index's own
//! checksum.
//!
//! In memory an index keeps 32 bytes per object: the id (20), the offset as the file has it (4,
//! with the rare 64-bit offsets aside), the offsets sorted (4, giving every entry's end) and the
//! positions in that order (4, turning an OFS_DELTA's base offset back into a position). A
//! prefix table over the ids' leading bits (about one slot per 6 objects, at most 256 KiB)
//! narrows a lookup to a handful of ids.

use std::io::Write;

use gix_hash::ObjectId;

use crate::odb::format::entry::HASH_LEN;

const MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const HEADER_LEN: usize = 8 + 256 * 4;
/// Offsets with this bit set index `large_offsets` (as in the file).
const LARGE: u32 = 0x8000_0000;

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
    ids: Vec<[u8; HASH_LEN]>,
    /// Per position: the offset, or `LARGE | i` for `large_offsets[i]`.
    offsets: Vec<u32>,
    large_offsets: Vec<u64>,
    /// Positions sorted by offset.
    by_offset: Vec<u32>,
    /// The offsets in that order.
    sorted: SortedOffsets,
    /// `prefix[k]`: the number of ids whose leading `prefix_bits` bits are below `k`.
    prefix: Vec<u32>,
    prefix_bits: u32,
    pack_checksum: [u8; HASH_LEN],
}

impl PackIndex {
    /// Builds an index from entries sorted by id.
    pub fn from_sorted(entries: &[IndexEntry], pack_checksum: [u8; HASH_LEN]) -> PackIndex {
        let mut large_offsets = Vec::new();
        let offsets = entries
            .iter()
            .map(|e| compact_offset(e.offset, &mut large_offsets))
            .collect();
        PackIndex::assemble(
            entries.iter().map(|e| e.id).collect(),
            offsets,
            large_offsets,
            pack_checksum,
        )
    }

    fn assemble(
        ids: Vec<[u8; HASH_LEN]>,
        offsets: Vec<u32>,
        large_offsets: Vec<u64>,
        pack_checksum: [u8; HASH_LEN],
    ) -> PackIndex {
        let prefix_bits = prefix_bits(ids.len());
        let mut prefix = vec![0u32; (1 << prefix_bits) + 1];
        for id in &ids {
            prefix[leading_bits(id, prefix_bits) + 1] += 1;
        }
        for k in 1..prefix.len() {
            prefix[k] += prefix[k - 1];
        }
        let mut index = PackIndex {
            ids,
            offsets,
            large_offsets,
            by_offset: Vec::new(),
            sorted: SortedOffsets::default(),
            prefix,
            prefix_bits,
            pack_checksum,
        };
        let by_offset = index.positions_by_offset();
        for &position in &by_offset {
            index.sorted.push(index.offset_at(position as usize));
        }
        index.by_offset = by_offset;
        index
    }

    /// Every position, sorted by pack offset: a least-significant-digit radix sort, 8 bits a
    /// pass over the bytes the largest offset needs (4 passes below 4 GiB). On the 403 000
    /// objects of the medium bench repository it takes a fraction of a comparison sort's time,
    /// which a fresh daemon pays before its first fetch.
    fn positions_by_offset(&self) -> Vec<u32> {
        let mut keys: Vec<(u64, u32)> = (0..self.ids.len())
            .map(|position| (self.offset_at(position), position as u32))
            .collect();
        let largest = keys.iter().map(|&(offset, _)| offset).max().unwrap_or(0);
        let passes = (u64::BITS - largest.leading_zeros()).div_ceil(8);
        let mut sorted = vec![(0u64, 0u32); keys.len()];
        for pass in 0..passes {
            let digit = |offset: u64| ((offset >> (pass * 8)) & 0xff) as usize;
            let mut starts = [0usize; 256];
            for &(offset, _) in &keys {
                starts[digit(offset)] += 1;
            }
            let mut total = 0;
            for start in &mut starts {
                let count = *start;
                *start = total;
                total += count;
            }
            for &key in &keys {
                let slot = &mut starts[digit(key.0)];
                sorted[*slot] = key;
                *slot += 1;
            }
            std::mem::swap(&mut keys, &mut sorted);
        }
        keys.into_iter().map(|(_, position)| position).collect()
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
        let large_offsets: Vec<u64> = body[large_at..large_at + large_len]
            .chunks_exact(8)
            .map(|raw| u64::from_be_bytes(raw.try_into().expect("holds: 8-byte chunks")))
            .collect();
        let mut offsets = Vec::with_capacity(count);
        for raw in body[offsets_at..large_at].chunks_exact(4) {
            let small = be32(raw);
            if small & LARGE != 0 && (small & !LARGE) as usize >= large_offsets.len() {
                return Err("64-bit offset index out of range".into());
            }
            offsets.push(small);
        }
        let pack_checksum = body[body.len() - HASH_LEN..]
            .try_into()
            .expect("holds because the slice is HASH_LEN bytes");
        let index = PackIndex::assemble(ids, offsets, large_offsets, pack_checksum);
        if index.first_offset().is_some_and(|first| first < 12) {
            return Err("an offset points into the pack header".into());
        }
        // Each entry ends where the next begins: two ids at one offset would make the entry
        // of one of them empty.
        if let Some(rank) =
            (1..index.len()).find(|&rank| index.sorted.get(rank - 1) == index.sorted.get(rank))
        {
            return Err(format!(
                "two entries share offset {}",
                index.sorted.get(rank).unwrap_or_default()
            ));
        }
        Ok(index)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The memory this index holds: 32 bytes per object (id, offset, its rank by offset, the
    /// sorted offset) plus the prefix table and offsets over 4 GiB.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * HASH_LEN
            + (self.offsets.capacity() + self.by_offset.capacity() + self.prefix.capacity()) * 4
            + self.large_offsets.capacity() * 8
            + self.sorted.small.capacity() * 4
            + self.sorted.large.capacity() * 8
    }

    /// The checksum of the pack this index describes (its name).
    pub fn pack_checksum(&self) -> ObjectId {
        ObjectId::from_bytes_or_panic(&self.pack_checksum) // holds: HASH_LEN bytes
    }

    /// Position of `id` in id order.
    pub fn lookup(&self, id: &[u8]) -> Option<usize> {
        let id: &[u8; HASH_LEN] = id.try_into().ok()?;
        let k = leading_bits(id, self.prefix_bits);
        let (start, end) = (self.prefix[k] as usize, self.prefix[k + 1] as usize);
        let slice = self.ids.get(start..end)?;
        slice.binary_search(id).ok().map(|i| start + i)
    }

    /// The id at `position`.
    pub fn id_at(&self, position: usize) -> ObjectId {
        ObjectId::from_bytes_or_panic(&self.ids[position]) // holds: HASH_LEN bytes
    }

    /// The pack offset of the object at `position`.
    pub fn offset_at(&self, position: usize) -> u64 {
        let stored = self.offsets[position];
        if stored & LARGE == 0 {
            u64::from(stored)
        } else {
            self.large_offsets[(stored & !LARGE) as usize]
        }
    }

    /// Positions in the order of their entries in the pack.
    pub fn by_offset(&self) -> &[u32] {
        &self.by_offset
    }

    /// The position of the entry that starts at `offset`, if one does.
    pub fn position_at_offset(&self, offset: u64) -> Option<usize> {
        let rank = self.sorted.rank_of(offset);
        (self.sorted.get(rank)? == offset).then(|| self.by_offset[rank] as usize)
    }

    /// The offset of the next entry after the one at `offset`, or `None` for the last entry
    /// (which ends where the pack's trailer begins).
    pub fn next_offset(&self, offset: u64) -> Option<u64> {
        self.sorted.get(self.sorted.rank_of(offset.checked_add(1)?))
    }

    /// The offset of the entry of rank `rank` in pack order.
    pub fn offset_by_rank(&self, rank: usize) -> Option<u64> {
        self.sorted.get(rank)
    }

    /// The smallest and largest offsets, if there are entries.
    pub fn first_offset(&self) -> Option<u64> {
        self.sorted.get(0)
    }

    pub fn last_offset(&self) -> Option<u64> {
        self.sorted.get(self.len().checked_sub(1)?)
    }

    /// The ids in sorted order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ObjectId> + '_ {
        self.ids.iter().map(|id| ObjectId::from_bytes_or_panic(id))
    }
}

/// Offsets in ascending order: those below 4 GiB in 4 bytes, the rest after them in 8.
#[derive(Debug, Default)]
struct SortedOffsets {
    small: Vec<u32>,
    large: Vec<u64>,
}

impl SortedOffsets {
    /// Appends `offset`, which is at least the last one.
    fn push(&mut self, offset: u64) {
        match u32::try_from(offset) {
            Ok(small) if self.large.is_empty() => self.small.push(small),
            _ => self.large.push(offset),
        }
    }

    fn get(&self, rank: usize) -> Option<u64> {
        match self.small.get(rank) {
            Some(&small) => Some(u64::from(small)),
            None => self.large.get(rank - self.small.len()).copied(),
        }
    }

    /// The number of offsets below `offset`.
    fn rank_of(&self, offset: u64) -> usize {
        match u32::try_from(offset) {
            Ok(small) => self.small.partition_point(|&o| o < small),
            Err(_) => self.small.len() + self.large.partition_point(|&o| o < offset),
        }
    }
}

/// Bits of prefix table for `count` ids: about 6 ids per slot, from 8 bits (1 KiB) to 16.
fn prefix_bits(count: usize) -> u32 {
    (usize::BITS - (count / 6).leading_zeros()).clamp(8, 16)
}

/// The leading `bits` bits (at most 16) of `id`.
fn leading_bits(id: &[u8; HASH_LEN], bits: u32) -> usize {
    (usize::from(u16::from_be_bytes([id[0], id[1]]))) >> (16 - bits)
}

fn compact_offset(offset: u64, large: &mut Vec<u64>) -> u32 {
    if offset < u64::from(LARGE) {
        offset as u32
    } else {
        large.push(offset);
        LARGE | (large.len() - 1) as u32
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
        let large = entries.iter().find(|e| e.offset == 5 << 31).unwrap();
        let large_at = index.lookup(&large.id).unwrap();
        assert_eq!(index.position_at_offset(5 << 31), Some(large_at));
        assert_eq!(index.position_at_offset(13), None);
        assert_eq!(index.last_offset(), Some(5 << 31));
        let ordered: Vec<u64> = index
            .by_offset()
            .iter()
            .map(|&p| index.offset_at(p as usize))
            .collect();
        assert!(ordered.windows(2).all(|pair| pair[0] < pair[1]));
        let mut corrupt = bytes.clone();
        corrupt[HEADER_LEN + 3] ^= 1;
        assert!(PackIndex::decode(&corrupt).is_err());
        assert!(PackIndex::decode(&bytes[..100]).is_err());
    }

    #[test]
    fn two_entries_at_one_offset_are_refused() {
        let mut entries: Vec<IndexEntry> = (0..10u32)
            .map(|i| {
                let mut id = [0u8; HASH_LEN];
                id[0] = i as u8;
                IndexEntry {
                    id,
                    crc32: 0,
                    offset: 12 + u64::from(i.min(8)) * 10,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.id);
        let mut bytes = Vec::new();
        encode(&entries, &[9; HASH_LEN], &mut bytes).unwrap();
        let Err(error) = PackIndex::decode(&bytes) else {
            panic!("a shared offset was accepted");
        };
        assert!(error.contains("two entries share offset 92"), "{error}");
    }

    #[test]
    fn the_offset_order_matches_a_comparison_sort() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut entries: Vec<IndexEntry> = (0..5_000u32)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut id = [0u8; HASH_LEN];
                id[..4].copy_from_slice(&i.wrapping_mul(2654435761).to_be_bytes());
                // Offsets one to five bytes wide; equal ones keep their order in both sorts.
                let width = 8 * (1 + i % 5);
                IndexEntry {
                    id,
                    crc32: 0,
                    offset: 12 + (state & ((1 << width) - 1)),
                }
            })
            .collect();
        entries.sort_by_key(|e| e.id);
        let index = PackIndex::from_sorted(&entries, [0; HASH_LEN]);
        let mut expected: Vec<u32> = (0..entries.len() as u32).collect();
        expected.sort_by_key(|&p| index.offset_at(p as usize));
        assert_eq!(index.by_offset(), expected.as_slice());
    }

    #[test]
    fn lookups_use_the_prefix_table_of_large_indexes() {
        let mut entries: Vec<IndexEntry> = (0..20_000u32)
            .map(|i| {
                let mut id = [0u8; HASH_LEN];
                id[..4].copy_from_slice(&(i.wrapping_mul(2654435761)).to_be_bytes());
                id[19] = 1;
                IndexEntry {
                    id,
                    crc32: 0,
                    offset: 12 + u64::from(i) * 3,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.id);
        let index = PackIndex::from_sorted(&entries, [0; HASH_LEN]);
        assert!(index.prefix_bits > 8);
        for (position, entry) in entries.iter().enumerate() {
            assert_eq!(index.lookup(&entry.id), Some(position));
            assert_eq!(index.id_at(position).as_slice(), entry.id);
            assert_eq!(index.position_at_offset(entry.offset), Some(position));
            let mut absent = entry.id;
            absent[19] = 0;
            assert_eq!(index.lookup(&absent), None);
        }
        assert_eq!(index.lookup(&[0; 3]), None);
    }
}
