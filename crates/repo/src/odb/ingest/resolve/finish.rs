//! Completing a resolved pack: a thin pack's bases appended as whole objects, the header's
//! object count and the trailing checksum rewritten, then the `.idx` and `.meta` written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use gix_hash::ObjectId;
use gix_object::Kind;

use super::Resolver;
use crate::odb::error::{OdbError, Result};
use crate::odb::format::entry::{HASH_LEN, encode_base_header, encode_pack_header, kind_code};
use crate::odb::index::idx::{self, IndexEntry, PackIndex};
use crate::odb::index::meta::PackMeta;
use crate::odb::ingest::scan::ScannedEntry;

/// What ingest uploads and returns.
pub struct Finished {
    pub pack_path: PathBuf,
    pub idx_path: PathBuf,
    pub meta_path: PathBuf,
    pub checksum: ObjectId,
    pub index: PackIndex,
    pub meta: PackMeta,
    pub missing: Vec<ObjectId>,
}

impl Resolver {
    /// Writes `data` as a whole object at the end of the pack; returns its entry number.
    pub(super) fn append_base(&mut self, kind: Kind, data: &[u8]) -> Result<u32> {
        let mut bytes = Vec::with_capacity(data.len() / 2 + 32);
        encode_base_header(kind, data.len() as u64, &mut bytes);
        let header_len = bytes.len();
        let mut zlib = flate2::write::ZlibEncoder::new(bytes, flate2::Compression::fast());
        zlib.write_all(data)
            .and_then(|()| zlib.finish())
            .and_then(|bytes| {
                self.file.write_all_at(&bytes, self.data_end)?;
                Ok(bytes)
            })
            .map(|bytes| {
                let entry = ScannedEntry {
                    offset: self.data_end,
                    end: self.data_end + bytes.len() as u64,
                    size: data.len() as u64,
                    base: 0,
                    crc32: crc32fast::hash(&bytes),
                    type_code: kind_code(kind),
                    header_len: header_len as u8,
                };
                self.data_end = entry.end;
                self.entries.push(entry);
                self.ids.push([0; HASH_LEN]);
                self.kinds.push(0);
                self.sizes.push(0);
                (self.entries.len() - 1) as u32
            })
            .map_err(|e| OdbError::io("appending a base object to the spooled pack", e))
    }

    /// Checks that everything resolved, completes a thin pack, writes `.idx` and `.meta` into
    /// `dir`.
    pub fn finish(mut self, dir: &Path) -> Result<Finished> {
        if let Some((base, offset)) = self
            .waiting
            .iter()
            .flat_map(|(base, children)| children.iter().map(move |&c| (base, c)))
            .map(|(base, child)| (base, self.entries[child as usize].offset))
            .min_by_key(|&(_, offset)| offset)
        {
            return Err(OdbError::MissingBase {
                offset,
                base_id: ObjectId::from_bytes_or_panic(base),
            });
        }
        if self.resolved != self.entries.len() {
            return Err(OdbError::Internal(format!(
                "{} of {} entries resolved",
                self.resolved,
                self.entries.len()
            )));
        }
        let count = u32::try_from(self.entries.len())
            .map_err(|_| OdbError::Internal("over 2^32 objects".into()))?;
        if self.entries.len() > self.scanned_count {
            self.rewrite_header_and_trailer(count)?;
        }
        let pack_size = self.data_end + HASH_LEN as u64;

        let mut order: Vec<u32> = (0..count).collect();
        order.sort_unstable_by_key(|&i| self.ids[i as usize]);
        let mut position_of = vec![0u32; order.len()];
        for (position, &entry) in order.iter().enumerate() {
            position_of[entry as usize] = position as u32;
        }
        let index_entries: Vec<IndexEntry> = order
            .iter()
            .map(|&i| IndexEntry {
                id: self.ids[i as usize],
                crc32: self.entries[i as usize].crc32,
                offset: self.entries[i as usize].offset,
            })
            .collect();
        let kinds = order.iter().map(|&i| self.kinds[i as usize]).collect();
        let sizes = order.iter().map(|&i| self.sizes[i as usize]).collect();
        drop(order);

        let checksum = ObjectId::from_bytes_or_panic(&self.checksum);
        let idx_path = dir.join("pack.idx");
        let meta_path = dir.join("pack.meta");
        let write =
            |path: &Path,
             what: &str,
             encode: &dyn Fn(&mut BufWriter<File>) -> std::io::Result<()>| {
                File::create(path)
                    .map(BufWriter::new)
                    .and_then(|mut out| {
                        encode(&mut out)?;
                        // Flushed, not synced: this is a spool for the upload, whose
                        // durability is the storage's.
                        out.into_inner().map(drop).map_err(|e| e.into_error())
                    })
                    .map_err(|e| OdbError::io(format!("writing the {what}"), e))
            };
        write(&idx_path, "pack index", &|out| {
            idx::encode(&index_entries, &self.checksum, out)
        })?;
        let index = PackIndex::from_sorted(&index_entries, self.checksum);
        drop(index_entries);
        let meta = std::mem::take(&mut self.meta).finish(&position_of, kinds, sizes, pack_size);
        write(&meta_path, "pack metadata", &|out| {
            meta.encode(&checksum, out)
        })?;

        let mut missing: Vec<ObjectId> = self
            .referenced
            .iter()
            .filter(|id| index.lookup(id.as_slice()).is_none())
            .map(|id| ObjectId::from_bytes_or_panic(id))
            .collect();
        missing.sort_unstable();
        Ok(Finished {
            pack_path: self.pack_path,
            idx_path,
            meta_path,
            checksum,
            index,
            meta,
            missing,
        })
    }

    /// After appending bases: the new object count in the header, the new checksum after the
    /// last entry.
    fn rewrite_header_and_trailer(&mut self, count: u32) -> Result<()> {
        let io = |e| OdbError::io("completing the thin pack", e);
        self.file
            .write_all_at(&encode_pack_header(count), 0)
            .map_err(io)?;
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < self.data_end {
            let n = buf.len().min((self.data_end - at) as usize);
            self.file.read_exact_at(&mut buf[..n], at).map_err(io)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        let checksum = hasher
            .try_finalize()
            .map_err(|e| OdbError::Internal(format!("hashing the completed pack: {e}")))?;
        self.file
            .write_all_at(checksum.as_slice(), self.data_end)
            .map_err(io)?;
        self.file
            .set_len(self.data_end + HASH_LEN as u64)
            .map_err(io)?;
        self.checksum = checksum.as_slice().try_into().expect("holds: SHA-1 ids");
        Ok(())
    }
}
