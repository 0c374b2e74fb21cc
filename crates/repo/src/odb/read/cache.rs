//! The two read caches, shared by every repository of a process ([`ReadCaches`]) so that their
//! budget is the process's, whatever the number of repositories. Entries are keyed by a hash of
//! the container's name ([`CacheSpace`]) and the pack; packs are immutable, so nothing in them
//! ever goes stale.
//!
//! - [`BlockCache`]: fixed-size blocks of pack files, read with range GETs. Concurrent misses of
//!   one block are merged into one request; a read spanning several cold blocks fetches up to
//!   `concurrency` of them at once.
//! - [`DeltaBaseCache`]: recently resolved objects that served as delta bases, keyed by pack
//!   offset, so that walking many objects of one long delta chain does not re-inflate the chain
//!   for each of them (git's `delta_base_cache`).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use moka::future::Cache;
use swiftgit_storage::{Storage, StorageError};

use super::pack::LoadedPack;
use crate::PackId;
use crate::odb::error::{OdbError, Result};
use crate::odb::{Object, OdbOptions};

/// Blocks are at least this large, whatever `chunk_length` says. The seed's default of 12 228
/// bytes would cost one Swift round trip (milliseconds) per 12 KB: a commit walk touches a few
/// hundred bytes per object, clustered by git's pack ordering, so a 64 KiB block usually serves
/// dozens of neighbours for the price of one request, while its transfer time (about half a
/// millisecond at 1 Gbit/s) stays below the round trip it saves.
pub const MIN_BLOCK_BYTES: u64 = 64 * 1024;

/// The block and delta-base caches of one process (see the module doc).
pub struct ReadCaches {
    pub(in crate::odb) blocks: BlockCache,
    pub(in crate::odb) bases: DeltaBaseCache,
}

impl std::fmt::Debug for ReadCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCaches")
            .field("block_bytes", &self.blocks.blocks.weighted_size())
            .field("delta_base_bytes", &self.bases.objects.weighted_size())
            .finish()
    }
}

impl ReadCaches {
    /// The block cache's counters since the process started.
    pub fn block_stats(&self) -> BlockCacheStats {
        self.blocks.stats()
    }

    /// Caches of `options.cache_bytes` (blocks of `options.chunk_bytes`) and
    /// `options.delta_cache_bytes`.
    pub fn new(options: &OdbOptions) -> Arc<ReadCaches> {
        Arc::new(ReadCaches {
            blocks: BlockCache::new(options.cache_bytes, options.chunk_bytes),
            bases: DeltaBaseCache::new(options.delta_cache_bytes),
        })
    }
}

/// Where one database's entries live in the shared caches: its container, and a hash of the
/// container's name in their keys (cheaper to hash and compare than the name, on every block
/// and delta-base lookup). Two containers whose names hash alike share only entries of packs
/// with the same id, that is of the same bytes.
#[derive(Debug, Clone)]
pub struct CacheSpace {
    pub container: Arc<str>,
    key: u64,
}

impl CacheSpace {
    pub fn new(container: &str) -> CacheSpace {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        container.hash(&mut hasher);
        CacheSpace {
            container: container.into(),
            key: hasher.finish(),
        }
    }
}

/// A cached block: container's key, pack, block number.
type BlockKey = (u64, PackId, u64);

pub struct BlockCache {
    blocks: Cache<BlockKey, Bytes>,
    block_bytes: u64,
    counters: Arc<BlockCounters>,
}

/// What the block cache did since it was made, and holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCacheStats {
    /// Block reads answered from the cache (or by joining a read already under way).
    pub hits: u64,
    /// Block reads that went to the storage.
    pub misses: u64,
    /// Blocks dropped to make room.
    pub evictions: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// The most bytes it holds.
    pub capacity_bytes: u64,
}

