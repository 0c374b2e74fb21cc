//! Which wants a client may send, and what its ref names (`deepen-not`, `want-ref`) mean.
//!
//! As C git: in v0/v1 a want must name an advertised ref's object (or its peeled value), unless
//! `allow-tip-sha1-in-want` (any current ref's object) or `allow-reachable-sha1-in-want` (any
//! object; reachability is not checked here) was advertised; in v2 any object the repository
//! holds may be wanted. Everything else is refused with `not our ref <id>`.

use std::collections::HashSet;

use gix_object::Kind;
use swiftgit_repo::odb::ObjectDb;
use swiftgit_repo::{ObjectId, RepoState};

use super::UploadPackError;
use crate::session::advertise::ListedRef;
use crate::walk::tags;

/// Which wants are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WantPolicy {
    /// Only the objects of the refs (and their peeled values).
    Tips,
    /// Any object the repository holds.
    AnyObject,
}

/// The ids a ref listing names: ref values, peeled values and HEAD.
pub fn tips(state: &RepoState, refs: &[ListedRef]) -> HashSet<ObjectId> {
    refs.iter()
        .flat_map(|listed| std::iter::once(listed.id).chain(listed.peeled))
        .chain(state.head_id())
        .collect()
}

/// Checks every want: present in the repository and allowed by `policy`.
pub fn check(
    odb: &ObjectDb,
    wants: &[ObjectId],
    tips: &HashSet<ObjectId>,
    policy: WantPolicy,
) -> Result<(), UploadPackError> {
    for id in wants {
        let allowed = match policy {
            WantPolicy::Tips => tips.contains(id),
            WantPolicy::AnyObject => true,
        };
        if !allowed || !odb.contains(id) {
            return Err(UploadPackError::NotOurRef { id: *id });
        }
    }
    Ok(())
}

/// The ref `name` (as a user typed it) means, with git's rules: `<name>`, `refs/<name>`,
/// `refs/tags/<name>`, `refs/heads/<name>`, `refs/remotes/<name>`, `refs/remotes/<name>/HEAD`.
pub fn resolve_ref_name(state: &RepoState, name: &[u8]) -> Option<ObjectId> {
    let name = std::str::from_utf8(name).ok()?;
    if name == "HEAD" {
        return state.head_id();
    }
    [
        name.to_owned(),
        format!("refs/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
        format!("refs/remotes/{name}/HEAD"),
    ]
    .iter()
    .find_map(|candidate| state.get(candidate))
}

/// The ids of `deepen-not` names.
pub fn resolve_deepen_not(
    state: &RepoState,
    names: &[bstr::BString],
) -> Result<Vec<ObjectId>, UploadPackError> {
    names
        .iter()
        .map(|name| {
            resolve_ref_name(state, name).ok_or_else(|| UploadPackError::DeepenNot {
                name: String::from_utf8_lossy(name).into_owned(),
            })
        })
        .collect()
}

/// The commits `ids` name, tags peeled; other objects are left out.
pub async fn peeled_commits(
    odb: &ObjectDb,
    ids: &[ObjectId],
) -> Result<Vec<ObjectId>, UploadPackError> {
    let mut commits = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(peeled) = tags::peel_if_present(odb, *id).await?
            && peeled.kind == Kind::Commit
            && !commits.contains(&peeled.target)
        {
            commits.push(peeled.target);
        }
    }
    Ok(commits)
}

/// The values of `refs/tags/*`, for `include-tag`.
pub fn tag_values(state: &RepoState) -> Vec<ObjectId> {
    state
        .refs()
        .range::<str, _>((
            std::ops::Bound::Included("refs/tags/"),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(name, _)| name.as_str().starts_with("refs/tags/"))
        .map(|(_, id)| *id)
        .collect()
}
