//! receive-pack: a `git push` session (protocol v0 and v1; a client asking for v2 is answered
//! in v0, as C git does).
//!
//! 1. Advertise the refs (sorted, no HEAD; `capabilities^{}` for an empty repository).
//! 2. Read the commands (and push options, which are logged and otherwise ignored).
//! 3. Unless every command deletes, ingest the pack ([`ObjectDb::ingest`]): it is read to its
//!    end, verified, indexed on the blocking pool and stored under its content name, with
//!    `Indexing objects` progress on side-band unless the client asked for `quiet`. A pack that
//!    fails (corrupt, truncated, the client went away) is reported as `unpack <error>` and
//!    nothing changes.
//! 4. Check every command (`checks`): ref name, policy, complete history.
//! 5. Commit through the ref log (`apply`), all or nothing with `atomic`, per ref otherwise. The
//!    pack becomes live in the same log entry as the first ref that uses it.
//! 6. Report (`report-status` or `report-status-v2`, inside side-band when negotiated), with
//!    git's `error: …` lines on band 2.
//!
//! Atomicity: nothing a client can see changes before step 5, and step 5 is one log entry per
//! transaction, so a client that disconnects at any earlier point (or a server that stops)
//! leaves the repository as it was; at worst an unreferenced pack stays in storage.

mod ancestry;
mod apply;
mod checks;
mod progress;

pub use checks::PushPolicy;

use std::sync::Arc;
use std::time::Duration;

use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::advertisement::RefAdvertisement;
use swiftgit_protocol::capabilities::ReceivePackFeatures;
use swiftgit_protocol::pkt_line::encode;
use swiftgit_protocol::receive_pack::{
    CommandStatus, PushRequest, ReceiveRequest, Report, encode_report, encode_report_sideband,
    parse_push_request,
};
use swiftgit_repo::odb::{IngestLimits, IngestedPack};
use swiftgit_repo::refs::RepoState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::advertise;
use super::error::{SessionError, message_with_sources};
use super::pkt_io::{IdleTimeoutReader, PktSink, PktStream};
use crate::registry::RepoHandle;
use apply::Outcome;
use checks::{CheckContext, Decision};
use progress::IngestCounters;

/// How receive-pack behaves.
#[derive(Debug, Clone)]
pub struct ReceivePackOptions {
    /// The capabilities offered (all but `push-options` by default, as C git).
    pub features: ReceivePackFeatures,
    /// What is refused whatever the client asks.
    pub policy: PushPolicy,
    /// Bounds on the pushed pack.
    pub limits: IngestLimits,
    /// Longest command list (with push options) accepted, in bytes.
    pub max_request_bytes: usize,
    /// How often progress lines are sent while the pack is indexed.
    pub progress_interval: Duration,
}

impl Default for ReceivePackOptions {
    fn default() -> Self {
        ReceivePackOptions {
            features: ReceivePackFeatures {
                push_options: true,
                ..ReceivePackFeatures::default()
            },
            policy: PushPolicy::default(),
            limits: IngestLimits::default(),
            max_request_bytes: 16 << 20,
            progress_interval: Duration::from_millis(500),
        }
    }
}

/// What a push did, for the request log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Commands received.
    pub commands: usize,
    /// Commands whose ref moved.
    pub updated: usize,
    /// Objects in the pushed pack.
    pub objects: usize,
    /// The unpack error, if the pack was refused.
    pub unpack_error: Option<String>,
}

