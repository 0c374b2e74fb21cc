//! What ends a session early, and what the client is told about it.
//!
//! Every failure a session meets is one [`SessionError`] variant with its context. The transport
//! turns it into git's `ERR <message>` packet (C git prints `fatal: remote error: <message>`)
//! when the client can still read one: [`SessionError::client_message`] is that message, and
//! is `None` when the connection itself is gone.

use swiftgit_protocol::advertisement::AdvertisementError;
use swiftgit_protocol::pkt_line::encode::EncodeError;
use swiftgit_protocol::receive_pack::PushRequestError;
use swiftgit_protocol::v2::CommandError;
use swiftgit_repo::odb::OdbError;

use super::pkt_io::{MessageError, PktIoError};
use super::upload_pack::UploadPackError;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading from the client failed: it closed the connection, went silent, or sent bytes
    /// that are not pkt-lines.
    #[error(transparent)]
    Read(#[from] PktIoError),
    /// Writing to the client failed (it went away).
    #[error("cannot write to the client: {0}")]
    Write(#[source] std::io::Error),
    /// A push request that breaks the protocol.
    #[error(transparent)]
    PushRequest(#[from] PushRequestError),
    /// A protocol v2 command request that breaks the protocol.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A ref list that cannot be encoded (a ref name too long for one packet).
    #[error("cannot list the refs of {repo}: {source}")]
    Advertise {
        repo: String,
        #[source]
        source: AdvertisementError,
    },
    /// A response line that cannot be encoded.
    #[error("cannot encode the response: {0}")]
    Encode(#[from] EncodeError),
    /// Reading objects failed (storage trouble or a corrupt stored pack).
    #[error("repository {repo}: {source}")]
    Objects {
        repo: String,
        #[source]
        source: OdbError,
    },
    /// Refreshing the repository failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A request this server recognises but does not serve.
    #[error("{0}")]
    Unsupported(String),
    /// A fetch failed (see [`UploadPackError`]).
    #[error(transparent)]
    UploadPack(#[from] UploadPackError),
}

impl<E: Into<SessionError>> From<MessageError<E>> for SessionError {
    fn from(error: MessageError<E>) -> Self {
        match error {
            MessageError::Io(error) => SessionError::Read(error),
            MessageError::Parse(error) => error.into(),
        }
    }
}

impl SessionError {
    /// The `ERR` message for the client, or `None` when it cannot be reached (it closed the
    /// connection, or writing to it failed already).
    pub fn client_message(&self) -> Option<String> {
        match self {
            SessionError::Read(PktIoError::Closed { .. } | PktIoError::Io(_))
            | SessionError::Write(_) => None,
            SessionError::UploadPack(error) => error.client_message(),
            other => Some(other.to_string()),
        }
    }

    /// A short word for the request log: `closed`, `idle`, `protocol`, `storage`, ….
    pub fn log_label(&self) -> &'static str {
        match self {
            SessionError::Read(PktIoError::Closed { .. }) => "closed",
            SessionError::Read(PktIoError::Idle(_)) => "idle",
            SessionError::Read(PktIoError::Io(_)) | SessionError::Write(_) => "io",
            SessionError::Read(PktIoError::Malformed(_) | PktIoError::TooLarge { .. })
            | SessionError::PushRequest(_)
            | SessionError::Command(_) => "protocol",
            SessionError::Advertise { .. } | SessionError::Encode(_) => "encode",
            SessionError::Objects { .. } | SessionError::Registry(_) => "storage",
            SessionError::Unsupported(_) => "unsupported",
            SessionError::UploadPack(error) => error.log_label(),
        }
    }
}

/// `error`'s message followed by those of its sources (`a: b: c`), skipping a source whose
/// message the previous one already ends with.
pub fn message_with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
