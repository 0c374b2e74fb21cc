//! Side-band multiplexing: pack data, progress and errors interleaved on one stream.
//!
//! Each packet's payload starts with a band byte: 1 pack data, 2 progress text (the client prints
//! it after `remote: `), 3 a fatal error just before the stream ends. [`encode`] cuts data into
//! packets of at most [`SidebandMode::max_payload`] bytes:
//!
//! - `side-band-64k` (and all of protocol v2): 65515 bytes, so a packet is at most 65520 bytes.
//! - `side-band`: 995 bytes, so a packet is at most 1000 bytes. gitprotocol-pack speaks of "999
//!   data bytes", but counts without the 4-byte length; C git (`send_sideband`, `packet_max - 5`)
//!   sends 995, and old clients read into 1000-byte buffers, so we send 995 too.

use bytes::BufMut;

use crate::pkt_line::{MAX_PACKET_LEN, encode::put_length};

/// Which band a side-band packet travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// 1: pack data (or, with report-status over side-band, the report's pkt-lines).
    Data = 1,
    /// 2: progress and informational messages, shown on the client's stderr prefixed `remote: `.
    Progress = 2,
    /// 3: a fatal error; the server stops after sending it.
    Error = 3,
}

/// Which side-band capability the client chose; decides the packet size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidebandMode {
    /// `side-band`: packets of at most 1000 bytes.
    SideBand,
    /// `side-band-64k` (and protocol v2): packets of at most 65520 bytes.
    SideBand64k,
}

impl SidebandMode {
    /// Largest packet, length prefix and band byte included.
    pub const fn max_packet(self) -> usize {
        match self {
            SidebandMode::SideBand => 1000,
            SidebandMode::SideBand64k => MAX_PACKET_LEN,
        }
    }

    /// Largest payload per packet after the 4-byte length and the band byte: 995 or 65515.
    pub const fn max_payload(self) -> usize {
        self.max_packet() - 5
    }
}

/// Write `data` on `band`, cut into as many packets as needed. Empty `data` writes nothing (as
/// git's `send_sideband`); use [`keepalive`] for an empty packet.
pub fn encode(out: &mut impl BufMut, band: Band, data: &[u8], mode: SidebandMode) {
    for chunk in data.chunks(mode.max_payload()) {
        put_length(out, chunk.len() + 5);
        out.put_u8(band as u8);
        out.put_slice(chunk);
    }
}

/// Write `0005\x02`: an empty progress packet that v2 servers using `sideband-all` send to keep a
/// slow connection alive.
pub fn keepalive(out: &mut impl BufMut) {
    out.put_slice(b"0005\x02");
}

/// Split a side-band packet's payload into its band and data; `None` if the band byte is missing
/// or not 1, 2 or 3. (The server never receives side-band; this serves tests and tools.)
pub fn split(payload: &[u8]) -> Option<(Band, &[u8])> {
    let (&band, data) = payload.split_first()?;
    let band = match band {
        1 => Band::Data,
        2 => Band::Progress,
        3 => Band::Error,
        _ => return None,
    };
    Some((band, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkt_line::{Decoded, Packet, decode};

    fn packets(mut buf: &[u8]) -> Vec<(Band, Vec<u8>)> {
        let mut found = Vec::new();
        while !buf.is_empty() {
            let Ok(Decoded::Complete {
                packet: Packet::Data(payload),
                consumed,
            }) = decode(buf)
            else {
                panic!("expected data packets");
            };
            let (band, data) = split(payload).expect("a band byte");
            found.push((band, data.to_vec()));
            buf = &buf[consumed..];
        }
        found
    }

    #[test]
    fn progress_line_matches_git() {
        let mut out = Vec::new();
        encode(
            &mut out,
            Band::Progress,
            b"error: denying non-fast-forward refs/heads/side (you should pull first)\n",
            SidebandMode::SideBand64k,
        );
        assert_eq!(
            out,
            b"004d\x02error: denying non-fast-forward refs/heads/side (you should pull first)\n"
        );
    }

    #[test]
    fn side_band_64k_cuts_at_65515() {
        let data = vec![7u8; 65515 * 2 + 1];
        let mut out = Vec::new();
        encode(&mut out, Band::Data, &data, SidebandMode::SideBand64k);
        let found = packets(&out);
        let sizes: Vec<usize> = found.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(sizes, [65515, 65515, 1]);
        assert_eq!(&out[..5], b"fff0\x01");
        assert!(found.iter().all(|(band, _)| *band == Band::Data));
    }

    #[test]
    fn side_band_cuts_at_995() {
        let data = vec![1u8; 2000];
        let mut out = Vec::new();
        encode(&mut out, Band::Error, &data, SidebandMode::SideBand);
        let sizes: Vec<usize> = packets(&out).iter().map(|(_, d)| d.len()).collect();
        assert_eq!(sizes, [995, 995, 10]);
        assert_eq!(&out[..5], b"03e8\x03");
    }

    #[test]
    fn empty_data_writes_nothing_but_keepalive_does() {
        let mut out = Vec::new();
        encode(&mut out, Band::Data, b"", SidebandMode::SideBand64k);
        assert!(out.is_empty());
        keepalive(&mut out);
        assert_eq!(out, b"0005\x02");
    }

    #[test]
    fn unknown_band_is_not_split() {
        assert_eq!(split(b"\x04x"), None);
        assert_eq!(split(b""), None);
    }
}
