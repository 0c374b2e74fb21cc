//! The push request: shallow lines, ref update commands (capabilities after a NUL on the first),
//! a flush, push options and their flush when negotiated; the pack follows.
//!
//! Git 2.47 sends command lines and push options without `\n`, and puts a space right after the
//! NUL (`\0 report-status-v2 …`). A signed push (`push-cert`) is refused: this server never
//! advertises `push-cert`.

use bstr::BString;
use gix_hash::ObjectId;

use crate::capabilities::{
    CapabilityError, CapabilityList, ReceivePackClientCaps, ReceivePackFeatures,
};
use crate::escaped::EscapedBytes;
use crate::object_id;
use crate::pkt_line::{Packet, PacketCursor, Parsed, PktLineError, next_packet};

/// One `<old> <new> <ref>` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The value the client saw; zero when creating.
    pub old_id: ObjectId,
    /// The value to set; zero when deleting.
    pub new_id: ObjectId,
    /// The ref, as sent (check it with `ref_name::check_pushed`).
    pub name: BString,
}

/// What a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// Old id is zero.
    Create,
    /// New id is zero.
    Delete,
    /// Neither is zero.
    Update,
}

impl RefUpdate {
    /// Create, delete or update (a command with both ids zero counts as a delete).
    pub fn kind(&self) -> UpdateKind {
        if self.new_id.is_null() {
            UpdateKind::Delete
        } else if self.old_id.is_null() {
            UpdateKind::Create
        } else {
            UpdateKind::Update
        }
    }
}

/// A parsed push request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The commands in the order sent.
    pub commands: Vec<RefUpdate>,
    /// What the client chose from the advertised capabilities.
    pub capabilities: ReceivePackClientCaps,
    /// `shallow <id>` lines: the client's shallow boundary.
    pub shallows: Vec<ObjectId>,
    /// Push options (only with the `push-options` capability).
    pub push_options: Vec<BString>,
}

impl PushRequest {
    /// Whether a pack follows: yes unless every command is a delete (the client then sends none).
    pub fn expects_pack(&self) -> bool {
        self.commands
            .iter()
            .any(|command| command.kind() != UpdateKind::Delete)
    }
}

/// What the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveRequest {
    /// A bare flush (optionally after shallow lines): nothing to update; the client hangs up.
    Empty,
    /// Commands to run.
    Push(PushRequest),
}

/// A push request that cannot be served. `offset` is the byte offset of the offending packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushRequestError {
    /// Bad framing.
    #[error("bad packet at byte {offset} of the push commands: {source}")]
    PktLine { offset: usize, source: PktLineError },
    /// A delim or response-end packet.
    #[error("unexpected {packet} packet at byte {offset} of the push commands")]
    UnexpectedSpecialPacket { offset: usize, packet: &'static str },
    /// Not `<old> <new> <ref>`.
    #[error("protocol error at byte {offset}: expected old/new/ref, got '{line}'")]
    BadCommand { offset: usize, line: EscapedBytes },
    /// `shallow` without a valid id.
    #[error("protocol error at byte {offset}: expected shallow sha, got '{line}'")]
    BadShallow { offset: usize, line: EscapedBytes },
    /// Capabilities on a command other than the first.
    #[error("protocol error at byte {offset}: capabilities after the first command: '{line}'")]
    CapabilitiesAfterFirstCommand { offset: usize, line: EscapedBytes },
    /// A signed push.
    #[error("signed pushes (push-cert) are not supported by this server; push without --signed")]
    PushCertUnsupported { offset: usize },
    /// The capabilities on the first command cannot be honoured.
    #[error("{source}")]
    Capabilities {
        #[from]
        source: CapabilityError,
    },
}

/// Parse a push request at the front of `buf`. On success `consumed` is where the pack starts
/// (when [`PushRequest::expects_pack`]); nothing after the last flush is looked at.
pub fn parse_push_request(
    buf: &[u8],
    features: &ReceivePackFeatures,
) -> Result<Parsed<ReceiveRequest>, PushRequestError> {
    let pkt_error = |source, offset| PushRequestError::PktLine { offset, source };
    let mut cursor = PacketCursor::new(buf);
    let mut commands = Vec::new();
    let mut capabilities = None;
    let mut shallows = Vec::new();
    loop {
        let (packet, offset) = next_packet!(cursor, pkt_error);
        let line = match packet {
            Packet::Flush => break,
            Packet::Delim => return Err(special(offset, "delim")),
            Packet::ResponseEnd => return Err(special(offset, "response-end")),
            Packet::Data(_) => packet.as_text().expect("holds for data packets"),
        };
        if let Some(hex) = line.strip_prefix(b"shallow ") {
            let id = object_id::parse_hex(hex).ok_or_else(|| PushRequestError::BadShallow {
                offset,
                line: EscapedBytes::new(line),
            })?;
            shallows.push(id);
            continue;
        }
        let (command, list) = match line.iter().position(|&byte| byte == 0) {
            Some(nul) => (&line[..nul], Some(&line[nul + 1..])),
            None => (line, None),
        };
        if command == b"push-cert" {
            return Err(PushRequestError::PushCertUnsupported { offset });
        }
        match (commands.is_empty(), list) {
            (true, list) => {
                let list = CapabilityList::parse(list.unwrap_or_default());
                capabilities = Some(ReceivePackClientCaps::negotiate(&list, features)?);
            }
            (false, Some(_)) => {
                return Err(PushRequestError::CapabilitiesAfterFirstCommand {
                    offset,
                    line: EscapedBytes::new(line),
                });
            }
            (false, None) => {}
        }
        commands.push(
            parse_command(command).ok_or_else(|| PushRequestError::BadCommand {
                offset,
                line: EscapedBytes::new(line),
            })?,
        );
    }
    let Some(capabilities) = capabilities else {
        return Ok(Parsed::Complete {
            value: ReceiveRequest::Empty,
            consumed: cursor.position(),
        });
    };
    let mut push_options = Vec::new();
    if capabilities.push_options {
        loop {
            let (packet, offset) = next_packet!(cursor, pkt_error);
            match packet {
                Packet::Flush => break,
                Packet::Data(_) => {
                    push_options.push(packet.as_text().expect("holds for data packets").into());
                }
                Packet::Delim => return Err(special(offset, "delim")),
                Packet::ResponseEnd => return Err(special(offset, "response-end")),
            }
        }
    }
    Ok(Parsed::Complete {
        value: ReceiveRequest::Push(PushRequest {
            commands,
            capabilities,
            shallows,
            push_options,
        }),
        consumed: cursor.position(),
    })
}

/// `<40 hex> SP <40 hex> SP <name>` with a non-empty name.
fn parse_command(command: &[u8]) -> Option<RefUpdate> {
    let (old_id, rest) = object_id::split_leading(command)?;
    let rest = rest.strip_prefix(b" ")?;
    let (new_id, rest) = object_id::split_leading(rest)?;
    let name = rest.strip_prefix(b" ")?;
    if name.is_empty() {
        return None;
    }
    Some(RefUpdate {
        old_id,
        new_id,
        name: name.into(),
    })
}

fn special(offset: usize, packet: &'static str) -> PushRequestError {
    PushRequestError::UnexpectedSpecialPacket { offset, packet }
}
