//! The bytes of the state log's objects: JSON, each object carrying a `format` tag with a version
//! so that a newer swiftgit can change the format and an older one refuses what it cannot read.
//! Pure functions over bytes; no IO.
//!
//! ```text
//! swiftgit/log/<seq>         {"format":"swiftgit-log-entry/1","seq":7,"time_ms":…,"nonce":"…",
//!                             "reset":{…snapshot…}?,
//!                             "refs":[{"name":…,"old":hex|null,"new":hex|null,"peeled":hex|""?}],
//!                             "head":{"symref":"refs/heads/main"}|{"detached":hex}?,
//!                             "packs_added":[hex], "packs_removed":[hex]}
//! swiftgit/checkpoint/<seq>  {"format":"swiftgit-checkpoint/1","seq":…,"time_ms":…,
//!                             "head":…,"refs":{"refs/heads/master":hex,…},"packs":[hex],
//!                             "peeled":{"refs/tags/v1":hex|"",…}?}
//! swiftgit/latest            {"format":"swiftgit-latest/1","checkpoint":seq|null,"seq":…}
//! ```
//!
//! `peeled` (added without a format change: readers ignore fields they do not know) records
//! what a ref's new value peels to: the hex id for an annotated tag, `""` for any other object;
//! absent, it was not recorded and a server peels through the objects.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::state::{LogEntry, Peeled, RefChange, RepoState, Snapshot};
use super::{Head, RefName};
use crate::{ObjectId, PackId};

pub const ENTRY_FORMAT: &str = "swiftgit-log-entry/1";
pub const CHECKPOINT_FORMAT: &str = "swiftgit-checkpoint/1";
pub const HINT_FORMAT: &str = "swiftgit-latest/1";

/// Bytes that are not a valid object of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("format {found:?} is not {expected:?} (written by a newer swiftgit? upgrade this one)")]
    UnknownFormat {
        expected: &'static str,
        found: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Where a repository's newest state probably is: a hint, overwritten after each commit and
/// eventually consistent; readers always probe past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The newest checkpoint the writer knew of.
    pub checkpoint: Option<u64>,
    /// The entry the writer had just written.
    pub seq: u64,
}