/// Serves one push on `input`/`output` against `handle` (whose state the caller refreshed).
/// With `advertise` false (a smart HTTP POST: the client read the refs in an earlier request)
/// the session starts at the commands. Errors are returned before anything was committed, except write errors after step 5 (the
/// push happened; the client did not hear about it).
pub async fn serve<R, W>(
    handle: &RepoHandle,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    version: ProtocolVersion,
    options: &ReceivePackOptions,
    advertise: bool,
) -> Result<PushSummary, SessionError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let state = handle.repo.state();
    if advertise {
        advertise_refs(handle, &state, output, version, options).await?;
    }

    let request = input
        .read_message(options.max_request_bytes, |buf| {
            parse_push_request(buf, &options.features)
        })
        .await?;
    let request = match request {
        ReceiveRequest::Empty => return Ok(PushSummary::default()),
        ReceiveRequest::Push(request) => request,
    };
    if !request.push_options.is_empty() {
        let push_options: Vec<String> = request
            .push_options
            .iter()
            .map(|option| option.to_string())
            .collect();
        tracing::info!(repo = %handle.repo.name(), ?push_options, "push options (ignored)");
    }
    let mut summary = PushSummary {
        commands: request.commands.len(),
        ..PushSummary::default()
    };

    // The checks that do not depend on the commands (this process may write: the writer
    // lease without a coordinator) run while the pack arrives; the commit then skips them.
    let prepare = async {
        if let Err(error) = handle.repo.prepare_commit().await {
            tracing::debug!(repo = %handle.repo.name(), %error, "not ready to commit (the commit says why)");
        }
    };
    let (received, ()) = tokio::join!(
        async {
            if request.expects_pack() {
                Some(receive_pack(handle, &state, input, output, &request, options).await)
            } else {
                None
            }
        },
        prepare
    );
    let pack = if let Some(received) = received {
        match received {
            Ok(pack) => Some(pack),
            Err(error) => {
                let message = message_with_sources(&error);
                tracing::info!(repo = %handle.repo.name(), %message, "pushed pack refused");
                let outcomes =
                    vec![Outcome::Rejected("unpacker error".into()); request.commands.len()];
                let messages = vec![format!("error: unpack failed: {message}")];
                summary.unpack_error = Some(message.clone());
                send_report(output, &request, Err(message), &outcomes, &messages).await?;
                return Ok(summary);
            }
        }
    } else {
        None
    };
    summary.objects = pack.as_ref().map_or(0, IngestedPack::object_count);

    // Loaded while the pack was read (the indexes have been loading since the advertisement).
    let odb = handle.objects(&state).await?;

    let context = CheckContext {
        state: &state,
        odb,
        pack: pack.as_ref(),
        shallow: !request.shallows.is_empty(),
        policy: &options.policy,
    };
    let (decisions, mut messages) = checks::check_commands(&request.commands, &context).await;
    let committable = pack
        .as_ref()
        .filter(|pack| checks::pack_is_committable(pack));
    if pack.as_ref().and_then(IngestedPack::pack_id).is_some() && committable.is_none() {
        tracing::info!(repo = %handle.repo.name(), "pushed pack is incomplete; not committed");
    }
    let accepted = decisions
        .iter()
        .filter(|decision| matches!(decision, Decision::Accept(_)))
        .count();
    let peeled = checks::peel_accepted(&decisions, &context).await;
    let applied = apply::apply(
        &handle.repo,
        decisions,
        &peeled,
        committable.and_then(IngestedPack::pack_id),
        request.capabilities.atomic,
        &mut messages,
    )
    .await;
    if applied.pack_committed
        && let Some(pack) = committable
    {
        handle.add_ingested(pack);
    }
    summary.updated = applied
        .outcomes
        .iter()
        .filter(|outcome| **outcome == Outcome::Updated)
        .count();
    tracing::debug!(accepted, updated = summary.updated, "push applied");
    if summary.updated > 0 {
        handle.pushed();
    }
    send_report(output, &request, Ok(()), &applied.outcomes, &messages).await?;
    Ok(summary)
}

/// Sends receive-pack's ref advertisement (what a smart HTTP `info/refs` GET answers, and what a
/// git:// session starts with).
pub async fn advertise_refs<W: AsyncWrite + Unpin>(
    handle: &RepoHandle,
    state: &RepoState,
    output: &mut PktSink<W>,
    version: ProtocolVersion,
    options: &ReceivePackOptions,
) -> Result<(), SessionError> {
    let capabilities = options.features.advertise();
    RefAdvertisement {
        version: match version {
            ProtocolVersion::V1 => ProtocolVersion::V1,
            _ => ProtocolVersion::V0,
        },
        refs: &advertise::receive_pack_refs(state),
        capabilities: &capabilities,
        shallow: &[],
    }
    .encode(&mut output.buf)
    .map_err(|source| SessionError::Advertise {
        repo: handle.repo.name().to_string(),
        source,
    })?;
    output.flush().await.map_err(SessionError::Write)?;
    Ok(())
}

/// Reads and ingests the pack that follows the commands, with progress when wanted.
async fn receive_pack<R, W>(
    handle: &RepoHandle,
    state: &RepoState,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    request: &PushRequest,
    options: &ReceivePackOptions,
) -> Result<IngestedPack, swiftgit_repo::odb::OdbError>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let buffered = input.take_buffered();
    let idle_timeout = input.idle_timeout();
    let stream = IdleTimeoutReader::new(input.reader_mut(), idle_timeout);
    let pack_stream = std::io::Cursor::new(buffered).chain(stream);
    let counters = Arc::new(IngestCounters::default());
    let ingest = handle.ingest(state, pack_stream, &options.limits, counters.clone());
    let show_progress = request.capabilities.side_band_64k && !request.capabilities.quiet;
    if show_progress {
        progress::with_progress(ingest, &counters, output, options.progress_interval).await
    } else {
        ingest.await
    }
}

/// Sends the report the client asked for (none, plain, or inside side-band), with `messages`
/// on band 2 first when side-band is on.
async fn send_report<W: AsyncWrite + Unpin>(
    output: &mut PktSink<W>,
    request: &PushRequest,
    unpack: Result<(), String>,
    outcomes: &[Outcome],
    messages: &[String],
) -> Result<(), SessionError> {
    let sideband = request.capabilities.side_band_64k;
    if sideband {
        for message in messages {
            progress::encode_progress(&mut output.buf, &format!("{message}\n"));
        }
    }
    let report = Report {
        unpack,
        commands: request
            .commands
            .iter()
            .zip(outcomes)
            .map(|(command, outcome)| match outcome {
                Outcome::Updated => CommandStatus::Ok {
                    name: command.name.clone(),
                    rewrites: Vec::new(),
                },
                Outcome::Rejected(reason) => CommandStatus::Rejected {
                    name: command.name.clone(),
                    reason: reason.clone(),
                },
            })
            .collect(),
    };
    match (request.capabilities.report_status, sideband) {
        (Some(version), true) => encode_report_sideband(&mut output.buf, &report, version)?,
        (Some(version), false) => encode_report(&mut output.buf, &report, version)?,
        (None, true) => encode::flush(&mut output.buf),
        (None, false) => {}
    }
    output.flush().await.map_err(SessionError::Write)
}
