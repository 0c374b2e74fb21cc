//! Incremental zlib inflate of one pack entry whose inflated size is declared up front: input
//! arrives in pieces (stream chunks, file reads, cache blocks) and output goes to a sink in
//! pieces, so neither side needs the whole entry in one buffer. It refuses to produce even one
//! byte past the declared size, which stops a zlib bomb after at most 64 KiB of work.

use flate2::{Decompress, FlushDecompress, Status};

/// Inflated bytes produced per zlib call.
const SCRATCH: usize = 64 * 1024;

/// Why an entry's zlib stream is bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// zlib rejected the data.
    Zlib(String),
    /// The stream produces more than the declared size.
    TooLong,
    /// The stream ended short of the declared size.
    TooShort { produced: u64 },
    /// zlib neither consumed nor produced anything.
    Stalled,
}

pub struct Inflater {
    zlib: Decompress,
    scratch: Box<[u8]>,
    expected: u64,
    produced: u64,
    finished: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater::with_scratch(SCRATCH)
    }
}

impl Inflater {
    /// An inflater producing at most `scratch` bytes per zlib call (small for small objects).
    pub fn with_scratch(scratch: usize) -> Self {
        Inflater {
            zlib: Decompress::new(true),
            scratch: vec![0; scratch.clamp(1, SCRATCH)].into_boxed_slice(),
            expected: 0,
            produced: 0,
            finished: false,
        }
    }

    /// Starts a new entry that must inflate to exactly `expected` bytes.
    pub fn start(&mut self, expected: u64) {
        self.zlib.reset(true);
        self.expected = expected;
        self.produced = 0;
        self.finished = false;
    }

    /// Whether the zlib stream has ended (with exactly the declared size).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Feeds compressed `input`, passing what it inflates to `sink`. Returns how many bytes of
    /// `input` belong to this entry's stream: all of them unless the stream ended inside.
    pub fn feed(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, InflateError> {
        let mut used = 0;
        while !self.finished {
            // One byte of room past the declared size: producing it proves the stream too long.
            let room = (self.expected - self.produced)
                .saturating_add(1)
                .min(self.scratch.len() as u64) as usize;
            let (in_before, out_before) = (self.zlib.total_in(), self.zlib.total_out());
            let status = self
                .zlib
                .decompress(
                    &input[used..],
                    &mut self.scratch[..room],
                    FlushDecompress::None,
                )
                .map_err(|e| InflateError::Zlib(e.to_string()))?;
            let consumed = (self.zlib.total_in() - in_before) as usize;
            let made = (self.zlib.total_out() - out_before) as usize;
            used += consumed;
            self.produced += made as u64;
            if self.produced > self.expected {
                return Err(InflateError::TooLong);
            }
            sink(&self.scratch[..made]);
            match status {
                Status::StreamEnd => {
                    if self.produced != self.expected {
                        return Err(InflateError::TooShort {
                            produced: self.produced,
                        });
                    }
                    self.finished = true;
                }
                Status::Ok | Status::BufError if consumed == 0 && made == 0 => {
                    if used < input.len() {
                        return Err(InflateError::Stalled);
                    }
                    // All input taken and no output pending: the caller must bring more.
                    break;
                }
                Status::Ok | Status::BufError => {}
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn inflates_across_pieces_and_stops_at_the_stream_end() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut compressed = deflate(&data);
        let stream_len = compressed.len();
        compressed.extend_from_slice(b"next entry");
        let mut inflater = Inflater::default();
        inflater.start(data.len() as u64);
        let mut out = Vec::new();
        let mut used = 0;
        for piece in compressed.chunks(1000) {
            used += inflater
                .feed(piece, &mut |b| out.extend_from_slice(b))
                .unwrap();
            if inflater.finished() {
                break;
            }
        }
        assert_eq!(out, data);
        assert_eq!(used, stream_len);
    }

    #[test]
    fn a_bomb_stops_at_the_declared_size() {
        let compressed = deflate(&vec![0u8; 10 << 20]);
        let mut inflater = Inflater::default();
        inflater.start(10);
        let mut total = 0;
        let result = inflater.feed(&compressed, &mut |b| total += b.len());
        assert_eq!(result, Err(InflateError::TooLong));
        assert!(total <= 10);
    }

    #[test]
    fn short_and_garbage_streams_are_errors() {
        let mut inflater = Inflater::default();
        inflater.start(11);
        assert_eq!(
            inflater.feed(&deflate(b"0123456789"), &mut |_| {}),
            Err(InflateError::TooShort { produced: 10 })
        );
        inflater.start(10);
        assert!(matches!(
            inflater.feed(b"not zlib at all", &mut |_| {}),
            Err(InflateError::Zlib(_))
        ));
        inflater.start(0);
        assert_eq!(
            inflater
                .feed(&deflate(b""), &mut |_| {})
                .map(|_| inflater.finished()),
            Ok(true)
        );
    }
}
