//! The first pass of ingest: reads a pack stream once, spooling it to a file while checking its
//! structure — header, every entry header, every zlib stream inflated (into a small scratch
//! buffer, so memory stays flat) to exactly its declared size, the trailing SHA-1 — and records
//! where each entry is. It runs on a blocking thread while the stream is still arriving, so a bad
//! push is refused as soon as its bad byte is seen.
//!
//! It never asks its input for a byte past the pack's end: a pushing client waits for our answer
//! after its last byte, and a read beyond would wait for it forever.

use std::fs::File;
use std::io::{BufWriter, Read, Write};

use gix_hash::ObjectId;

use super::limits::{IngestLimits, IngestProgress, IngestStage};
use crate::odb::error::{OdbError, Result};
use crate::odb::format::entry::{
    EntryKind, HASH_LEN, PACK_HEADER_LEN, parse_entry_header, parse_pack_header,
};
use crate::odb::format::inflate::{InflateError, Inflater};

/// Input read-ahead.
const READ_CHUNK: usize = 128 * 1024;

/// Entry type codes as stored in [`ScannedEntry::type_code`].
pub const OFS_DELTA: u8 = 6;
pub const REF_DELTA: u8 = 7;

/// Where one entry is and what it holds; 40 bytes, as a large push has millions.
#[derive(Debug, Clone, Copy)]
pub struct ScannedEntry {
    pub offset: u64,
    /// First byte after the entry's zlib stream.
    pub end: u64,
    /// Declared inflated size (object, or delta instructions).
    pub size: u64,
    /// OFS_DELTA: the base's offset. REF_DELTA: index into [`ScannedPack::ref_bases`].
    pub base: u64,
    /// CRC-32 of the entry's bytes, as `.idx` files record it.
    pub crc32: u32,
    /// 1 commit, 2 tree, 3 blob, 4 tag, 6 OFS_DELTA, 7 REF_DELTA.
    pub type_code: u8,
    pub header_len: u8,
}

/// The result of a scan: every entry, the base ids of REF_DELTAs, the verified checksum.
#[derive(Debug)]
pub struct ScannedPack {
    pub entries: Vec<ScannedEntry>,
    pub ref_bases: Vec<[u8; HASH_LEN]>,
    pub checksum: [u8; HASH_LEN],
    /// Bytes of the pack, trailer included.
    pub len: u64,
}

struct Input<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Pack offset of `buf[start]`.
    offset: u64,
    spool: BufWriter<File>,
    sha: gix_hash::Hasher,
    crc: crc32fast::Hasher,
}

