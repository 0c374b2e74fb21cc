//! What the etcd coordinator keeps in etcd for a repository, and the bytes of its values. Pure
//! functions; no IO.
//!
//! ```text
//! <prefix>repos/<name>/head          {"format":"swiftgit-etcd-head/1","seq":N,"epoch":"<hex>"}
//! <prefix>repos/<name>/archived      "<M>": every entry up to M is in the object store's log
//! <prefix>repos/<name>/maintenance   "<host>:<pid>" of the maintenance run, under an etcd lease
//! <prefix>repos/<name>/log/<seq, 20 digits>
//!                                    the entry's bytes (as in the object store), or for an
//!                                    entry too large for etcd a pointer to a copy stored first:
//!                                    {"format":"swiftgit-etcd-pointer/1","object":"swiftgit/log/…"}
//! ```
//!
//! Every append is one transaction comparing the head's value and writing the new head and
//! the entry. The epoch, random at registration, makes a head value unique to one registration
//! of the repository, so a writer that read a repository before it was deleted and created
//! again cannot append to the new one.

use serde::{Deserialize, Serialize};

use crate::refs::format::{self, FormatError};
use crate::refs::log;
use crate::refs::state::LogEntry;

const HEAD_FORMAT: &str = "swiftgit-etcd-head/1";
const POINTER_FORMAT: &str = "swiftgit-etcd-pointer/1";

/// The keys of one repository.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    base: String,
    pub head: Vec<u8>,
    pub archived: Vec<u8>,
    /// Held by the repository's maintenance run (see `sequence::maintenance`).
    pub maintenance: Vec<u8>,
    log_prefix: String,
}

impl Keys {
    pub fn new(prefix: &str, repo: &str) -> Keys {
        let base = format!("{prefix}repos/{repo}/");
        Keys {
            head: format!("{base}head").into_bytes(),
            archived: format!("{base}archived").into_bytes(),
            maintenance: format!("{base}maintenance").into_bytes(),
            log_prefix: format!("{base}log/"),
            base,
        }
    }

    /// The prefix of every key of the repository.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn entry(&self, seq: u64) -> Vec<u8> {
        format!("{}{seq:020}", self.log_prefix).into_bytes()
    }

    /// The end of the log's key range (exclusive).
    pub fn log_end(&self) -> Vec<u8> {
        swiftgit_etcd::prefix_end(self.log_prefix.as_bytes())
    }

    /// The seq of a log key.
    pub fn seq_of(&self, key: &[u8]) -> Option<u64> {
        std::str::from_utf8(key)
            .ok()?
            .strip_prefix(&self.log_prefix)?
            .parse()
            .ok()
    }
}

/// The head: the newest entry's seq in one registration (epoch) of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeadValue {
    pub seq: u64,
    pub epoch: String,
}

#[derive(Serialize, Deserialize)]
struct HeadWire {
    format: String,
    seq: u64,
    epoch: String,
}

impl HeadValue {
    /// The exact bytes transactions compare with: one encoding for one value.
    pub fn encode(&self) -> Vec<u8> {
        let wire = HeadWire {
            format: HEAD_FORMAT.to_owned(),
            seq: self.seq,
            epoch: self.epoch.clone(),
        };
        serde_json::to_vec(&wire).expect("holds because the head serializes infallibly")
    }

    pub fn decode(bytes: &[u8]) -> Result<HeadValue, String> {
        let wire: HeadWire =
            serde_json::from_slice(bytes).map_err(|e| format!("not a head value: {e}"))?;
        if wire.format != HEAD_FORMAT {
            return Err(format!(
                "format {:?} is not {HEAD_FORMAT:?} (written by a newer swiftgit? upgrade this one)",
                wire.format
            ));
        }
        Ok(HeadValue {
            seq: wire.seq,
            epoch: wire.epoch,
        })
    }

