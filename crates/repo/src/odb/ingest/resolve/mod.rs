//! The second pass of ingest: resolve every entry of the spooled pack to an object id, the way
//! `git index-pack` does. Whole objects are roots; each delta hangs under its base (OFS_DELTA by
//! offset, REF_DELTA by base id once an object with that id turns up). Each tree of deltas is
//! walked depth-first with an explicit stack (no recursion, so chain depth cannot overflow the
//! stack), a base's bytes shared by its children and dropped when the last child is done.
//!
//! For every object it also records what `.meta` keeps (types, sizes, commits, tags) and which
//! ids commits, trees and tags refer to that the repository lacks, to report the push's missing
//! objects. Large blobs that are nobody's base are hashed while streaming, never held whole.
//!
//! REF_DELTAs left waiting for a base the repository has (a thin pack) are completed by
//! [`Resolver::resolve_external`]: the base is appended to the pack as a whole object (as
//! `git index-pack --fix-thin` does) and its deltas resolved under it; [`Resolver::finish`] then
//! rewrites the object count and the trailing checksum, and writes the `.idx` and `.meta`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use gix_hash::ObjectId;
use gix_object::Kind;

mod finish;

pub use finish::Finished;

use super::limits::{IngestLimits, IngestProgress, IngestStage};
use super::scan::{OFS_DELTA, REF_DELTA, ScannedEntry, ScannedPack, inflate_error};
use crate::odb::error::{OdbError, Result};
use crate::odb::format::delta;
use crate::odb::format::entry::{HASH_LEN, ObjectHasher, hash_object, kind_code, kind_from_code};
use crate::odb::format::inflate::Inflater;
use crate::odb::format::object_links::{for_each_tree_entry, parse_commit, parse_tag};
use crate::odb::index::meta::MetaBuilder;
use crate::odb::read::pack::PackSet;

/// Blobs above this size that no OFS_DELTA uses as a base are hashed while streaming.
const STREAM_BLOBS_ABOVE: u64 = 1 << 20;
/// Compressed bytes read from the spool file per read.
const READ_CHUNK: usize = 64 * 1024;

/// A resolved object whose deltas are still to do.
struct Base {
    kind: Kind,
    data: Bytes,
}

struct Work {
    entry: u32,
    parent: Option<Arc<Base>>,
    depth: u32,
}

pub struct Resolver {
    file: File,
    pack_path: PathBuf,
    entries: Vec<ScannedEntry>,
    scanned_count: usize,
    /// End of the last entry: where appended bases go.
    data_end: u64,
    checksum: [u8; HASH_LEN],
    ids: Vec<[u8; HASH_LEN]>,
    /// Resolved type code per entry, 0 while unresolved.
    kinds: Vec<u8>,
    sizes: Vec<u64>,
    /// OFS_DELTA children of scanned entry `i`: `children[child_start[i]..child_start[i + 1]]`.
    child_start: Vec<u32>,
    children: Vec<u32>,
    /// REF_DELTA entries by the base id they wait for.
    waiting: HashMap<[u8; HASH_LEN], Vec<u32>>,
    resolved: usize,
    meta: MetaBuilder,
    /// Ids referred to by new commits, trees and tags that the repository lacks.
    referenced: HashSet<[u8; HASH_LEN]>,
    existing: Arc<PackSet>,
    limits: IngestLimits,
    progress: Arc<dyn IngestProgress>,
    inflater: Inflater,
}

impl Resolver {
    /// Links every delta to its base (checking that each OFS_DELTA names an entry start).
    pub fn new(
        file: File,
        pack_path: PathBuf,
        scanned: ScannedPack,
        existing: Arc<PackSet>,
        limits: IngestLimits,
        progress: Arc<dyn IngestProgress>,
    ) -> Result<Resolver> {
        let ScannedPack {
            entries,
            ref_bases,
            checksum,
            len,
        } = scanned;
        let n = entries.len();
        let mut child_start = vec![0u32; n + 1];
        let mut links = Vec::new();
        let mut waiting: HashMap<[u8; HASH_LEN], Vec<u32>> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            match entry.type_code {
                OFS_DELTA => {
                    let base = entries
                        .binary_search_by_key(&entry.base, |e| e.offset)
                        .map_err(|_| OdbError::BadDeltaBase {
                            offset: entry.offset,
                            base_offset: entry.base,
                        })?;
                    child_start[base + 1] += 1;
                    links.push((base as u32, i as u32));
                }
                REF_DELTA => waiting
                    .entry(ref_bases[entry.base as usize])
                    .or_default()
                    .push(i as u32),
                _ => {}
            }
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut children = vec![0u32; links.len()];
        for (base, child) in links {
            children[fill[base as usize] as usize] = child;
            fill[base as usize] += 1;
        }
        Ok(Resolver {
            file,
            pack_path,
            scanned_count: n,
            data_end: len - HASH_LEN as u64,
            checksum,
            ids: vec![[0; HASH_LEN]; n],
            kinds: vec![0; n],
            sizes: vec![0; n],
            entries,
            child_start,
            children,
            waiting,
            resolved: 0,
            meta: MetaBuilder::default(),
            referenced: HashSet::new(),
            existing,
            limits,
            progress,
            inflater: Inflater::default(),
        })
    }

