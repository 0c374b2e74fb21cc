//! Per-pack metadata (`objects/pack/pack-<sha>.meta`), written at ingest beside the `.idx`: what
//! a fetch's commit walk and object counting need without reading objects from storage one by
//! one. For every object (in the index's id order) its type and size; for every commit its tree,
//! parents and committer time; for every tag its target and the target's type.
//!
//! Trees are not copied here: their entries, undeltified, would be most of a repository's
//! history again. A walk reads trees through [`ObjectDb::find`](crate::odb::ObjectDb::find), whose
//! block cache and delta-base cache make that cheap for the clustered, heavily deltified trees
//! that git packs write.
//!
//! Format (big-endian integers, sizes as LEB128 varints):
//!
//! ```text
//! "SGPM" u32:version=1  [20]:pack checksum  u64:pack size  u32:N
//! N x u8:type (1 commit, 2 tree, 3 blob, 4 tag)     N x varint:size
//! u32:C  C x (u32:position [20]:tree i64:committer time u32:P  P x [20]:parent)
//! u32:T  T x (u32:position [20]:target u8:target type)
//! [20]:SHA-1 of everything above
//! ```
//!
//! Positions are indexes into the pack's `.idx` (id order); records are sorted by position.

use std::io::Write;

use gix_hash::ObjectId;
use gix_object::Kind;

use crate::odb::format::entry::{HASH_LEN, kind_code, kind_from_code};
use crate::odb::format::object_links::{CommitInfo, TagInfo};

const MAGIC: &[u8; 4] = b"SGPM";
const VERSION: u32 = 1;

#[derive(Debug, Clone)]
struct CommitRecord {
    position: u32,
    tree: [u8; HASH_LEN],
    time: i64,
    parents_start: u32,
    parents_len: u32,
}

#[derive(Debug, Clone)]
struct TagRecord {
    position: u32,
    target: [u8; HASH_LEN],
    kind: Kind,
}

/// A pack's metadata in memory: 5 bytes per object plus the commits and tags.
#[derive(Debug, Default)]
pub struct PackMeta {
    pub pack_size: u64,
    kinds: Vec<u8>,
    sizes: ObjectSizes,
    commits: Vec<CommitRecord>,
    parents: Vec<[u8; HASH_LEN]>,
    tags: Vec<TagRecord>,
}

impl PackMeta {
    /// How many objects the metadata describes (the index must hold as many).
    pub fn objects(&self) -> usize {
        self.kinds.len()
    }

