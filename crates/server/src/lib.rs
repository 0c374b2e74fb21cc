//! swiftgit's network side. [`listener`] accepts connections with the limits every transport
//! shares (a connection cap, graceful shutdown); the git:// daemon and the smart HTTP server put
//! their framing on top and hand each request to the same upload-pack / receive-pack sessions
//! ([`session`]), which work on repositories opened once per process ([`registry`]).

pub mod listener;
pub mod registry;
pub mod session;
