//! Fetching in protocol v0/v1: the client's want list, its `have` rounds, and the server's
//! acknowledgments and shallow updates.
//!
//! A v0/v1 fetch after the ref advertisement, as C git 2.47 sends it:
//!
//! ```text
//! C: want <id> multi_ack_detailed side-band-64k thin-pack … agent=git/2.47.3\n   (request.rs)
//! C: want <id>\n …  shallow <id>  deepen 1  filter blob:none  0000
//! S: shallow <id>  unshallow <id>  0000                 (only if deepening; response.rs)
//! C: have <id>\n … 0000 | done\n                        (negotiation.rs, repeated)
//! S: ACK <id> common\n … NAK\n                          (response.rs)
//! S: ACK <id>\n  then the pack, on side-band if chosen
//! ```
//!
//! [`Deepen`] and the shallow/unshallow encoders are shared with protocol v2's `fetch`.

pub(crate) mod deepen;
mod negotiation;
mod request;
mod response;

pub use crate::capabilities::AckMode;
pub use deepen::{Deepen, DeepenError};
pub use negotiation::{HaveRound, NegotiationError, RoundEnd, parse_have_round};
pub use request::{UploadRequest, UploadRequestError, WantList, parse_upload_request};
pub use response::{
    Ack, encode_ack, encode_shallow_line, encode_shallow_update, encode_unshallow_line,
};
