//! The ref lists sessions send, built from one [`RepoState`]: upload-pack's v0/v1 advertisement
//! (HEAD first when it resolves, every ref sorted by name, annotated tags followed by their
//! peeled value, HEAD's target in a `symref=` capability), receive-pack's (refs only, never HEAD,
//! no peeled values, as C git sends it) and v2's `ls-refs` answer (prefix filters, `symrefs`,
//! `peel`, `unborn`).
//!
//! Peeling reads tag objects through [`ObjectDb::tag_info`] (from memory for packs with
//! metadata); the results are cached per repository, since an object id always peels the same.
//! Everything is computed from the one state passed in, so a list is consistent even while
//! pushes commit.

use bstr::BString;
use swiftgit_protocol::advertisement::AdvertisedRef;
use swiftgit_protocol::capabilities::Symref;
use swiftgit_protocol::v2::{LsRefsRef, LsRefsRequest, RefTarget};
use swiftgit_repo::odb::{ObjectDb, OdbError};
use swiftgit_repo::{Head, ObjectId, RepoState};

use crate::registry::RepoHandle;
use crate::session::error::SessionError;

/// Tag chains longer than this are not peeled further (git stops at the first non-tag; a
/// chain this long is a crafted repository).
pub const MAX_TAG_CHAIN: usize = 64;

/// A ref with its peeled value, as listed to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRef {
    /// Full name: `HEAD` or `refs/...`.
    pub name: String,
    pub id: ObjectId,
    /// What an annotated tag points to in the end (`None` for anything but a tag).
    pub peeled: Option<ObjectId>,
}

/// The object an annotated tag `id` points to after following tag chains; `None` if `id` is not
/// a tag (or is absent).
pub async fn peel(odb: &ObjectDb, id: ObjectId) -> Result<Option<ObjectId>, OdbError> {
    let mut current = id;
    let mut peeled = None;
    for _ in 0..MAX_TAG_CHAIN {
        match odb.tag_info(&current).await? {
            Some(tag) => {
                current = tag.target;
                peeled = Some(current);
            }
            None => break,
        }
    }
    Ok(peeled)
}

/// Every ref of `state`, sorted by name, with peeled values (cached in `handle`; the object
/// database is waited for only when one is not).
pub async fn refs_with_peeled(
    handle: &RepoHandle,
    state: &RepoState,
) -> Result<Vec<ListedRef>, SessionError> {
    let mut listed = Vec::with_capacity(state.refs().len());
    for (name, id) in state.refs() {
        let peeled = match state.peeled(name).or_else(|| handle.cached_peel(id)) {
            Some(peeled) => peeled,
            None => {
                let odb = handle.objects(state).await?;
                let peeled = peel(odb, *id)
                    .await
                    .map_err(|source| SessionError::Objects {
                        repo: handle.repo.name().to_string(),
                        source,
                    })?;
                handle.remember_peel(*id, peeled);
                peeled
            }
        };
        listed.push(ListedRef {
            name: name.as_str().to_owned(),
            id: *id,
            peeled,
        });
    }
    Ok(listed)
}

/// HEAD as a listed ref, if it resolves (`None` while unborn), peeled like the ref it names.
fn resolved_head(state: &RepoState, refs: &[ListedRef]) -> Option<ListedRef> {
    let id = state.head_id()?;
    let peeled = match state.head() {
        Head::Symbolic(target) => refs
            .iter()
            .find(|listed| listed.name == target.as_str())
            .and_then(|listed| listed.peeled),
        Head::Detached(_) => None,
    };
    Some(ListedRef {
        name: "HEAD".to_owned(),
        id,
        peeled,
    })
}

fn advertised(listed: &ListedRef, with_peeled: bool) -> AdvertisedRef {
    AdvertisedRef {
        name: BString::from(listed.name.as_str()),
        id: listed.id,
        peeled: listed.peeled.filter(|_| with_peeled),
    }
}

/// upload-pack's v0/v1 advertisement: HEAD first if it resolves, then `refs` (sorted), each tag
/// followed by its peeled value; and the `symref=HEAD:<target>` to announce (only when HEAD
/// resolves, as C git does).
pub fn upload_pack_refs(
    state: &RepoState,
    refs: &[ListedRef],
) -> (Vec<AdvertisedRef>, Vec<Symref>) {
    let head = resolved_head(state, refs);
    let symrefs = match (state.head(), &head) {
        (Head::Symbolic(target), Some(_)) => vec![Symref {
            name: BString::from("HEAD"),
            target: BString::from(target.as_str()),
        }],
        _ => Vec::new(),
    };
    let advertised = head
        .iter()
        .chain(refs)
        .map(|listed| advertised(listed, true))
        .collect();
    (advertised, symrefs)
}

/// receive-pack's advertisement: every ref sorted by name, no HEAD, no peeled values.
pub fn receive_pack_refs(state: &RepoState) -> Vec<AdvertisedRef> {
    state
        .refs()
        .iter()
        .map(|(name, id)| AdvertisedRef {
            name: BString::from(name.as_str()),
            id: *id,
            peeled: None,
        })
        .collect()
}

