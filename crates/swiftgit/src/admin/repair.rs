//! `swiftgit fsck --repair`: heals a repository whose refs need objects its state's packs do
//! not hold, when stored packs hold them.
//!
//! That is the state a lost race leaves (two writers without a coordinator appended the same
//! log entry: the refs of the loser stayed, its pack left the live list) and the state a
//! damaged live pack leaves when another pack holds the same objects. Under the repository's
//! maintenance lock (so that no gc deletes an orphan meanwhile; without `[coordinator]` that is
//! also the writer lease, so a daemon writing the repository makes the repair wait for it):
//!
//! 1. every stored pack no state names is checked whole (`pack_check`); the sound ones, with
//!    the sound live packs in front, make one object database;
//! 2. the walk from every ref over it must get through, else nothing is changed;
//! 3. one state change adds the orphans holding objects the walk reached (re-adopted) and
//!    drops the unsound live packs (every object the refs reach is then elsewhere).
//!
//! Adding packs cannot conflict with a push; dropping an unreadable pack loses nothing that
//! could be read.

use std::collections::BTreeSet;

use anyhow::Context;
use swiftgit_repo::odb::raw::ObjectPosition;
use swiftgit_repo::{RefTransaction, Repository};
use swiftgit_server::walk::{WalkProgress, WalkRequest, walk};

use super::fsck::{Checked, named_roots};
use super::{Store, pack_check};

/// Repairs what `checked` found in `repo`; what it did, one line each.
pub async fn repair(
    store: &Store,
    repo: &Repository,
    checked: &Checked,
) -> anyhow::Result<Vec<String>> {
    let Some(lock) = repo.lock_maintenance().await? else {
        anyhow::bail!(
            "cannot repair {}: a maintenance run holds its lock; try again when it is done",
            repo.name()
        );
    };
    let outcome = repair_locked(store, repo, checked).await;
    lock.release().await;
    outcome
}

async fn repair_locked(
    store: &Store,
    repo: &Repository,
    checked: &Checked,
) -> anyhow::Result<Vec<String>> {
    let container = repo.container();
    let storage = store.storage.as_ref();
    let state = &checked.state;
    let mut actions = Vec::new();

    let odb = store.object_db(repo, &[]).await?;
    let mut candidates = BTreeSet::new();
    for pack in checked.stored.keys().filter(|p| !state.packs().contains(p)) {
        match pack_check::check(&odb, storage, container, *pack).await {
            Ok(_) => {
                candidates.insert(*pack);
            }
            Err(problem) => actions.push(format!("left {pack} aside: {problem}")),
        }
    }
    // Added last, so in front: an object a live pack holds is found there.
    odb.add_packs(&checked.good)
        .await
        .context("cannot load the live packs")?;

    let request = WalkRequest {
        wants: named_roots(state).into_iter().map(|(_, id)| id).collect(),
        ..WalkRequest::default()
    };
    let walked = walk(&odb, &request, &WalkProgress::default())
        .await
        .with_context(|| {
            format!(
                "cannot repair {}: even with the {} sound stored packs no state names",
                repo.name(),
                candidates.len()
            )
        })?;
    let view = walked.objects.packs();
    let mut transaction = RefTransaction::new();
    for rank in 0..view.len() as u32 {
        let Some(pack) = view.pack_id(rank).filter(|p| candidates.contains(p)) else {
            continue;
        };
        let needed = (0..view.pack_len(rank) as u32)
            .filter(|&index| {
                walked
                    .objects
                    .contains(ObjectPosition { pack: rank, index })
            })
            .count();
        if needed > 0 {
            transaction = transaction.with_pack_added(pack);
            actions.push(format!(
                "re-adopted {pack}: it holds {needed} objects the refs need"
            ));
        }
    }
    for pack in &checked.bad {
        transaction = transaction.with_pack_removed(*pack);
        actions.push(format!(
            "dropped {pack} from the state: it is unsound and the refs need none of its objects"
        ));
    }
    if transaction.packs_added.is_empty() && transaction.packs_removed.is_empty() {
        anyhow::bail!(
            "cannot repair {}: no stored pack holds what is missing",
            repo.name()
        );
    }
    let committed = repo.commit(transaction).await?;
    repo.published().await;
    actions.push(format!(
        "state {} names the repaired pack list",
        committed.state.seq()
    ));
    Ok(actions)
}
