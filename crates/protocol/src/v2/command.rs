//! A v2 command request: `command=<name>`, capability lines, delim, arguments, flush.
//!
//! As C git's `serve.c`: a bare flush ends the session; a flush right after the capability lines
//! means "no arguments"; an unknown capability, a second `command=`, or a capability the server
//! did not advertise is an error. Git 2.47 sends `command=ls-refs\n` but `command=fetch` and its
//! capability lines without `\n`; both forms are read alike.

use bstr::BString;

use super::capabilities::V2Features;
use super::fetch::{FetchError, FetchRequest};
use super::ls_refs::{LsRefsError, LsRefsRequest};
use crate::capabilities::value_text;
use crate::escaped::EscapedBytes;
use crate::object_id::OBJECT_FORMAT;
use crate::pkt_line::{Packet, PacketCursor, Parsed, PktLineError, next_packet};

/// The commands this server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ls-refs`.
    LsRefs(LsRefsRequest),
    /// `fetch`.
    Fetch(FetchRequest),
}

/// Capabilities the client sent with its command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientCapabilities {
    /// `agent=`.
    pub agent: Option<String>,
    /// `session-id=`.
    pub session_id: Option<String>,
    /// `server-option=` values in the order sent.
    pub server_options: Vec<BString>,
}

/// One command with its capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The command and its parsed arguments.
    pub command: Command,
    /// The client's capability lines.
    pub capabilities: ClientCapabilities,
}

/// What the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Request {
    /// A bare flush: the client is done; close the connection.
    EndOfSession,
    /// A command to run.
    Command(Box<CommandRequest>),
}

/// A command request that cannot be served. `offset` is the byte offset of the offending packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Bad framing.
    #[error("bad packet at byte {offset} of the request: {source}")]
    PktLine { offset: usize, source: PktLineError },
    /// A response-end packet, which only servers send.
    #[error("unexpected response-end packet at byte {offset} of the request")]
    UnexpectedResponseEnd { offset: usize },
    /// A second delim where the arguments should end with a flush.
    #[error("expected flush after the command arguments, got a delim packet at byte {offset}")]
    ExpectedFlush { offset: usize },
    /// A capability line that is neither a command nor a known capability.
    #[error("unknown capability '{line}'")]
    UnknownCapability { line: EscapedBytes },
    /// A command this server does not run (only ls-refs and fetch).
    #[error("invalid command '{command}'")]
    UnknownCommand { command: EscapedBytes },
    /// A second `command=` line.
    #[error("command '{second}' requested after already requesting command '{first}'")]
    SecondCommand {
        first: EscapedBytes,
        second: EscapedBytes,
    },
    /// Capabilities but no command.
    #[error("no command requested")]
    NoCommand,
    /// A known capability the server did not advertise.
    #[error("client sent capability '{capability}', which this server did not advertise")]
    NotAdvertised { capability: &'static str },
    /// A hash other than SHA-1.
    #[error("mismatched object format: server {OBJECT_FORMAT}; client {format}")]
    UnsupportedObjectFormat { format: EscapedBytes },
    /// Bad `ls-refs` arguments.
    #[error(transparent)]
    LsRefs(#[from] LsRefsError),
    /// Bad `fetch` arguments.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Parse one command request at the front of `buf`, up to and including its flush.
pub fn parse_command_request(
    buf: &[u8],
    features: &V2Features,
) -> Result<Parsed<V2Request>, CommandError> {
    let pkt_error = |source, offset| CommandError::PktLine { offset, source };
    let mut cursor = PacketCursor::new(buf);
    let mut command: Option<&[u8]> = None;
    let mut capabilities = ClientCapabilities::default();
    let mut saw_capability = false;
    let has_arguments = loop {
        let (packet, offset) = next_packet!(cursor, pkt_error);
        let line = match packet {
            Packet::Flush => break false,
            Packet::Delim => break true,
            Packet::ResponseEnd => return Err(CommandError::UnexpectedResponseEnd { offset }),
            Packet::Data(_) => packet.as_text().expect("holds for data packets"),
        };
        saw_capability = true;
        if let Some(name) = line.strip_prefix(b"command=") {
            if let Some(first) = command {
                return Err(CommandError::SecondCommand {
                    first: EscapedBytes::new(first),
                    second: EscapedBytes::new(name),
                });
            }
            command = Some(name);
        } else {
            read_capability(line, features, &mut capabilities)?;
        }
    };
    let Some(command) = command else {
        if saw_capability {
            return Err(CommandError::NoCommand);
        }
        return Ok(Parsed::Complete {
            value: V2Request::EndOfSession,
            consumed: cursor.position(),
        });
    };
    let mut arguments = Vec::new();
    if has_arguments {
        loop {
            let (packet, offset) = next_packet!(cursor, pkt_error);
            match packet {
                Packet::Flush => break,
                Packet::Data(_) => {
                    arguments.push(packet.as_text().expect("holds for data packets"));
                }
                Packet::Delim => return Err(CommandError::ExpectedFlush { offset }),
                Packet::ResponseEnd => {
                    return Err(CommandError::UnexpectedResponseEnd { offset });
                }
            }
        }
    }
    let command = match command {
        b"ls-refs" => Command::LsRefs(LsRefsRequest::parse(&arguments, features)?),
        b"fetch" => Command::Fetch(FetchRequest::parse(&arguments, features)?),
        other => {
            return Err(CommandError::UnknownCommand {
                command: EscapedBytes::new(other),
            });
        }
    };
    Ok(Parsed::Complete {
        value: V2Request::Command(Box::new(CommandRequest {
            command,
            capabilities,
        })),
        consumed: cursor.position(),
    })
}

fn read_capability(
    line: &[u8],
    features: &V2Features,
    capabilities: &mut ClientCapabilities,
) -> Result<(), CommandError> {
    let (key, value) = match line.iter().position(|&byte| byte == b'=') {
        Some(eq) => (&line[..eq], Some(&line[eq + 1..])),
        None => (line, None),
    };
    match (key, value) {
        (b"agent", Some(value)) => capabilities.agent = Some(value_text(value)),
        (b"session-id", Some(value)) => capabilities.session_id = Some(value_text(value)),
        (b"object-format", Some(value)) => {
            if value != OBJECT_FORMAT.as_bytes() {
                return Err(CommandError::UnsupportedObjectFormat {
                    format: EscapedBytes::new(value),
                });
            }
        }
        (b"server-option", Some(value)) => {
            if !features.server_option {
                return Err(CommandError::NotAdvertised {
                    capability: "server-option",
                });
            }
            capabilities.server_options.push(value.into());
        }
        _ => {
            return Err(CommandError::UnknownCapability {
                line: EscapedBytes::new(line),
            });
        }
    }
    Ok(())
}
