//! Progress while a pushed pack is indexed, shown by git as `remote: Indexing objects: 42%
//! (420/1000)`. Ingest reports into atomics from its worker thread
//! ([`IngestProgress`]); a ticker on the session's task turns them into side-band band-2 lines
//! every interval, concurrently with ingest, so a slow client write never stalls indexing.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use swiftgit_protocol::sideband::{self, Band, SidebandMode};
use swiftgit_repo::odb::{IngestProgress, IngestStage};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;

use crate::session::pkt_io::PktSink;

/// The newest progress report, shared between ingest's thread and the ticker.
#[derive(Debug, Default)]
pub(super) struct IngestCounters {
    /// 0 nothing yet, 1 receiving, 2 resolving.
    stage: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
}

impl IngestProgress for IngestCounters {
    fn report(&self, stage: IngestStage, done: u64, total: u64) {
        let stage = match stage {
            IngestStage::Receiving => 1,
            IngestStage::Resolving => 2,
        };
        self.stage.store(stage, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}

impl IngestCounters {
    /// The progress line for the current state (`\r`-terminated so the client overwrites it),
    /// or with `finished` the closing line; `None` while nothing is being indexed.
    fn line(&self, finished: bool) -> Option<String> {
        if self.stage.load(Ordering::Relaxed) != 2 {
            return None;
        }
        let total = self.total.load(Ordering::Relaxed);
        let done = if finished {
            total
        } else {
            self.done.load(Ordering::Relaxed).min(total)
        };
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        Some(if finished {
            format!("Indexing objects: {percent:3}% ({done}/{total}), done.\n")
        } else {
            format!("Indexing objects: {percent:3}% ({done}/{total})\r")
        })
    }
}

/// Writes `text` on band 2.
pub(super) fn encode_progress(sink_buf: &mut bytes::BytesMut, text: &str) {
    sideband::encode(
        sink_buf,
        Band::Progress,
        text.as_bytes(),
        SidebandMode::SideBand64k,
    );
}

/// Runs `work` while sending a progress line every `interval` (only when it changed), then
/// the closing line if anything was indexed. Write errors are ignored: a client that went
/// away makes `work` fail on its own.
pub(super) async fn with_progress<T, W: AsyncWrite + Unpin>(
    work: impl Future<Output = T>,
    counters: &IngestCounters,
    sink: &mut PktSink<W>,
    interval: Duration,
) -> T {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let work = async move {
        let output = work.await;
        let _ = stop.send(());
        output
    };
    let ticker = async {
        let mut last = None;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticks.tick() => {
                    let line = counters.line(false);
                    if line.is_some() && line != last {
                        encode_progress(&mut sink.buf, line.as_deref().unwrap_or_default());
                        let _ = sink.flush().await;
                        last = line;
                    }
                }
            }
        }
        if let Some(line) = counters.line(true) {
            encode_progress(&mut sink.buf, &line);
        }
    };
    let (output, ()) = tokio::join!(work, ticker);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_git_progress() {
        let counters = IngestCounters::default();
        assert_eq!(counters.line(false), None);
        counters.report(IngestStage::Receiving, 3, 10);
        assert_eq!(counters.line(false), None);
        counters.report(IngestStage::Resolving, 5, 10);
        assert_eq!(
            counters.line(false).as_deref(),
            Some("Indexing objects:  50% (5/10)\r")
        );
        assert_eq!(
            counters.line(true).as_deref(),
            Some("Indexing objects: 100% (10/10), done.\n")
        );
    }
}