    /// The memory this metadata holds: 5 bytes per object, about 48 per commit and 20 per
    /// parent, 32 per annotated tag.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.kinds.capacity()
            + self.sizes.small.capacity() * 4
            + self.sizes.large.capacity() * size_of::<(u32, u64)>()
            + self.commits.capacity() * size_of::<CommitRecord>()
            + self.parents.capacity() * HASH_LEN
            + self.tags.capacity() * size_of::<TagRecord>()
    }

    /// The type and size of the object at `position`.
    pub fn header_at(&self, position: usize) -> Option<(Kind, u64)> {
        let kind = kind_from_code(*self.kinds.get(position)?)?;
        Some((kind, self.sizes.get(position)?))
    }

    pub fn commit_at(&self, position: usize) -> Option<CommitInfo> {
        let at = self
            .commits
            .binary_search_by_key(&(position as u32), |c| c.position)
            .ok()?;
        let record = &self.commits[at];
        let start = record.parents_start as usize;
        let parents = self.parents[start..start + record.parents_len as usize]
            .iter()
            .map(|id| ObjectId::from_bytes_or_panic(id))
            .collect();
        Some(CommitInfo {
            tree: ObjectId::from_bytes_or_panic(&record.tree),
            parents,
            time: record.time,
        })
    }

    pub fn tag_at(&self, position: usize) -> Option<TagInfo> {
        let at = self
            .tags
            .binary_search_by_key(&(position as u32), |t| t.position)
            .ok()?;
        let record = &self.tags[at];
        Some(TagInfo {
            target: ObjectId::from_bytes_or_panic(&record.target),
            target_kind: record.kind,
        })
    }

    /// Encodes this metadata for the pack `pack_checksum`.
    pub fn encode(&self, pack_checksum: &ObjectId, out: impl Write) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&VERSION.to_be_bytes());
        body.extend_from_slice(pack_checksum.as_slice());
        body.extend_from_slice(&self.pack_size.to_be_bytes());
        body.extend_from_slice(&(self.kinds.len() as u32).to_be_bytes());
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        let mut emit = |bytes: &[u8], out: &mut std::io::BufWriter<_>| -> std::io::Result<()> {
            hasher.update(bytes);
            out.write_all(bytes)
        };
        emit(&body, &mut out)?;
        emit(&self.kinds, &mut out)?;
        let mut buf = Vec::with_capacity(64 * 1024);
        for size in self.sizes.iter() {
            put_varint(&mut buf, size);
            if buf.len() > 60 * 1024 {
                emit(&buf, &mut out)?;
                buf.clear();
            }
        }
        buf.extend_from_slice(&(self.commits.len() as u32).to_be_bytes());
        for c in &self.commits {
            buf.extend_from_slice(&c.position.to_be_bytes());
            buf.extend_from_slice(&c.tree);
            buf.extend_from_slice(&c.time.to_be_bytes());
            buf.extend_from_slice(&c.parents_len.to_be_bytes());
            let start = c.parents_start as usize;
            for parent in &self.parents[start..start + c.parents_len as usize] {
                buf.extend_from_slice(parent);
            }
            if buf.len() > 60 * 1024 {
                emit(&buf, &mut out)?;
                buf.clear();
            }
        }
        buf.extend_from_slice(&(self.tags.len() as u32).to_be_bytes());
        for t in &self.tags {
            buf.extend_from_slice(&t.position.to_be_bytes());
            buf.extend_from_slice(&t.target);
            buf.push(kind_code(t.kind));
        }
        emit(&buf, &mut out)?;
        let checksum = hasher
            .try_finalize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        out.write_all(checksum.as_slice())?;
        out.flush()
    }

    /// Decodes and verifies metadata for the pack `pack_checksum` (its own SHA-1, format,
    /// records in range). The caller checks [`PackMeta::objects`] against the index.
    pub fn decode(data: &[u8], pack_checksum: &ObjectId) -> Result<PackMeta, String> {
        let body_len = data
            .len()
            .checked_sub(HASH_LEN)
            .ok_or("metadata is too short")?;
        let (body, checksum) = data.split_at(body_len);
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(body);
        let actual = hasher.try_finalize().map_err(|e| e.to_string())?;
        if actual.as_slice() != checksum {
            return Err("metadata checksum mismatch".into());
        }
        let mut r = Reader { data: body, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a swiftgit pack metadata file".into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!("metadata version {version} is not supported"));
        }
        if r.take(HASH_LEN)? != pack_checksum.as_slice() {
            return Err("metadata belongs to another pack".into());
        }
        let pack_size = r.u64()?;
        let count = r.u32()? as usize;
        let kinds = r.take(count)?.to_vec();
        if kinds.iter().any(|&k| kind_from_code(k).is_none()) {
            return Err("unknown object type".into());
        }
        let mut sizes = ObjectSizes::with_capacity(count);
        for _ in 0..count {
            sizes.push(r.varint()?);
        }
        let commit_count = r.u32()? as usize;
        let mut commits = Vec::with_capacity(commit_count.min(count));
        let mut parents = Vec::new();
        for _ in 0..commit_count {
            let position = r.u32()?;
            let tree = r.id()?;
            let time = r.u64()? as i64;
            let parents_len = r.u32()?;
            let parents_start = parents.len() as u32;
            for _ in 0..parents_len {
                parents.push(r.id()?);
            }
            commits.push(CommitRecord {
                position,
                tree,
                time,
                parents_start,
                parents_len,
            });
        }
        let tag_count = r.u32()? as usize;
        let mut tags = Vec::with_capacity(tag_count.min(count));
        for _ in 0..tag_count {
            let position = r.u32()?;
            let target = r.id()?;
            let kind = kind_from_code(r.take(1)?[0]).ok_or("unknown tag target type")?;
            tags.push(TagRecord {
                position,
                target,
                kind,
            });
        }
        if r.pos != body.len() {
            return Err("trailing bytes in metadata".into());
        }
        let sorted = commits.windows(2).all(|w| w[0].position < w[1].position)
            && tags.windows(2).all(|w| w[0].position < w[1].position);
        let in_range = commits.iter().all(|c| (c.position as usize) < count)
            && tags.iter().all(|t| (t.position as usize) < count);
        if !sorted || !in_range {
            return Err("commit or tag records are out of order".into());
        }
        Ok(PackMeta {
            pack_size,
            kinds,
            sizes,
            commits,
            parents,
            tags,
        })
    }
}

