//! report-status and report-status-v2: what happened to the pack and to each ref.
//!
//! ```text
//! unpack ok\n | unpack <error>\n
//! ok <ref>\n | ng <ref> <reason>\n             one per command, in command order
//! option refname <ref>\n option old-oid <id>\n option new-oid <id>\n option forced-update\n
//!                                             (v2 only, after an ok, once per rewrite)
//! 0000
//! ```
//!
//! With `side-band-64k` C git sends the whole report (its flush included) inside band-1 packets and
//! then one more flush that ends the session: [`encode_report_sideband`] writes exactly that. Git's
//! client prints `ng` reasons as `! [remote rejected] <ref> (<reason>)`.

use bstr::BString;
use bytes::BufMut;
use gix_hash::ObjectId;

use crate::capabilities::ReportStatusVersion;
use crate::object_id::Hex;
use crate::pkt_line::encode::{self, EncodeError};
use crate::sideband::{self, Band, SidebandMode};

/// A rewrite reported after `ok` in report-status-v2 (when the server stored something other
/// than the command said, e.g. under another name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefRewrite {
    /// `option refname <ref>`.
    pub refname: Option<BString>,
    /// `option old-oid <id>`.
    pub old_id: Option<ObjectId>,
    /// `option new-oid <id>`.
    pub new_id: Option<ObjectId>,
    /// `option forced-update`.
    pub forced_update: bool,
}

/// The result of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// `ok <ref>`, plus v2 options per rewrite (each rewrite after the first repeats `ok <ref>`).
    Ok {
        name: BString,
        rewrites: Vec<RefRewrite>,
    },
    /// `ng <ref> <reason>`, e.g. `non-fast-forward`, `failed to lock`, `funny refname`.
    Rejected { name: BString, reason: String },
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `Ok(())` for `unpack ok`, `Err(message)` for `unpack <message>`.
    pub unpack: Result<(), String>,
    /// One status per command, in command order.
    pub commands: Vec<CommandStatus>,
}

/// Write the report as plain pkt-lines, closing flush included.
pub fn encode_report(
    out: &mut impl BufMut,
    report: &Report,
    version: ReportStatusVersion,
) -> Result<(), EncodeError> {
    let unpack = match &report.unpack {
        Ok(()) => "ok".to_owned(),
        Err(message) => one_line(message),
    };
    encode::parts(out, &[b"unpack ", unpack.as_bytes(), b"\n"])?;
    for status in &report.commands {
        match status {
            CommandStatus::Rejected { name, reason } => {
                let reason = one_line(reason);
                encode::parts(out, &[b"ng ", name, b" ", reason.as_bytes(), b"\n"])?;
            }
            CommandStatus::Ok { name, rewrites } => {
                encode::parts(out, &[b"ok ", name, b"\n"])?;
                if version == ReportStatusVersion::V2 {
                    for (index, rewrite) in rewrites.iter().enumerate() {
                        if index > 0 {
                            encode::parts(out, &[b"ok ", name, b"\n"])?;
                        }
                        encode_rewrite(out, rewrite)?;
                    }
                }
            }
        }
    }
    encode::flush(out);
    Ok(())
}

/// Write the report inside band 1 of `side-band-64k`, then the flush that ends the session — the
/// bytes C git sends when the client chose side-band-64k.
pub fn encode_report_sideband(
    out: &mut impl BufMut,
    report: &Report,
    version: ReportStatusVersion,
) -> Result<(), EncodeError> {
    let mut inner = Vec::new();
    encode_report(&mut inner, report, version)?;
    sideband::encode(out, Band::Data, &inner, SidebandMode::SideBand64k);
    encode::flush(out);
    Ok(())
}

fn encode_rewrite(out: &mut impl BufMut, rewrite: &RefRewrite) -> Result<(), EncodeError> {
    if let Some(refname) = &rewrite.refname {
        encode::parts(out, &[b"option refname ", refname, b"\n"])?;
    }
    if let Some(id) = &rewrite.old_id {
        encode::parts(out, &[b"option old-oid ", Hex::new(id).as_bytes(), b"\n"])?;
    }
    if let Some(id) = &rewrite.new_id {
        encode::parts(out, &[b"option new-oid ", Hex::new(id).as_bytes(), b"\n"])?;
    }
    if rewrite.forced_update {
        encode::text(out, b"option forced-update")?;
    }
    Ok(())
}

/// Messages go on one line: newlines would end the pkt-line's text early for the client.
fn one_line(message: &str) -> String {
    message.replace(['\n', '\r'], " ")
}
