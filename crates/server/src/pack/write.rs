//! The pack writer: plans the entry order, streams the stored entries and decides, entry by
//! entry, whether to copy it, rewrite its base reference, or send the object whole.

use bytes::Bytes;
use gix_hash::ObjectId;
use swiftgit_repo::odb::raw::{
    EntryHeader, EntryKind, MAX_ENTRY_HEADER_LEN, ObjectPosition, RawLocation, RawPacks,
    parse_entry_header,
};
use swiftgit_repo::odb::{ObjectDb, OdbError};
use tokio::io::AsyncWrite;

use super::PackOptions;
use super::encode::{DeltaBase, delta_header, pack_header, whole_entry};
use super::output::PackOutput;
use super::reader::{ReadError, SpanReader, plan_spans};
use crate::walk::object_set::{ObjectSet, SlotIndex};

/// What to pack.
#[derive(Debug, Clone, Copy)]
pub struct PackRequest<'a> {
    /// The objects.
    pub objects: &'a ObjectSet,
    /// Objects the client has (thin-pack bases), a set over the same view of the packs.
    pub client_has: &'a ObjectSet,
    /// `thin-pack`: deltas against objects of `client_has` are allowed.
    pub thin: bool,
    /// `ofs-delta`: the client reads OFS_DELTA entries.
    pub ofs_delta: bool,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Entries in the pack.
    pub objects: u64,
    /// Entries written as deltas.
    pub deltas: u64,
    /// Entries whose stored compressed data was copied.
    pub reused: u64,
    /// Of those, deltas.
    pub reused_deltas: u64,
    /// Entries thin-pack REF_DELTAs against objects the client has.
    pub thin_deltas: u64,
    /// Bytes of the pack, trailer included.
    pub bytes: u64,
}

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// An object the walk selected is in no pack (a pack was removed under us).
    #[error("object {id} is not in the repository")]
    Missing { id: ObjectId },
    /// Reading an object failed.
    #[error("cannot read object {id}: {source}")]
    Odb { id: ObjectId, source: OdbError },
    /// Reading stored entries failed.
    #[error("cannot read stored objects: {0}")]
    Read(#[from] ReadError),
    /// A stored entry is not what its index says.
    #[error("the stored entry of {id} is corrupt: {detail}")]
    Corrupt { id: ObjectId, detail: String },
    /// zlib failed (out of memory).
    #[error("cannot compress object {id}: {source}")]
    Deflate {
        id: ObjectId,
        source: std::io::Error,
    },
    /// More objects than a pack header can count.
    #[error("{count} objects do not fit in one pack")]
    TooMany { count: usize },
    /// Writing to the client failed.
    #[error("connection error while sending the pack: {0}")]
    Io(#[from] std::io::Error),
}

/// One entry to write: the object and where it is stored.
#[derive(Debug, Clone, Copy)]
struct Planned {
    object: ObjectPosition,
    at: RawLocation,
}

/// How one entry goes out.
enum Choice {
    /// As stored.
    Copy,
    /// Stored delta data under a new header.
    Delta(DeltaBase, bool),
    /// Resolved and deflated again.
    Whole,
}

/// The entries of `objects` in storage order: by pack, then offset.
fn planned(objects: &ObjectSet) -> impl Iterator<Item = Planned> + '_ {
    let packs = objects.packs();
    (0..packs.len() as u32)
        .flat_map(move |rank| packs.entries_by_offset(rank, |object| objects.contains(object)))
        .map(|(object, at)| Planned { object, at })
}

/// Writes a pack of `request.objects` to `out` (header, entries, trailer).
pub async fn write_pack<W: AsyncWrite + Unpin>(
    odb: &ObjectDb,
    request: PackRequest<'_>,
    options: &PackOptions,
    out: &mut PackOutput<'_, W>,
) -> Result<PackStats, PackError> {
    let objects = request.objects;
    let packs = objects.packs();
    let count = u32::try_from(objects.len()).map_err(|_| PackError::TooMany {
        count: objects.len(),
    })?;
    let start = out.pack_bytes();
    out.data(&pack_header(count)).await?;

    let spans = plan_spans(
        planned(objects).map(|p| (p.at.pack, p.at.offset, p.at.end)),
        options.span_bytes,
        options.cached_below,
    );
    let mut writer = EntryWriter {
        odb,
        packs,
        request,
        options,
        reader: SpanReader::new(odb, packs, spans, options.spans_in_flight),
        slots: objects.slots(),
        written: vec![0; objects.len()],
        stats: PackStats {
            objects: u64::from(count),
            ..PackStats::default()
        },
    };
    for (i, item) in planned(objects).enumerate() {
        writer.entry(item, out).await?;
        if i % 1024 == 1023 {
            // Cached reads and a fast client never make this task wait: let others run.
            tokio::task::yield_now().await;
        }
    }
    out.finish_pack().await?;
    let mut stats = writer.stats;
    stats.bytes = out.pack_bytes() - start;
    Ok(stats)
}

struct EntryWriter<'a> {
    odb: &'a ObjectDb,
    packs: &'a RawPacks,
    request: PackRequest<'a>,
    options: &'a PackOptions,
    reader: SpanReader<'a>,
    /// Numbers the objects, to index `written`.
    slots: SlotIndex,
    /// Pack offset of each object once written (0: not yet; entries start at 12).
    written: Vec<u64>,
    stats: PackStats,
}

