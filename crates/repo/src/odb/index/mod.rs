//! The two files stored beside each pack, encoded and decoded in memory: [`idx`] (git's v2
//! `.idx`, ids to offsets) and [`meta`] (our `.meta`: types, sizes, commits and tags). Ingest
//! writes them and the read path loads them; storage IO is theirs, not this folder's, which
//! builds only on [`format`](super::format).

pub mod idx;
pub mod meta;
