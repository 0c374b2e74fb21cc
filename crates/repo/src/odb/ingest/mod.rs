//! Ingest: a pushed pack stream becomes a stored, indexed pack. This folder holds the pipeline
//! and upload (here), its two passes over the pack, [`scan`] and [`resolve`], and [`limits`]
//! (the limits and progress types that the passes share with the pipeline, kept apart so that
//! the passes do not depend on it). It builds on [`read`](super::read) (the packs a thin pack's
//! bases come from), [`index`](super::index) and [`format`](super::format); nothing there
//! depends on it.
//!
//! 1. The stream is spooled to a temporary file while a blocking thread scans it ([`scan`]):
//!    memory stays flat whatever the pack's size, `max_pack_bytes` is enforced as bytes arrive,
//!    and a malformed pack fails at its first bad byte.
//! 2. A blocking thread resolves every object ([`resolve`]), hashing each one.
//! 3. A thin pack's missing bases are read from the repository *between* blocking phases, with
//!    ordinary async reads (up to `concurrency` at once, in batches of at most 64 MiB), then
//!    handed to the resolver. We pre-read rather than call `Handle::block_on` from inside the
//!    resolver: the bases are known once the in-pack pass is done (they are what REF_DELTAs
//!    still wait for), reads overlap instead of going one round trip at a time, and no
//!    blocking thread ever waits on the network.
//! 4. The `.pack`, `.idx` and `.meta` are uploaded with [`PutMode::Create`] before `ingest`
//!    returns. Nothing refers to them until the caller commits the pack in the ref log.

use std::io::Read;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use gix_hash::ObjectId;
use swiftgit_storage::{ErrorKind, PutMode, PutPayload};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

mod limits;
mod resolve;
mod scan;

pub use limits::{IngestLimits, IngestProgress, IngestStage};

use crate::PackId;
use crate::odb::error::{OdbError, Result};
use crate::odb::format::object_links::{CommitInfo, TagInfo};
use crate::odb::read::pack::LoadedPack;
use crate::odb::{Object, ObjectDb, ObjectHeader};
use resolve::{Finished, Resolver};

/// Bytes read from the client per chunk.
const FEED_CHUNK: usize = 64 * 1024;
/// Chunks in flight between the reader and the scanning thread.
const FEED_QUEUE: usize = 16;
/// Thin-pack bases held in memory at once (one batch).
const THIN_BATCH_BYTES: u64 = 64 << 20;

/// A pack that ingest has verified and stored, not yet part of the repository.
#[derive(Debug)]
pub struct IngestedPack {
    /// `None` for an empty pack (a push that only deletes refs).
    pack: Option<Arc<LoadedPack>>,
    missing: Vec<ObjectId>,
}

impl IngestedPack {
    /// The stored pack's name, `None` for an empty pack (nothing was stored).
    pub fn pack_id(&self) -> Option<PackId> {
        self.pack.as_ref().map(|pack| pack.id)
    }

    /// Objects in the stored pack (a completed thin pack includes the bases it appended).
    pub fn object_count(&self) -> usize {
        self.pack.as_ref().map_or(0, |pack| pack.index.len())
    }

    /// The ids of all objects in the pack, sorted.
    pub fn object_ids(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.pack.iter().flat_map(|pack| pack.index.ids())
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.position(id).is_some()
    }

    /// Type and size of an object of this pack.
    pub fn header(&self, id: &ObjectId) -> Option<ObjectHeader> {
        let (pack, at) = self.position(id)?;
        let (kind, size) = pack.meta.as_ref()?.header_at(at)?;
        Some(ObjectHeader { kind, size })
    }

    /// A commit of this pack.
    pub fn commit_info(&self, id: &ObjectId) -> Option<CommitInfo> {
        let (pack, at) = self.position(id)?;
        pack.meta.as_ref()?.commit_at(at)
    }

    /// An annotated tag of this pack.
    pub fn tag_info(&self, id: &ObjectId) -> Option<TagInfo> {
        let (pack, at) = self.position(id)?;
        pack.meta.as_ref()?.tag_at(at)
    }

