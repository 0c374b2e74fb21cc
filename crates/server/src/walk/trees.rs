//! Trees and blobs: everything under the interesting commits' root trees that the client does not
//! have, pruned by the filter.
//!
//! First the trees of the uninteresting edge commits are marked, recursively, as the client's
//! (as git's `mark_edges_uninteresting`); then the interesting roots are walked breadth first,
//! one depth level at a time, skipping anything marked or already sent. Level order means every
//! tree is first met at its smallest depth, which is what `tree:<n>` filters need. Trees are read
//! through [`ObjectDb::find`] with [`READS_IN_FLIGHT`] reads at once; blobs are never read (their
//! size, for `blob:limit`, comes from [`ObjectDb::find_header`]).

use std::collections::HashSet;

use futures::StreamExt;
use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_repo::odb::ObjectDb;

use super::{ObjectFilter, Pacer, READS_IN_FLIGHT, WalkError, WalkProgress};

/// Objects to send, each once, in the order found.
#[derive(Debug, Default)]
pub struct ObjectSet {
    order: Vec<ObjectId>,
    seen: HashSet<ObjectId>,
}

impl ObjectSet {
    /// Adds `id`; false if it was there already.
    pub fn insert(&mut self, id: ObjectId) -> bool {
        let new = self.seen.insert(id);
        if new {
            self.order.push(id);
        }
        new
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.seen.contains(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn into_vec(self) -> Vec<ObjectId> {
        self.order
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntry {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// What a tree entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Tree,
    Blob,
    /// A commit of another repository (a submodule): never sent.
    Gitlink,
}

/// Parses a tree's entries: `<octal mode> <name>\0<20-byte id>` repeated.
pub fn parse_tree(mut data: &[u8]) -> Result<Vec<TreeEntry>, String> {
    let mut entries = Vec::new();
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("an entry has no mode")?;
        let mode = &data[..space];
        if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return Err("an entry's mode is not octal".into());
        }
        let rest = &data[space + 1..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("an entry's name is not terminated")?;
        let id = rest
            .get(nul + 1..nul + 21)
            .ok_or("an entry's id is truncated")?;
        let kind = match mode {
            b"40000" | b"040000" => EntryKind::Tree,
            b"160000" => EntryKind::Gitlink,
            _ => EntryKind::Blob,
        };
        entries.push(TreeEntry {
            id: ObjectId::from_bytes_or_panic(id), // holds: the slice is 20 bytes
            kind,
        });
        data = &rest[nul + 21..];
    }
    Ok(entries)
}

/// Reads the tree `id` and parses its entries.
async fn read_tree(odb: &ObjectDb, id: ObjectId) -> Result<Vec<TreeEntry>, WalkError> {
    let object = odb
        .find(&id)
        .await
        .map_err(WalkError::odb("tree", id))?
        .ok_or(WalkError::Missing { what: "tree", id })?;
    if object.kind != Kind::Tree {
        return Err(WalkError::CorruptTree {
            id,
            detail: format!("it is a {}", object.kind),
        });
    }
    parse_tree(&object.data).map_err(|detail| WalkError::CorruptTree { id, detail })
}

/// The tree part of one walk.
pub struct TreeWalk<'a> {
    odb: &'a ObjectDb,
    filter: &'a ObjectFilter,
    progress: &'a WalkProgress,
    /// Trees and blobs the client has.
    uninteresting: HashSet<ObjectId>,
    /// Trees already looked at (for `tree:<n>`, at their smallest depth).
    visited: HashSet<ObjectId>,
    pacer: Pacer,
}

impl<'a> TreeWalk<'a> {
    pub fn new(odb: &'a ObjectDb, filter: &'a ObjectFilter, progress: &'a WalkProgress) -> Self {
        TreeWalk {
            odb,
            filter,
            progress,
            uninteresting: HashSet::new(),
            visited: HashSet::new(),
            pacer: Pacer::default(),
        }
    }

    /// Marks `roots` and everything under them as the client's.
    pub async fn mark_uninteresting(&mut self, roots: &[ObjectId]) -> Result<(), WalkError> {
        let mut level: Vec<ObjectId> = roots
            .iter()
            .copied()
            .filter(|id| self.uninteresting.insert(*id))
            .collect();
        while !level.is_empty() {
            let odb = self.odb;
            let mut reads = futures::stream::iter(std::mem::take(&mut level))
                .map(|id| read_tree(odb, id))
                .buffered(READS_IN_FLIGHT);
            while let Some(entries) = reads.next().await {
                self.pacer.step().await;
                for entry in entries? {
                    match entry.kind {
                        EntryKind::Tree if self.uninteresting.insert(entry.id) => {
                            level.push(entry.id);
                        }
                        EntryKind::Blob => {
                            self.uninteresting.insert(entry.id);
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds to `send` the root trees and what lies under them, minus what is uninteresting and
    /// what the filter leaves out. The roots themselves are subject to the filter too.
    pub async fn add_trees(
        &mut self,
        roots: &[ObjectId],
        send: &mut ObjectSet,
    ) -> Result<(), WalkError> {
        let mut level: Vec<ObjectId> = roots
            .iter()
            .copied()
            .filter(|id| !self.uninteresting.contains(id) && self.visited.insert(*id))
            .collect();
        let blobs_possible = !self.filter.excludes_all_blobs();
        let mut depth = 0u64;
        while !level.is_empty() {
            let mut descend = Vec::new();
            for id in std::mem::take(&mut level) {
                if self.filter.include_tree(depth) && send.insert(id) {
                    self.progress.add(1);
                }
                if self.filter.descend(depth) {
                    descend.push(id);
                }
            }
            let odb = self.odb;
            let mut reads = futures::stream::iter(descend)
                .map(|id| read_tree(odb, id))
                .buffered(READS_IN_FLIGHT);
            let mut blobs = Vec::new();
            while let Some(entries) = reads.next().await {
                self.pacer.step().await;
                for entry in entries? {
                    if self.uninteresting.contains(&entry.id) {
                        continue;
                    }
                    match entry.kind {
                        EntryKind::Tree if self.visited.insert(entry.id) => level.push(entry.id),
                        EntryKind::Blob if blobs_possible && !send.contains(&entry.id) => {
                            blobs.push(entry.id);
                        }
                        _ => {}
                    }
                }
            }
            self.add_blobs(blobs, depth + 1, send).await?;
            depth += 1;
        }
        Ok(())
    }

    async fn add_blobs(
        &mut self,
        blobs: Vec<ObjectId>,
        depth: u64,
        send: &mut ObjectSet,
    ) -> Result<(), WalkError> {
        for id in blobs {
            if send.contains(&id) {
                continue;
            }
            let size = if self.filter.needs_blob_size() {
                let header = self
                    .odb
                    .find_header(&id)
                    .await
                    .map_err(WalkError::odb("blob", id))?
                    .ok_or(WalkError::Missing { what: "blob", id })?;
                Some(header.size)
            } else {
                None
            };
            if self.filter.include_blob(depth, size) && send.insert(id) {
                self.progress.add(1);
            }
        }
        Ok(())
    }

    /// The trees and blobs marked as the client's.
    pub fn into_uninteresting(self) -> HashSet<ObjectId> {
        self.uninteresting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_parse_and_bad_ones_are_refused() {
        let mut tree = b"100644 a\0".to_vec();
        tree.extend_from_slice(&[1; 20]);
        tree.extend_from_slice(b"40000 dir\0");
        tree.extend_from_slice(&[2; 20]);
        tree.extend_from_slice(b"160000 sub\0");
        tree.extend_from_slice(&[3; 20]);
        let entries = parse_tree(&tree).unwrap();
        let kinds: Vec<EntryKind> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EntryKind::Blob, EntryKind::Tree, EntryKind::Gitlink]
        );
        assert!(parse_tree(&tree[..tree.len() - 1]).is_err());
        assert!(parse_tree(b"10x644 a\0").is_err());
        assert!(parse_tree(b"100644 a").is_err());
        assert!(parse_tree(b"").unwrap().is_empty());
    }
}
