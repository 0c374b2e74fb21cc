//! Moving the refs that passed their checks, through the repository's ref log.
//!
//! Atomicity, as the client asked:
//! - `atomic`: every command in one [`RefTransaction`], all or nothing. If any command failed
//!   its checks, nothing is committed and the others are reported `atomic push failure`; if the
//!   log rejects the transaction (a ref moved since the advertisement) every command is reported
//!   `atomic transaction failed` — C git's reasons. (Unlike C git, whose atomic pushes still
//!   commit the other refs when one lacks objects, a failed check here stops every ref.)
//! - otherwise each command succeeds or fails on its own, with C git's per-ref results, but in
//!   one log entry: the accepted commands form one transaction; if the log rejects it because
//!   one ref no longer holds its expected value, that ref is reported `failed to update ref` and
//!   the transaction is tried again without it. One entry per push instead of one per ref keeps
//!   the log short and a push to Swift fast.
//!
//! The pushed pack rides in the same transaction ([`RefTransaction::with_pack_just_stored`]), so it
//! becomes live exactly when the first ref that may point into it does, and never otherwise.

use std::collections::BTreeMap;

use swiftgit_repo::refs::Peeled;
use swiftgit_repo::{CommitError, PackId, RefName, RefTransaction, RefUpdate, Repository};

use super::checks::Decision;

/// The result of one command after committing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    Updated,
    Rejected(String),
}

/// What [`apply`] did.
#[derive(Debug)]
pub(super) struct Applied {
    /// One outcome per command, in command order.
    pub outcomes: Vec<Outcome>,
    /// Whether the pack was part of a committed transaction.
    pub pack_committed: bool,
}

/// Commits the accepted decisions (see the module documentation for atomicity), recording the
/// `peeled` values of their new values. `pack` is the pushed pack if it may be committed.
/// Messages for the pusher are appended to `messages`.
pub(super) async fn apply(
    repo: &Repository,
    decisions: Vec<Decision>,
    peeled: &BTreeMap<RefName, Peeled>,
    pack: Option<PackId>,
    atomic: bool,
    messages: &mut Vec<String>,
) -> Applied {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(decisions.len());
    let mut pending: Vec<(usize, RefUpdate)> = Vec::new();
    for (index, decision) in decisions.into_iter().enumerate() {
        match decision {
            Decision::Accept(update) => {
                outcomes.push(None);
                pending.push((index, update));
            }
            Decision::Reject(reason) => outcomes.push(Some(Outcome::Rejected(reason))),
        }
    }
    let any_rejected = outcomes.iter().any(Option::is_some);
    let mut pack_committed = false;
    if atomic && any_rejected {
        pending.clear();
        fill(&mut outcomes, "atomic push failure");
    }
    while !pending.is_empty() {
        let mut transaction = RefTransaction::new();
        for (_, update) in &pending {
            if let Some(value) = peeled.get(&update.name) {
                transaction = transaction.with_peeled(update.name.clone(), *value);
            }
            transaction = transaction.with_update(update.clone());
        }
        if let Some(pack) = pack {
            // Ingested (stored, then checked) by this push: not asked for again.
            transaction = transaction.with_pack_just_stored(pack);
        }
        match repo.commit(transaction).await {
            Ok(_) => {
                for (index, _) in pending.drain(..) {
                    outcomes[index] = Some(Outcome::Updated);
                }
                pack_committed = pack.is_some();
            }
            Err(error) => {
                tracing::info!(repo = %repo.name(), %error, "push transaction not committed");
                let stale = error.rejection().and_then(|rejection| rejection.ref_name());
                let position = stale
                    .and_then(|name| pending.iter().position(|(_, update)| &update.name == name));
                match position {
                    Some(position) if !atomic => {
                        messages.push(format!("error: {}", describe(&error)));
                        let (index, _) = pending.remove(position);
                        outcomes[index] = Some(Outcome::Rejected("failed to update ref".into()));
                    }
                    _ => {
                        messages.push(format!("error: {}", describe(&error)));
                        let reason = if atomic {
                            "atomic transaction failed"
                        } else {
                            "failed to update ref"
                        };
                        for (index, _) in pending.drain(..) {
                            outcomes[index] = Some(Outcome::Rejected(reason.into()));
                        }
                    }
                }
            }
        }
    }
    Applied {
        outcomes: outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Outcome::Rejected("failed to update ref".into())))
            .collect(),
        pack_committed,
    }
}

/// Marks every undecided command with `reason`.
fn fill(outcomes: &mut [Option<Outcome>], reason: &str) {
    for outcome in outcomes.iter_mut().filter(|outcome| outcome.is_none()) {
        *outcome = Some(Outcome::Rejected(reason.into()));
    }
}

/// The reason a commit failed, for the pusher: the ref and values for a rejection, the error
/// otherwise.
fn describe(error: &CommitError) -> String {
    match error.rejection() {
        Some(rejection) => format!("cannot update: {rejection}"),
        None => error.to_string(),
    }
}
