//! The server's side of negotiation: which haves are common, and when the server has heard
//! enough to make a good pack ("ready"), as C git's `do_got_oid` and `ok_to_give_up` decide it.
//!
//! A common commit and its parents are known to be the client's. The server is ready when every
//! wanted commit reaches one of those through its ancestry, not looking at commits older than the
//! oldest common have (the client would have named a common commit that recent).

use std::collections::HashSet;

use gix_hash::ObjectId;
use gix_object::Kind;
use swiftgit_repo::odb::ObjectDb;

use crate::walk::{WalkError, tags};

/// What a `have` line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Have {
    /// The server lacks the object.
    Unknown,
    /// The server has it. `new` is false for a commit already known as the client's (a parent
    /// of an earlier have).
    Common { new: bool },
}

/// Negotiation state for one fetch.
#[derive(Debug, Default)]
pub struct Negotiation {
    /// Wanted commits (tags peeled); other wants do not take part.
    wants: Vec<ObjectId>,
    /// Commits known to be the client's: common haves and their parents.
    they_have: HashSet<ObjectId>,
    /// Common haves that were new, in order (C git's `have_obj`).
    common: Vec<ObjectId>,
    oldest_have: Option<i64>,
    /// Wants known to reach a commit of `they_have`.
    satisfied: HashSet<ObjectId>,
}

impl Negotiation {
    /// Starts negotiating for `wants`.
    pub async fn new(odb: &ObjectDb, wants: &[ObjectId]) -> Result<Negotiation, WalkError> {
        let mut commits = Vec::new();
        for want in wants {
            if let Some(peeled) = tags::peel_if_present(odb, *want).await?
                && peeled.kind == Kind::Commit
                && !commits.contains(&peeled.target)
            {
                commits.push(peeled.target);
            }
        }
        Ok(Negotiation {
            wants: commits,
            ..Negotiation::default()
        })
    }

    /// Records a `have`.
    pub async fn have(&mut self, odb: &ObjectDb, id: ObjectId) -> Result<Have, WalkError> {
        if !odb.contains(&id) {
            return Ok(Have::Unknown);
        }
        let info = odb
            .commit_info(&id)
            .await
            .map_err(WalkError::odb("commit", id))?;
        let new = match info {
            Some(info) => {
                let new = self.they_have.insert(id);
                if new {
                    self.oldest_have =
                        Some(self.oldest_have.map_or(info.time, |t| t.min(info.time)));
                }
                self.they_have.extend(info.parents);
                new
            }
            None => true,
        };
        if new {
            self.common.push(id);
        }
        Ok(Have::Common { new })
    }

    /// Common haves so far that were new (C git's `have_obj`).
    pub fn common(&self) -> &[ObjectId] {
        &self.common
    }

    /// Whether every wanted commit reaches a commit the client has.
    pub async fn ready(&mut self, odb: &ObjectDb) -> Result<bool, WalkError> {
        if self.common.is_empty() {
            return Ok(false);
        }
        let cutoff = self.oldest_have.unwrap_or(i64::MIN);
        for want in self.wants.clone() {
            if self.satisfied.contains(&want) {
                continue;
            }
            if !self.reaches_common(odb, want, cutoff).await? {
                return Ok(false);
            }
            self.satisfied.insert(want);
        }
        Ok(true)
    }

    async fn reaches_common(
        &self,
        odb: &ObjectDb,
        want: ObjectId,
        cutoff: i64,
    ) -> Result<bool, WalkError> {
        let mut stack = vec![want];
        let mut seen = HashSet::from([want]);
        while let Some(id) = stack.pop() {
            if self.they_have.contains(&id) {
                return Ok(true);
            }
            let Some(info) = odb
                .commit_info(&id)
                .await
                .map_err(WalkError::odb("commit", id))?
            else {
                continue;
            };
            if info.time < cutoff {
                continue;
            }
            for parent in info.parents {
                if seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        Ok(false)
    }
}
