//! The byte formats under everything else, as pure functions with no IO: pack and entry
//! headers ([`entry`]), bounded zlib inflate ([`inflate`]), delta application ([`delta`]), and
//! the fields of commits, tags and trees that the object database records ([`object_links`]).
//! Ingest and the read path both parse through here, so the two agree on every edge case. This
//! folder depends on nothing else in `odb` but its error type.

pub mod delta;
pub mod entry;
pub mod inflate;
pub mod object_links;
