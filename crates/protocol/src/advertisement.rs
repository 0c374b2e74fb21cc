//! The v0/v1 ref advertisement both upload-pack and receive-pack start with.
//!
//! ```text
//! 000eversion 1\n                                          (v1 only)
//! 010a<id> HEAD\0<capabilities>\n                          (first ref carries the capabilities)
//! 003d<id> refs/heads/main\n
//! 003a<id> refs/tags/v1\n
//! 003d<peeled id> refs/tags/v1^{}\n                        (annotated tags: right after the tag)
//! 0000
//! ```
//!
//! With no refs, the capabilities ride on `<zero-id> capabilities^{}`. The order of `refs` is the
//! caller's: git sends HEAD first (upload-pack only; receive-pack never lists HEAD) and the rest
//! sorted by name. Over smart HTTP the advertisement is preceded by [`encode_http_service_header`].

use bytes::BufMut;
use gix_hash::ObjectId;

use crate::daemon_request::Service;
use crate::object_id::{Hex, ZERO_ID};
use crate::pkt_line::encode::{self, EncodeError};
use crate::protocol_version::ProtocolVersion;

/// One advertised ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedRef {
    /// Full name (`HEAD`, `refs/heads/main`).
    pub name: bstr::BString,
    /// What it points to.
    pub id: ObjectId,
    /// For an annotated tag, the object it peels to (sent as `<peeled> <name>^{}`).
    pub peeled: Option<ObjectId>,
}

/// A ref advertisement to encode.
#[derive(Debug, Clone, Copy)]
pub struct RefAdvertisement<'a> {
    /// V0 or V1 (V1 adds the `version 1` line). V2 has no ref advertisement.
    pub version: ProtocolVersion,
    /// The refs in the order to send.
    pub refs: &'a [AdvertisedRef],
    /// The capability list, e.g. from `UploadPackFeatures::advertise`.
    pub capabilities: &'a [u8],
    /// Commits at which this repository is shallow (`shallow <id>` lines before the flush).
    pub shallow: &'a [ObjectId],
}

/// A ref advertisement that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertisementError {
    /// Protocol v2 starts with a capability advertisement instead (`v2::V2Features`).
    #[error("protocol v2 has no ref advertisement; send the v2 capability advertisement")]
    NotForV2,
    /// A line is too long for a packet (a ref name of ~65 KB).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl RefAdvertisement<'_> {
    /// Write the whole advertisement, closing flush included.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), AdvertisementError> {
        match self.version {
            ProtocolVersion::V0 => {}
            ProtocolVersion::V1 => encode::text(out, b"version 1")?,
            ProtocolVersion::V2 => return Err(AdvertisementError::NotForV2),
        }
        match self.refs.split_first() {
            None => {
                let zero = Hex::new(&ZERO_ID);
                encode::parts(
                    out,
                    &[
                        zero.as_bytes(),
                        b" capabilities^{}\0",
                        self.capabilities,
                        b"\n",
                    ],
                )?;
            }
            Some((first, rest)) => {
                let id = Hex::new(&first.id);
                encode::parts(
                    out,
                    &[
                        id.as_bytes(),
                        b" ",
                        &first.name,
                        b"\0",
                        self.capabilities,
                        b"\n",
                    ],
                )?;
                encode_peeled(out, first)?;
                for advertised in rest {
                    let id = Hex::new(&advertised.id);
                    encode::parts(out, &[id.as_bytes(), b" ", &advertised.name, b"\n"])?;
                    encode_peeled(out, advertised)?;
                }
            }
        }
        for id in self.shallow {
            encode::parts(out, &[b"shallow ", Hex::new(id).as_bytes(), b"\n"])?;
        }
        encode::flush(out);
        Ok(())
    }
}

fn encode_peeled(out: &mut impl BufMut, advertised: &AdvertisedRef) -> Result<(), EncodeError> {
    if let Some(peeled) = advertised.peeled {
        let id = Hex::new(&peeled);
        encode::parts(out, &[id.as_bytes(), b" ", &advertised.name, b"^{}\n"])?;
    }
    Ok(())
}

/// Write the smart-HTTP preamble of `GET /info/refs?service=<service>` (v0/v1 only):
/// `001e# service=git-upload-pack\n0000`.
pub fn encode_http_service_header(out: &mut impl BufMut, service: Service) {
    encode::parts(out, &[b"# service=", service.name().as_bytes(), b"\n"])
        .expect("holds because the line is 30 bytes at most");
    encode::flush(out);
}
