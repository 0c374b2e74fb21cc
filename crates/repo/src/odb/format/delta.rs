//! Git's delta format, applied. A delta is two sizes (base, result) as little-endian 7-bit
//! varints, then instructions: `1xxxxxxx` copies a range of the base (offset and size bytes
//! selected by the low bits; size 0 means 0x10000), `0nnnnnnn` (n > 0) inserts the next n bytes,
//! and `00000000` is reserved. Every bound is checked: a bad delta is an error, never a panic.

/// Why a delta could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaError(pub String);

/// The two sizes at the start of a delta, and where its instructions begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSizes {
    pub base: u64,
    pub result: u64,
    pub instructions_at: usize,
}

fn varint(data: &[u8], pos: &mut usize) -> Result<u64, DeltaError> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *data
            .get(*pos)
            .ok_or_else(|| DeltaError("delta header is truncated".into()))?;
        *pos += 1;
        if shift > 63 {
            return Err(DeltaError("delta header size overflows".into()));
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Reads the base and result sizes.
pub fn sizes(delta: &[u8]) -> Result<DeltaSizes, DeltaError> {
    let mut pos = 0;
    let base = varint(delta, &mut pos)?;
    let result = varint(delta, &mut pos)?;
    Ok(DeltaSizes {
        base,
        result,
        instructions_at: pos,
    })
}

/// Applies `delta` to `base`. The result may not exceed `max_result` bytes (checked before
/// anything is allocated).
pub fn apply(base: &[u8], delta: &[u8], max_result: u64) -> Result<Vec<u8>, DeltaError> {
    let sizes = sizes(delta)?;
    if sizes.base != base.len() as u64 {
        return Err(DeltaError(format!(
            "delta expects a base of {} bytes, the base has {}",
            sizes.base,
            base.len()
        )));
    }
    if sizes.result > max_result {
        return Err(DeltaError(format!(
            "delta result of {} bytes is over the limit of {max_result}",
            sizes.result
        )));
    }
    let result_len = usize::try_from(sizes.result)
        .map_err(|_| DeltaError("delta result does not fit in memory".into()))?;
    let mut out = Vec::with_capacity(result_len);
    let mut pos = sizes.instructions_at;
    while let Some(&op) = delta.get(pos) {
        pos += 1;
        if op & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for (bit, shift) in [(0x01, 0), (0x02, 8), (0x04, 16), (0x08, 24)] {
                if op & bit != 0 {
                    offset |= usize::from(take(delta, &mut pos)?) << shift;
                }
            }
            for (bit, shift) in [(0x10, 0), (0x20, 8), (0x40, 16)] {
                if op & bit != 0 {
                    size |= usize::from(take(delta, &mut pos)?) << shift;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let copy = offset
                .checked_add(size)
                .and_then(|end| base.get(offset..end))
                .ok_or_else(|| {
                    DeltaError(format!(
                        "copy of {size} bytes at {offset} is outside the base of {} bytes",
                        base.len()
                    ))
                })?;
            push(&mut out, copy, result_len)?;
        } else if op != 0 {
            let len = usize::from(op);
            let insert = delta
                .get(pos..pos + len)
                .ok_or_else(|| DeltaError("insert instruction runs past the delta's end".into()))?;
            pos += len;
            push(&mut out, insert, result_len)?;
        } else {
            return Err(DeltaError("reserved delta instruction 0".into()));
        }
    }
    if out.len() != result_len {
        return Err(DeltaError(format!(
            "delta produced {} bytes, its header declares {result_len}",
            out.len()
        )));
    }
    Ok(out)
}

fn take(delta: &[u8], pos: &mut usize) -> Result<u8, DeltaError> {
    let byte = *delta
        .get(*pos)
        .ok_or_else(|| DeltaError("copy instruction is truncated".into()))?;
    *pos += 1;
    Ok(byte)
}

fn push(out: &mut Vec<u8>, bytes: &[u8], limit: usize) -> Result<(), DeltaError> {
    if out.len() + bytes.len() > limit {
        return Err(DeltaError(format!(
            "delta produces more than its declared {limit} bytes"
        )));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_inserts() {
        let base = b"hello, world";
        // base 12, result 11: copy 5 at 0 ("hello"), insert " mars!"
        let mut delta = vec![12, 11, 0x80 | 0x10, 5, 6];
        delta.extend_from_slice(b" mars!");
        assert_eq!(apply(base, &delta, 100).unwrap(), b"hello mars!");
    }

    #[test]
    fn bad_deltas_are_errors() {
        let base = b"abc";
        assert!(
            apply(base, &[4, 1, 1, b'x'], 100).is_err(),
            "wrong base size"
        );
        assert!(apply(base, &[3, 1, 0], 100).is_err(), "reserved op");
        assert!(
            apply(base, &[3, 2, 0x91, 2, 2], 100).is_err(),
            "copy out of range"
        );
        assert!(
            apply(base, &[3, 2, 5, b'x'], 100).is_err(),
            "insert past the end"
        );
        assert!(
            apply(base, &[3, 1, 2, b'x', b'y'], 100).is_err(),
            "result too long"
        );
        assert!(
            apply(base, &[3, 3, 1, b'x'], 100).is_err(),
            "result too short"
        );
        assert!(
            apply(base, &[3, 0x80, 0x80, 0x01], 100).is_err(),
            "over max_result"
        );
        assert!(apply(base, &[0xff; 12], 100).is_err(), "size overflow");
    }
}
