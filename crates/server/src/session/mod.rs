//! Transport-independent git sessions over any async byte stream: receive-pack (push, v0/v1),
//! upload-pack (fetch, clone, ls-remote; v0, v1 and v2) and the pieces they share.
//!
//! - [`pkt_io`]: pkt-line reading (bounded, with an idle timeout) and buffered writing.
//! - [`advertise`]: the ref lists: upload-pack's and receive-pack's advertisements, v2 `ls-refs`.
//! - [`receive_pack`]: a push, from the advertisement to the report.
//! - [`upload_pack`]: fetch, clone and ls-remote (v0/v1 and v2).
//! - [`error`]: what ends a session, and the `ERR` message the client gets.
//!
//! A session reads the repository through a [`crate::registry::RepoHandle`] and never touches a
//! socket: the transports hand it a [`pkt_io::PktStream`] and a [`pkt_io::PktSink`].

pub mod advertise;
pub mod error;
pub mod pkt_io;
pub mod receive_pack;
pub mod upload_pack;
