//! upload-pack: everything a fetch, clone or ls-remote needs once the transport knows the
//! repository — in protocol v0/v1 ([`serve_v0`]) and v2 ([`serve_v2`]).
//!
//! A fetch goes through the same stages in every version:
//!
//! 1. refs: the v0/v1 advertisement or v2's `ls-refs` (built by [`crate::session::advertise`]);
//! 2. the request: wants, checked by [`wants`] (a missing or forbidden object is C git's
//!    `not our ref`), and shallow/deepen lines, turned into a shallow plan by
//!    [`crate::walk::shallow`];
//! 3. negotiation ([`negotiation`]): haves acknowledged the way C git does, until the client
//!    says `done` or the server is ready;
//! 4. the pack (`response.rs`): the object walk ([`crate::walk`]) with progress on band 2, then
//!    the pack streamed from the stored entries ([`crate::pack`]) on band 1.
//!
//! `v0.rs` and `v2.rs` hold the version-specific message flow. Over stateless transports (smart
//! HTTP) pass `advertise = false`: the session then reads one request, answers it and returns.

mod error;
pub mod negotiation;
mod response;
mod v0;
mod v2;
pub mod wants;

use std::sync::Arc;
use std::time::Duration;

use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::capabilities::UploadPackFeatures;
use swiftgit_protocol::v2::V2Features;
use tokio::io::{AsyncRead, AsyncWrite};

pub use error::UploadPackError;

use super::error::SessionError;
use super::pkt_io::{PktSink, PktStream};
use crate::pack::PackOptions;
use crate::registry::RepoHandle;

/// How upload-pack behaves: what it offers, and its limits.
#[derive(Debug, Clone)]
pub struct UploadPackOptions {
    /// What v0/v1 advertise. By default everything C git can offer, including
    /// `allow-tip-sha1-in-want` and `allow-reachable-sha1-in-want` so that a partial clone's
    /// lazy fetch of a blob by id works in v0 too (v2 always allows it, as C git does).
    /// "Reachable" is not checked: any object the repository stores may be fetched by id.
    pub features: UploadPackFeatures,
    /// What v2 advertises.
    pub v2: V2Features,
    /// How packs are read and written.
    pub pack: PackOptions,
    /// Longest request message (want list, have round, v2 command) read, in bytes.
    pub max_request_bytes: usize,
    /// How often progress is reported while objects are counted.
    pub progress_interval: Duration,
    /// With `no-progress`, how often an empty packet keeps the connection alive while objects
    /// are counted.
    pub keepalive: Duration,
}

impl Default for UploadPackOptions {
    fn default() -> Self {
        UploadPackOptions {
            features: UploadPackFeatures {
                allow_tip_sha1_in_want: true,
                allow_reachable_sha1_in_want: true,
                ..UploadPackFeatures::default()
            },
            v2: V2Features::default(),
            pack: PackOptions::default(),
            max_request_bytes: 8 << 20,
            progress_interval: Duration::from_secs(1),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// What a session did, for the request log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadOutcome {
    /// Packs sent.
    pub packs: u32,
    /// Objects in them.
    pub objects: u64,
    /// Their bytes.
    pub pack_bytes: u64,
    /// v2 commands served (`ls-refs`, `fetch`).
    pub commands: u32,
    /// The last v2 command served (`ls-refs` or `fetch`): over smart HTTP, the only one.
    pub last_command: Option<&'static str>,
}

impl std::fmt::Display for UploadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.packs == 0 {
            return write!(f, "no pack sent");
        }
        write!(
            f,
            "{} pack(s), {} object(s), {} bytes",
            self.packs, self.objects, self.pack_bytes
        )
    }
}

/// Serves upload-pack in protocol v0 or v1: the ref advertisement (unless `advertise` is false,
/// as for a smart HTTP POST), then the want list, negotiation and the pack.
pub async fn serve_v0<R, W>(
    handle: Arc<RepoHandle>,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    options: &UploadPackOptions,
    version: ProtocolVersion,
    advertise: bool,
) -> Result<UploadOutcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    v0::serve(&handle, input, output, options, version, advertise).await
}

/// Serves upload-pack in protocol v2: the capability advertisement (unless `advertise` is
/// false), then `ls-refs` and `fetch` commands until the client ends the session — or, when
/// `advertise` is false (smart HTTP), exactly one command.
pub async fn serve_v2<R, W>(
    handle: Arc<RepoHandle>,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    options: &UploadPackOptions,
    advertise: bool,
) -> Result<UploadOutcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    v2::serve(&handle, input, output, options, advertise).await
}