    pub fn new_epoch() -> String {
        format!("{:016x}", rand::random::<u64>())
    }
}

/// The value of `archived` (absent: 0).
pub(super) fn decode_archived(bytes: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("{:?} is not a seq", String::from_utf8_lossy(bytes)))
}

/// What an entry's key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EntryValue {
    /// The entry itself.
    Inline(Box<LogEntry>),
    /// A copy stored in the object store before the transaction, under this name.
    Pointer(String),
}

#[derive(Serialize, Deserialize)]
struct PointerWire {
    format: String,
    object: String,
}

/// The name of the copy of a large entry: unique to the writer's attempt.
pub(super) fn pointer_object(entry: &LogEntry) -> String {
    format!("{}.{:016x}", log::entry_name(entry.seq), entry.nonce)
}

pub(super) fn encode_pointer(object: &str) -> Vec<u8> {
    let wire = PointerWire {
        format: POINTER_FORMAT.to_owned(),
        object: object.to_owned(),
    };
    serde_json::to_vec(&wire).expect("holds because the pointer serializes infallibly")
}

pub(super) fn decode_entry_value(bytes: &[u8]) -> Result<EntryValue, FormatError> {
    if let Ok(wire) = serde_json::from_slice::<PointerWire>(bytes)
        && wire.format == POINTER_FORMAT
    {
        if !wire.object.starts_with(log::LOG_PREFIX) {
            return Err(FormatError::Invalid(format!(
                "pointer to {:?}, outside the log",
                wire.object
            )));
        }
        return Ok(EntryValue::Pointer(wire.object));
    }
    format::decode_entry(bytes).map(|entry| EntryValue::Inline(Box::new(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            time_ms: 5,
            nonce: 0xabc,
            reset: None,
            refs: vec![],
            head: None,
            packs_added: vec![],
            packs_removed: vec![],
        }
    }

    #[test]
    fn keys_sort_by_seq_and_round_trip() {
        let keys = Keys::new("swiftgit/", "edeploy");
        assert_eq!(keys.head, b"swiftgit/repos/edeploy/head");
        assert_eq!(
            keys.entry(7),
            b"swiftgit/repos/edeploy/log/00000000000000000007"
        );
        assert!(keys.entry(9) < keys.entry(10));
        assert!(keys.entry(u64::MAX) < keys.log_end());
        assert_eq!(keys.seq_of(&keys.entry(42)), Some(42));
        assert_eq!(keys.seq_of(&keys.head), None);
        let other = Keys::new("swiftgit/", "edeploy2");
        assert!(other.entry(1) > keys.log_end() || other.entry(1) < keys.entry(0));
    }

    #[test]
    fn values_round_trip_and_bad_ones_are_refused() {
        let head = HeadValue {
            seq: 12,
            epoch: "00ff".into(),
        };
        assert_eq!(HeadValue::decode(&head.encode()), Ok(head.clone()));
        assert_eq!(head.encode(), head.clone().encode(), "one encoding");
        assert!(
            HeadValue::decode(b"{\"format\":\"swiftgit-etcd-head/2\",\"seq\":1,\"epoch\":\"\"}")
                .is_err()
        );
        assert!(HeadValue::decode(b"12").is_err());
        assert_eq!(decode_archived(b"17"), Ok(17));
        assert!(decode_archived(b"x").is_err());

        let e = entry(3);
        assert_eq!(
            decode_entry_value(&format::encode_entry(&e)),
            Ok(EntryValue::Inline(Box::new(e.clone())))
        );
        let object = pointer_object(&e);
        assert_eq!(object, "swiftgit/log/00000000000000000003.0000000000000abc");
        assert_eq!(
            decode_entry_value(&encode_pointer(&object)),
            Ok(EntryValue::Pointer(object))
        );
        assert!(decode_entry_value(&encode_pointer("objects/pack/x")).is_err());
        assert!(decode_entry_value(b"[]").is_err());
    }
}
