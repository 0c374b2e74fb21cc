//! Bytes from the network shown safely inside error messages.
//!
//! A client can send anything; an error message that quotes it must neither break a terminal nor a log
//! line, nor grow without bound. [`EscapedBytes`] keeps at most [`EscapedBytes::MAX_SHOWN`] bytes and
//! displays them with `\n`, `\0`, `\xNN` escapes.

use std::fmt;

/// A copy of (the start of) some untrusted bytes that displays escaped and truncated.
#[derive(Clone, PartialEq, Eq)]
pub struct EscapedBytes {
    shown: Vec<u8>,
    total_len: usize,
}

impl EscapedBytes {
    /// How many bytes are kept for display; longer input is cut and marked with its full length.
    pub const MAX_SHOWN: usize = 100;

    /// Keep the first [`Self::MAX_SHOWN`] bytes of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let shown = bytes[..bytes.len().min(Self::MAX_SHOWN)].to_vec();
        EscapedBytes {
            shown,
            total_len: bytes.len(),
        }
    }

    /// The kept bytes, unescaped (at most [`Self::MAX_SHOWN`]).
    pub fn shown(&self) -> &[u8] {
        &self.shown
    }

    /// The length of the original input.
    pub fn total_len(&self) -> usize {
        self.total_len
    }
}

impl fmt::Display for EscapedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.shown.escape_ascii())?;
        if self.total_len > self.shown.len() {
            write!(f, "... ({} bytes)", self.total_len)?;
        }
        Ok(())
    }
}

impl fmt::Debug for EscapedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl From<&[u8]> for EscapedBytes {
    fn from(bytes: &[u8]) -> Self {
        EscapedBytes::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::EscapedBytes;

    #[test]
    fn control_bytes_are_escaped() {
        let shown = EscapedBytes::new(b"a\0b\n\xff").to_string();
        assert_eq!(shown, r"a\x00b\n\xff");
    }

    #[test]
    fn long_input_is_cut_and_its_length_shown() {
        let shown = EscapedBytes::new(&[b'x'; 300]).to_string();
        assert_eq!(shown, format!("{}... (300 bytes)", "x".repeat(100)));
    }
}