impl<R: Read> Input<R> {
    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until at least `min` bytes are buffered or the input ends; never asks for more.
    fn fill(&mut self, min: usize) -> Result<()> {
        while self.end - self.start < min && !self.eof {
            if self.start > 0 && self.buf.len() - self.end < READ_CHUNK / 2 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < min {
                self.buf.resize(self.end + min.max(READ_CHUNK), 0);
            }
            // `read` returns what is there (at least one byte) rather than waiting to fill the
            // buffer, so a large buffer does not make us wait for bytes the client never sends.
            let n = self
                .src
                .read(&mut self.buf[self.end..])
                .map_err(|e| OdbError::io("reading the pushed pack", e))?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
        Ok(())
    }

    /// Passes `n` buffered bytes on to the spool file (and to the checksums if `hashed`).
    fn consume(&mut self, n: usize, hashed: bool) -> Result<()> {
        let bytes = &self.buf[self.start..self.start + n];
        self.spool
            .write_all(bytes)
            .map_err(|e| OdbError::io("spooling the pushed pack", e))?;
        if hashed {
            self.sha.update(bytes);
            self.crc.update(bytes);
        }
        self.start += n;
        self.offset += n as u64;
        Ok(())
    }
}

/// Scans the pack arriving on `src`, writing it to `spool`.
pub fn scan(
    src: impl Read,
    spool: File,
    limits: &IngestLimits,
    progress: &dyn IngestProgress,
) -> Result<ScannedPack> {
    let mut input = Input {
        src,
        buf: vec![0; READ_CHUNK],
        start: 0,
        end: 0,
        eof: false,
        offset: 0,
        spool: BufWriter::with_capacity(256 * 1024, spool),
        sha: gix_hash::hasher(gix_hash::Kind::Sha1),
        crc: crc32fast::Hasher::new(),
    };
    input.fill(PACK_HEADER_LEN)?;
    let header: [u8; PACK_HEADER_LEN] = input
        .available()
        .get(..PACK_HEADER_LEN)
        .ok_or(OdbError::Truncated {
            offset: input.offset + input.available().len() as u64,
            what: "the pack header",
        })?
        .try_into()
        .expect("holds because the slice is PACK_HEADER_LEN bytes");
    let declared = parse_pack_header(&header)?;
    input.consume(PACK_HEADER_LEN, true)?;

    let mut entries = Vec::with_capacity((declared as usize).min(1 << 20));
    let mut ref_bases = Vec::new();
    let mut inflater = Inflater::default();
    for found in 0..declared {
        // A valid pack has at least its 20-byte trailer after any entry start, so this never
        // waits on a client that has sent everything.
        input.fill(HASH_LEN)?;
        let sha_at_start = input.sha.clone();
        let available = input.available();
        let mut start_bytes = [0u8; HASH_LEN];
        let have = available.len().min(HASH_LEN);
        start_bytes[..have].copy_from_slice(&available[..have]);
        match scan_entry(&mut input, limits, &mut inflater, &mut ref_bases) {
            Ok(entry) => entries.push(entry),
            Err(error) => {
                // The trailer where an entry should be: the header promised too many objects.
                let is_trailer = have == HASH_LEN
                    && sha_at_start
                        .try_finalize()
                        .is_ok_and(|sha| sha.as_slice() == start_bytes);
                return Err(if is_trailer {
                    OdbError::ObjectCountMismatch { declared, found }
                } else {
                    error
                });
            }
        }
        progress.report(
            IngestStage::Receiving,
            u64::from(found) + 1,
            u64::from(declared),
        );
    }

    let trailer_offset = input.offset;
    input.fill(HASH_LEN)?;
    let expected: [u8; HASH_LEN] = input
        .available()
        .get(..HASH_LEN)
        .ok_or(OdbError::Truncated {
            offset: trailer_offset + input.available().len() as u64,
            what: "the pack trailer",
        })?
        .try_into()
        .expect("holds because the slice is HASH_LEN bytes");
    let actual = input
        .sha
        .clone()
        .try_finalize()
        .map_err(|e| OdbError::CorruptEntry {
            offset: trailer_offset,
            detail: e.to_string(),
        })?;
    input.consume(HASH_LEN, false)?;
    if actual.as_slice() != expected {
        return Err(OdbError::ChecksumMismatch {
            expected: ObjectId::from_bytes_or_panic(&expected), // holds: HASH_LEN bytes
            actual,
        });
    }
    if !input.available().is_empty() {
        return Err(OdbError::TrailingData {
            offset: input.offset,
        });
    }
    input
        .spool
        .flush()
        .map_err(|e| OdbError::io("spooling the pushed pack", e))?;
    Ok(ScannedPack {
        entries,
        ref_bases,
        checksum: expected,
        len: input.offset,
    })
}

fn scan_entry(
    input: &mut Input<impl Read>,
    limits: &IngestLimits,
    inflater: &mut Inflater,
    ref_bases: &mut Vec<[u8; HASH_LEN]>,
) -> Result<ScannedEntry> {
    let offset = input.offset;
    input.crc = crc32fast::Hasher::new();
    let header = loop {
        if let Some(header) = parse_entry_header(input.available(), offset)? {
            break header;
        }
        let have = input.available().len();
        input.fill(have + 1)?;
        if input.available().len() == have {
            return Err(OdbError::Truncated {
                offset: offset + have as u64,
                what: "an entry header",
            });
        }
    };
    if header.size > limits.max_object_bytes {
        return Err(OdbError::ObjectTooLarge {
            offset,
            size: header.size,
            limit: limits.max_object_bytes,
        });
    }
    let (type_code, base) = match header.kind {
        EntryKind::Base(kind) => (crate::odb::format::entry::kind_code(kind), 0),
        EntryKind::OfsDelta { base_offset } => (OFS_DELTA, base_offset),
        EntryKind::RefDelta { base_id } => {
            ref_bases.push(
                base_id
                    .as_slice()
                    .try_into()
                    .expect("holds because ids are SHA-1"),
            );
            (REF_DELTA, ref_bases.len() as u64 - 1)
        }
    };
    input.consume(header.len, true)?;

    inflater.start(header.size);
    while !inflater.finished() {
        if input.available().is_empty() {
            input.fill(1)?;
            if input.available().is_empty() {
                return Err(OdbError::Truncated {
                    offset: input.offset,
                    what: "an entry's compressed data",
                });
            }
        }
        let used = inflater
            .feed(input.available(), &mut |_| {})
            .map_err(|e| inflate_error(e, offset, header.size))?;
        input.consume(used, true)?;
    }
    Ok(ScannedEntry {
        offset,
        end: input.offset,
        size: header.size,
        base,
        crc32: std::mem::replace(&mut input.crc, crc32fast::Hasher::new()).finalize(),
        type_code,
        header_len: header.len as u8,
    })
}

/// The error for entry `offset` whose zlib stream failed.
pub fn inflate_error(error: InflateError, offset: u64, declared: u64) -> OdbError {
    match error {
        InflateError::TooLong => OdbError::InflatesPastDeclaredSize { offset, declared },
        InflateError::TooShort { produced } => OdbError::entry(
            offset,
            format!("inflates to {produced} bytes, its header declares {declared}"),
        ),
        InflateError::Zlib(detail) => OdbError::entry(offset, format!("zlib: {detail}")),
        InflateError::Stalled => OdbError::entry(offset, "zlib stream makes no progress"),
    }
}