/// Relaxed atomics: counting costs one uncontended add per block read.
#[derive(Debug, Default)]
struct BlockCounters {
    lookups: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl BlockCache {
    /// A cache of about `capacity_bytes` (at least a few blocks) in blocks of
    /// `max(chunk_bytes, MIN_BLOCK_BYTES)`.
    pub fn new(capacity_bytes: u64, chunk_bytes: u64) -> Self {
        let block_bytes = chunk_bytes.max(MIN_BLOCK_BYTES);
        let counters = Arc::new(BlockCounters::default());
        let evicted = Arc::clone(&counters);
        BlockCache {
            blocks: Cache::builder()
                .weigher(|_, block: &Bytes| u32::try_from(block.len()).unwrap_or(u32::MAX))
                .max_capacity(capacity_bytes.max(4 * block_bytes))
                .eviction_listener(move |_, _, cause| {
                    if cause.was_evicted() {
                        evicted.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
            block_bytes,
            counters,
        }
    }

    /// The counters so far (see [`BlockCacheStats`]).
    pub fn stats(&self) -> BlockCacheStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (lookups, misses) = (load(&self.counters.lookups), load(&self.counters.misses));
        BlockCacheStats {
            hits: lookups.saturating_sub(misses),
            misses,
            evictions: load(&self.counters.evictions),
            bytes: self.blocks.weighted_size(),
            capacity_bytes: self.blocks.policy().max_capacity().unwrap_or(0),
        }
    }

    /// Whether a pack of `size` bytes is small enough to be put in the cache whole when stored
    /// (see [`BlockCache::seed`]): at most 4 MiB and an eighth of the cache.
    pub fn seeds(&self, size: u64) -> bool {
        size <= (4 << 20).min(self.blocks.policy().max_capacity().unwrap_or(0) / 8)
    }

    /// Caches all of a pack just stored (`bytes`, the whole file), as the blocks a read would
    /// fetch: the next push's thin-pack bases are usually objects of the previous push, which
    /// would otherwise be read back from storage at once.
    pub async fn seed(&self, space: &CacheSpace, pack: PackId, bytes: Bytes) {
        let block = self.block_bytes as usize;
        for (number, start) in (0..bytes.len()).step_by(block).enumerate() {
            let end = (start + block).min(bytes.len());
            self.blocks
                .insert((space.key, pack, number as u64), bytes.slice(start..end))
                .await;
        }
    }

    /// Block `number` of `pack`, from the cache or one range GET shared by all who miss it.
    async fn block(
        &self,
        storage: &dyn Storage,
        space: &CacheSpace,
        pack: &LoadedPack,
        number: u64,
    ) -> Result<Bytes> {
        let start = number * self.block_bytes;
        let end = (start + self.block_bytes).min(pack.size);
        let container = &*space.container;
        self.counters.lookups.fetch_add(1, Ordering::Relaxed);
        self.blocks
            .try_get_with((space.key, pack.id, number), async {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                storage
                    .get_range(container, &pack.pack_name, start..end)
                    .await
            })
            .await
            .map_err(|e: Arc<StorageError>| {
                OdbError::shared_storage(
                    format!(
                        "reading bytes {start}..{end} of {container}/{}",
                        pack.pack_name
                    ),
                    e,
                )
            })
    }

    /// The bytes `range` of `pack` as consecutive slices of cached blocks, fetching up to
    /// `concurrency` blocks at once.
    pub fn read<'a>(
        &'a self,
        storage: &'a dyn Storage,
        space: &'a CacheSpace,
        pack: &'a LoadedPack,
        range: Range<u64>,
        concurrency: usize,
    ) -> impl Stream<Item = Result<Bytes>> + 'a {
        let first = range.start / self.block_bytes;
        let last = range.end.saturating_sub(1) / self.block_bytes;
        let blocks = if range.is_empty() {
            1..1
        } else {
            first..last + 1
        };
        futures::stream::iter(blocks)
            .map(move |number| {
                let range = range.clone();
                async move {
                    let block = self.block(storage, space, pack, number).await?;
                    let block_start = number * self.block_bytes;
                    let from = range.start.saturating_sub(block_start) as usize;
                    let to = (range.end - block_start).min(self.block_bytes) as usize;
                    if block.len() < to {
                        return Err(OdbError::CorruptStored {
                            pack: pack.id,
                            detail: format!(
                                "{} is shorter than its index says ({} bytes at block {number})",
                                pack.pack_name,
                                block.len()
                            ),
                        });
                    }
                    Ok(block.slice(from..to))
                }
            })
            .buffered(concurrency.max(1))
    }

    /// Reads `range` into one buffer (for small reads: entry headers).
    pub async fn read_small(
        &self,
        storage: &dyn Storage,
        space: &CacheSpace,
        pack: &LoadedPack,
        range: Range<u64>,
    ) -> Result<Bytes> {
        let mut pieces = std::pin::pin!(self.read(storage, space, pack, range, 2));
        let mut parts = Vec::new();
        while let Some(part) = pieces.next().await {
            parts.push(part?);
        }
        Ok(match parts.len() {
            1 => parts.pop().expect("holds because there is one part"),
            _ => Bytes::from(parts.concat()),
        })
    }
}

/// What the delta-base cache itself spends on one entry (key, value, its hash table slot and
/// eviction queues), counted against its capacity: its entries are often a few hundred bytes.
const ENTRY_OVERHEAD: usize = 256;

/// Resolved delta bases by (container's key, pack, offset), bounded in bytes.
pub struct DeltaBaseCache {
    objects: Cache<(u64, PackId, u64), Object>,
    /// Objects larger than this are not kept (one would evict everything else).
    max_object: u64,
}

impl DeltaBaseCache {
    pub fn new(capacity_bytes: u64) -> Self {
        DeltaBaseCache {
            objects: Cache::builder()
                .weigher(|_, object: &Object| {
                    u32::try_from(object.data.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .max_capacity(capacity_bytes)
                .build(),
            max_object: capacity_bytes / 4,
        }
    }

    pub async fn get(&self, space: &CacheSpace, pack: PackId, offset: u64) -> Option<Object> {
        self.objects.get(&(space.key, pack, offset)).await
    }

    pub async fn insert(&self, space: &CacheSpace, pack: PackId, offset: u64, object: &Object) {
        if (object.data.len() as u64) <= self.max_object {
            self.objects
                .insert((space.key, pack, offset), object.clone())
                .await;
        }
    }
}
