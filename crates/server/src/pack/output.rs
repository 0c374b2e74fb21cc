//! The response stream of a fetch once the protocol lines are done: pack bytes (hashed as they
//! go, for the trailer), progress messages and a last error, multiplexed on side-band bands 1, 2
//! and 3 when the client chose side-band, or the bare pack when it did not (then progress and
//! errors have nowhere to go and are dropped).
//!
//! Output is framed into packets as it comes and handed to the transport in batches of about
//! [`WRITE_BATCH`] bytes: memory stays bounded whatever the pack's size.

use bytes::BufMut;
use gix_hash::ObjectId;
use swiftgit_protocol::sideband::{self, Band, SidebandMode};
use tokio::io::AsyncWrite;

use crate::session::pkt_io::PktSink;

/// Bytes collected before a write to the transport.
pub const WRITE_BATCH: usize = 128 * 1024;

/// Where a fetch's response goes.
pub struct PackOutput<'a, W> {
    sink: &'a mut PktSink<W>,
    sideband: Option<SidebandMode>,
    progress: bool,
    hasher: gix_hash::Hasher,
    /// Band-1 payload not yet framed (less than one packet).
    pending: Vec<u8>,
    /// Pack bytes written so far (the offset of the next entry).
    pack_bytes: u64,
}

impl<'a, W: AsyncWrite + Unpin> PackOutput<'a, W> {
    /// Output on `sink`, multiplexed if `sideband` is set; progress messages only if `progress`.
    pub fn new(sink: &'a mut PktSink<W>, sideband: Option<SidebandMode>, progress: bool) -> Self {
        PackOutput {
            sink,
            progress: progress && sideband.is_some(),
            sideband,
            hasher: gix_hash::hasher(gix_hash::Kind::Sha1),
            pending: Vec::new(),
            pack_bytes: 0,
        }
    }

    /// Whether progress messages reach the client.
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// Pack bytes written so far.
    pub fn pack_bytes(&self) -> u64 {
        self.pack_bytes
    }

    /// Writes pack bytes.
    pub async fn data(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.pack_bytes += bytes.len() as u64;
        let Some(mode) = self.sideband else {
            self.sink.buf.put_slice(bytes);
            return self.sink.write_if_full(WRITE_BATCH).await;
        };
        let max = mode.max_payload();
        while !bytes.is_empty() {
            if self.pending.is_empty() && bytes.len() >= max {
                let whole = bytes.len() - bytes.len() % max;
                sideband::encode(&mut self.sink.buf, Band::Data, &bytes[..whole], mode);
                bytes = &bytes[whole..];
            } else {
                let take = (max - self.pending.len()).min(bytes.len());
                self.pending.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.pending.len() == max {
                    self.frame_pending();
                }
            }
            self.sink.write_if_full(WRITE_BATCH).await?;
        }
        Ok(())
    }

    /// Ends the pack with the SHA-1 of everything written, and returns it.
    pub async fn finish_pack(&mut self) -> std::io::Result<ObjectId> {
        let hasher = std::mem::replace(&mut self.hasher, gix_hash::hasher(gix_hash::Kind::Sha1));
        let checksum = hasher
            .try_finalize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.data(checksum.as_slice()).await?;
        self.frame_pending();
        Ok(checksum)
    }

    /// Sends a progress message (text as git shows it: `\r` to overwrite, `\n` to end a line)
    /// and flushes, so the client sees it now.
    pub async fn progress(&mut self, text: &str) -> std::io::Result<()> {
        if !self.progress {
            return Ok(());
        }
        let mode = self
            .sideband
            .expect("holds because progress needs side-band");
        self.frame_pending();
        sideband::encode(&mut self.sink.buf, Band::Progress, text.as_bytes(), mode);
        self.sink.flush().await
    }

    /// Sends an empty data packet, which keeps idle connections open without changing the pack.
    pub async fn keepalive(&mut self) -> std::io::Result<()> {
        if self.sideband.is_some() {
            self.frame_pending();
            self.sink.buf.put_slice(b"0005\x01");
            self.sink.flush().await?;
        }
        Ok(())
    }

    /// Sends `message` on band 3 (the client prints it and gives up), if side-band is on.
    pub async fn error(&mut self, message: &str) -> std::io::Result<()> {
        if let Some(mode) = self.sideband {
            self.frame_pending();
            let line = format!("{message}\n");
            sideband::encode(&mut self.sink.buf, Band::Error, line.as_bytes(), mode);
            self.sink.flush().await?;
        }
        Ok(())
    }

    /// Frames what is pending and flushes everything to the transport.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.frame_pending();
        self.sink.flush().await
    }

    /// The sink, for the lines that follow the pack (v0's and v2's closing flush).
    pub fn sink(&mut self) -> &mut PktSink<W> {
        self.frame_pending();
        self.sink
    }

    fn frame_pending(&mut self) {
        if let Some(mode) = self.sideband
            && !self.pending.is_empty()
        {
            sideband::encode(&mut self.sink.buf, Band::Data, &self.pending, mode);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftgit_protocol::pkt_line::{Decoded, Packet, decode};

    fn packets(mut buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut found = Vec::new();
        while !buf.is_empty() {
            let Ok(Decoded::Complete {
                packet: Packet::Data(payload),
                consumed,
            }) = decode(buf)
            else {
                panic!("expected data packets");
            };
            found.push((payload[0], payload[1..].to_vec()));
            buf = &buf[consumed..];
        }
        found
    }

    #[tokio::test]
    async fn pack_bytes_are_framed_hashed_and_interleaved_with_progress() {
        let mut sink = PktSink::new(Vec::new());
        let mut out = PackOutput::new(&mut sink, Some(SidebandMode::SideBand), true);
        out.data(b"PACK").await.unwrap();
        out.progress("Counting\n").await.unwrap();
        out.data(&[7u8; 2000]).await.unwrap();
        let checksum = out.finish_pack().await.unwrap();
        out.flush().await.unwrap();
        let written = sink.into_inner();
        let found = packets(&written);
        assert_eq!(found[0], (1, b"PACK".to_vec()));
        assert_eq!(found[1], (2, b"Counting\n".to_vec()));
        assert!(found.iter().all(|(_, data)| data.len() <= 995));
        let pack: Vec<u8> = found
            .iter()
            .filter(|(band, _)| *band == 1)
            .flat_map(|(_, data)| data.clone())
            .collect();
        assert_eq!(pack.len(), 4 + 2000 + 20);
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(&pack[..pack.len() - 20]);
        assert_eq!(hasher.try_finalize().unwrap(), checksum);
        assert_eq!(&pack[pack.len() - 20..], checksum.as_slice());
    }

    #[tokio::test]
    async fn without_side_band_the_pack_is_bare_and_messages_are_dropped() {
        let mut sink = PktSink::new(Vec::new());
        let mut out = PackOutput::new(&mut sink, None, true);
        out.data(b"PACK").await.unwrap();
        out.progress("x").await.unwrap();
        out.error("y").await.unwrap();
        out.flush().await.unwrap();
        assert_eq!(sink.into_inner(), b"PACK");
    }
}
