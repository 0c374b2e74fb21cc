//! A pack as the object database holds it in memory: its decoded `.idx` and `.meta`, loaded from
//! storage; and the set of packs one lookup searches.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use gix_hash::ObjectId;
use swiftgit_storage::{ErrorKind, GetResult, Storage, StorageError};

use crate::PackId;
use crate::odb::error::{OdbError, Result};
use crate::odb::format::entry::HASH_LEN;
use crate::odb::index::idx::PackIndex;
use crate::odb::index::meta::PackMeta;

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
    /// The memory this pack holds (its index and metadata; not its cached blocks).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<LoadedPack>()
            + self.pack_name.capacity()
            + self.index.heap_bytes()
            + self.meta.as_ref().map_or(0, PackMeta::heap_bytes)
    }

    /// Downloads and verifies the `.idx` and `.meta` of `id`: both requests at once, each file
    /// decoded on a blocking thread as soon as it is in (a large index takes tens of
    /// milliseconds of CPU to check and sort). A missing `.meta` is tolerated (the pack's size
    /// then comes from a HEAD request).
    pub async fn load(storage: &dyn Storage, container: &str, id: PackId) -> Result<LoadedPack> {
        let idx_name = id.object_name("idx");
        let meta_name = id.object_name("meta");
        let index = async {
            let bytes = download(storage, container, &idx_name)
                .await?
                .ok_or_else(|| {
                    OdbError::storage(
                        format!("reading {container}/{idx_name}"),
                        StorageError::not_found(container, &idx_name),
                    )
                })?;
            let decoded = bytes.clone();
            let index = decode_blocking(id, &idx_name, move || PackIndex::decode(&decoded)).await?;
            storage.offer_copy(container, &idx_name, bytes).await;
            Ok(index)
        };
        let meta = async {
            match download(storage, container, &meta_name).await? {
                Some(bytes) => {
                    let (pack, decoded) = (id.0, bytes.clone());
                    let meta =
                        decode_blocking(id, &meta_name, move || PackMeta::decode(&decoded, &pack))
                            .await?;
                    storage.offer_copy(container, &meta_name, bytes).await;
                    Ok(Some(meta))
                }
                None => Ok(None),
            }
        };
        let (index, meta) = futures::try_join!(index, meta)?;
        if index.pack_checksum() != id.0 {
            return Err(OdbError::CorruptStored {
                pack: id,
                detail: format!("{idx_name} describes pack {}", index.pack_checksum()),
            });
        }
        if let Some(meta) = &meta
            && meta.objects() != index.len()
        {
            return Err(OdbError::CorruptStored {
                pack: id,
                detail: format!(
                    "{meta_name} lists {} objects, the index {}",
                    meta.objects(),
                    index.len()
                ),
            });
        }
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

/// The whole object `name`, or `None` if it does not exist.
async fn download(storage: &dyn Storage, container: &str, name: &str) -> Result<Option<Bytes>> {
    let fetched = match storage.get(container, name).await {
        Ok(found) => read_whole(found).await.map(Bytes::from),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => Err(e),
    };
    fetched
        .map(Some)
        .map_err(|e| OdbError::storage(format!("reading {container}/{name}"), e))
}

/// Runs `decode` on a blocking thread; its error becomes [`OdbError::CorruptStored`] naming
/// `file`.
async fn decode_blocking<T: Send + 'static>(
    pack: PackId,
    file: &str,
    decode: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    let decoded = tokio::task::spawn_blocking(decode)
        .await
        .map_err(|e| OdbError::Internal(format!("decoding {file} failed: {e}")))?;
    decoded.map_err(|detail| OdbError::CorruptStored {
        pack,
        detail: format!("{file}: {detail}"),
    })
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
