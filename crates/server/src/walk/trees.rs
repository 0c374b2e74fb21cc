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

use bytes::Bytes;
use futures::StreamExt;
use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_repo::odb::ObjectDb;
use swiftgit_repo::odb::raw::{ObjectPosition, RawPacks};

use super::object_set::ObjectSet;
use super::{ObjectFilter, Pacer, READS_IN_FLIGHT, WalkError, WalkProgress};

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
pub fn parse_tree(data: &[u8]) -> Result<Vec<TreeEntry>, String> {
    TreeEntries(data).collect()
}

/// A tree's entries, parsed one at a time (nothing is allocated).
pub struct TreeEntries<'a>(pub &'a [u8]);

impl Iterator for TreeEntries<'_> {
    type Item = Result<TreeEntry, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let parsed = parse_entry(self.0);
        match parsed {
            Ok((entry, rest)) => {
                self.0 = rest;
                Some(Ok(entry))
            }
            Err(detail) => {
                self.0 = &[];
                Some(Err(detail.into()))
            }
        }
    }
}

fn parse_entry(data: &[u8]) -> Result<(TreeEntry, &[u8]), &'static str> {
    let space = data
        .iter()
        .position(|&b| b == b' ')
        .ok_or("an entry has no mode")?;
    let mode = &data[..space];
    if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err("an entry's mode is not octal");
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
    let entry = TreeEntry {
        id: ObjectId::from_bytes_or_panic(id), // holds: the slice is 20 bytes
        kind,
    };
    Ok((entry, &rest[nul + 21..]))
}

/// Reads the tree `id`: its content, to parse with [`TreeEntries`].
async fn read_tree(odb: &ObjectDb, id: ObjectId) -> Result<(ObjectId, Bytes), WalkError> {
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
    Ok((id, object.data))
}

fn corrupt(id: ObjectId) -> impl FnOnce(String) -> WalkError {
    move |detail| WalkError::CorruptTree { id, detail }
}

/// The tree part of one walk.
pub struct TreeWalk<'a> {
    odb: &'a ObjectDb,
    filter: &'a ObjectFilter,
    progress: &'a WalkProgress,
    packs: RawPacks,
    /// Trees and blobs the client has.
    uninteresting: ObjectSet,
    /// Those of them that no pack here holds (a tree may name a blob this repository lacks).
    uninteresting_absent: HashSet<ObjectId>,
    /// Trees and blobs already looked at (trees at their smallest depth).
    visited: ObjectSet,
    pacer: Pacer,
}

impl<'a> TreeWalk<'a> {
    /// A walk over the objects of `packs` (the view the walk's sets use), reading through `odb`.
    pub fn new(
        odb: &'a ObjectDb,
        packs: &RawPacks,
        filter: &'a ObjectFilter,
        progress: &'a WalkProgress,
    ) -> Self {
        TreeWalk {
            odb,
            filter,
            progress,
            packs: packs.clone(),
            uninteresting: ObjectSet::new(packs.clone()),
            uninteresting_absent: HashSet::new(),
            visited: ObjectSet::new(packs.clone()),
            pacer: Pacer::default(),
        }
    }

    /// Marks `id` as the client's; false if it was already.
    fn mark(&mut self, id: ObjectId) -> bool {
        match self.packs.position_of(&id) {
            Some(at) => self.uninteresting.insert(at),
            None => self.uninteresting_absent.insert(id),
        }
    }

    /// Marks `roots` and everything under them as the client's.
    pub async fn mark_uninteresting(&mut self, roots: &[ObjectId]) -> Result<(), WalkError> {
        let mut level: Vec<ObjectId> = roots.iter().copied().filter(|id| self.mark(*id)).collect();
        while !level.is_empty() {
            let odb = self.odb;
            let mut reads = futures::stream::iter(std::mem::take(&mut level))
                .map(|id| read_tree(odb, id))
                .buffered(READS_IN_FLIGHT);
            while let Some(read) = reads.next().await {
                self.pacer.step().await;
                let (id, data) = read?;
                for entry in TreeEntries(&data) {
                    let entry = entry.map_err(corrupt(id))?;
                    match entry.kind {
                        EntryKind::Tree if self.mark(entry.id) => level.push(entry.id),
                        EntryKind::Blob => {
                            self.mark(entry.id);
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
        let mut level: Vec<(ObjectId, ObjectPosition)> = Vec::new();
        for &id in roots {
            let at = self
                .packs
                .position_of(&id)
                .ok_or(WalkError::Missing { what: "tree", id })?;
            if !self.uninteresting.contains(at) && self.visited.insert(at) {
                level.push((id, at));
            }
        }
        let blobs_possible = !self.filter.excludes_all_blobs();
        let mut depth = 0u64;
        while !level.is_empty() {
            let mut descend = Vec::new();
            for (id, at) in std::mem::take(&mut level) {
                if self.filter.include_tree(depth) && send.insert(at) {
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
            while let Some(read) = reads.next().await {
                self.pacer.step().await;
                let (id, data) = read?;
                for entry in TreeEntries(&data) {
                    let entry = entry.map_err(corrupt(id))?;
                    let what = match entry.kind {
                        EntryKind::Gitlink => continue,
                        EntryKind::Blob if !blobs_possible => continue,
                        EntryKind::Blob => "blob",
                        EntryKind::Tree => "tree",
                    };
                    let Some(at) = self.packs.position_of(&entry.id) else {
                        if self.uninteresting_absent.contains(&entry.id) {
                            continue;
                        }
                        return Err(WalkError::Missing { what, id: entry.id });
                    };
                    if self.uninteresting.contains(at) || !self.visited.insert(at) {
                        continue;
                    }
                    match entry.kind {
                        EntryKind::Tree => level.push((entry.id, at)),
                        _ => self.add_blob(entry.id, at, depth + 1, send).await?,
                    }
                }
            }
            depth += 1;
        }
        Ok(())
    }

    /// Adds the blob `id` at `at`, first met at `depth`, if the filter lets it through.
    async fn add_blob(
        &mut self,
        id: ObjectId,
        at: ObjectPosition,
        depth: u64,
        send: &mut ObjectSet,
    ) -> Result<(), WalkError> {
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
        if self.filter.include_blob(depth, size) && send.insert(at) {
            self.progress.add(1);
        }
        Ok(())
    }

    /// The trees and blobs marked as the client's (those this repository holds).
    pub fn into_uninteresting(self) -> ObjectSet {
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
