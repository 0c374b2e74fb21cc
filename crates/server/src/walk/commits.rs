//! The commit walk: commits reachable from the interesting starts minus those reachable from the
//! uninteresting ones, in the manner of C git's `limit_list`.
//!
//! Commits are taken newest first (committer time) from a priority queue. An uninteresting
//! commit makes its parents uninteresting, and when it reaches a commit already taken as
//! interesting the mark spreads down through that commit's parents too. The walk stops once the
//! queue has held only uninteresting commits for [`SLOP`] steps in a row, so a fetch on top of a
//! long history touches only the recent part of it. All commit data comes from
//! [`ObjectDb::commit_info`], which packs with metadata answer from memory.
//!
//! Shallow boundaries enter as two stop sets: interesting commits whose parents are not
//! followed (the new shallow boundary), and commits whose parents never become uninteresting
//! through them (the client's shallow commits: the client lacks their parents).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};

use gix_hash::ObjectId;
use swiftgit_repo::odb::ObjectDb;

use super::{Pacer, WalkError};

/// Extra steps taken once only uninteresting commits are queued, against clock skew (git's).
pub const SLOP: u32 = 5;

const QUEUED: u8 = 1;
const PROCESSED: u8 = 2;
const UNINTERESTING: u8 = 4;
/// Counted in `interesting_queued`.
const COUNTED: u8 = 8;

/// What to walk.
#[derive(Debug, Clone, Copy)]
pub struct CommitWalkSpec<'a> {
    /// Commits to send with their history.
    pub interesting: &'a [ObjectId],
    /// Commits the client has, with their history.
    pub uninteresting: &'a [ObjectId],
    /// Interesting commits whose parents are not followed.
    pub stop_interesting: &'a HashSet<ObjectId>,
    /// Commits through which the uninteresting mark does not reach the parents.
    pub stop_uninteresting: &'a HashSet<ObjectId>,
    /// Commits older than this (seconds since the epoch) count as uninteresting, as do their
    /// ancestors (`rev-list --max-age`, for `deepen-since`).
    pub max_age: Option<i64>,
}

/// A commit and its root tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkedCommit {
    pub id: ObjectId,
    pub tree: ObjectId,
}

/// The walk's result.
#[derive(Debug, Default)]
pub struct CommitWalkOutcome {
    /// Interesting commits, newest first.
    pub interesting: Vec<WalkedCommit>,
    /// Uninteresting parents of interesting commits: the trees the client certainly has.
    pub edges: Vec<WalkedCommit>,
    /// Every uninteresting commit the walk met.
    pub uninteresting: Vec<ObjectId>,
}

struct Node {
    flags: u8,
    tree: ObjectId,
    /// Kept while the uninteresting mark may still have to travel through them.
    parents: Box<[ObjectId]>,
}

#[derive(PartialEq, Eq)]
struct Queued {
    time: i64,
    order: Reverse<u64>,
    id: ObjectId,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.order).cmp(&(other.time, other.order))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Walker<'a> {
    odb: &'a ObjectDb,
    spec: CommitWalkSpec<'a>,
    nodes: HashMap<ObjectId, Node>,
    queue: BinaryHeap<Queued>,
    pushed: u64,
    interesting_queued: usize,
    /// Parents are only needed after processing if something can turn uninteresting.
    keep_parents: bool,
}

/// Walks the commits of `spec`.
pub async fn walk_commits(
    odb: &ObjectDb,
    spec: CommitWalkSpec<'_>,
) -> Result<CommitWalkOutcome, WalkError> {
    let mut walker = Walker {
        odb,
        spec,
        nodes: HashMap::new(),
        queue: BinaryHeap::new(),
        pushed: 0,
        interesting_queued: 0,
        keep_parents: !spec.uninteresting.is_empty() || spec.max_age.is_some(),
    };
    for id in spec.uninteresting {
        walker.push(*id, true).await?;
    }
    for id in spec.interesting {
        walker.push(*id, false).await?;
    }
    let mut visited = Vec::new();
    let mut slop = SLOP;
    let mut pacer = Pacer::default();
    while let Some(Queued { time, id, .. }) = walker.queue.pop() {
        pacer.step().await;
        let node = walker
            .nodes
            .get_mut(&id)
            .expect("holds: queued commits have nodes");
        node.flags |= PROCESSED;
        if node.flags & COUNTED != 0 {
            node.flags &= !COUNTED;
            walker.interesting_queued -= 1;
        }
        if spec.max_age.is_some_and(|max_age| time < max_age) {
            node.flags |= UNINTERESTING;
        }
        let uninteresting = node.flags & UNINTERESTING != 0;
        let parents = if walker.keep_parents {
            node.parents.clone()
        } else {
            std::mem::take(&mut node.parents)
        };
        if uninteresting {
            if !spec.stop_uninteresting.contains(&id) {
                for parent in parents.iter() {
                    walker.push(*parent, true).await?;
                }
            }
        } else {
            visited.push(id);
            if !spec.stop_interesting.contains(&id) {
                for parent in parents.iter() {
                    walker.push(*parent, false).await?;
                }
            }
        }
        if walker.interesting_queued == 0 {
            slop -= 1;
            if slop == 0 {
                break;
            }
        } else {
            slop = SLOP;
        }
    }
    Ok(walker.outcome(visited))
}

