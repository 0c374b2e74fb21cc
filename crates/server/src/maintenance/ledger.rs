//! The maintenance ledger: what gc runs retired, set aside as garbage and found orphaned, with
//! when, so that a later run deletes each pack once its grace period is over.
//!
//! ```text
//! swiftgit/gc/<time_ms, 20 digits>-<nonce>
//!     {"format":"swiftgit-gc/1","time_ms":…,
//!      "retired":[hex],   packs a repack removed from the state (deleted after the retire grace)
//!      "garbage":[hex],   garbage packs it added (unreachable objects, dropped after the prune grace)
//!      "orphans":[hex]}   stored packs no state names, first seen then (deleted after the prune grace)
//! ```
//!
//! A record is written with [`PutMode::Create`] before the state change it describes, and is
//! immutable. A run that dies before its commit leaves a record whose retired packs are still
//! live: the next run finds it void and deletes it. A record is deleted once every pack it
//! names is dealt with.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use swiftgit_repo::{ObjectId, PackId};
use swiftgit_storage::{PutMode, Storage};

use super::GcError;

pub const LEDGER_PREFIX: &str = "swiftgit/gc/";
const FORMAT: &str = "swiftgit-gc/1";

/// One record of the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Its object's name.
    pub name: String,
    pub time_ms: u64,
    pub retired: BTreeSet<PackId>,
    pub garbage: BTreeSet<PackId>,
    pub orphans: BTreeSet<PackId>,
}

#[derive(Serialize, Deserialize)]
struct RecordWire {
    format: String,
    time_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    garbage: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    orphans: Vec<String>,
}

impl Record {
    /// A record made at `now`, named uniquely.
    pub fn new(now: SystemTime) -> Record {
        let time_ms = millis(now);
        Record {
            name: format!(
                "{LEDGER_PREFIX}{time_ms:020}-{:016x}",
                rand::random::<u64>()
            ),
            time_ms,
            ..Record::default()
        }
    }

    /// Whether the record names nothing.
    pub fn is_empty(&self) -> bool {
        self.retired.is_empty() && self.garbage.is_empty() && self.orphans.is_empty()
    }

    /// Whether `grace` has passed since the record was made, at `now`.
    pub fn older_than(&self, grace: Duration, now: SystemTime) -> bool {
        self.time_ms.saturating_add(grace.as_millis() as u64) <= millis(now)
    }

    pub fn encode(&self) -> Vec<u8> {
        let hex = |packs: &BTreeSet<PackId>| packs.iter().map(|p| p.0.to_string()).collect();
        let wire = RecordWire {
            format: FORMAT.to_owned(),
            time_ms: self.time_ms,
            retired: hex(&self.retired),
            garbage: hex(&self.garbage),
            orphans: hex(&self.orphans),
        };
        serde_json::to_vec(&wire).expect("holds because the record is plain data")
    }

    pub fn decode(name: &str, bytes: &[u8]) -> Result<Record, String> {
        let wire: RecordWire = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if wire.format != FORMAT {
            return Err(format!(
                "format {:?} is not {FORMAT:?} (written by a newer swiftgit? upgrade this one)",
                wire.format
            ));
        }
        let packs = |hex: Vec<String>| {
            hex.iter()
                .map(|h| {
                    ObjectId::from_hex(h.as_bytes())
                        .map(PackId)
                        .map_err(|e| format!("{h:?} is not a pack id: {e}"))
                })
                .collect::<Result<BTreeSet<PackId>, String>>()
        };
        Ok(Record {
            name: name.to_owned(),
            time_ms: wire.time_ms,
            retired: packs(wire.retired)?,
            garbage: packs(wire.garbage)?,
            orphans: packs(wire.orphans)?,
        })
    }
}

/// Every record of the ledger of `container`, oldest first.
pub async fn read_all(storage: &dyn Storage, container: &str) -> Result<Vec<Record>, GcError> {
    let listed = storage
        .list(container, LEDGER_PREFIX)
        .await
        .map_err(GcError::storage("list", LEDGER_PREFIX))?;
    let mut records = Vec::with_capacity(listed.len());
    for meta in listed {
        let bytes = match storage.get(container, &meta.name).await {
            Ok(found) => found.bytes().await,
            Err(error) => Err(error),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            // Deleted by a run since the listing (listings lag): nothing left to do for it.
            Err(error) if error.kind() == swiftgit_storage::ErrorKind::NotFound => continue,
            Err(error) => return Err(GcError::storage("read", &meta.name)(error)),
        };
        let record = Record::decode(&meta.name, &bytes).map_err(|reason| GcError::Corrupt {
            object: meta.name.clone(),
            reason,
        })?;
        records.push(record);
    }
    Ok(records)
}

/// Stores `record` (before the state change it describes).
pub async fn write(storage: &dyn Storage, container: &str, record: &Record) -> Result<(), GcError> {
    storage
        .put(
            container,
            &record.name,
            record.encode().into(),
            PutMode::Create,
        )
        .await
        .map(|_| ())
        .map_err(GcError::storage("write", &record.name))
}

pub fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut record = Record::new(UNIX_EPOCH + Duration::from_secs(1_000));
        record
            .retired
            .insert(PackId(ObjectId::from_bytes_or_panic(&[1; 20])));
        record
            .orphans
            .insert(PackId(ObjectId::from_bytes_or_panic(&[2; 20])));
        let bytes = record.encode();
        assert_eq!(Record::decode(&record.name, &bytes), Ok(record.clone()));
        assert!(record.name.starts_with("swiftgit/gc/00000000000001000000-"));
        assert!(record.older_than(
            Duration::from_secs(10),
            UNIX_EPOCH + Duration::from_secs(1_010)
        ));
        assert!(!record.older_than(
            Duration::from_secs(10),
            UNIX_EPOCH + Duration::from_secs(1_009)
        ));
    }

    #[test]
    fn unknown_formats_and_bad_ids_are_refused() {
        let newer = br#"{"format":"swiftgit-gc/2","time_ms":1}"#;
        assert!(
            Record::decode("n", newer)
                .unwrap_err()
                .contains("newer swiftgit")
        );
        let bad = br#"{"format":"swiftgit-gc/1","time_ms":1,"retired":["zz"]}"#;
        assert!(
            Record::decode("n", bad)
                .unwrap_err()
                .contains("not a pack id")
        );
    }
}
