//! Pushing (receive-pack, protocol v0/v1 — C git answers v2 pushes in v0 too): the client's
//! commands, push options and pack, and the server's report.
//!
//! ```text
//! C: [shallow <id>]…
//!    <old> <new> <ref>\0 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.47.3
//!    <old> <new> <ref> …  0000                                  (request.rs)
//!    [ci.skip  msg=hello world  0000]                          (push options, if negotiated)
//!    PACK…                                                     (unless every command deletes)
//! S: [band 2 progress] band 1 { unpack ok\n ok <ref>\n ng <ref> <reason>\n 0000 } 0000   (report.rs)
//! ```

mod report;
mod request;

pub use report::{CommandStatus, RefRewrite, Report, encode_report, encode_report_sideband};
pub use request::{
    PushRequest, PushRequestError, ReceiveRequest, RefUpdate, UpdateKind, parse_push_request,
};
