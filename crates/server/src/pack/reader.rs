//! Reading the stored entries a pack is made of, in the order they are written, with bounded
//! read-ahead.
//!
//! The entries to copy are sorted by (pack, offset), so neighbours in the output are usually
//! neighbours in storage. [`plan_spans`] merges them into spans of up to `span_bytes` (bridging
//! small gaps of entries not sent), and [`SpanReader`] fetches the spans in order with
//! `in_flight` reads ahead: long spans with direct range GETs that bypass the block cache (a full
//! clone is one streaming pass over the stored pack), short ones through the block cache (which
//! the walk has often warmed already).

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use swiftgit_repo::odb::raw::RawPacks;
use swiftgit_repo::odb::{ObjectDb, OdbError};

/// Gaps between entries up to this size are read rather than split into two requests.
pub const MAX_GAP: u64 = 64 * 1024;

/// A range of one stored pack read in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub pack: u32,
    pub start: u64,
    pub end: u64,
    /// Through the block cache (short spans) or a direct range GET (long ones).
    pub cached: bool,
}

/// Spans covering `entries` (pack, start, end), which must be sorted by (pack, start) and not
/// overlap: spans at most `span_bytes` long (an entry longer than that is cut into several),
/// those shorter than `cached_below` marked for the block cache.
pub fn plan_spans(
    entries: impl IntoIterator<Item = (u32, u64, u64)>,
    span_bytes: u64,
    cached_below: u64,
) -> Vec<Span> {
    let span_bytes = span_bytes.max(1);
    let mut merged: Vec<Span> = Vec::new();
    for (pack, start, end) in entries {
        match merged.last_mut() {
            Some(last)
                if last.pack == pack
                    && start >= last.end
                    && start - last.end <= MAX_GAP
                    && end - last.start <= span_bytes =>
            {
                last.end = end;
            }
            _ => merged.push(Span {
                pack,
                start,
                end,
                cached: false,
            }),
        }
    }
    let mut spans = Vec::with_capacity(merged.len());
    for span in merged {
        let mut start = span.start;
        while start < span.end {
            let end = span.end.min(start + span_bytes);
            spans.push(Span {
                pack: span.pack,
                start,
                end,
                cached: end - start < cached_below,
            });
            start = end;
        }
    }
    spans
}

type SpanStream<'a> = Pin<Box<dyn Stream<Item = Result<(Span, Bytes), OdbError>> + Send + 'a>>;

/// Hands out stored bytes in span order.
pub struct SpanReader<'a> {
    spans: SpanStream<'a>,
    current: Option<(Span, Bytes)>,
}

/// The reader was asked for bytes its spans do not cover (a planning bug, not bad data).
#[derive(Debug, thiserror::Error)]
#[error("bytes {start}..{end} of pack {pack} are not in the planned reads")]
pub struct NotPlanned {
    pub pack: u32,
    pub start: u64,
    pub end: u64,
}

/// What reading a span can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Odb(#[from] OdbError),
    #[error(transparent)]
    NotPlanned(#[from] NotPlanned),
}

impl<'a> SpanReader<'a> {
    /// Starts reading `spans` of `packs`, `in_flight` at a time.
    pub fn new(odb: &'a ObjectDb, packs: &RawPacks, spans: Vec<Span>, in_flight: usize) -> Self {
        let packs = packs.clone();
        let stream = futures::stream::iter(spans)
            .map(move |span| {
                let packs = packs.clone();
                async move {
                    odb.read_raw(&packs, span.pack, span.start..span.end, span.cached)
                        .await
                        .map(|bytes| (span, bytes))
                }
            })
            .buffered(in_flight.max(1));
        SpanReader {
            spans: Box::pin(stream),
            current: None,
        }
    }

    /// The longest run of bytes `start..end` of `pack` that the current span holds, moving on
    /// to later spans as needed. Callers ask for ranges in span order.
    pub async fn chunk(&mut self, pack: u32, start: u64, end: u64) -> Result<Bytes, ReadError> {
        loop {
            if let Some((span, bytes)) = &self.current
                && span.pack == pack
                && span.start <= start
                && start < span.end
            {
                let to = end.min(span.end);
                return Ok(bytes.slice((start - span.start) as usize..(to - span.start) as usize));
            }
            match self.spans.next().await {
                Some(next) => self.current = Some(next?),
                None => return Err(NotPlanned { pack, start, end }.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_merge_and_long_entries_are_cut() {
        let spans = plan_spans(
            [
                (0, 12, 100),
                (0, 100, 200),
                (0, 200 + MAX_GAP + 1, 300 + MAX_GAP),
                (1, 12, 5000),
            ],
            1000,
            150,
        );
        let ranges: Vec<(u32, u64, u64, bool)> = spans
            .iter()
            .map(|s| (s.pack, s.start, s.end, s.cached))
            .collect();
        assert_eq!(
            ranges,
            [
                (0, 12, 200, false),
                (0, 200 + MAX_GAP + 1, 300 + MAX_GAP, true),
                (1, 12, 1012, false),
                (1, 1012, 2012, false),
                (1, 2012, 3012, false),
                (1, 3012, 4012, false),
                (1, 4012, 5000, false),
            ]
        );
    }

    #[test]
    fn spans_stop_growing_at_the_limit() {
        let spans = plan_spans([(0, 12, 600), (0, 600, 1100)], 1000, 0);
        assert_eq!(spans.len(), 2);
    }
}
