//! upload-pack in protocol v2: the capability advertisement, then `ls-refs` and `fetch`
//! commands.
//!
//! A `fetch` is answered as C git's `upload_pack_v2` does: with `done` the pack follows at once;
//! with haves but no `done`, an acknowledgments section — followed by the pack when the server
//! is ready (never with `wait-for-done`), otherwise ending the response so that the client sends
//! more haves; with neither, the pack. Each request stands alone (the client repeats its common
//! haves), so the same code serves smart HTTP.

use swiftgit_protocol::pkt_line::encode;
use swiftgit_protocol::sideband::SidebandMode;
use swiftgit_protocol::v2::{
    self, Command, FetchRequest, LsRefsRequest, PackfilePreamble, ShallowInfo, V2Request,
    WantedRef, encode_acknowledgments_only, encode_capability_advertisement, parse_command_request,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::negotiation::{Have, Negotiation};
use super::response::{self, PackFormat};
use super::wants::{self, WantPolicy};
use super::{UploadOutcome, UploadPackError, UploadPackOptions};
use crate::registry::RepoHandle;
use crate::session::advertise;
use crate::session::error::SessionError;
use crate::session::pkt_io::{MessageError, PktIoError, PktSink, PktStream};
use crate::walk::{ShallowRequest, WalkRequest, shallow};

pub(super) async fn serve<R, W>(
    handle: &RepoHandle,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    options: &UploadPackOptions,
    advertise: bool,
) -> Result<UploadOutcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut outcome = UploadOutcome::default();
    if advertise {
        encode_capability_advertisement(&mut output.buf, &options.v2);
        output.flush().await.map_err(SessionError::Write)?;
    }
    loop {
        let request = match input
            .read_message(options.max_request_bytes, |buf| {
                parse_command_request(buf, &options.v2)
            })
            .await
        {
            Ok(request) => request,
            // git ls-remote hangs up right after its one command.
            Err(MessageError::Io(PktIoError::Closed { mid_packet: false })) => return Ok(outcome),
            Err(error) => return Err(error.into()),
        };
        let command = match request {
            V2Request::EndOfSession => return Ok(outcome),
            V2Request::Command(command) => command,
        };
        outcome.commands += 1;
        outcome.last_command = Some(match &command.command {
            Command::LsRefs(_) => "ls-refs",
            Command::Fetch(_) => "fetch",
        });
        match command.command {
            Command::LsRefs(request) => ls_refs(handle, &request, output).await?,
            Command::Fetch(request) => {
                fetch(handle, request, options, output, &mut outcome).await?
            }
        }
        if !advertise {
            return Ok(outcome);
        }
    }
}

async fn ls_refs<W: AsyncWrite + Unpin>(
    handle: &RepoHandle,
    request: &LsRefsRequest,
    output: &mut PktSink<W>,
) -> Result<(), SessionError> {
    let state = handle.repo.state();
    let refs = advertise::refs_with_peeled(handle, &state).await?;
    for listed in advertise::ls_refs(request, &state, &refs) {
        v2::encode_ls_refs_ref(&mut output.buf, &listed)?;
    }
    encode::flush(&mut output.buf);
    output.flush().await.map_err(SessionError::Write)
}

async fn fetch<W: AsyncWrite + Unpin>(
    handle: &RepoHandle,
    request: FetchRequest,
    options: &UploadPackOptions,
    output: &mut PktSink<W>,
    outcome: &mut UploadOutcome,
) -> Result<(), SessionError> {
    let state = handle.repo.state();
    let odb = handle.objects(&state).await?;
    let mut wanted = request.wants.clone();
    let mut wanted_refs = Vec::new();
    for name in &request.want_refs {
        let found = std::str::from_utf8(name)
            .ok()
            .and_then(|name| state.get(name));
        let id = found.ok_or_else(|| UploadPackError::UnknownWantRef {
            name: String::from_utf8_lossy(name).into_owned(),
        })?;
        wanted_refs.push(WantedRef {
            id,
            name: name.clone(),
        });
        wanted.push(id);
    }
    if wanted.is_empty() && !request.wait_for_done {
        // As C git: a request without wants is answered with nothing.
        return Ok(());
    }
    wants::check(odb, &wanted, &Default::default(), WantPolicy::AnyObject)?;

    let mut negotiation = Negotiation::new(odb, &wanted)
        .await
        .map_err(UploadPackError::from)?;
    let mut common = Vec::new();
    for have in &request.haves {
        if let Have::Common { .. } = negotiation
            .have(odb, *have)
            .await
            .map_err(UploadPackError::from)?
        {
            common.push(*have);
        }
    }
    let acknowledgments = if request.done || request.haves.is_empty() {
        None
    } else {
        let ready = !request.wait_for_done
            && negotiation
                .ready(odb)
                .await
                .map_err(UploadPackError::from)?;
        if !ready || wanted.is_empty() {
            encode_acknowledgments_only(&mut output.buf, &common, request.sideband_all);
            return output.flush().await.map_err(SessionError::Write);
        }
        Some(common)
    };

    let commit_wants = wants::peeled_commits(odb, &wanted).await?;
    let not = wants::resolve_deepen_not(&state, &request.deepen.not)?;
    let not = wants::peeled_commits(odb, &not).await?;
    let plan = shallow::plan(
        odb,
        ShallowRequest {
            wants: &commit_wants,
            client_shallows: &request.shallows,
            depth: request.deepen.depth,
            relative: request.deepen.relative,
            since: request.deepen.since,
            not: &not,
        },
    )
    .await
    .map_err(UploadPackError::from)?;
    let shallow_info =
        (request.deepen.is_requested() || !request.shallows.is_empty()).then_some(ShallowInfo {
            shallow: &plan.shallow,
            unshallow: &plan.unshallow,
        });
    PackfilePreamble {
        acknowledgments: acknowledgments.as_deref(),
        shallow_info,
        wanted_refs: &wanted_refs,
        sideband_all: request.sideband_all,
    }
    .encode(&mut output.buf)?;

    let include_tags = request.include_tag.then(|| wants::tag_values(&state));
    let walk_request = WalkRequest {
        wants: wanted,
        haves: negotiation.common().to_vec(),
        shallow: plan,
        filter: request.filter,
        include_tags,
    };
    let format = PackFormat {
        sideband: Some(SidebandMode::SideBand64k),
        progress: !request.no_progress,
        thin: request.thin_pack,
        ofs_delta: request.ofs_delta,
    };
    response::send_pack(handle, odb, &walk_request, format, options, output, outcome).await?;
    encode::flush(&mut output.buf);
    output.flush().await.map_err(SessionError::Write)
}
