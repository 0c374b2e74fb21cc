//! The repository state as one value — refs, HEAD and the live packs at one log position — and
//! the log entries that move it forward.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::RefName;
use crate::{ObjectId, PackId};

/// What HEAD is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Head {
    /// HEAD names a ref (`ref: refs/heads/master`). The ref may not exist yet: HEAD is *unborn*,
    /// as in a repository nobody has pushed to.
    Symbolic(RefName),
    /// HEAD holds an object id itself.
    Detached(ObjectId),
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Head::Symbolic(name) => write!(f, "ref: {name}"),
            Head::Detached(id) => write!(f, "{id}"),
        }
    }
}

/// What a ref's value peels to, as the writer that set the ref recorded it: `None` when the
/// value is not an annotated tag, else the first object that is not a tag at the end of its
/// chain of tags. Recorded so that a server can advertise peeled tags (`^{}` lines, `peeled:`)
/// without loading the pack indexes.
pub type Peeled = Option<ObjectId>;

/// The state of a repository after the log entry [`RepoState::seq`]: every ref, HEAD, and the
/// set of packs whose objects are live. Immutable; a commit produces a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoState {
    pub(crate) seq: u64,
    pub(crate) head: Head,
    pub(crate) refs: BTreeMap<RefName, ObjectId>,
    pub(crate) packs: BTreeSet<PackId>,
    /// The peeled values recorded for refs (a subset of `refs`: entries written without them,
    /// by older versions or by tools, leave their refs out).
    pub(crate) peeled: BTreeMap<RefName, Peeled>,
}

impl RepoState {
    pub(crate) fn new(
        seq: u64,
        head: Head,
        refs: BTreeMap<RefName, ObjectId>,
        packs: BTreeSet<PackId>,
    ) -> RepoState {
        RepoState {
            seq,
            head,
            refs,
            packs,
            peeled: BTreeMap::new(),
        }
    }

    /// The state `snapshot` after entry `seq` (for tools that write logs or checkpoints).
    pub fn from_snapshot(seq: u64, snapshot: Snapshot) -> RepoState {
        let mut state = RepoState::new(seq, snapshot.head, snapshot.refs, snapshot.packs);
        state.peeled = snapshot.peeled;
        state.peeled.retain(|name, _| state.refs.contains_key(name));
        state
    }

    /// The state before the first log entry: no refs, no packs, HEAD → `refs/heads/master`.
    pub(crate) fn before_log() -> RepoState {
        RepoState::new(
            0,
            Head::Symbolic(
                RefName::branch("master").expect("holds because 'master' is a valid branch"),
            ),
            BTreeMap::new(),
            BTreeSet::new(),
        )
    }

    /// The number of the log entry this state follows. `0` means the state is not in swiftgit's
    /// log yet: it was read from a dulwich layout and will be adopted by the next commit.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// What HEAD is (symbolic, possibly unborn, or detached).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The ref HEAD names, if it is symbolic.
    pub fn head_ref(&self) -> Option<&RefName> {
        match &self.head {
            Head::Symbolic(name) => Some(name),
            Head::Detached(_) => None,
        }
    }

    /// The object HEAD resolves to; `None` while HEAD is unborn.
    pub fn head_id(&self) -> Option<ObjectId> {
        match &self.head {
            Head::Symbolic(name) => self.refs.get(name).copied(),
            Head::Detached(id) => Some(*id),
        }
    }

    /// Every ref, sorted by name.
    pub fn refs(&self) -> &BTreeMap<RefName, ObjectId> {
        &self.refs
    }

    /// The value of ref `name` (a full name such as `refs/heads/master`).
    pub fn get(&self, name: &str) -> Option<ObjectId> {
        self.refs.get(name).copied()
    }

    /// The packs whose objects are live.
    pub fn packs(&self) -> &BTreeSet<PackId> {
        &self.packs
    }

    /// What ref `name` peels to, if its writer recorded it (see [`Peeled`]).
    pub fn peeled(&self, name: &RefName) -> Option<Peeled> {
        self.peeled.get(name).copied()
    }

    /// Whether two states hold the same refs, HEAD and packs, whatever their `seq`.
    pub fn same_contents(&self, other: &RepoState) -> bool {
        self.head == other.head && self.refs == other.refs && self.packs == other.packs
    }

    /// Applies `entry`, which must be entry `self.seq + 1`. Ref changes are applied as absolute
    /// values; where an entry's recorded old value differs from this state (which only a lost
    /// race on a store without compare-and-swap can cause) the ref is returned in the list.
    pub(crate) fn apply(&mut self, entry: &LogEntry) -> Vec<RefName> {
        debug_assert_eq!(entry.seq, self.seq + 1, "entries apply in order");
        let mut mismatches = Vec::new();
        if let Some(reset) = &entry.reset {
            self.head = reset.head.clone();
            self.refs = reset.refs.clone();
            self.packs = reset.packs.clone();
            self.peeled = reset.peeled.clone();
            self.peeled.retain(|name, _| reset.refs.contains_key(name));
        }
        for change in &entry.refs {
            if self.refs.get(&change.name).copied() != change.old {
                mismatches.push(change.name.clone());
            }
            match change.new {
                Some(id) => self.refs.insert(change.name.clone(), id),
                None => self.refs.remove(&change.name),
            };
            match change.peeled.filter(|_| change.new.is_some()) {
                Some(peeled) => self.peeled.insert(change.name.clone(), peeled),
                None => self.peeled.remove(&change.name),
            };
        }
        if let Some(head) = &entry.head {
            self.head = head.clone();
        }
        for pack in &entry.packs_removed {
            self.packs.remove(pack);
        }
        self.packs.extend(entry.packs_added.iter().copied());
        self.seq = entry.seq;
        mismatches
    }
}

/// A whole state written into a log entry: the first entry of every log holds one (the new
/// repository, or a dulwich layout being adopted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub head: Head,
    pub refs: BTreeMap<RefName, ObjectId>,
    pub packs: BTreeSet<PackId>,
    /// Recorded peeled values (refs without one are left out).
    pub peeled: BTreeMap<RefName, Peeled>,
}

impl From<&RepoState> for Snapshot {
    fn from(state: &RepoState) -> Snapshot {
        Snapshot {
            head: state.head.clone(),
            refs: state.refs.clone(),
            packs: state.packs.clone(),
            peeled: state.peeled.clone(),
        }
    }
}

/// One ref's change in a log entry, with the value it had before (`None`: it did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    pub name: RefName,
    pub old: Option<ObjectId>,
    /// `None` deletes the ref.
    pub new: Option<ObjectId>,
    /// What `new` peels to, if the writer recorded it.
    pub peeled: Option<Peeled>,
}

/// One committed transaction: the immutable object `swiftgit/log/<seq>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// Milliseconds since the Unix epoch, from the writer's clock.
    pub time_ms: u64,
    /// Random, so that two writers' entries for the same `seq` never have the same bytes.
    pub nonce: u64,
    /// Replaces the whole state before the changes below apply.
    pub reset: Option<Snapshot>,
    pub refs: Vec<RefChange>,
    pub head: Option<Head>,
    pub packs_added: Vec<PackId>,
    pub packs_removed: Vec<PackId>,
}
