//! Multi-ref transactions: what a caller asks for, and the check that turns it into the changes
//! of one log entry or rejects it as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::state::{Peeled, RefChange, RepoState};
use super::{Head, RefName};
use crate::{ObjectId, PackId};

/// What a ref must hold for an update to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Anything, or nothing.
    Any,
    /// The ref must not exist (a create).
    Missing,
    /// The ref must hold exactly this id.
    Value(ObjectId),
}

/// What an update leaves in the ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum New {
    Value(ObjectId),
    Delete,
}

/// One ref's compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub name: RefName,
    pub expected: Expected,
    pub new: New,
}

impl RefUpdate {
    /// Creates `name`, which must not exist.
    pub fn create(name: RefName, new: ObjectId) -> RefUpdate {
        RefUpdate {
            name,
            expected: Expected::Missing,
            new: New::Value(new),
        }
    }

    /// Moves `name` from `old` to `new`.
    pub fn update(name: RefName, old: ObjectId, new: ObjectId) -> RefUpdate {
        RefUpdate {
            name,
            expected: Expected::Value(old),
            new: New::Value(new),
        }
    }

    /// Deletes `name`, which must hold `old`.
    pub fn delete(name: RefName, old: ObjectId) -> RefUpdate {
        RefUpdate {
            name,
            expected: Expected::Value(old),
            new: New::Delete,
        }
    }
}

/// Ref updates, an optional HEAD change and pack changes that commit together or not at all
/// (see [`crate::Repository::commit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefTransaction {
    pub updates: Vec<RefUpdate>,
    /// The new HEAD, if it changes.
    pub head: Option<Head>,
    /// Packs whose objects become live. They must already be stored (`.pack` and `.idx`).
    pub packs_added: Vec<PackId>,
    /// Those of `packs_added` the caller stored itself just before (a push it ingested): the
    /// commit does not ask the storage for them again.
    pub packs_just_stored: BTreeSet<PackId>,
    /// Packs whose objects stop being live (after a repack). They are not deleted here.
    pub packs_removed: Vec<PackId>,
    /// What the new values of updated refs peel to, recorded in the log with them (see
    /// [`Peeled`]); refs left out are recorded as not known.
    pub peeled: BTreeMap<RefName, Peeled>,
    /// Commit only if HEAD and every ref are exactly these (a repack that walked them, so that
    /// no ref moves onto objects it is dropping); else [`Rejection::RefsMoved`].
    pub refs_unchanged: Option<RefValues>,
}

/// HEAD and every ref of a state, as a precondition (see [`RefTransaction::refs_unchanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefValues {
    pub head: Head,
    pub refs: BTreeMap<RefName, ObjectId>,
}

impl From<&RepoState> for RefValues {
    fn from(state: &RepoState) -> RefValues {
        RefValues {
            head: state.head().clone(),
            refs: state.refs().clone(),
        }
    }
}

impl RefTransaction {
    pub fn new() -> RefTransaction {
        RefTransaction::default()
    }

    pub fn with_update(mut self, update: RefUpdate) -> RefTransaction {
        self.updates.push(update);
        self
    }

    pub fn with_head(mut self, head: Head) -> RefTransaction {
        self.head = Some(head);
        self
    }

    pub fn with_pack_added(mut self, pack: PackId) -> RefTransaction {
        self.packs_added.push(pack);
        self
    }

    /// Adds a pack the caller has just stored (its `.pack` and `.idx` upload succeeded), which
    /// the commit then does not check again.
    pub fn with_pack_just_stored(mut self, pack: PackId) -> RefTransaction {
        self.packs_added.push(pack);
        self.packs_just_stored.insert(pack);
        self
    }

    pub fn with_pack_removed(mut self, pack: PackId) -> RefTransaction {
        self.packs_removed.push(pack);
        self
    }

    /// Commits only if HEAD and the refs are still `values` (see
    /// [`RefTransaction::refs_unchanged`]).
    pub fn with_refs_unchanged(mut self, values: RefValues) -> RefTransaction {
        self.refs_unchanged = Some(values);
        self
    }

    /// Records what the new value of `name` peels to.
    pub fn with_peeled(mut self, name: RefName, peeled: Peeled) -> RefTransaction {
        self.peeled.insert(name, peeled);
        self
    }

    /// Checks what does not depend on the repository's state.
    pub(crate) fn validate(&self) -> Result<(), Rejection> {
        let mut seen = BTreeSet::new();
        for update in &self.updates {
            if !seen.insert(&update.name) {
                return Err(Rejection::DuplicateRef {
                    name: update.name.clone(),
                });
            }
            if update.expected == Expected::Missing && update.new == New::Delete {
                return Err(Rejection::DeleteOfMissing {
                    name: update.name.clone(),
                });
            }
        }
        let added: BTreeSet<_> = self.packs_added.iter().collect();
        if let Some(pack) = self.packs_removed.iter().find(|p| added.contains(p)) {
            return Err(Rejection::PackAddedAndRemoved { pack: *pack });
        }
        Ok(())
    }

