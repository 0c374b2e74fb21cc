//! Object enumeration for a fetch: which objects the pack must hold, given what the client
//! wants, what it has, how shallow it is and which objects it filters out.
//!
//! The walk runs in three steps, as C git's upload-pack and pack-objects do:
//!
//! 1. [`shallow`]: for `deepen`, `deepen-since` and `deepen-not`, the new shallow boundary and the
//!    client's commits that stop being shallow. (v0/v1 send this before negotiation.)
//! 2. [`commits`]: commits reachable from the wants minus those reachable from the common haves,
//!    a date-ordered walk over in-memory commit metadata ([`ObjectDb::commit_info`]) that stops
//!    once only uninteresting commits are left.
//! 3. [`trees`]: the trees and blobs of the interesting commits minus those of the uninteresting
//!    commits at the edge, read through [`ObjectDb::find`] (the block cache) level by level with
//!    several reads in flight, and pruned by the partial-clone filter ([`filter`]).
//!
//! [`tags`] peels wanted annotated tags and adds, with `include-tag`, the tags that point at
//! objects being sent. [`walk`] runs it all and returns the objects to send together with the
//! objects the client is known to have (thin-pack delta bases), both as bitmaps over the
//! positions of one view of the packs ([`object_set`]).

pub mod commits;
pub mod filter;
pub mod object_set;
pub mod shallow;
pub mod tags;
pub mod trees;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_protocol::filter::FilterSpec;
use swiftgit_repo::odb::{ObjectDb, OdbError};

pub use filter::ObjectFilter;
pub use object_set::ObjectSet;
pub use shallow::{ShallowPlan, ShallowRequest};

/// Why a walk failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Reading an object or its metadata failed (storage trouble or a corrupt pack).
    #[error("cannot read {what} {id}: {source}")]
    Odb {
        what: &'static str,
        id: ObjectId,
        source: OdbError,
    },
    /// An object that history refers to is missing from the repository.
    #[error("{what} {id} is missing from the repository")]
    Missing { what: &'static str, id: ObjectId },
    /// A stored tree cannot be parsed.
    #[error("tree {id} is corrupt: {detail}")]
    CorruptTree { id: ObjectId, detail: String },
    /// `deepen-since`/`deepen-not` left no commit to send (C git's wording).
    #[error("no commits selected for shallow requests")]
    NoShallowCommits,
    /// A filter this server does not implement.
    #[error("filter '{spec}' is not supported by this server")]
    UnsupportedFilter { spec: String },
}

impl WalkError {
    pub(crate) fn odb(what: &'static str, id: ObjectId) -> impl FnOnce(OdbError) -> WalkError {
        move |source| WalkError::Odb { what, id, source }
    }
}

/// Trees (and, for uninteresting edges, blobs) read at once during a walk.
pub const READS_IN_FLIGHT: usize = 16;

/// Steps (commits, trees) between yields to the runtime: metadata lookups and cached reads are
/// ready at once, so a long walk would otherwise hold its worker thread for seconds.
const YIELD_EVERY: u32 = 1024;

/// Counts steps and yields to the runtime every [`YIELD_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct Pacer(u32);

