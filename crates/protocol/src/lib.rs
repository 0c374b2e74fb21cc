//! The server side of git's wire protocol as pure functions over bytes: no sockets, no async, no
//! storage. Parsers take the bytes received so far and return a typed value with the number of
//! bytes it used, [`Parsed::Incomplete`] when more must arrive, or a typed error quoting the
//! offending bytes safely; they never panic. Encoders append to any [`bytes::BufMut`].
//!
//! Layout, from the framing up:
//! - [`pkt_line`]: packets (`0000` flush, `0001` delim, `0002` response-end, data), a streaming
//!   [`PktReader`], encoders; [`sideband`]: band 1/2/3 multiplexing; [`error_packet`]: `ERR`.
//! - [`daemon_request`]: git://'s first packet; [`ProtocolVersion`] from extra parameters.
//! - [`capabilities`]: v0/v1 capability lists, server switches and the client's choice.
//! - [`advertisement`]: the v0/v1 ref advertisement (both services) and smart HTTP's preamble.
//! - [`upload_pack`]: v0/v1 fetch — want list, have rounds, ACK/NAK, shallow updates;
//!   [`filter`]: partial-clone filter specs.
//! - [`v2`]: protocol v2 — capability advertisement, command requests, `ls-refs`, `fetch`.
//! - [`receive_pack`]: push — commands, push options, where the pack starts, report-status.
//! - [`ref_name`]: ref name rules for the service layer; [`object_id`]: 40-hex ids.
//!
//! The service layer drives these over any transport (git://, smart HTTP, tests): read bytes,
//! call a parser, act, encode the answer. Message formats follow git's
//! `Documentation/gitprotocol-*.adoc`, and byte forms follow what git 2.47 actually sends (the
//! tests hold vectors captured from real `git daemon` sessions).

pub mod advertisement;
pub mod capabilities;
pub mod daemon_request;
pub mod error_packet;
mod escaped;
pub mod filter;
pub mod object_id;
pub mod pkt_line;
pub mod protocol_version;
pub mod receive_pack;
pub mod ref_name;
pub mod sideband;
pub mod upload_pack;
pub mod v2;

pub use escaped::EscapedBytes;
pub use pkt_line::{Packet, Parsed, PktReader};
pub use protocol_version::ProtocolVersion;
