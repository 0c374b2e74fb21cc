//! The pack phase shared by v0/v1 and v2: count the objects (reporting progress, or sending
//! keepalives), write the pack, and report problems on band 3 once the response has started.

use std::time::Instant;

use swiftgit_protocol::sideband::SidebandMode;
use swiftgit_repo::odb::ObjectDb;
use tokio::io::AsyncWrite;

use super::{UploadOutcome, UploadPackError, UploadPackOptions};
use crate::pack::{PackOutput, PackRequest, PackStats, write_pack};
use crate::registry::RepoHandle;
use crate::session::pkt_io::PktSink;
use crate::walk::{self, WalkProgress, WalkRequest};

/// How the client wants the pack.
#[derive(Debug, Clone, Copy)]
pub struct PackFormat {
    pub sideband: Option<SidebandMode>,
    pub progress: bool,
    pub thin: bool,
    pub ofs_delta: bool,
}

/// Walks `request` and sends the pack on `sink`. Errors after the response has started are
/// sent on band 3 (when side-band is on) and returned as [`UploadPackError::Reported`].
pub async fn send_pack<W: AsyncWrite + Unpin>(
    handle: &RepoHandle,
    odb: &ObjectDb,
    request: &WalkRequest,
    format: PackFormat,
    options: &UploadPackOptions,
    sink: &mut PktSink<W>,
    outcome: &mut UploadOutcome,
) -> Result<PackStats, UploadPackError> {
    let mut out = PackOutput::new(sink, format.sideband, format.progress);
    let result = walk_and_write(handle, odb, request, format, options, &mut out).await;
    match result {
        Ok(stats) => {
            out.flush().await.map_err(pack_io)?;
            outcome.packs += 1;
            outcome.objects += stats.objects;
            outcome.pack_bytes += stats.bytes;
            Ok(stats)
        }
        Err(error) => match error.client_message() {
            Some(message) if format.sideband.is_some() => {
                // The client is reading side-band now: an ERR packet would be pack data.
                let _ = out.error(&message).await;
                Err(UploadPackError::Reported(Box::new(error)))
            }
            _ => Err(error),
        },
    }
}

fn pack_io(error: std::io::Error) -> UploadPackError {
    UploadPackError::Pack(crate::pack::PackError::Io(error))
}

async fn walk_and_write<W: AsyncWrite + Unpin>(
    handle: &RepoHandle,
    odb: &ObjectDb,
    request: &WalkRequest,
    format: PackFormat,
    options: &UploadPackOptions,
    out: &mut PackOutput<'_, W>,
) -> Result<PackStats, UploadPackError> {
    let counted = WalkProgress::default();
    let started = Instant::now();
    let walked = {
        let mut walking = std::pin::pin!(walk::walk(odb, request, &counted));
        let tick = if out.shows_progress() {
            options.progress_interval
        } else {
            options.keepalive
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        loop {
            tokio::select! {
                walked = &mut walking => break walked?,
                _ = ticker.tick() => {
                    if out.shows_progress() {
                        let text = format!("Enumerating objects: {}\r", counted.get());
                        out.progress(&text).await.map_err(pack_io)?;
                    } else {
                        out.keepalive().await.map_err(pack_io)?;
                    }
                }
            }
        }
    };
    let total = walked.objects.len();
    out.progress(&format!("Enumerating objects: {total}, done.\n"))
        .await
        .map_err(pack_io)?;
    out.progress(&format!(
        "Counting objects: 100% ({total}/{total}), done.\n"
    ))
    .await
    .map_err(pack_io)?;
    tracing::debug!(
        repo = %handle.repo.name(),
        objects = total,
        commits = walked.commits,
        ms = started.elapsed().as_millis() as u64,
        "walked"
    );
    let stats = write_pack(
        odb,
        PackRequest {
            objects: &walked.objects,
            client_has: &walked.client_has,
            thin: format.thin,
            ofs_delta: format.ofs_delta,
        },
        &options.pack,
        out,
    )
    .await?;
    out.progress(&format!(
        "Total {} (delta {}), reused {} (delta {})\n",
        stats.objects, stats.deltas, stats.reused, stats.reused_deltas
    ))
    .await
    .map_err(pack_io)?;
    tracing::debug!(
        repo = %handle.repo.name(),
        ?stats,
        ms = started.elapsed().as_millis() as u64,
        "pack sent"
    );
    Ok(stats)
}
