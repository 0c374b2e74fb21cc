//! A git:// connection's first packet, turned into what to serve — or into the error the client
//! reads as `fatal: remote error: <message>`.

use swiftgit_protocol::daemon_request::{self, DaemonRequestError, Service};
use swiftgit_protocol::{EscapedBytes, ProtocolVersion};
use swiftgit_repo::{RepoName, RepoNameError};
use tokio::io::AsyncRead;

use crate::registry::RegistryError;
use crate::session::error::SessionError;
use crate::session::pkt_io::{OwnedPacket, PktIoError, PktStream};

/// What a connection asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: Service,
    pub repo: RepoName,
    /// The version the client asked for (receive-pack answers v2 in v0).
    pub version: ProtocolVersion,
}

/// Why a connection was not served (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The first packet could not be read: silence, a closed connection, bytes that are not
    /// pkt-lines (an HTTP request, a packet longer than 65520 bytes).
    #[error(transparent)]
    Read(#[from] PktIoError),
    /// The first packet is a flush or delimiter instead of a request.
    #[error("expected a request such as 'git-upload-pack /repo', got a {0} packet")]
    NotARequest(&'static str),
    #[error(transparent)]
    Request(#[from] DaemonRequestError),
    #[error("repository path {0} is not valid UTF-8")]
    PathNotUtf8(EscapedBytes),
    #[error(transparent)]
    Name(#[from] RepoNameError),
    #[error("this server is read-only: pushes are refused ({0} is not served)")]
    ReadOnly(&'static str),
    #[error("repository '{0}' not found")]
    NotFound(RepoName),
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Session(Box<SessionError>),
}

impl From<SessionError> for DaemonError {
    fn from(error: SessionError) -> Self {
        DaemonError::Session(Box::new(error))
    }
}

impl DaemonError {
    /// The `ERR` message for the client, `None` when it cannot be reached.
    pub fn client_message(&self) -> Option<String> {
        match self {
            DaemonError::Read(PktIoError::Closed { .. } | PktIoError::Io(_)) => None,
            DaemonError::Session(error) => error.client_message(),
            other => Some(other.to_string()),
        }
    }

    /// A short word for the request log.
    pub fn log_label(&self) -> &'static str {
        match self {
            DaemonError::Read(PktIoError::Closed { .. }) => "closed",
            DaemonError::Read(PktIoError::Idle(_)) => "idle",
            DaemonError::Read(PktIoError::Io(_)) => "io",
            DaemonError::Read(_) | DaemonError::NotARequest(_) | DaemonError::Request(_) => {
                "bad-request"
            }
            DaemonError::PathNotUtf8(_) | DaemonError::Name(_) => "bad-path",
            DaemonError::ReadOnly(_) => "read-only",
            DaemonError::NotFound(_) => "not-found",
            DaemonError::Registry(_) => "storage",
            DaemonError::Session(error) => error.log_label(),
        }
    }
}

impl From<RegistryError> for DaemonError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Repo(swiftgit_repo::RepoError::NotFound { repo, .. }) => {
                match RepoName::new(&repo) {
                    Ok(name) => DaemonError::NotFound(name),
                    Err(e) => DaemonError::Name(e),
                }
            }
            other => DaemonError::Registry(Box::new(other)),
        }
    }
}

/// Reads the first packet (within the stream's idle timeout) and maps it to a [`Target`].
/// `Ok(None)` when the client closed the connection without sending anything.
pub async fn read_target<R: AsyncRead + Unpin>(
    input: &mut PktStream<R>,
) -> Result<Option<Target>, DaemonError> {
    let payload = match input.next().await? {
        None => return Ok(None),
        Some(OwnedPacket::Data(payload)) => payload,
        Some(OwnedPacket::Flush) => return Err(DaemonError::NotARequest("flush")),
        Some(OwnedPacket::Delim) => return Err(DaemonError::NotARequest("delim")),
        Some(OwnedPacket::ResponseEnd) => return Err(DaemonError::NotARequest("response-end")),
    };
    parse_target(&payload).map(Some)
}

/// The [`Target`] of a first packet's payload.
pub fn parse_target(payload: &[u8]) -> Result<Target, DaemonError> {
    let request = daemon_request::parse(payload)?;
    let path = std::str::from_utf8(&request.path)
        .map_err(|_| DaemonError::PathNotUtf8(EscapedBytes::new(&request.path)))?;
    Ok(Target {
        service: request.service,
        repo: RepoName::from_url_path(path)?,
        version: request.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> String {
        parse_target(payload).unwrap_err().to_string()
    }

    #[test]
    fn requests_map_to_repositories() {
        let target = parse_target(b"git-upload-pack /edeploy.git\0host=h\0\0version=2\0").unwrap();
        assert_eq!(target.service, Service::UploadPack);
        assert_eq!(target.repo.as_str(), "edeploy");
        assert_eq!(target.version, ProtocolVersion::V2);
        let target = parse_target(b"git-receive-pack /edeploy\0host=h\0").unwrap();
        assert_eq!(target.service, Service::ReceivePack);
        assert_eq!(target.version, ProtocolVersion::V0);
    }

    #[test]
    fn bad_paths_are_refused_with_a_reason() {
        assert_eq!(
            message(b"git-upload-pack /..\0"),
            "invalid repository name \"/..\": '.' and '..' are not repository names"
        );
        assert_eq!(
            message(b"git-upload-pack /a/../b\0"),
            "invalid repository name \"/a/../b\": it contains '/' (repositories are not nested)"
        );
        assert_eq!(
            message(b"git-upload-pack /\0"),
            "invalid repository name \"/\": it is empty"
        );
        assert!(message(b"git-upload-pack \0").contains("names no repository path"));
        assert_eq!(
            message(b"git-upload-pack /\xff\0"),
            "repository path /\\xff is not valid UTF-8"
        );
        assert!(message(b"git-frobnicate /x\0").starts_with("unknown service"));
    }
}