    /// Ids that this pack's commits (tree, parents), trees (entries other than submodules) and
    /// tags (target) refer to and that are neither in the pack nor in the repository as it was
    /// when ingest began; sorted. Empty means the pack is connected: every object it makes
    /// reachable exists. A push from a shallow clone legitimately lacks parents.
    pub fn missing_references(&self) -> &[ObjectId] {
        &self.missing
    }

    pub(super) fn loaded(&self) -> Option<&Arc<LoadedPack>> {
        self.pack.as_ref()
    }

    fn position(&self, id: &ObjectId) -> Option<(&LoadedPack, usize)> {
        let pack = self.pack.as_deref()?;
        Some((pack, pack.index.lookup(id.as_slice())?))
    }
}

impl ObjectDb {
    /// Reads a pack stream (as `git push` sends it; thin packs included) to its end, verifies
    /// it, resolves and hashes every object, completes a thin pack with bases from this
    /// repository, and stores `objects/pack/pack-<sha>.{pack,idx,meta}` with
    /// [`PutMode::Create`] (an identical pack already stored is fine: names are content
    /// addresses).
    ///
    /// Atomicity: nothing is stored unless every check passed; then the three files are
    /// uploaded, each atomically. A storage failure part way may leave some of them, which is
    /// harmless: nothing refers to a pack until the caller commits it to the ref log (then
    /// call [`ObjectDb::add_ingested`]), and a later identical push reuses them.
    ///
    /// The stream is never read past the pack's trailer. On error it may be left part-read.
    pub async fn ingest(
        &self,
        pack: impl AsyncRead + Unpin + Send,
        limits: &IngestLimits,
        progress: Arc<dyn IngestProgress>,
    ) -> Result<IngestedPack> {
        self.ingest_with_bases(pack, limits, progress, &[]).await
    }

