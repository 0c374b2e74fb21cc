//! upload-pack in protocol v0/v1: advertisement, want list, shallow update, have rounds, pack.
//!
//! Acknowledgments follow C git's `get_common_commits` exactly, as clients depend on them:
//! with `multi_ack_detailed` each common have gets `ACK <id> common`, and once the server is
//! ready (every want reaches a common commit) `ACK <id> ready`; every flush gets a `NAK`; after
//! `done` the last common have gets a plain `ACK <id>` (or `NAK` if there was none). With plain
//! `multi_ack` the `common`/`ready` become `continue`; without either, only the first common
//! have is acknowledged.

use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::advertisement::RefAdvertisement;
use swiftgit_protocol::capabilities::{AckMode, UploadPackClientCaps};
use swiftgit_protocol::pkt_line::encode;
use swiftgit_protocol::upload_pack::{
    Ack, RoundEnd, UploadRequest, WantList, encode_ack, encode_shallow_update, parse_have_round,
    parse_upload_request,
};
use swiftgit_repo::ObjectId;
use swiftgit_repo::odb::ObjectDb;
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
    version: ProtocolVersion,
    advertise: bool,
) -> Result<UploadOutcome, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut outcome = UploadOutcome::default();
    let repo = handle.repo.name().to_string();
    let state = handle.repo.state();
    let refs = advertise::refs_with_peeled(handle, &state).await?;
    if advertise {
        let (advertised, symrefs) = advertise::upload_pack_refs(&state, &refs);
        let capabilities = options.features.advertise(&symrefs);
        RefAdvertisement {
            version,
            refs: &advertised,
            capabilities: &capabilities,
            shallow: &[],
        }
        .encode(&mut output.buf)
        .map_err(|source| SessionError::Advertise { repo, source })?;
        output.flush().await.map_err(SessionError::Write)?;
    }
    let request = match input
        .read_message(options.max_request_bytes, |buf| {
            parse_upload_request(buf, &options.features)
        })
        .await
    {
        Ok(WantList::Wants(request)) => request,
        // ls-remote, or a client that is up to date: a flush, or just hanging up.
        Ok(WantList::Empty) | Err(MessageError::Io(PktIoError::Closed { mid_packet: false })) => {
            return Ok(outcome);
        }
        Err(MessageError::Io(error)) => return Err(error.into()),
        Err(MessageError::Parse(error)) => return Err(UploadPackError::from(error).into()),
    };
    let UploadRequest {
        wants: wanted,
        capabilities: caps,
        shallows,
        deepen,
        filter,
    } = *request;

    let policy = if options.features.allow_reachable_sha1_in_want {
        WantPolicy::AnyObject
    } else {
        WantPolicy::Tips
    };
    let odb = handle.objects(&state).await?;
    wants::check(odb, &wanted, &wants::tips(&state, &refs), policy)?;
    let commit_wants = wants::peeled_commits(odb, &wanted).await?;
    let not = wants::resolve_deepen_not(&state, &deepen.not)?;
    let not = wants::peeled_commits(odb, &not).await?;
    let plan = shallow::plan(
        odb,
        ShallowRequest {
            wants: &commit_wants,
            client_shallows: &shallows,
            depth: deepen.depth,
            relative: deepen.relative,
            since: deepen.since,
            not: &not,
        },
    )
    .await
    .map_err(UploadPackError::from)?;
    if deepen.is_requested() {
        encode_shallow_update(&mut output.buf, &plan.shallow, &plan.unshallow);
        output.flush().await.map_err(SessionError::Write)?;
    }

    let mut negotiation = Negotiation::new(odb, &wanted)
        .await
        .map_err(UploadPackError::from)?;
    if !negotiate(
        odb,
        input,
        output,
        options,
        &caps,
        &mut negotiation,
        advertise,
    )
    .await?
    {
        return Ok(outcome);
    }

    let request = WalkRequest {
        wants: wanted,
        haves: negotiation.common().to_vec(),
        shallow: plan,
        filter,
        include_tags: caps.include_tag.then(|| wants::tag_values(&state)),
    };
    let format = PackFormat {
        sideband: caps.sideband,
        progress: !caps.no_progress,
        thin: caps.thin_pack,
        ofs_delta: caps.ofs_delta,
    };
    response::send_pack(handle, odb, &request, format, options, output, &mut outcome).await?;
    if caps.sideband.is_some() {
        encode::flush(&mut output.buf);
        output.flush().await.map_err(SessionError::Write)?;
    }
    Ok(outcome)
}

/// Runs the have rounds. `Ok(true)`: send the pack now; `Ok(false)`: a stateless request was
/// answered and the client will come back with more haves.
async fn negotiate<R, W>(
    odb: &ObjectDb,
    input: &mut PktStream<R>,
    output: &mut PktSink<W>,
    options: &UploadPackOptions,
    caps: &UploadPackClientCaps,
    negotiation: &mut Negotiation,
    stateful: bool,
) -> Result<bool, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mode = caps.ack_mode;
    let mut last_common: Option<ObjectId> = None;
    let mut sent_ready = false;
    loop {
        let round = match input
            .read_message(options.max_request_bytes, parse_have_round)
            .await
        {
            Ok(round) => round,
            Err(MessageError::Io(error)) => return Err(error.into()),
            Err(MessageError::Parse(error)) => return Err(UploadPackError::from(error).into()),
        };
        let mut got_common = false;
        let mut got_other = false;
        for have in round.haves {
            match negotiation
                .have(odb, have)
                .await
                .map_err(UploadPackError::from)?
            {
                Have::Unknown => {
                    got_other = true;
                    if mode != AckMode::Single
                        && negotiation
                            .ready(odb)
                            .await
                            .map_err(UploadPackError::from)?
                    {
                        sent_ready |= mode == AckMode::MultiDetailed;
                        if let Some(ack) = mode.ack_ready(have) {
                            encode_ack(&mut output.buf, &ack);
                        }
                    }
                }
                Have::Common { .. } => {
                    got_common = true;
                    last_common = Some(have);
                    let first = negotiation.common().len() == 1;
                    if let Some(ack) = mode.ack_common(have, first) {
                        encode_ack(&mut output.buf, &ack);
                    }
                }
            }
        }
        match round.end {
            RoundEnd::Done => {
                match last_common {
                    Some(last) if !negotiation.common().is_empty() => {
                        if mode != AckMode::Single {
                            encode_ack(&mut output.buf, &Ack::Plain(last));
                        }
                    }
                    _ => encode_ack(&mut output.buf, &Ack::Nak),
                }
                output.flush().await.map_err(SessionError::Write)?;
                return Ok(true);
            }
            RoundEnd::Flush => {
                if let Some(last) = last_common
                    && mode == AckMode::MultiDetailed
                    && got_common
                    && !got_other
                    && negotiation
                        .ready(odb)
                        .await
                        .map_err(UploadPackError::from)?
                {
                    sent_ready = true;
                    encode_ack(&mut output.buf, &Ack::Ready(last));
                }
                if negotiation.common().is_empty() || mode != AckMode::Single {
                    encode_ack(&mut output.buf, &Ack::Nak);
                }
                if caps.no_done
                    && sent_ready
                    && let Some(last) = last_common
                {
                    encode_ack(&mut output.buf, &Ack::Plain(last));
                    output.flush().await.map_err(SessionError::Write)?;
                    return Ok(true);
                }
                output.flush().await.map_err(SessionError::Write)?;
                if !stateful {
                    return Ok(false);
                }
            }
        }
    }
}