impl Pacer {
    pub(crate) async fn step(&mut self) {
        self.0 += 1;
        if self.0 >= YIELD_EVERY {
            self.0 = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// What a fetch asks the walk for. Ids must be validated by the caller (present, allowed).
#[derive(Debug, Clone, Default)]
pub struct WalkRequest {
    /// Wanted objects: commits, annotated tags (sent and peeled), trees or blobs.
    pub wants: Vec<ObjectId>,
    /// Common haves: objects the client has that this repository has too.
    pub haves: Vec<ObjectId>,
    /// The shallow computation's result (empty for a full-history client).
    pub shallow: ShallowPlan,
    /// Partial-clone filter.
    pub filter: Option<FilterSpec>,
    /// `include-tag`: the values of `refs/tags/*`, to send annotated tags pointing at sent objects.
    pub include_tags: Option<Vec<ObjectId>>,
}

/// What to send. Both sets are over the same view of the packs ([`ObjectSet::packs`]).
#[derive(Debug)]
pub struct WalkResult {
    /// Every object the pack must hold.
    pub objects: ObjectSet,
    /// Objects the client is known to have (those this repository holds): uninteresting commits
    /// met by the walk and the trees and blobs of the uninteresting edge commits. Thin-pack
    /// deltas may use these as bases.
    pub client_has: ObjectSet,
    /// Number of commits among `objects`.
    pub commits: usize,
}

/// Counts objects as the walk finds them, for progress messages.
#[derive(Debug, Clone, Default)]
pub struct WalkProgress(Arc<AtomicU64>);

impl WalkProgress {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// Enumerates the objects to send for `request`.
pub async fn walk(
    odb: &ObjectDb,
    request: &WalkRequest,
    progress: &WalkProgress,
) -> Result<WalkResult, WalkError> {
    let filter = ObjectFilter::new(request.filter.as_ref())?;
    let packs = odb.raw_packs();
    let mut send = ObjectSet::new(packs.clone());
    let add = |send: &mut ObjectSet, what: &'static str, id: ObjectId| {
        let at = send
            .position_of(&id)
            .ok_or(WalkError::Missing { what, id })?;
        Ok::<bool, WalkError>(send.insert(at))
    };

    // Wants: peel tags, sort what remains by kind.
    let mut commit_wants = Vec::new();
    let mut root_trees = Vec::new();
    for want in &request.wants {
        let peeled = tags::peel(odb, *want).await?;
        for tag in &peeled.tags {
            add(&mut send, "tag", *tag)?;
        }
        match peeled.kind {
            Kind::Commit => commit_wants.push(peeled.target),
            Kind::Tree => {
                add(&mut send, "tree", peeled.target)?;
                root_trees.push(peeled.target);
            }
            Kind::Blob | Kind::Tag => {
                add(&mut send, "object", peeled.target)?;
            }
        }
    }
    commit_wants.extend(request.shallow.extra_wants.iter().copied());

    // Commits.
    let mut uninteresting: Vec<ObjectId> = Vec::new();
    let mut client_has = ObjectSet::new(packs.clone());
    for have in request.haves.iter().chain(&request.shallow.client_has) {
        if let Some(at) = client_has.position_of(have) {
            client_has.insert(at);
        }
        if let Some(peeled) = tags::peel_if_present(odb, *have).await?
            && peeled.kind == Kind::Commit
        {
            uninteresting.push(peeled.target);
        }
    }
    let history = commits::walk_commits(
        odb,
        commits::CommitWalkSpec {
            interesting: &commit_wants,
            uninteresting: &uninteresting,
            stop_interesting: &request.shallow.boundary,
            stop_uninteresting: &request.shallow.client_shallow,
            max_age: None,
        },
    )
    .await?;
    for id in &history.uninteresting {
        if let Some(at) = client_has.position_of(id) {
            client_has.insert(at);
        }
    }
    drop(history.uninteresting);
    let mut commits = 0;
    for commit in &history.interesting {
        if filter.include_kind(Kind::Commit) {
            add(&mut send, "commit", commit.id)?;
            commits += 1;
        }
        root_trees.push(commit.tree);
    }
    drop(history.interesting);
    progress.add(send.len() as u64);

    // Trees and blobs.
    let edge_trees: Vec<ObjectId> = history.edges.iter().map(|edge| edge.tree).collect();
    let mut tree_walk = trees::TreeWalk::new(odb, &packs, &filter, progress);
    tree_walk.mark_uninteresting(&edge_trees).await?;
    tree_walk.add_trees(&root_trees, &mut send).await?;
    client_has.extend(&tree_walk.into_uninteresting());

    // Tags pointing at what is sent.
    if let Some(tag_refs) = &request.include_tags {
        for tag in tags::included(odb, tag_refs, &send).await? {
            if add(&mut send, "tag", tag)? {
                progress.add(1);
            }
        }
    }
    Ok(WalkResult {
        objects: send,
        client_has,
        commits,
    })
}