    /// [`ObjectDb::ingest`], with the packs of `bases` (the repository's live packs) added
    /// while the stream is read, before a thin pack's bases are looked up: a push to a fresh
    /// server does not wait for their indexes before it reads the pack.
    pub async fn ingest_with_bases(
        &self,
        pack: impl AsyncRead + Unpin + Send,
        limits: &IngestLimits,
        progress: Arc<dyn IngestProgress>,
        bases: &[PackId],
    ) -> Result<IngestedPack> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("swiftgit-ingest-");
        let dir = match &self.options.temp_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(|e| OdbError::io("creating the spool directory", e))?;
        let spool_path = dir.path().join("pack.pack");
        let spool = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spool_path)
            .map_err(|e| OdbError::io("creating the spool file", e))?;
        let scan_file = spool
            .try_clone()
            .map_err(|e| OdbError::io("opening the spool file", e))?;

        let (sender, receiver) = mpsc::channel(FEED_QUEUE);
        let scan_limits = limits.clone();
        let scan_progress = Arc::clone(&progress);
        let mut scanning = tokio::task::spawn_blocking(move || {
            let source = ChannelReader {
                receiver,
                current: Bytes::new(),
            };
            scan::scan(source, scan_file, &scan_limits, &*scan_progress)
        });
        let feeding = feed(pack, sender, limits.max_pack_bytes);
        let reading = async {
            tokio::select! {
                biased;
                scanned = &mut scanning => (Ok(()), scanned),
                fed = feeding => (fed, scanning.await),
            }
        };
        let ((fed, scanned), loaded) = futures::join!(reading, self.add_packs(bases));
        fed?;
        let scanned = scanned.map_err(worker_failed)??;
        loaded?;
        if scanned.entries.is_empty() {
            return Ok(IngestedPack {
                pack: None,
                missing: Vec::new(),
            });
        }

        let existing = self.snapshot();
        let (limits_for, progress_for, existing_for) =
            (limits.clone(), progress, Arc::clone(&existing));
        let mut resolver = blocking(move || {
            let mut resolver = Resolver::new(
                spool,
                spool_path,
                scanned,
                existing_for,
                limits_for,
                progress_for,
            )?;
            resolver.resolve_in_pack()?;
            Ok(resolver)
        })
        .await?;

        let mut thin_bases = resolver
            .waiting_for()
            .into_iter()
            .filter(|id| existing.contains_id(id))
            .peekable();
        while thin_bases.peek().is_some() {
            let mut batch = Vec::new();
            let mut batch_bytes = 0;
            while let Some(id) = thin_bases.peek() {
                let size = match existing.locate(id.as_slice()) {
                    Some((pack, at)) => pack
                        .meta
                        .as_ref()
                        .and_then(|m| m.header_at(at))
                        .map_or(1 << 20, |h| h.1),
                    None => 0,
                };
                if !batch.is_empty() && batch_bytes + size > THIN_BATCH_BYTES {
                    break;
                }
                batch_bytes += size;
                batch.extend(thin_bases.next());
            }
            let existing = &existing;
            let bases: Vec<(ObjectId, Object)> = futures::stream::iter(batch)
                .map(|id| async move {
                    let object = self.find_in(existing, &id).await?;
                    object
                        .map(|object| (id, object))
                        .ok_or(OdbError::NotFound { id })
                })
                .buffer_unordered(self.options.concurrency.max(1))
                .try_collect()
                .await?;
            resolver = blocking(move || {
                resolver.resolve_external(bases)?;
                Ok(resolver)
            })
            .await?;
        }

        let dir_path = dir.path().to_path_buf();
        let finished = blocking(move || resolver.finish(&dir_path)).await?;
        // The cache is filled while the files upload (a pack whose upload fails is in no state,
        // so its cached blocks are never read).
        let (uploaded, ()) = futures::join!(self.upload(&finished), self.seed_cache(&finished));
        uploaded?;
        let Finished {
            checksum,
            index,
            meta,
            missing,
            ..
        } = finished;
        let size = meta.pack_size;
        let pack = LoadedPack::new(PackId(checksum), index, Some(meta), size)?;
        Ok(IngestedPack {
            pack: Some(Arc::new(pack)),
            missing,
        })
    }

    /// Puts a small pack just stored in the block cache (see
    /// [`BlockCache::seed`](crate::odb::read::cache::BlockCache::seed)). Best effort: a spool
    /// that cannot be read back only costs a later read.
    async fn seed_cache(&self, finished: &Finished) {
        if !self.caches.blocks.seeds(finished.meta.pack_size) {
            return;
        }
        match tokio::fs::read(&finished.pack_path).await {
            Ok(bytes) if bytes.len() as u64 == finished.meta.pack_size => {
                let id = PackId(finished.checksum);
                self.caches
                    .blocks
                    .seed(&self.space, id, Bytes::from(bytes))
                    .await;
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "cannot read back the stored pack's spool"),
        }
    }

    async fn upload(&self, finished: &Finished) -> Result<()> {
        let id = PackId(finished.checksum);
        let files = [
            ("pack", &finished.pack_path),
            ("idx", &finished.idx_path),
            ("meta", &finished.meta_path),
        ];
        let uploads = files.into_iter().map(|(ext, path)| async move {
            let name = id.object_name(ext);
            let payload = PutPayload::File(path.clone());
            match self
                .storage
                .put(&self.space.container, &name, payload, PutMode::Create)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(OdbError::storage(
                    format!("uploading {}/{name}", self.space.container),
                    e,
                )),
            }
        });
        futures::future::join_all(uploads)
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()
            .map(drop)
    }
}

/// Copies the client's stream into the channel until it ends, the scanner hangs up, or the
/// limit is passed.
async fn feed(
    mut source: impl AsyncRead + Unpin,
    sender: mpsc::Sender<Bytes>,
    limit: u64,
) -> Result<()> {
    let mut total = 0u64;
    loop {
        let mut chunk = BytesMut::with_capacity(FEED_CHUNK);
        let n = source
            .read_buf(&mut chunk)
            .await
            .map_err(|e| OdbError::io("reading the pushed pack", e))?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > limit {
            return Err(OdbError::PackTooLarge { limit });
        }
        if sender.send(chunk.freeze()).await.is_err() {
            return Ok(());
        }
    }
}

/// The scanner's view of the channel: a blocking `Read`.
struct ChannelReader {
    receiver: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(worker_failed)?
}

fn worker_failed(error: tokio::task::JoinError) -> OdbError {
    OdbError::Internal(format!("ingest worker failed: {error}"))
}
