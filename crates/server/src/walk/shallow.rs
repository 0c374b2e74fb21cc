//! Shallow fetches: the new shallow boundary for `deepen <n>`, `deepen-since` and `deepen-not`,
//! the client's shallow commits that stop being shallow, and what that means for the walk.
//!
//! As C git's `get_shallow_commits`: with `deepen <n>` a want is at depth 1, its parents at 2,
//! and commits reached at depth `n` are the boundary (sent, their parents not); a commit reached
//! at a smaller depth by another path is not shallow. `deepen-relative` counts from the client's
//! shallow commits instead (depth `n + 1`). With `deepen-since`/`deepen-not` the kept commits are
//! those `rev-list --max-age=<t> <wants> --not <refs>` lists, and the boundary is every kept
//! commit with a parent that is not kept. A client shallow commit that ends up inside the kept
//! history is "unshallowed": the client gets its parents (they become wants) and has the commit
//! itself (it becomes uninteresting).

use std::collections::{HashMap, HashSet, VecDeque};

use gix_hash::ObjectId;
use swiftgit_repo::odb::ObjectDb;

use super::commits::{CommitWalkSpec, walk_commits};
use super::{Pacer, WalkError};

/// `deepen 2147483647`: the whole history (`git fetch --unshallow`).
pub const INFINITE_DEPTH: u32 = i32::MAX as u32;

/// What the client said about shallowness.
#[derive(Debug, Clone, Copy)]
pub struct ShallowRequest<'a> {
    /// Wanted commits (tags already peeled).
    pub wants: &'a [ObjectId],
    /// The client's `shallow` lines.
    pub client_shallows: &'a [ObjectId],
    /// `deepen <n>`.
    pub depth: Option<u32>,
    /// `deepen-relative`.
    pub relative: bool,
    /// `deepen-since`.
    pub since: Option<u64>,
    /// `deepen-not`, resolved to commits.
    pub not: &'a [ObjectId],
}

/// The outcome, for the shallow update and for the object walk.
#[derive(Debug, Clone, Default)]
pub struct ShallowPlan {
    /// Commits to announce as `shallow <id>`.
    pub shallow: Vec<ObjectId>,
    /// Commits to announce as `unshallow <id>`.
    pub unshallow: Vec<ObjectId>,
    /// Commits whose parents the walk must not follow: the new boundary.
    pub boundary: HashSet<ObjectId>,
    /// The client's shallow commits that this repository has: the client lacks their parents.
    pub client_shallow: HashSet<ObjectId>,
    /// Commits the client has: its shallow commits (they are uninteresting).
    pub client_has: Vec<ObjectId>,
    /// Parents of unshallowed commits: the client wants them now.
    pub extra_wants: Vec<ObjectId>,
}

/// Computes the shallow plan. Without deepening, only the client's shallow commits matter.
pub async fn plan(odb: &ObjectDb, request: ShallowRequest<'_>) -> Result<ShallowPlan, WalkError> {
    let mut plan = ShallowPlan::default();
    for id in request.client_shallows {
        let present = odb
            .commit_info(id)
            .await
            .map_err(WalkError::odb("commit", *id))?
            .is_some();
        // As git: a shallow line naming a commit we lack is ignored.
        if present && plan.client_shallow.insert(*id) {
            plan.client_has.push(*id);
        }
    }
    let (border, not_shallow) = match (request.depth, request.since, request.not) {
        (Some(INFINITE_DEPTH), _, _) => (Vec::new(), plan.client_shallow.clone()),
        (Some(depth), _, _) => {
            if request.relative {
                let starts: Vec<ObjectId> = plan.client_has.clone();
                by_depth(odb, &starts, depth.saturating_add(1)).await?
            } else {
                by_depth(odb, request.wants, depth).await?
            }
        }
        (None, None, []) => (Vec::new(), HashSet::new()),
        (None, since, not) => by_rev_list(odb, request.wants, since, not).await?,
    };
    for id in border {
        if !plan.client_shallow.contains(&id) {
            plan.shallow.push(id);
        }
        plan.boundary.insert(id);
    }
    for id in request.client_shallows {
        if plan.client_shallow.contains(id)
            && not_shallow.contains(id)
            && !plan.unshallow.contains(id)
        {
            plan.unshallow.push(*id);
            let info = odb
                .commit_info(id)
                .await
                .map_err(WalkError::odb("commit", *id))?
                .ok_or(WalkError::Missing {
                    what: "commit",
                    id: *id,
                })?;
            plan.extra_wants.extend(info.parents);
        }
    }
    Ok(plan)
}

/// Breadth first from `starts` (depth 1): commits first reached at `depth` are the border; those
/// reached earlier are not shallow.
async fn by_depth(
    odb: &ObjectDb,
    starts: &[ObjectId],
    depth: u32,
) -> Result<(Vec<ObjectId>, HashSet<ObjectId>), WalkError> {
    let mut depths: HashMap<ObjectId, u32> = HashMap::new();
    let mut queue = VecDeque::new();
    for id in starts {
        if depths.insert(*id, 1).is_none() {
            queue.push_back(*id);
        }
    }
    let mut border = Vec::new();
    let mut not_shallow = HashSet::new();
    let mut pacer = Pacer::default();
    while let Some(id) = queue.pop_front() {
        pacer.step().await;
        let at = depths[&id];
        if at >= depth {
            border.push(id);
            continue;
        }
        let info = odb
            .commit_info(&id)
            .await
            .map_err(WalkError::odb("commit", id))?
            .ok_or(WalkError::Missing { what: "commit", id })?;
        not_shallow.insert(id);
        for parent in info.parents {
            if let std::collections::hash_map::Entry::Vacant(slot) = depths.entry(parent) {
                slot.insert(at + 1);
                queue.push_back(parent);
            }
        }
    }
    Ok((border, not_shallow))
}

/// `rev-list --max-age=<since> <wants> --not <not>`: the kept commits, and the border among them.
async fn by_rev_list(
    odb: &ObjectDb,
    wants: &[ObjectId],
    since: Option<u64>,
    not: &[ObjectId],
) -> Result<(Vec<ObjectId>, HashSet<ObjectId>), WalkError> {
    let none = HashSet::new();
    let kept = walk_commits(
        odb,
        CommitWalkSpec {
            interesting: wants,
            uninteresting: not,
            stop_interesting: &none,
            stop_uninteresting: &none,
            max_age: since.map(|since| i64::try_from(since).unwrap_or(i64::MAX)),
        },
    )
    .await?;
    if kept.interesting.is_empty() {
        return Err(WalkError::NoShallowCommits);
    }
    let mut not_shallow: HashSet<ObjectId> = kept.interesting.iter().map(|c| c.id).collect();
    let mut border = Vec::new();
    for commit in &kept.interesting {
        let info = odb
            .commit_info(&commit.id)
            .await
            .map_err(WalkError::odb("commit", commit.id))?
            .ok_or(WalkError::Missing {
                what: "commit",
                id: commit.id,
            })?;
        if info
            .parents
            .iter()
            .any(|parent| !not_shallow.contains(parent))
        {
            border.push(commit.id);
        }
    }
    for id in &border {
        not_shallow.remove(id);
    }
    Ok((border, not_shallow))
}
