//! swiftgit's network side. [`listener`] accepts connections with the limits every transport
//! shares (a connection cap, graceful shutdown); the git:// [`daemon`] (and later smart HTTP)
//! puts its framing on top and hands each request to the same upload-pack / receive-pack
//! sessions ([`session`]), which work on repositories opened once per process ([`registry`]).
//! A fetch's objects are chosen by [`walk`] and streamed as a pack by [`pack`]; [`maintenance`]
//! uses both to repack a repository, prunes it and compacts its log. The transports tell an
//! [`observer`] what they serve (the daemon's metrics).

pub mod daemon;
pub mod http;
pub mod listener;
pub mod maintenance;
pub mod observer;
pub mod pack;
pub mod registry;
pub mod session;
pub mod walk;