/// Object sizes by position: 4 bytes each, sizes of 4 GiB and more kept aside.
#[derive(Debug, Default)]
struct ObjectSizes {
    /// The size, or `u32::MAX` for one in `large`.
    small: Vec<u32>,
    /// (position, size), by position.
    large: Vec<(u32, u64)>,
}

impl ObjectSizes {
    fn with_capacity(count: usize) -> Self {
        ObjectSizes {
            small: Vec::with_capacity(count),
            large: Vec::new(),
        }
    }

    fn push(&mut self, size: u64) {
        match u32::try_from(size) {
            Ok(small) if small != u32::MAX => self.small.push(small),
            _ => {
                self.large.push((self.small.len() as u32, size));
                self.small.push(u32::MAX);
            }
        }
    }

    fn get(&self, position: usize) -> Option<u64> {
        let small = *self.small.get(position)?;
        if small != u32::MAX {
            return Some(u64::from(small));
        }
        let at = self
            .large
            .binary_search_by_key(&(position as u32), |(p, _)| *p)
            .ok()?;
        Some(self.large[at].1)
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.small.len()).filter_map(|position| self.get(position))
    }
}

/// Collects metadata while a pack is resolved, keyed by entry number (pack order), then
/// rearranged into index order by [`MetaBuilder::finish`].
#[derive(Debug, Default)]
pub struct MetaBuilder {
    /// (entry, tree, time, parents)
    #[allow(clippy::type_complexity)]
    commits: Vec<(u32, [u8; HASH_LEN], i64, Vec<[u8; HASH_LEN]>)>,
    tags: Vec<(u32, [u8; HASH_LEN], Kind)>,
}

impl MetaBuilder {
    pub fn add_commit(&mut self, entry: u32, info: &CommitInfo) {
        let parents = info.parents.iter().map(raw).collect();
        self.commits
            .push((entry, raw(&info.tree), info.time, parents));
    }

    pub fn add_tag(&mut self, entry: u32, info: &TagInfo) {
        self.tags.push((entry, raw(&info.target), info.target_kind));
    }

    /// `position_of[entry]` is the entry's position in id order; `kinds`/`sizes` are in id order.
    pub fn finish(
        self,
        position_of: &[u32],
        kinds: Vec<u8>,
        sizes: Vec<u64>,
        pack_size: u64,
    ) -> PackMeta {
        let mut compact_sizes = ObjectSizes::with_capacity(sizes.len());
        for size in sizes {
            compact_sizes.push(size);
        }
        let sizes = compact_sizes;
        let mut commits: Vec<_> = self
            .commits
            .into_iter()
            .map(|(entry, tree, time, parents)| (position_of[entry as usize], tree, time, parents))
            .collect();
        commits.sort_by_key(|c| c.0);
        let mut parents = Vec::new();
        let commits = commits
            .into_iter()
            .map(|(position, tree, time, own)| {
                let record = CommitRecord {
                    position,
                    tree,
                    time,
                    parents_start: parents.len() as u32,
                    parents_len: own.len() as u32,
                };
                parents.extend(own);
                record
            })
            .collect();
        let mut tags: Vec<_> = self
            .tags
            .into_iter()
            .map(|(entry, target, kind)| TagRecord {
                position: position_of[entry as usize],
                target,
                kind,
            })
            .collect();
        tags.sort_by_key(|t| t.position);
        PackMeta {
            pack_size,
            kinds,
            sizes,
            commits,
            parents,
            tags,
        }
    }
}

fn raw(id: &ObjectId) -> [u8; HASH_LEN] {
    id.as_slice()
        .try_into()
        .expect("holds because swiftgit ids are SHA-1")
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or("metadata is truncated")?;
        self.pos += n;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("holds: 4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("holds: 8 bytes"),
        ))
    }

    fn id(&mut self) -> Result<[u8; HASH_LEN], String> {
        Ok(self
            .take(HASH_LEN)?
            .try_into()
            .expect("holds: HASH_LEN bytes"))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("size varint overflows".into())
    }
}