    /// Resolves every whole object in the pack and all deltas that hang under them.
    pub fn resolve_in_pack(&mut self) -> Result<()> {
        let mut stack = Vec::new();
        for entry in 0..self.scanned_count {
            if self.entries[entry].type_code < OFS_DELTA {
                stack.push(Work {
                    entry: entry as u32,
                    parent: None,
                    depth: 0,
                });
                self.run(&mut stack)?;
            }
        }
        Ok(())
    }

    /// Base ids REF_DELTAs still wait for.
    pub fn waiting_for(&self) -> Vec<ObjectId> {
        self.waiting
            .keys()
            .map(|id| ObjectId::from_bytes_or_panic(id))
            .collect()
    }

    /// Appends each of `bases` (objects from the repository) that deltas still wait for to the
    /// pack, and resolves those deltas.
    pub fn resolve_external(&mut self, bases: Vec<(ObjectId, crate::odb::Object)>) -> Result<()> {
        let mut stack = Vec::new();
        for (id, object) in bases {
            let raw: [u8; HASH_LEN] = id.as_slice().try_into().expect("holds: SHA-1 ids");
            let Some(waiting) = self.waiting.remove(&raw) else {
                continue;
            };
            let entry = self.append_base(object.kind, &object.data)?;
            self.record(entry, object.kind, object.data.len() as u64, raw);
            self.inspect(entry, object.kind, &object.data, id, false)?;
            let parent = Arc::new(Base {
                kind: object.kind,
                data: object.data,
            });
            for child in waiting {
                stack.push(Work {
                    entry: child,
                    parent: Some(Arc::clone(&parent)),
                    depth: 1,
                });
            }
            drop(parent);
            self.run(&mut stack)?;
        }
        Ok(())
    }

    fn run(&mut self, stack: &mut Vec<Work>) -> Result<()> {
        while let Some(work) = stack.pop() {
            self.resolve_one(work, stack)?;
        }
        Ok(())
    }

    fn resolve_one(&mut self, work: Work, stack: &mut Vec<Work>) -> Result<()> {
        let entry = self.entries[work.entry as usize];
        let offset = entry.offset;
        let has_ofs_children = self.ofs_children(work.entry).next().is_some();
        let (kind, size, data, id) = match &work.parent {
            Some(parent) => {
                if work.depth > self.limits.max_delta_depth {
                    return Err(OdbError::DeltaTooDeep {
                        offset,
                        depth: work.depth,
                        limit: self.limits.max_delta_depth,
                    });
                }
                let instructions = self.inflate(&entry)?;
                let data = delta::apply(&parent.data, &instructions, self.limits.max_object_bytes)
                    .map_err(|e| OdbError::BadDelta {
                        offset,
                        detail: e.0,
                    })?;
                let id = hash_object(parent.kind, &data)
                    .map_err(|detail| OdbError::entry(offset, detail))?;
                (parent.kind, data.len() as u64, Some(Bytes::from(data)), id)
            }
            None => {
                let kind = kind_from_code(entry.type_code)
                    .ok_or_else(|| OdbError::Internal(format!("entry at {offset} is no root")))?;
                if kind == Kind::Blob && entry.size > STREAM_BLOBS_ABOVE && !has_ofs_children {
                    (kind, entry.size, None, self.stream_hash(&entry, kind)?)
                } else {
                    let data = self.inflate(&entry)?;
                    let id = hash_object(kind, &data)
                        .map_err(|detail| OdbError::entry(offset, detail))?;
                    (kind, entry.size, Some(Bytes::from(data)), id)
                }
            }
        };
        let raw: [u8; HASH_LEN] = id.as_slice().try_into().expect("holds: SHA-1 ids");
        self.record(work.entry, kind, size, raw);
        if let Some(data) = &data {
            self.inspect(work.entry, kind, data, id, true)?;
        }
        let waiting = self.waiting.remove(&raw);
        if !has_ofs_children && waiting.is_none() {
            return Ok(());
        }
        let data = match data {
            Some(data) => data,
            None => Bytes::from(self.inflate(&entry)?),
        };
        let parent = Arc::new(Base { kind, data });
        let ofs: Vec<u32> = self.ofs_children(work.entry).collect();
        for child in ofs.into_iter().chain(waiting.into_iter().flatten()) {
            stack.push(Work {
                entry: child,
                parent: Some(Arc::clone(&parent)),
                depth: work.depth + 1,
            });
        }
        Ok(())
    }

