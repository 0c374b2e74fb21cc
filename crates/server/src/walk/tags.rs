//! Annotated tags: peeling (a tag may point at a tag), and `include-tag`, which sends the tags
//! of `refs/tags/*` whose peeled object the pack holds. Tag data comes from
//! [`ObjectDb::tag_info`] (in memory for packs with metadata).

use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_repo::odb::ObjectDb;

use super::WalkError;
use super::object_set::ObjectSet;

/// Longest tag chain followed (a tag of a tag of …); longer chains are treated as corrupt.
pub const MAX_TAG_CHAIN: usize = 64;

/// An object with its tags peeled off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeled {
    /// The tags passed on the way, outermost first (empty if `id` is not a tag).
    pub tags: Vec<ObjectId>,
    /// The first object that is not a tag.
    pub target: ObjectId,
    pub kind: Kind,
}

/// Peels `id`, which must exist.
pub async fn peel(odb: &ObjectDb, id: ObjectId) -> Result<Peeled, WalkError> {
    peel_if_present(odb, id)
        .await?
        .ok_or(WalkError::Missing { what: "object", id })
}

/// Peels `id`; `None` if it is absent (or a tag in its chain is).
pub async fn peel_if_present(odb: &ObjectDb, id: ObjectId) -> Result<Option<Peeled>, WalkError> {
    let mut tags = Vec::new();
    let mut current = id;
    loop {
        let Some(header) = odb
            .find_header(&current)
            .await
            .map_err(WalkError::odb("object", current))?
        else {
            return Ok(None);
        };
        if header.kind != Kind::Tag {
            return Ok(Some(Peeled {
                tags,
                target: current,
                kind: header.kind,
            }));
        }
        if tags.len() >= MAX_TAG_CHAIN {
            return Err(WalkError::Missing {
                what: "end of the tag chain of",
                id,
            });
        }
        tags.push(current);
        let Some(info) = odb
            .tag_info(&current)
            .await
            .map_err(WalkError::odb("tag", current))?
        else {
            return Ok(None);
        };
        current = info.target;
    }
}

/// The annotated tags among `tag_refs` (with the tags they point through) whose peeled object
/// is in `send`, and that are not in it yet.
pub async fn included(
    odb: &ObjectDb,
    tag_refs: &[ObjectId],
    send: &ObjectSet,
) -> Result<Vec<ObjectId>, WalkError> {
    let mut found = Vec::new();
    for id in tag_refs {
        if send.contains_id(id) {
            continue;
        }
        let Some(peeled) = peel_if_present(odb, *id).await? else {
            continue;
        };
        if !peeled.tags.is_empty() && send.contains_id(&peeled.target) {
            found.extend(peeled.tags.into_iter().filter(|tag| !send.contains_id(tag)));
        }
    }
    Ok(found)
}
