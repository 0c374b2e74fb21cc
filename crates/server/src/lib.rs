//! swiftgit's network side. [`listener`] accepts connections with the limits every transport
//! shares (a connection cap, an idle timeout, graceful shutdown); the git:// daemon and the smart
//! HTTP server put their framing on top and hand each request to the same upload-pack /
//! receive-pack sessions.

pub mod listener;
