//! Sets of objects as bitmaps: one bit per object of each pack of a [`RawPacks`] view, keyed by
//! [`ObjectPosition`]. A fetch's walk keeps three of them (what to send, what the client has,
//! what it looked at) and the pack writer reads two; at one bit per stored object, a clone of
//! a repository with hundreds of thousands of objects needs tens of kilobytes for each, where a
//! hash set of ids would take tens of megabytes.
//!
//! Every object has one position in a view (the newest pack holding it), so a set counts each
//! object once even when several packs hold it.

use gix_hash::ObjectId;
use swiftgit_repo::odb::raw::{ObjectPosition, RawPacks};

const WORD_BITS: u32 = u64::BITS;

/// A set of objects of one [`RawPacks`] view.
#[derive(Clone)]
pub struct ObjectSet {
    packs: RawPacks,
    /// Per pack rank, one bit per index position; empty until a member of that pack is added.
    words: Vec<Vec<u64>>,
    len: usize,
}

impl std::fmt::Debug for ObjectSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSet")
            .field("packs", &self.packs.len())
            .field("len", &self.len)
            .finish()
    }
}

impl ObjectSet {
    /// An empty set over the objects of `packs`.
    pub fn new(packs: RawPacks) -> ObjectSet {
        ObjectSet {
            words: vec![Vec::new(); packs.len()],
            packs,
            len: 0,
        }
    }

    /// The view whose positions this set holds.
    pub fn packs(&self) -> &RawPacks {
        &self.packs
    }

    /// The position of `id` in this set's view, if any pack holds it. In memory, no IO.
    pub fn position_of(&self, id: &ObjectId) -> Option<ObjectPosition> {
        self.packs.position_of(id)
    }

    /// Adds the object at `at`; false if it was there already.
    pub fn insert(&mut self, at: ObjectPosition) -> bool {
        let words = &mut self.words[at.pack as usize];
        if words.is_empty() {
            let bits = self.packs.pack_len(at.pack);
            *words = vec![0; bits.div_ceil(WORD_BITS as usize)];
        }
        let (word, mask) = split(at);
        let new = words[word] & mask == 0;
        words[word] |= mask;
        self.len += usize::from(new);
        new
    }

    /// Whether the object at `at` is a member.
    pub fn contains(&self, at: ObjectPosition) -> bool {
        let (word, mask) = split(at);
        self.words
            .get(at.pack as usize)
            .and_then(|words| words.get(word))
            .is_some_and(|bits| bits & mask != 0)
    }

    /// Whether `id` is a member (false if no pack of the view holds it).
    pub fn contains_id(&self, id: &ObjectId) -> bool {
        self.position_of(id).is_some_and(|at| self.contains(at))
    }

    /// Adds every member of `other`, a set over the same view.
    pub fn extend(&mut self, other: &ObjectSet) {
        for (rank, theirs) in other.words.iter().enumerate() {
            if theirs.is_empty() {
                continue;
            }
            let ours = &mut self.words[rank];
            if ours.is_empty() {
                ours.resize(theirs.len(), 0);
            }
            for (mine, bits) in ours.iter_mut().zip(theirs) {
                self.len += (bits & !*mine).count_ones() as usize;
                *mine |= bits;
            }
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Numbers the members `0..len()`, for arrays with one slot per member.
    pub fn slots(&self) -> SlotIndex {
        let mut before = Vec::with_capacity(self.words.len());
        let mut total = 0usize;
        for words in &self.words {
            before.push(
                words
                    .iter()
                    .map(|bits| {
                        let at = total;
                        total += bits.count_ones() as usize;
                        at
                    })
                    .collect(),
            );
        }
        SlotIndex { before }
    }
}

/// Which word of a pack's bitmap holds `at`, and its bit there.
fn split(at: ObjectPosition) -> (usize, u64) {
    ((at.index / WORD_BITS) as usize, 1 << (at.index % WORD_BITS))
}

/// The members of one [`ObjectSet`] numbered `0..len` (by pack rank, then position), from
/// a count per 64 positions.
#[derive(Debug)]
pub struct SlotIndex {
    /// Per pack rank and word: members before that word.
    before: Vec<Vec<usize>>,
}

impl SlotIndex {
    /// The number of `at` in `set` (the set this index was made from), if it is a member.
    pub fn slot(&self, set: &ObjectSet, at: ObjectPosition) -> Option<usize> {
        let (word, mask) = split(at);
        let bits = *set.words.get(at.pack as usize)?.get(word)?;
        if bits & mask == 0 {
            return None;
        }
        Some(self.before[at.pack as usize][word] + (bits & (mask - 1)).count_ones() as usize)
    }
}