/// The answer to a v2 `ls-refs`: HEAD first (as `unborn` when it names a missing branch and the
/// client asked for `unborn`), then the refs, each filtered by the request's prefixes, with
/// `symref-target:` and `peeled:` attributes when asked for.
pub fn ls_refs(request: &LsRefsRequest, state: &RepoState, refs: &[ListedRef]) -> Vec<LsRefsRef> {
    let mut answer = Vec::new();
    if request.wants(b"HEAD") {
        let symref_target = match state.head() {
            Head::Symbolic(target) if request.symrefs => Some(BString::from(target.as_str())),
            _ => None,
        };
        match resolved_head(state, refs) {
            Some(head) => answer.push(LsRefsRef {
                name: BString::from("HEAD"),
                target: RefTarget::Id(head.id),
                symref_target,
                peeled: head.peeled.filter(|_| request.peel),
            }),
            None if request.unborn => answer.push(LsRefsRef {
                name: BString::from("HEAD"),
                target: RefTarget::Unborn,
                symref_target,
                peeled: None,
            }),
            None => {}
        }
    }
    answer.extend(
        refs.iter()
            .filter(|listed| request.wants(listed.name.as_bytes()))
            .map(|listed| LsRefsRef {
                name: BString::from(listed.name.as_str()),
                target: RefTarget::Id(listed.id),
                symref_target: None,
                peeled: listed.peeled.filter(|_| request.peel),
            }),
    );
    answer
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use swiftgit_repo::RefName;
    use swiftgit_repo::refs::Snapshot;

    use super::*;

    fn id(byte: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[byte; 20])
    }

    fn state(head: &str, refs: &[(&str, u8)]) -> RepoState {
        RepoState::from_snapshot(
            3,
            Snapshot {
                head: Head::Symbolic(RefName::new(head).unwrap()),
                refs: refs
                    .iter()
                    .map(|(name, byte)| (RefName::new(*name).unwrap(), id(*byte)))
                    .collect::<BTreeMap<_, _>>(),
                packs: BTreeSet::new(),
                peeled: BTreeMap::new(),
            },
        )
    }

    fn listed(state: &RepoState, peeled: &[(&str, u8)]) -> Vec<ListedRef> {
        state
            .refs()
            .iter()
            .map(|(name, value)| ListedRef {
                name: name.to_string(),
                id: *value,
                peeled: peeled
                    .iter()
                    .find(|(tag, _)| *tag == name.as_str())
                    .map(|(_, byte)| id(*byte)),
            })
            .collect()
    }

    #[test]
    fn upload_pack_lists_head_first_with_its_symref() {
        let state = state(
            "refs/heads/main",
            &[("refs/heads/main", 1), ("refs/tags/v1", 2)],
        );
        let refs = listed(&state, &[("refs/tags/v1", 1)]);
        let (advertised, symrefs) = upload_pack_refs(&state, &refs);
        let names: Vec<_> = advertised.iter().map(|r| r.name.to_string()).collect();
        assert_eq!(names, ["HEAD", "refs/heads/main", "refs/tags/v1"]);
        assert_eq!(advertised[0].id, id(1));
        assert_eq!(advertised[2].peeled, Some(id(1)));
        assert_eq!(symrefs.len(), 1);
        assert_eq!(symrefs[0].target, "refs/heads/main");
    }

    #[test]
    fn unborn_head_is_not_advertised_in_v0_but_listed_in_v2_when_asked() {
        let state = state("refs/heads/master", &[("refs/heads/other", 1)]);
        let refs = listed(&state, &[]);
        let (advertised, symrefs) = upload_pack_refs(&state, &refs);
        assert_eq!(advertised.len(), 1);
        assert!(symrefs.is_empty());

        let request = LsRefsRequest {
            symrefs: true,
            unborn: true,
            ..LsRefsRequest::default()
        };
        let answer = ls_refs(&request, &state, &refs);
        assert_eq!(answer[0].name, "HEAD");
        assert_eq!(answer[0].target, RefTarget::Unborn);
        assert_eq!(
            answer[0].symref_target.as_ref().map(|t| t.to_string()),
            Some("refs/heads/master".to_owned())
        );
        let without_unborn = ls_refs(&LsRefsRequest::default(), &state, &refs);
        assert_eq!(without_unborn.len(), 1, "only refs/heads/other");
    }

    #[test]
    fn ls_refs_filters_by_prefix_and_peels_on_request() {
        let state = state(
            "refs/heads/main",
            &[("refs/heads/main", 1), ("refs/tags/v1", 2)],
        );
        let refs = listed(&state, &[("refs/tags/v1", 1)]);
        let request = LsRefsRequest {
            ref_prefixes: vec!["refs/tags/".into()],
            ..LsRefsRequest::default()
        };
        let answer = ls_refs(&request, &state, &refs);
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0].peeled, None, "peel was not asked for");
        let request = LsRefsRequest {
            peel: true,
            ..request
        };
        assert_eq!(ls_refs(&request, &state, &refs)[0].peeled, Some(id(1)));
    }

    #[test]
    fn receive_pack_lists_refs_only() {
        let state = state(
            "refs/heads/main",
            &[("refs/heads/main", 1), ("refs/tags/v1", 2)],
        );
        let names: Vec<_> = receive_pack_refs(&state)
            .iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["refs/heads/main", "refs/tags/v1"]);
        assert!(receive_pack_refs(&state).iter().all(|r| r.peeled.is_none()));
    }
}