#[derive(Serialize, Deserialize)]
struct FormatTag {
    format: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HeadWire {
    Symref(String),
    Detached(String),
}

#[derive(Serialize, Deserialize)]
struct SnapshotWire {
    head: HeadWire,
    refs: BTreeMap<String, String>,
    packs: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    peeled: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct RefChangeWire {
    name: String,
    old: Option<String>,
    new: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peeled: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct EntryWire {
    format: String,
    seq: u64,
    time_ms: u64,
    nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reset: Option<SnapshotWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    refs: Vec<RefChangeWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head: Option<HeadWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    packs_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    packs_removed: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointWire {
    format: String,
    seq: u64,
    time_ms: u64,
    #[serde(flatten)]
    snapshot: SnapshotWire,
}

#[derive(Serialize, Deserialize)]
struct HintWire {
    format: String,
    checkpoint: Option<u64>,
    seq: u64,
}

pub fn encode_entry(entry: &LogEntry) -> Vec<u8> {
    let wire = EntryWire {
        format: ENTRY_FORMAT.to_owned(),
        seq: entry.seq,
        time_ms: entry.time_ms,
        nonce: format!("{:016x}", entry.nonce),
        reset: entry.reset.as_ref().map(snapshot_to_wire),
        refs: entry
            .refs
            .iter()
            .map(|change| RefChangeWire {
                name: change.name.to_string(),
                old: change.old.map(|id| id.to_string()),
                new: change.new.map(|id| id.to_string()),
                peeled: change.peeled.map(peeled_to_wire),
            })
            .collect(),
        head: entry.head.as_ref().map(head_to_wire),
        packs_added: entry.packs_added.iter().map(|p| p.0.to_string()).collect(),
        packs_removed: entry
            .packs_removed
            .iter()
            .map(|p| p.0.to_string())
            .collect(),
    };
    serde_json::to_vec(&wire).expect("holds because the wire types serialize infallibly")
}

pub fn decode_entry(bytes: &[u8]) -> Result<LogEntry, FormatError> {
    check_format(bytes, ENTRY_FORMAT)?;
    let wire: EntryWire = serde_json::from_slice(bytes).map_err(invalid)?;
    let nonce = u64::from_str_radix(&wire.nonce, 16)
        .map_err(|_| FormatError::Invalid(format!("nonce {:?} is not hexadecimal", wire.nonce)))?;
    let refs = wire
        .refs
        .into_iter()
        .map(|change| {
            Ok(RefChange {
                name: ref_name(change.name)?,
                old: change.old.as_deref().map(object_id).transpose()?,
                new: change.new.as_deref().map(object_id).transpose()?,
                peeled: change.peeled.as_deref().map(peeled_from_wire).transpose()?,
            })
        })
        .collect::<Result<_, FormatError>>()?;
    Ok(LogEntry {
        seq: wire.seq,
        time_ms: wire.time_ms,
        nonce,
        reset: wire.reset.map(snapshot_from_wire).transpose()?,
        refs,
        head: wire.head.map(head_from_wire).transpose()?,
        packs_added: packs(&wire.packs_added)?,
        packs_removed: packs(&wire.packs_removed)?,
    })
}

pub fn encode_checkpoint(state: &RepoState, time_ms: u64) -> Vec<u8> {
    let wire = CheckpointWire {
        format: CHECKPOINT_FORMAT.to_owned(),
        seq: state.seq,
        time_ms,
        snapshot: snapshot_to_wire(&Snapshot::from(state)),
    };
    serde_json::to_vec(&wire).expect("holds because the wire types serialize infallibly")
}

pub fn decode_checkpoint(bytes: &[u8]) -> Result<RepoState, FormatError> {
    check_format(bytes, CHECKPOINT_FORMAT)?;
    let wire: CheckpointWire = serde_json::from_slice(bytes).map_err(invalid)?;
    let snapshot = snapshot_from_wire(wire.snapshot)?;
    Ok(RepoState::from_snapshot(wire.seq, snapshot))
}

pub fn encode_hint(hint: Hint) -> Vec<u8> {
    let wire = HintWire {
        format: HINT_FORMAT.to_owned(),
        checkpoint: hint.checkpoint,
        seq: hint.seq,
    };
    serde_json::to_vec(&wire).expect("holds because the wire types serialize infallibly")
}

pub fn decode_hint(bytes: &[u8]) -> Result<Hint, FormatError> {
    check_format(bytes, HINT_FORMAT)?;
    let wire: HintWire = serde_json::from_slice(bytes).map_err(invalid)?;
    Ok(Hint {
        checkpoint: wire.checkpoint,
        seq: wire.seq,
    })
}

/// Accepts `expected`; names a newer version of the same kind as such.
fn check_format(bytes: &[u8], expected: &'static str) -> Result<(), FormatError> {
    let tag: FormatTag = serde_json::from_slice(bytes).map_err(invalid)?;
    if tag.format == expected {
        return Ok(());
    }
    Err(FormatError::UnknownFormat {
        expected,
        found: tag.format,
    })
}

fn invalid(error: serde_json::Error) -> FormatError {
    FormatError::Invalid(format!("not valid JSON of this kind: {error}"))
}

fn object_id(hex: &str) -> Result<ObjectId, FormatError> {
    if hex.len() != 40 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(FormatError::Invalid(format!(
            "{hex:?} is not a 40-digit lowercase hexadecimal object id"
        )));
    }
    ObjectId::from_hex(hex.as_bytes())
        .map_err(|e| FormatError::Invalid(format!("{hex:?} is not an object id: {e}")))
}

fn ref_name(name: String) -> Result<RefName, FormatError> {
    RefName::new(name).map_err(|e| FormatError::Invalid(e.to_string()))
}

fn packs(hexes: &[String]) -> Result<Vec<PackId>, FormatError> {
    hexes.iter().map(|hex| object_id(hex).map(PackId)).collect()
}

fn head_to_wire(head: &Head) -> HeadWire {
    match head {
        Head::Symbolic(name) => HeadWire::Symref(name.to_string()),
        Head::Detached(id) => HeadWire::Detached(id.to_string()),
    }
}

fn head_from_wire(wire: HeadWire) -> Result<Head, FormatError> {
    Ok(match wire {
        HeadWire::Symref(name) => Head::Symbolic(ref_name(name)?),
        HeadWire::Detached(hex) => Head::Detached(object_id(&hex)?),
    })
}

fn snapshot_to_wire(snapshot: &Snapshot) -> SnapshotWire {
    SnapshotWire {
        head: head_to_wire(&snapshot.head),
        refs: snapshot
            .refs
            .iter()
            .map(|(name, id)| (name.to_string(), id.to_string()))
            .collect(),
        packs: snapshot.packs.iter().map(|p| p.0.to_string()).collect(),
        peeled: snapshot
            .peeled
            .iter()
            .map(|(name, peeled)| (name.to_string(), peeled_to_wire(*peeled)))
            .collect(),
    }
}

fn peeled_to_wire(peeled: Peeled) -> String {
    peeled.map(|id| id.to_string()).unwrap_or_default()
}

fn peeled_from_wire(text: &str) -> Result<Peeled, FormatError> {
    if text.is_empty() {
        Ok(None)
    } else {
        object_id(text).map(Some)
    }
}

fn snapshot_from_wire(wire: SnapshotWire) -> Result<Snapshot, FormatError> {
    let refs = wire
        .refs
        .into_iter()
        .map(|(name, hex)| Ok((ref_name(name)?, object_id(&hex)?)))
        .collect::<Result<BTreeMap<_, _>, FormatError>>()?;
    let packs: BTreeSet<PackId> = packs(&wire.packs)?.into_iter().collect();
    let peeled = wire
        .peeled
        .into_iter()
        .map(|(name, text)| Ok((ref_name(name)?, peeled_from_wire(&text)?)))
        .collect::<Result<BTreeMap<_, _>, FormatError>>()?;
    Ok(Snapshot {
        head: head_from_wire(wire.head)?,
        refs,
        packs,
        peeled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn name(s: &str) -> RefName {
        RefName::new(s).expect("valid")
    }

    #[test]
    fn entries_round_trip() {
        let entry = LogEntry {
            seq: 42,
            time_ms: 1_700_000_000_000,
            nonce: u64::MAX,
            reset: Some(Snapshot {
                head: Head::Symbolic(name("refs/heads/main")),
                refs: [(name("refs/heads/main"), id(1))].into(),
                packs: [PackId(id(9))].into(),
                peeled: [(name("refs/heads/main"), None)].into(),
            }),
            refs: vec![
                RefChange {
                    name: name("refs/heads/main"),
                    old: Some(id(1)),
                    new: Some(id(2)),
                    peeled: Some(None),
                },
                RefChange {
                    name: name("refs/tags/v1"),
                    old: Some(id(3)),
                    new: None,
                    peeled: None,
                },
                RefChange {
                    name: name("refs/tags/v2"),
                    old: None,
                    new: Some(id(8)),
                    peeled: Some(Some(id(2))),
                },
            ],
            head: Some(Head::Detached(id(2))),
            packs_added: vec![PackId(id(7))],
            packs_removed: vec![PackId(id(9))],
        };
        let bytes = encode_entry(&entry);
        assert_eq!(decode_entry(&bytes).expect("decodes"), entry);
        let plain = LogEntry {
            reset: None,
            refs: vec![],
            head: None,
            packs_added: vec![],
            packs_removed: vec![],
            ..entry
        };
        let bytes = encode_entry(&plain);
        assert_eq!(decode_entry(&bytes).expect("decodes"), plain);
        assert!(!String::from_utf8_lossy(&bytes).contains("reset"));
    }

    #[test]
    fn entries_without_peeled_values_still_decode() {
        let old = br#"{"format":"swiftgit-log-entry/1","seq":3,"time_ms":0,"nonce":"1",
            "refs":[{"name":"refs/tags/v1","old":null,"new":"0101010101010101010101010101010101010101"}]}"#;
        let entry = decode_entry(old).expect("decodes");
        assert_eq!(entry.refs[0].peeled, None);
        let mut state = RepoState::new(
            2,
            Head::Symbolic(name("refs/heads/master")),
            [(name("refs/tags/v1"), id(7))].into(),
            BTreeSet::new(),
        );
        state.peeled.insert(name("refs/tags/v1"), Some(id(2)));
        state.apply(&entry);
        assert_eq!(state.get("refs/tags/v1"), Some(id(1)));
        assert_eq!(
            state.peeled(&name("refs/tags/v1")),
            None,
            "the old peeled value went with the old value"
        );
    }

    #[test]
    fn checkpoints_and_hints_round_trip() {
        let mut state = RepoState::new(
            9,
            Head::Symbolic(name("refs/heads/master")),
            [
                (name("refs/heads/master"), id(4)),
                (name("refs/tags/v1"), id(3)),
                (name("refs/tags/v2"), id(2)),
            ]
            .into(),
            [PackId(id(5)), PackId(id(6))].into(),
        );
        state.peeled = [
            (name("refs/heads/master"), None),
            (name("refs/tags/v1"), Some(id(4))),
        ]
        .into();
        let decoded = decode_checkpoint(&encode_checkpoint(&state, 1)).expect("decodes");
        assert_eq!(decoded, state);
        assert_eq!(decoded.peeled(&name("refs/tags/v1")), Some(Some(id(4))));
        assert_eq!(decoded.peeled(&name("refs/heads/master")), Some(None));
        assert_eq!(decoded.peeled(&name("refs/tags/v2")), None);
        let hint = Hint {
            checkpoint: Some(8),
            seq: 12,
        };
        assert_eq!(decode_hint(&encode_hint(hint)).expect("decodes"), hint);
    }

    #[test]
    fn bad_bytes_are_refused_with_a_reason() {
        let newer = br#"{"format":"swiftgit-log-entry/2","seq":1}"#;
        assert_eq!(
            decode_entry(newer),
            Err(FormatError::UnknownFormat {
                expected: ENTRY_FORMAT,
                found: "swiftgit-log-entry/2".into()
            })
        );
        assert!(matches!(decode_entry(b"{"), Err(FormatError::Invalid(_))));
        assert!(matches!(
            decode_hint(&encode_entry(&LogEntry {
                seq: 1,
                time_ms: 0,
                nonce: 0,
                reset: None,
                refs: vec![],
                head: None,
                packs_added: vec![],
                packs_removed: vec![],
            })),
            Err(FormatError::UnknownFormat { .. })
        ));
        let bad_ref = br#"{"format":"swiftgit-log-entry/1","seq":1,"time_ms":0,"nonce":"0",
            "refs":[{"name":"refs/heads/a..b","old":null,"new":null}]}"#;
        let err = decode_entry(bad_ref).expect_err("bad ref name");
        assert!(err.to_string().contains("refs/heads/a..b"), "{err}");
        let bad_id = br#"{"format":"swiftgit-log-entry/1","seq":1,"time_ms":0,"nonce":"0",
            "packs_added":["ABCDEF"]}"#;
        assert!(
            decode_entry(bad_id)
                .expect_err("bad id")
                .to_string()
                .contains("ABCDEF")
        );
    }
}
