//! Whether one commit is an ancestor of another, for `deny_non_fast_forwards`: a walk from the
//! new commit through parents (commits of the pushed pack first, then the repository's, both
//! from in-memory metadata where packs have it) until the old commit turns up or history ends.
//! Newest commits are visited first, so a fast-forward, the common case, is found after
//! visiting only the commits the push adds.

use std::collections::{BinaryHeap, HashMap, HashSet};

use swiftgit_repo::ObjectId;
use swiftgit_repo::odb::{CommitInfo, IngestedPack, ObjectDb, OdbError};

/// The answer of [`is_ancestor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ancestry {
    Ancestor,
    NotAncestor,
    /// One of the two is not a commit (a tag, a tree), so ancestry means nothing.
    NotCommits,
}

async fn commit_info(
    id: &ObjectId,
    pack: Option<&IngestedPack>,
    odb: &ObjectDb,
) -> Result<Option<CommitInfo>, OdbError> {
    match pack.and_then(|pack| pack.commit_info(id)) {
        Some(info) => Ok(Some(info)),
        None => odb.commit_info(id).await,
    }
}

/// Whether `ancestor` is `descendant` or one of its ancestors. Reads only.
pub(super) async fn is_ancestor(
    ancestor: ObjectId,
    descendant: ObjectId,
    pack: Option<&IngestedPack>,
    odb: &ObjectDb,
) -> Result<Ancestry, OdbError> {
    let (Some(_), Some(start)) = (
        commit_info(&ancestor, pack, odb).await?,
        commit_info(&descendant, pack, odb).await?,
    ) else {
        return Ok(Ancestry::NotCommits);
    };
    let mut queue = BinaryHeap::from([(start.time, descendant)]);
    let mut seen = HashSet::from([descendant]);
    let mut infos = HashMap::from([(descendant, start)]);
    while let Some((_, id)) = queue.pop() {
        if id == ancestor {
            return Ok(Ancestry::Ancestor);
        }
        // A commit the repository lacks (beyond a shallow boundary) has no info: a dead end.
        let Some(info) = infos.remove(&id) else {
            continue;
        };
        for parent in info.parents {
            if seen.insert(parent) {
                let time = match commit_info(&parent, pack, odb).await? {
                    Some(parent_info) => {
                        let time = parent_info.time;
                        infos.insert(parent, parent_info);
                        time
                    }
                    None => i64::MIN,
                };
                queue.push((time, parent));
            }
        }
    }
    Ok(Ancestry::NotAncestor)
}