impl Walker<'_> {
    /// Queues `id` (once), or marks it uninteresting if it is queued already.
    async fn push(&mut self, id: ObjectId, uninteresting: bool) -> Result<(), WalkError> {
        if let Some(node) = self.nodes.get(&id)
            && node.flags & QUEUED != 0
        {
            if uninteresting {
                self.mark_uninteresting(id);
            }
            return Ok(());
        }
        let info = self
            .odb
            .commit_info(&id)
            .await
            .map_err(WalkError::odb("commit", id))?;
        let Some(info) = info else {
            // The client may have commits we lack; history we must send may not be missing.
            return if uninteresting {
                Ok(())
            } else {
                Err(WalkError::Missing { what: "commit", id })
            };
        };
        let node = self.nodes.entry(id).or_insert(Node {
            flags: 0,
            tree: info.tree,
            parents: Box::default(),
        });
        node.tree = info.tree;
        node.parents = info.parents.into_boxed_slice();
        node.flags |= QUEUED;
        if uninteresting {
            node.flags |= UNINTERESTING;
        }
        if node.flags & UNINTERESTING == 0 {
            node.flags |= COUNTED;
            self.interesting_queued += 1;
        }
        self.pushed += 1;
        self.queue.push(Queued {
            time: info.time,
            order: Reverse(self.pushed),
            id,
        });
        Ok(())
    }

    /// Marks `id` uninteresting, and through commits already processed, their ancestors.
    fn mark_uninteresting(&mut self, id: ObjectId) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let node = self.nodes.entry(id).or_insert(Node {
                flags: 0,
                tree: id,
                parents: Box::default(),
            });
            if node.flags & UNINTERESTING != 0 {
                continue;
            }
            node.flags |= UNINTERESTING;
            if node.flags & COUNTED != 0 {
                node.flags &= !COUNTED;
                self.interesting_queued -= 1;
            }
            if node.flags & PROCESSED != 0 && !self.spec.stop_uninteresting.contains(&id) {
                stack.extend(node.parents.iter().copied());
            }
        }
    }

    fn outcome(self, visited: Vec<ObjectId>) -> CommitWalkOutcome {
        let is_uninteresting = |id: &ObjectId| {
            self.nodes
                .get(id)
                .is_some_and(|node| node.flags & UNINTERESTING != 0)
        };
        let mut outcome = CommitWalkOutcome::default();
        let mut edges = HashSet::new();
        for id in visited {
            if is_uninteresting(&id) {
                continue;
            }
            let node = &self.nodes[&id];
            outcome.interesting.push(WalkedCommit {
                id,
                tree: node.tree,
            });
            if self.spec.stop_interesting.contains(&id) {
                continue;
            }
            for parent in node.parents.iter() {
                if is_uninteresting(parent) && edges.insert(*parent) {
                    let tree = self.nodes[parent].tree;
                    // A node created only by marking has no tree yet (its id stands in).
                    if self.nodes[parent].flags & QUEUED != 0 {
                        outcome.edges.push(WalkedCommit { id: *parent, tree });
                    }
                }
            }
        }
        outcome.uninteresting = self
            .nodes
            .iter()
            .filter(|(_, node)| node.flags & (UNINTERESTING | QUEUED) == UNINTERESTING | QUEUED)
            .map(|(id, _)| *id)
            .collect();
        outcome
    }
}
