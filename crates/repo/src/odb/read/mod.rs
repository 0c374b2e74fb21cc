//! Reading stored packs: [`pack`] (a pack loaded from storage, with its index and metadata, and
//! the set of packs a lookup searches), [`cache`] (the block and delta-base caches), [`object`]
//! (one object read and its delta chain resolved) and [`raw`] (stored entries as they are, for
//! pack reuse). [`object`] and [`raw`] add their methods to [`ObjectDb`](super::ObjectDb). This
//! folder builds on [`index`](super::index) and [`format`](super::format); ingest builds on it,
//! never the other way round.

pub mod cache;
mod object;
pub mod pack;
pub mod raw;