    /// Checks every expectation against `state`; the changes to write, or the first reason to
    /// reject the whole transaction.
    pub(crate) fn plan(&self, state: &RepoState) -> Result<Changes, Rejection> {
        self.validate()?;
        if let Some(values) = &self.refs_unchanged
            && (values.head != state.head || values.refs != state.refs)
        {
            return Err(Rejection::RefsMoved);
        }
        let mut refs = Vec::with_capacity(self.updates.len());
        for update in &self.updates {
            let actual = state.get(update.name.as_str());
            match (update.expected, actual) {
                (Expected::Any, _) => {}
                (Expected::Missing, None) => {}
                (Expected::Missing, Some(actual)) => {
                    return Err(Rejection::AlreadyExists {
                        name: update.name.clone(),
                        actual,
                    });
                }
                (Expected::Value(expected), actual) if actual != Some(expected) => {
                    return Err(Rejection::Stale {
                        name: update.name.clone(),
                        expected,
                        actual,
                    });
                }
                (Expected::Value(_), _) => {}
            }
            let new = match update.new {
                New::Value(id) => Some(id),
                New::Delete if actual.is_none() => {
                    return Err(Rejection::DeleteOfMissing {
                        name: update.name.clone(),
                    });
                }
                New::Delete => None,
            };
            if new != actual {
                refs.push(RefChange {
                    name: update.name.clone(),
                    old: actual,
                    new,
                    peeled: new.and_then(|_| self.peeled.get(&update.name).copied()),
                });
            }
        }
        if let Some(pack) = self.packs_removed.iter().find(|p| !state.packs.contains(p)) {
            return Err(Rejection::PackNotLive { pack: *pack });
        }
        let packs_added: BTreeSet<PackId> = self
            .packs_added
            .iter()
            .filter(|p| !state.packs.contains(p))
            .copied()
            .collect();
        let packs_removed: BTreeSet<PackId> = self.packs_removed.iter().copied().collect();
        Ok(Changes {
            refs,
            head: self.head.clone().filter(|head| head != &state.head),
            packs_added: packs_added.into_iter().collect(),
            packs_removed: packs_removed.into_iter().collect(),
        })
    }
}

/// What a checked transaction changes; empty if it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changes {
    pub refs: Vec<RefChange>,
    pub head: Option<Head>,
    pub packs_added: Vec<PackId>,
    pub packs_removed: Vec<PackId>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
            && self.head.is_none()
            && self.packs_added.is_empty()
            && self.packs_removed.is_empty()
    }
}

/// Why a transaction was rejected as a whole. Nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The ref does not hold the value the update expected (`actual: None`: it does not exist).
    Stale {
        name: RefName,
        expected: ObjectId,
        actual: Option<ObjectId>,
    },
    /// A create ([`Expected::Missing`]) of a ref that exists.
    AlreadyExists { name: RefName, actual: ObjectId },
    /// A delete of a ref that does not exist.
    DeleteOfMissing { name: RefName },
    /// Two updates of the same ref in one transaction.
    DuplicateRef { name: RefName },
    /// A removal of a pack that is not live.
    PackNotLive { pack: PackId },
    /// The same pack both added and removed.
    PackAddedAndRemoved { pack: PackId },
    /// HEAD or a ref changed since the values the transaction requires
    /// ([`RefTransaction::refs_unchanged`]).
    RefsMoved,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Stale {
                name,
                expected,
                actual: Some(actual),
            } => write!(f, "{name} is at {actual}, not at the expected {expected}"),
            Rejection::Stale {
                name,
                expected,
                actual: None,
            } => write!(f, "{name} does not exist (expected it at {expected})"),
            Rejection::AlreadyExists { name, actual } => {
                write!(f, "{name} already exists (at {actual})")
            }
            Rejection::DeleteOfMissing { name } => {
                write!(f, "cannot delete {name}: it does not exist")
            }
            Rejection::DuplicateRef { name } => {
                write!(f, "{name} is updated twice in one transaction")
            }
            Rejection::PackNotLive { pack } => {
                write!(f, "cannot remove {pack}: it is not a live pack")
            }
            Rejection::PackAddedAndRemoved { pack } => {
                write!(f, "{pack} is both added and removed")
            }
            Rejection::RefsMoved => write!(f, "refs changed since they were read"),
        }
    }
}

impl Rejection {
    /// The ref the rejection is about, if it is about one.
    pub fn ref_name(&self) -> Option<&RefName> {
        match self {
            Rejection::Stale { name, .. }
            | Rejection::AlreadyExists { name, .. }
            | Rejection::DeleteOfMissing { name }
            | Rejection::DuplicateRef { name } => Some(name),
            Rejection::PackNotLive { .. }
            | Rejection::PackAddedAndRemoved { .. }
            | Rejection::RefsMoved => None,
        }
    }
}