    fn ofs_children(&self, entry: u32) -> impl Iterator<Item = u32> + '_ {
        let entry = entry as usize;
        let range = if entry < self.scanned_count {
            self.child_start[entry] as usize..self.child_start[entry + 1] as usize
        } else {
            0..0
        };
        self.children[range].iter().copied()
    }

    fn record(&mut self, entry: u32, kind: Kind, size: u64, id: [u8; HASH_LEN]) {
        let entry = entry as usize;
        self.ids[entry] = id;
        self.kinds[entry] = kind_code(kind);
        self.sizes[entry] = size;
        self.resolved += 1;
        self.progress.report(
            IngestStage::Resolving,
            self.resolved as u64,
            self.entries.len() as u64,
        );
    }

    /// Records metadata of a commit or tag, and (if `check_links`) what it refers to.
    fn inspect(
        &mut self,
        entry: u32,
        kind: Kind,
        data: &[u8],
        id: ObjectId,
        check_links: bool,
    ) -> Result<()> {
        let offset = self.entries[entry as usize].offset;
        let corrupt = |detail: String| OdbError::CorruptObject { id, offset, detail };
        let existing = &self.existing;
        let referenced = &mut self.referenced;
        let mut refer = |target: &[u8]| {
            if check_links && !existing.contains(target) {
                referenced.insert(target.try_into().expect("holds: SHA-1 ids"));
            }
        };
        match kind {
            Kind::Commit => {
                let info = parse_commit(data).map_err(corrupt)?;
                refer(info.tree.as_slice());
                for parent in &info.parents {
                    refer(parent.as_slice());
                }
                self.meta.add_commit(entry, &info);
            }
            Kind::Tag => {
                let info = parse_tag(data).map_err(corrupt)?;
                refer(info.target.as_slice());
                self.meta.add_tag(entry, &info);
            }
            Kind::Tree if check_links => {
                for_each_tree_entry(data, |target, gitlink| {
                    if !gitlink {
                        refer(target);
                    }
                })
                .map_err(corrupt)?;
            }
            Kind::Tree | Kind::Blob => {}
        }
        Ok(())
    }

    /// Feeds the compressed bytes of `entry` to the inflater, passing output to `sink`.
    fn inflate_with(&mut self, entry: &ScannedEntry, sink: &mut dyn FnMut(&[u8])) -> Result<()> {
        let mut at = entry.offset + u64::from(entry.header_len);
        let mut buf = vec![0u8; READ_CHUNK.min((entry.end - at) as usize)];
        self.inflater.start(entry.size);
        while !self.inflater.finished() && at < entry.end {
            let n = buf.len().min((entry.end - at) as usize);
            self.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| OdbError::io("reading the spooled pack", e))?;
            at += n as u64;
            self.inflater
                .feed(&buf[..n], sink)
                .map_err(|e| inflate_error(e, entry.offset, entry.size))?;
        }
        if !self.inflater.finished() {
            return Err(OdbError::Truncated {
                offset: entry.end,
                what: "an entry's compressed data",
            });
        }
        Ok(())
    }

    fn inflate(&mut self, entry: &ScannedEntry) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(entry.size as usize);
        self.inflate_with(entry, &mut |bytes| out.extend_from_slice(bytes))?;
        Ok(out)
    }

    fn stream_hash(&mut self, entry: &ScannedEntry, kind: Kind) -> Result<ObjectId> {
        let mut hasher = ObjectHasher::new(kind, entry.size);
        self.inflate_with(entry, &mut |bytes| hasher.update(bytes))?;
        hasher
            .finish()
            .map_err(|detail| OdbError::entry(entry.offset, detail))
    }
}
