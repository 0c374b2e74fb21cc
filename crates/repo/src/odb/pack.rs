//! A pack as the object database holds it in memory: its decoded `.idx` and `.meta`, loaded from
//! storage; and the set of packs one lookup searches.

use std::sync::Arc;

use futures::StreamExt;
use gix_hash::ObjectId;
use swiftgit_storage::{ErrorKind, GetResult, Storage, StorageError};

use super::entry::HASH_LEN;
use super::error::{OdbError, Result};
use super::idx::PackIndex;
use super::meta::PackMeta;
use crate::PackId;

pub struct LoadedPack {
    pub id: PackId,
    /// Storage name of the `.pack` file.
    pub pack_name: String,
    pub index: PackIndex,
    /// Absent for packs written by others (dulwich): then types, sizes and commit data are read
    /// from the objects themselves.
    pub meta: Option<PackMeta>,
    /// Bytes of the `.pack` file.
    pub size: u64,
}

impl std::fmt::Debug for LoadedPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPack")
            .field("id", &self.id)
            .field("objects", &self.index.len())
            .field("size", &self.size)
            .field("meta", &self.meta.is_some())
            .finish()
    }
}

impl LoadedPack {
    /// Downloads and verifies the `.idx` and `.meta` of `id`. A missing `.meta` is tolerated
    /// (the pack's size then comes from a HEAD request).
    pub async fn load(storage: &dyn Storage, container: &str, id: PackId) -> Result<LoadedPack> {
        let idx_name = id.object_name("idx");
        let idx = match storage.get(container, &idx_name).await {
            Ok(found) => read_whole(found).await,
            Err(e) => Err(e),
        }
        .map_err(|e| OdbError::storage(format!("reading {container}/{idx_name}"), e))?;
        let index = PackIndex::decode(&idx).map_err(|detail| OdbError::CorruptStored {
            pack: id,
            detail: format!("{idx_name}: {detail}"),
        })?;
        drop(idx);
        if index.pack_checksum() != id.0 {
            return Err(OdbError::CorruptStored {
                pack: id,
                detail: format!("{idx_name} describes pack {}", index.pack_checksum()),
            });
        }
        let meta_name = id.object_name("meta");
        let meta = match storage.get(container, &meta_name).await {
            Ok(found) => {
                let bytes = read_whole(found).await.map_err(|e| {
                    OdbError::storage(format!("reading {container}/{meta_name}"), e)
                })?;
                Some(
                    PackMeta::decode(&bytes, &id.0, index.len()).map_err(|detail| {
                        OdbError::CorruptStored {
                            pack: id,
                            detail: format!("{meta_name}: {detail}"),
                        }
                    })?,
                )
            }
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                return Err(OdbError::storage(
                    format!("reading {container}/{meta_name}"),
                    e,
                ));
            }
        };
        let pack_name = id.object_name("pack");
        let size = match &meta {
            Some(meta) => meta.pack_size,
            None => {
                storage
                    .head(container, &pack_name)
                    .await
                    .map_err(|e| OdbError::storage(format!("reading {container}/{pack_name}"), e))?
                    .size
            }
        };
        LoadedPack::new(id, index, meta, size)
    }

    /// Checks that the index fits a pack of `size` bytes.
    pub fn new(id: PackId, index: PackIndex, meta: Option<PackMeta>, size: u64) -> Result<Self> {
        let data_end = size.saturating_sub(HASH_LEN as u64);
        if index.last_offset().is_some_and(|last| last >= data_end) {
            return Err(OdbError::CorruptStored {
                pack: id,
                detail: format!("index names offsets past the pack's {size} bytes"),
            });
        }
        Ok(LoadedPack {
            pack_name: id.object_name("pack"),
            id,
            index,
            meta,
            size,
        })
    }

    /// Where the entry at `offset` ends: the next entry, or the trailer.
    pub fn entry_end(&self, offset: u64) -> u64 {
        self.index
            .next_offset(offset)
            .unwrap_or(self.size - HASH_LEN as u64)
    }

    /// Where the entry of rank `rank` in offset order ends: the next entry, or the trailer.
    pub fn entry_end_by_rank(&self, rank: usize) -> u64 {
        self.index
            .offset_by_rank(rank + 1)
            .unwrap_or(self.size - HASH_LEN as u64)
    }
}

/// The whole body of `found` in one buffer of its announced size (collecting the pieces first
/// and joining them would hold the file twice).
async fn read_whole(found: GetResult) -> std::result::Result<Vec<u8>, StorageError> {
    let mut data = Vec::with_capacity(usize::try_from(found.meta.size).unwrap_or(0).min(1 << 30));
    let mut body = found.body;
    while let Some(piece) = body.next().await {
        data.extend_from_slice(&piece?);
    }
    Ok(data)
}

/// The packs one lookup searches, newest first.
#[derive(Debug, Default)]
pub struct PackSet {
    pub packs: Vec<Arc<LoadedPack>>,
}

impl PackSet {
    /// The pack holding `id` and the id's position in that pack's index.
    pub fn locate(&self, id: &[u8]) -> Option<(&Arc<LoadedPack>, usize)> {
        self.packs
            .iter()
            .find_map(|pack| pack.index.lookup(id).map(|at| (pack, at)))
    }

    pub fn contains(&self, id: &[u8]) -> bool {
        self.locate(id).is_some()
    }

    pub fn contains_id(&self, id: &ObjectId) -> bool {
        self.contains(id.as_slice())
    }
}