impl EntryWriter<'_> {
    async fn entry<W: AsyncWrite + Unpin>(
        &mut self,
        item: Planned,
        out: &mut PackOutput<'_, W>,
    ) -> Result<(), PackError> {
        let at = out.pack_bytes();
        let (header, head) = self.read_header(item).await?;
        let base = match header.kind {
            EntryKind::Base(_) => None,
            EntryKind::OfsDelta { base_offset } => {
                Some(self.packs.position_at_offset(item.at.pack, base_offset))
            }
            EntryKind::RefDelta { base_id } => Some(self.packs.position_of(&base_id)),
        };
        let choice = match base {
            None => Choice::Copy,
            Some(Some(base)) => self.choose_delta(item, base, at),
            Some(None) => Choice::Whole,
        };
        match choice {
            Choice::Copy => {
                self.copy(item, head, 0, out).await?;
                self.stats.reused += 1;
            }
            Choice::Delta(base, thin) => {
                let mut new_header = Vec::with_capacity(MAX_ENTRY_HEADER_LEN);
                delta_header(base, header.size, &mut new_header);
                out.data(&new_header).await?;
                self.copy(item, head, header.len, out).await?;
                self.stats.reused += 1;
                self.stats.reused_deltas += 1;
                self.stats.deltas += 1;
                self.stats.thin_deltas += u64::from(thin);
            }
            Choice::Whole => {
                let id = self.packs.id_at(item.object);
                let entry = whole(self.odb, self.options, id).await?;
                out.data(&entry).await?;
            }
        }
        let slot = self
            .slots
            .slot(self.request.objects, item.object)
            .expect("holds because planned entries are members of the set");
        self.written[slot] = at;
        Ok(())
    }

    /// How to send a delta against `base`, the entry going out at pack offset `at`.
    fn choose_delta(&self, item: Planned, base: ObjectPosition, at: u64) -> Choice {
        if let Some(slot) = self.slots.slot(self.request.objects, base) {
            let base_at = self.written[slot];
            if base_at != 0 {
                return if self.request.ofs_delta {
                    Choice::Delta(DeltaBase::Offset(at - base_at), false)
                } else {
                    Choice::Delta(DeltaBase::Id(self.packs.id_at(base)), false)
                };
            }
            // Later in the same stored pack: a forward reference index-pack resolves; the
            // stored pack's own delta graph keeps it acyclic.
            if base.pack == item.at.pack {
                return Choice::Delta(DeltaBase::Id(self.packs.id_at(base)), false);
            }
            return Choice::Whole;
        }
        if self.request.thin && self.request.client_has.contains(base) {
            return Choice::Delta(DeltaBase::Id(self.packs.id_at(base)), true);
        }
        Choice::Whole
    }

    /// The stored entry's header, and the bytes read to find it (at least the header).
    async fn read_header(&mut self, item: Planned) -> Result<(EntryHeader, Vec<Bytes>), PackError> {
        let RawLocation { pack, offset, end } = item.at;
        let wanted = (MAX_ENTRY_HEADER_LEN as u64).min(end - offset) as usize;
        let mut chunks = Vec::new();
        let mut got = 0;
        while got < wanted {
            let chunk = self.reader.chunk(pack, offset + got as u64, end).await?;
            got += chunk.len();
            chunks.push(chunk);
        }
        let prefix: Vec<u8> = chunks
            .iter()
            .flat_map(|chunk| chunk.iter().copied())
            .take(wanted)
            .collect();
        let corrupt = |detail: String| PackError::Corrupt {
            id: self.packs.id_at(item.object),
            detail,
        };
        let header = parse_entry_header(&prefix, offset)
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt(format!("entry header at offset {offset} is truncated")))?;
        Ok((header, chunks))
    }

    /// Writes the stored entry from byte `skip` on: `head` (already read), then the rest.
    async fn copy<W: AsyncWrite + Unpin>(
        &mut self,
        item: Planned,
        head: Vec<Bytes>,
        skip: usize,
        out: &mut PackOutput<'_, W>,
    ) -> Result<(), PackError> {
        let mut position = item.at.offset;
        for chunk in head {
            let from = (item.at.offset + skip as u64).saturating_sub(position) as usize;
            if from < chunk.len() {
                out.data(&chunk[from..]).await?;
            }
            position += chunk.len() as u64;
        }
        while position < item.at.end {
            let chunk = self
                .reader
                .chunk(item.at.pack, position, item.at.end)
                .await?;
            out.data(&chunk).await?;
            position += chunk.len() as u64;
        }
        Ok(())
    }
}

/// The object `id` resolved and deflated as a whole entry.
async fn whole(odb: &ObjectDb, options: &PackOptions, id: ObjectId) -> Result<Vec<u8>, PackError> {
    let object = odb
        .find(&id)
        .await
        .map_err(|source| PackError::Odb { id, source })?
        .ok_or(PackError::Missing { id })?;
    let level = options.compression;
    let deflated = if object.data.len() < options.inline_deflate_below {
        whole_entry(object.kind, &object.data, level)
    } else {
        tokio::task::spawn_blocking(move || whole_entry(object.kind, &object.data, level))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|result| result)
    };
    deflated.map_err(|source| PackError::Deflate { id, source })
}
