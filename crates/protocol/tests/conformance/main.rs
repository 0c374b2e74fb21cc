//! Conformance tests: requests captured from real git 2.47 are parsed, and our encoders are checked
//! to reproduce the server's answers byte for byte; every bad input gets its specific error; and
//! random bytes and mutations of the captured requests never make a parser panic.

mod errors;
mod fuzz;
mod push;
mod upload_v0;
mod v2;
#[rustfmt::skip]
mod vectors;

use gix_hash::ObjectId;
use swiftgit_protocol::Parsed;
use swiftgit_protocol::daemon_request::{self, DaemonRequest};
use swiftgit_protocol::object_id;
use swiftgit_protocol::pkt_line::{self, Decoded, Packet};

/// `refs/heads/main` when the vectors were captured (commit 3).
pub const MAIN: &str = "b1140b195ec37afad0033994a0d972ddd6771877";
/// `refs/heads/side` (commit 2), also what tag v1 peels to.
pub const SIDE: &str = "4293dd427eaebeddc952e227c1a1a06e7c1db42f";
/// `refs/tags/light` (commit 1).
pub const LIGHT: &str = "a2b0580f6c1e0e047b8a05db135c702d471e6ad2";
/// The annotated tag object `refs/tags/v1`.
pub const TAG_V1: &str = "bf6ced1e35218d3a340b40b674264b73b3f31e90";
/// Commits 4, 5, 6, pushed during the capture.
pub const C4: &str = "e1bcbdfb2477ca0244d0a8734a56c9d1bb3af080";
pub const C5: &str = "4a4e5e4a408f9f564bb56be80693b3941df4af49";
pub const C6: &str = "b111aef486cc3d3ac169ab514a591f6191e13674";

/// The agent git 2.47.3 sends, so encoders can be compared byte for byte.
pub const GIT_AGENT: &str = "git/2.47.3";

pub fn id(hex: &str) -> ObjectId {
    object_id::parse_hex(hex.as_bytes()).expect("test ids are valid")
}

/// Split a connection's first packet (git-daemon's request) from the rest of its bytes.
pub fn daemon_request_and_rest(packets: &[&[u8]]) -> (DaemonRequest, Vec<u8>) {
    let bytes = packets.concat();
    let Ok(Decoded::Complete {
        packet: Packet::Data(payload),
        consumed,
    }) = pkt_line::decode(&bytes)
    else {
        panic!("a connection starts with a data packet");
    };
    let request = daemon_request::parse(payload).expect("git's request parses");
    (request, bytes[consumed..].to_vec())
}

/// The value of a complete parse, after checking it consumed what it said.
pub fn complete<T: std::fmt::Debug>(parsed: Parsed<T>) -> (T, usize) {
    match parsed {
        Parsed::Complete { value, consumed } => (value, consumed),
        Parsed::Incomplete => panic!("expected a complete message"),
    }
}

/// Compare bytes, showing both sides as escaped text on failure.
#[track_caller]
pub fn assert_same(actual: &[u8], expected: &[u8]) {
    use bstr::ByteSlice;
    assert_eq!(actual.as_bstr(), expected.as_bstr());
}
