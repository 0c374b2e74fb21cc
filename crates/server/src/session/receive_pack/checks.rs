//! The checks each pushed command passes before any ref moves, in C git's order and with its
//! reasons (`ng <ref> <reason>`): the ref name (`funny refname`), the server's policy
//! (`deletion prohibited`, `deletion of the current branch prohibited`, `non-fast-forward`),
//! and that the new value's history is complete (`missing necessary objects`).
//!
//! Completeness follows git's `--not --all` logic with packs as the unit of trust: objects in
//! the repository's committed packs are trusted (every pack was checked when it was committed,
//! so their histories are complete); a new value must be in the pushed pack or in the
//! repository, and the pushed pack must refer to nothing that is in neither
//! ([`IngestedPack::missing_references`] — ingest records every id that its commits, trees and
//! tags name). A pack that refers to a missing object is never committed, so every ref pointing
//! into it is refused; refs pointing at objects the repository already has are unaffected.

use std::collections::{BTreeMap, HashSet};

use swiftgit_config::sections::repository;
use swiftgit_protocol::receive_pack::{RefUpdate as PushedCommand, UpdateKind};
use swiftgit_protocol::ref_name;
use swiftgit_repo::odb::{IngestedPack, ObjectDb};
use swiftgit_repo::refs::Peeled;
use swiftgit_repo::{New, ObjectId, RefName, RefUpdate, RepoState};

use super::ancestry::{self, Ancestry};
use crate::session::advertise::MAX_TAG_CHAIN;

/// What the server refuses, whatever the client asks (git's `receive.deny*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPolicy {
    /// `receive.denyNonFastForwards`: a branch (`refs/heads/*`) may only move to a descendant,
    /// even when the client forces.
    pub deny_non_fast_forwards: bool,
    /// `receive.denyDeletes`: branches cannot be deleted.
    pub deny_deletes: bool,
    /// `receive.denyDeleteCurrent`: the branch HEAD names cannot be deleted (on by default, as
    /// in git, because a clone would then check out nothing).
    pub deny_delete_current: bool,
}

/// The defaults of the `[repository]` table.
impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            deny_non_fast_forwards: const { repository::DENY_NON_FAST_FORWARDS.default_bool() },
            deny_deletes: const { repository::DENY_DELETES.default_bool() },
            deny_delete_current: const { repository::DENY_DELETE_CURRENT.default_bool() },
        }
    }
}

/// The fate of one command after the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Passed every check: commit this compare-and-set.
    Accept(RefUpdate),
    /// Refused with git's `ng` reason.
    Reject(String),
}

/// Everything the checks need besides the commands.
pub(super) struct CheckContext<'a> {
    pub state: &'a RepoState,
    pub odb: &'a ObjectDb,
    /// The pushed pack, `None` when nothing was sent (every command deletes).
    pub pack: Option<&'a IngestedPack>,
    /// The client sent `shallow` lines (it pushes from a shallow clone).
    pub shallow: bool,
    pub policy: &'a PushPolicy,
}

/// One decision per command, in order, and the messages (git's `error: …` lines) to show the
/// pusher.
pub(super) async fn check_commands(
    commands: &[PushedCommand],
    context: &CheckContext<'_>,
) -> (Vec<Decision>, Vec<String>) {
    let mut messages = Vec::new();
    let mut seen = HashSet::new();
    let mut decisions = Vec::with_capacity(commands.len());
    for command in commands {
        let decision = match check_command(command, context, &mut messages).await {
            Decision::Accept(update) if !seen.insert(update.name.clone()) => {
                messages.push(format!("error: {} is updated twice", update.name));
                Decision::Reject("duplicate ref update".into())
            }
            decision => decision,
        };
        decisions.push(decision);
    }
    (decisions, messages)
}

