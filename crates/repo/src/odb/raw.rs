//! Stored pack entries as they are, for upload-pack's pack reuse: where an object's entry lies
//! (pack, offset, extent), what its header says (a whole object, or a delta and its base), and
//! the stored bytes themselves. Nothing here inflates: a fetch copies compressed entries to the
//! client unchanged, rewriting at most a delta's base reference.
//!
//! A [`RawPacks`] is one consistent view of the pack set for a whole fetch; packs are numbered
//! by rank, newest first (the order lookups search them). Bytes are read either through the
//! block cache (small, scattered reads that neighbours may share) or with direct range GETs
//! that bypass it (long sequential copies that would only evict everything else).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use gix_hash::ObjectId;

pub use super::entry::{EntryHeader, EntryKind, MAX_ENTRY_HEADER_LEN, parse_entry_header};

use super::ObjectDb;
use super::entry::{HASH_LEN, PACK_HEADER_LEN};
use super::error::{OdbError, Result};
use super::pack::{LoadedPack, PackSet};
use crate::PackId;

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

    /// Where `id` is stored: its entry in the newest pack holding it. In memory, no IO.
    pub fn locate(&self, id: &ObjectId) -> Option<RawLocation> {
        self.packs
            .packs
            .iter()
            .enumerate()
            .find_map(|(rank, pack)| {
                let at = pack.index.lookup(id.as_slice())?;
                let offset = pack.index.offset_at(at);
                Some(RawLocation {
                    pack: rank as u32,
                    offset,
                    end: pack.entry_end(offset),
                })
            })
    }

    /// Every entry of the pack at `rank` by offset, to name the base of an OFS_DELTA. Costs a
    /// sort of the pack's index (about 30 bytes and a few hundred nanoseconds per object): build
    /// it once per fetch and only when a base offset must become an id.
    pub fn offset_table(&self, rank: u32) -> OffsetTable {
        let Some(pack) = self.packs.packs.get(rank as usize) else {
            return OffsetTable {
                entries: Vec::new(),
            };
        };
        let mut entries: Vec<(u64, ObjectId)> = pack
            .index
            .ids()
            .enumerate()
            .map(|(at, id)| (pack.index.offset_at(at), id))
            .collect();
        entries.sort_unstable_by_key(|(offset, _)| *offset);
        OffsetTable { entries }
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

/// The ids of one pack's entries, sorted by offset.
#[derive(Debug, Clone)]
pub struct OffsetTable {
    entries: Vec<(u64, ObjectId)>,
}

impl OffsetTable {
    /// The object whose entry starts at `offset`.
    pub fn id_at(&self, offset: u64) -> Option<ObjectId> {
        self.entries
            .binary_search_by_key(&offset, |(at, _)| *at)
            .ok()
            .map(|at| self.entries[at].1)
    }
}

impl ObjectDb {
    /// The current pack set, for [`RawPacks::locate`] and [`ObjectDb::read_raw`].
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
            let mut pieces = std::pin::pin!(self.blocks.read(
                &*self.storage,
                &self.container,
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
                .get_range(&self.container, &pack.pack_name, range.clone())
                .await
                .map_err(|e| {
                    OdbError::storage(
                        format!(
                            "reading bytes {}..{} of {}/{}",
                            range.start, range.end, self.container, pack.pack_name
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
