//! Protocol v2 (upload-pack only): the server advertises capabilities, then serves one command
//! request after another until the client sends a bare flush or hangs up.
//!
//! ```text
//! S: version 2\n agent=…\n ls-refs=unborn\n fetch=shallow wait-for-done filter\n
//!    server-option\n object-format=sha1\n 0000                     (capabilities.rs)
//! C: command=ls-refs\n agent=git/2.47.3 object-format=sha1 0001
//!    peel\n symrefs\n unborn\n ref-prefix HEAD\n … 0000             (command.rs, ls_refs.rs)
//! S: <id> HEAD symref-target:refs/heads/main\n … 0000              (ls_refs.rs)
//! C: command=fetch … 0001 thin-pack ofs-delta want <id>\n have <id>\n done\n 0000   (fetch.rs)
//! S: [acknowledgments] [shallow-info] [wanted-refs] packfile\n <side-band 1/2/3> 0000
//! ```
//!
//! Over smart HTTP the capability advertisement answers `GET info/refs`, each command is one POST,
//! and the server may end each response with `0002` (response-end).

mod capabilities;
mod command;
mod fetch;
mod fetch_response;
mod ls_refs;

pub use capabilities::{V2Features, encode_capability_advertisement};
pub use command::{
    ClientCapabilities, Command, CommandError, CommandRequest, V2Request, parse_command_request,
};
pub use fetch::{FetchError, FetchRequest};
pub use fetch_response::{PackfilePreamble, ShallowInfo, WantedRef, encode_acknowledgments_only};
pub use ls_refs::{LsRefsError, LsRefsRef, LsRefsRequest, RefTarget, encode_ls_refs_ref};