async fn check_command(
    command: &PushedCommand,
    context: &CheckContext<'_>,
    messages: &mut Vec<String>,
) -> Decision {
    let shown = command.name.to_string();
    let name = match checked_name(&command.name) {
        Some(name) => name,
        None => {
            messages.push(format!(
                "error: refusing to update funny ref '{shown}' remotely"
            ));
            return Decision::Reject("funny refname".into());
        }
    };
    let policy = context.policy;
    let is_branch = name.as_str().starts_with("refs/heads/");
    match command.kind() {
        UpdateKind::Delete => {
            if policy.deny_deletes && is_branch {
                messages.push(format!("error: denying ref deletion for {name}"));
                return Decision::Reject("deletion prohibited".into());
            }
            if policy.deny_delete_current && context.state.head_ref() == Some(&name) {
                messages.push(format!(
                    "error: refusing to delete the current branch: {name}"
                ));
                return Decision::Reject("deletion of the current branch prohibited".into());
            }
            let expected = if command.old_id.is_null() {
                swiftgit_repo::Expected::Any
            } else {
                swiftgit_repo::Expected::Value(command.old_id)
            };
            Decision::Accept(RefUpdate {
                name,
                expected,
                new: swiftgit_repo::New::Delete,
            })
        }
        kind @ (UpdateKind::Create | UpdateKind::Update) => {
            if let Some(reason) = check_complete(command.new_id, context, messages) {
                return Decision::Reject(reason);
            }
            if kind == UpdateKind::Update && policy.deny_non_fast_forwards && is_branch {
                match ancestry::is_ancestor(
                    command.old_id,
                    command.new_id,
                    context.pack,
                    context.odb,
                )
                .await
                {
                    Ok(Ancestry::Ancestor) => {}
                    Ok(Ancestry::NotAncestor) => {
                        messages.push(format!(
                            "error: denying non-fast-forward {name} (you should pull first)"
                        ));
                        return Decision::Reject("non-fast-forward".into());
                    }
                    Ok(Ancestry::NotCommits) => {
                        messages.push(format!("error: bad sha1 objects for {name}"));
                        return Decision::Reject("bad ref".into());
                    }
                    Err(error) => {
                        tracing::warn!(%error, %name, "cannot check fast-forward");
                        messages.push(format!(
                            "error: cannot check that {name} fast-forwards: {error}"
                        ));
                        return Decision::Reject("failed to update ref".into());
                    }
                }
            }
            Decision::Accept(match kind {
                UpdateKind::Create => RefUpdate::create(name, command.new_id),
                _ => RefUpdate::update(name, command.old_id, command.new_id),
            })
        }
    }
}

/// What the accepted updates' new values peel to, recorded with them in the log so that a
/// fresh server advertises them without loading pack indexes: from the pushed pack's metadata,
/// else the repository's objects. A value whose chain cannot be followed (a read failed, the
/// chain is too long) is left out, and servers peel it through the objects, as they do refs
/// written before peeled values were recorded.
pub(super) async fn peel_accepted(
    decisions: &[Decision],
    context: &CheckContext<'_>,
) -> BTreeMap<RefName, Peeled> {
    let mut peeled = BTreeMap::new();
    for decision in decisions {
        if let Decision::Accept(RefUpdate {
            name,
            new: New::Value(id),
            ..
        }) = decision
            && let Some(value) = peel_pushed(*id, context).await
        {
            peeled.insert(name.clone(), value);
        }
    }
    peeled
}

async fn peel_pushed(id: ObjectId, context: &CheckContext<'_>) -> Option<Peeled> {
    let mut current = id;
    let mut peeled = None;
    for _ in 0..MAX_TAG_CHAIN {
        let tag = match context.pack.filter(|pack| pack.contains(&current)) {
            Some(pack) => {
                // Without metadata the pack cannot say whether the object is a tag.
                pack.header(&current)?;
                pack.tag_info(&current)
            }
            None if context.odb.contains(&current) => context.odb.tag_info(&current).await.ok()?,
            None => return None,
        };
        match tag {
            Some(tag) => {
                current = tag.target;
                peeled = Some(current);
            }
            None => return Some(peeled),
        }
    }
    None
}

/// The ref name as the repository's type, if it passes git's rule for pushed refs (`refs/`
/// then a valid name of at least two components: `protocol::ref_name::check_pushed`). That rule
/// decides; the conversion only gives it the repository's type (and refuses names that are not
/// UTF-8, which the repository cannot store).
fn checked_name(name: &[u8]) -> Option<RefName> {
    ref_name::check_pushed(name).ok()?;
    RefName::new(std::str::from_utf8(name).ok()?).ok()
}

/// `None` if `id`'s history is complete; else the `ng` reason.
fn check_complete(
    id: ObjectId,
    context: &CheckContext<'_>,
    messages: &mut Vec<String>,
) -> Option<String> {
    let in_pack = context.pack.is_some_and(|pack| pack.contains(&id));
    if !in_pack {
        if context.odb.contains(&id) {
            return None;
        }
        messages.push(format!("error: object {id} is missing: it was not pushed"));
        return Some("missing necessary objects".into());
    }
    let missing = context
        .pack
        .map_or(&[][..], |pack| pack.missing_references());
    let first = missing.first()?;
    if context.shallow {
        messages.push(format!(
            "error: pushing from a shallow clone needs history the server lacks ({first})"
        ));
        return Some("shallow update not allowed".into());
    }
    messages.push(format!(
        "error: the pushed objects refer to {} object(s) the server lacks, such as {first}",
        missing.len()
    ));
    Some("missing necessary objects".into())
}

/// Whether a pushed pack may become part of the repository: only if it is complete.
pub(super) fn pack_is_committable(pack: &IngestedPack) -> bool {
    pack.pack_id().is_some() && pack.missing_references().is_empty()
}
