//! Stored pack entries as they are, for upload-pack's pack reuse: where an object's entry lies
//! (pack, offset, extent), what its header says (a whole object, or a delta and its base), and
//! the stored bytes themselves. Nothing here inflates: a fetch copies compressed entries to the
//! client unchanged, rewriting at most a delta's base reference.
//!
//! A [`RawPacks`] is one consistent view of the pack set for a whole fetch; packs are numbered
//! by rank, newest first (the order lookups search them). Within a view every object has one
//! [`ObjectPosition`] (pack rank and index position, in the newest pack holding it), a dense
//! key that lets a fetch keep its sets of objects as bitmaps; the pack indexes map positions to
//! offsets and back, and give the entries in pack order. Bytes are read either through the
//! block cache (small, scattered reads that neighbours may share) or with direct range GETs
//! that bypass it (long sequential copies that would only evict everything else).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use gix_hash::ObjectId;

pub use crate::odb::format::entry::{
    EntryHeader, EntryKind, MAX_ENTRY_HEADER_LEN, parse_entry_header,
};

use super::pack::{LoadedPack, PackSet};
use crate::PackId;
use crate::odb::ObjectDb;
use crate::odb::error::{OdbError, Result};
use crate::odb::format::entry::{HASH_LEN, PACK_HEADER_LEN};

/// Where one object's entry is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLocation {
    /// The pack's rank in its [`RawPacks`] (0 is the newest).
    pub pack: u32,
    /// Offset of the entry's header in the pack.
    pub offset: u64,
    /// Offset just past the entry's compressed data (the next entry, or the trailer).
    pub end: u64,
}

/// The packs of an [`ObjectDb`] at one moment, newest first.
#[derive(Debug, Clone)]
pub struct RawPacks {
    packs: Arc<PackSet>,
}

impl RawPacks {
    /// Number of packs.
    pub fn len(&self) -> usize {
        self.packs.packs.len()
    }

    /// Whether there are no packs.
    pub fn is_empty(&self) -> bool {
        self.packs.packs.is_empty()
    }

    /// The id of the pack at `rank`, if there is one.
    pub fn pack_id(&self, rank: u32) -> Option<PackId> {
        self.packs.packs.get(rank as usize).map(|pack| pack.id)
    }

    /// Where `id` is stored, as a position: in the newest pack holding it, so every object
    /// has exactly one. In memory, no IO.
    pub fn position_of(&self, id: &ObjectId) -> Option<ObjectPosition> {
        self.packs
            .packs
            .iter()
            .enumerate()
            .find_map(|(rank, pack)| {
                let at = pack.index.lookup(id.as_slice())?;
                Some(ObjectPosition {
                    pack: rank as u32,
                    index: at as u32,
                })
            })
    }

    /// Number of objects in the pack at `rank` (0 if there is none).
    pub fn pack_len(&self, rank: u32) -> usize {
        self.packs
            .packs
            .get(rank as usize)
            .map_or(0, |pack| pack.index.len())
    }

    /// The id of the object at `at`, which must be a position of this view.
    pub fn id_at(&self, at: ObjectPosition) -> ObjectId {
        self.packs.packs[at.pack as usize]
            .index
            .id_at(at.index as usize)
    }

    /// The position of the entry that starts at `offset` in the pack at `rank` (an OFS_DELTA's
    /// base), made canonical: if a newer pack holds the same object, its position there.
    pub fn position_at_offset(&self, rank: u32, offset: u64) -> Option<ObjectPosition> {
        let pack = self.packs.packs.get(rank as usize)?;
        let index = pack.index.position_at_offset(offset)?;
        if rank == 0 {
            return Some(ObjectPosition {
                pack: 0,
                index: index as u32,
            });
        }
        self.position_of(&pack.index.id_at(index))
    }

    /// The entries of the pack at `rank` that `wanted` keeps, in pack order: position and
    /// location (found only for those kept).
    pub fn entries_by_offset<'a>(
        &'a self,
        rank: u32,
        wanted: impl Fn(ObjectPosition) -> bool + 'a,
    ) -> impl Iterator<Item = (ObjectPosition, RawLocation)> + 'a {
        let pack = self.packs.packs.get(rank as usize);
        let order = pack.map_or(&[][..], |pack| pack.index.by_offset());
        order.iter().enumerate().filter_map(move |(k, &index)| {
            let object = ObjectPosition { pack: rank, index };
            if !wanted(object) {
                return None;
            }
            let pack = pack.expect("holds because an absent pack has no entries");
            Some((
                object,
                RawLocation {
                    pack: rank,
                    offset: pack.index.offset_at(index as usize),
                    end: pack.entry_end_by_rank(k),
                },
            ))
        })
    }

    fn pack(&self, rank: u32) -> Result<&Arc<LoadedPack>> {
        self.packs
            .packs
            .get(rank as usize)
            .ok_or_else(|| OdbError::CorruptEntry {
                offset: 0,
                detail: format!("no pack of rank {rank} in this view"),
            })
    }
}

/// An object's place in a [`RawPacks`] view: the pack's rank and the object's position in that
/// pack's index (id order). Eight bytes where an id takes twenty, and a dense key: sets of
/// objects can be bitmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectPosition {
    pub pack: u32,
    pub index: u32,
}

impl ObjectDb {
    /// The current pack set, for [`RawPacks::position_of`] and [`ObjectDb::read_raw`].
    pub fn raw_packs(&self) -> RawPacks {
        RawPacks {
            packs: self.snapshot(),
        }
    }

    /// Bytes `range` of the pack at `rank`, exactly as stored. With `cached`, through the block
    /// cache (blocks fetched up to `concurrency` at a time); without, in one range GET that
    /// leaves the cache alone. The range must lie between the pack header and the trailer.
    /// Reads only.
    pub async fn read_raw(
        &self,
        packs: &RawPacks,
        rank: u32,
        range: Range<u64>,
        cached: bool,
    ) -> Result<Bytes> {
        let pack = packs.pack(rank)?;
        let data_end = pack.size.saturating_sub(HASH_LEN as u64);
        if range.start < PACK_HEADER_LEN as u64 || range.end > data_end || range.start > range.end {
            return Err(OdbError::CorruptStored {
                pack: pack.id,
                detail: format!(
                    "bytes {}..{} are not entry data of a {}-byte pack",
                    range.start, range.end, pack.size
                ),
            });
        }
        let expected = (range.end - range.start) as usize;
        let bytes = if cached {
            let mut pieces = std::pin::pin!(self.caches.blocks.read(
                &*self.storage,
                &self.space,
                pack,
                range.clone(),
                self.options.concurrency,
            ));
            let mut parts = Vec::new();
            while let Some(part) = pieces.next().await {
                parts.push(part?);
            }
            match parts.len() {
                1 => parts.pop().expect("holds because there is one part"),
                _ => Bytes::from(parts.concat()),
            }
        } else {
            self.storage
                .get_range(&self.space.container, &pack.pack_name, range.clone())
                .await
                .map_err(|e| {
                    OdbError::storage(
                        format!(
                            "reading bytes {}..{} of {}/{}",
                            range.start, range.end, self.space.container, pack.pack_name
                        ),
                        e,
                    )
                })?
        };
        if bytes.len() != expected {
            return Err(OdbError::CorruptStored {
                pack: pack.id,
                detail: format!(
                    "{} returned {} bytes for range {}..{}",
                    pack.pack_name,
                    bytes.len(),
                    range.start,
                    range.end
                ),
            });
        }
        Ok(bytes)
    }
}
