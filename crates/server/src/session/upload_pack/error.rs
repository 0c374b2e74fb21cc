//! What ends an upload-pack session early, beyond what every session can meet (those are
//! [`SessionError`](crate::session::error::SessionError)'s own variants).

use gix_hash::ObjectId;
use swiftgit_protocol::upload_pack::{NegotiationError, UploadRequestError};

use crate::pack::PackError;
use crate::walk::WalkError;

#[derive(Debug, thiserror::Error)]
pub enum UploadPackError {
    /// A v0/v1 want list that breaks the protocol or asks for what was not advertised.
    #[error(transparent)]
    WantList(#[from] UploadRequestError),
    /// A v0/v1 have round that breaks the protocol.
    #[error(transparent)]
    Haves(#[from] NegotiationError),
    /// A want of an object this repository lacks or does not let the client ask for (C git's
    /// wording: the client prints `fatal: remote error: upload-pack: not our ref <id>`).
    #[error("upload-pack: not our ref {id}")]
    NotOurRef { id: ObjectId },
    /// A `want-ref` naming no ref.
    #[error("upload-pack: unknown ref {name}")]
    UnknownWantRef { name: String },
    /// A `deepen-not` naming no ref.
    #[error("upload-pack: deepen-not names no ref: {name}")]
    DeepenNot { name: String },
    /// The object walk failed (storage trouble, a corrupt repository, an unsupported filter).
    #[error("upload-pack: {0}")]
    Walk(#[from] WalkError),
    /// Writing the pack failed.
    #[error("upload-pack: {0}")]
    Pack(#[from] PackError),
    /// An error already sent to the client on side-band band 3.
    #[error("{0} (sent to the client)")]
    Reported(Box<UploadPackError>),
}

impl UploadPackError {
    /// The `ERR` message for the client; `None` when the connection is gone or the client was
    /// told already.
    pub fn client_message(&self) -> Option<String> {
        match self {
            UploadPackError::Pack(PackError::Io(_)) | UploadPackError::Reported(_) => None,
            other => Some(other.to_string()),
        }
    }

    /// A short word for the request log.
    pub fn log_label(&self) -> &'static str {
        match self {
            UploadPackError::WantList(_) | UploadPackError::Haves(_) => "protocol",
            UploadPackError::NotOurRef { .. }
            | UploadPackError::UnknownWantRef { .. }
            | UploadPackError::DeepenNot { .. } => "refused",
            UploadPackError::Walk(WalkError::UnsupportedFilter { .. }) => "unsupported",
            UploadPackError::Walk(WalkError::NoShallowCommits) => "refused",
            UploadPackError::Walk(_) => "storage",
            UploadPackError::Pack(PackError::Io(_)) => "io",
            UploadPackError::Pack(_) => "storage",
            UploadPackError::Reported(inner) => inner.log_label(),
        }
    }
}
