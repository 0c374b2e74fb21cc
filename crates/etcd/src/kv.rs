//! What a caller reads and writes: key ranges, the key-values they return, lease ids and a
//! member's status. Plain data, no IO; `wire` turns them into etcd's JSON and back.

/// The key after every key that starts with `prefix`: etcd's "prefix + 1" range end.
///
/// The last byte below 0xff is incremented and everything after it dropped. A prefix that is
/// empty or all 0xff has no such key; etcd spells "to the end of the keyspace" as `[0]`, which
/// is what this returns then.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|&byte| byte < 0xff) {
        Some(last) => {
            let mut end = prefix[..=last].to_vec();
            end[last] += 1;
            end
        }
        None => vec![0],
    }
}

/// A read of one key or of the keys in `[key, range_end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The key, or the first key of the range.
    pub key: Vec<u8>,
    /// `None` reads `key` alone; `Some(end)` reads `[key, end)`, and `Some(vec![0])` every key
    /// from `key` on.
    pub range_end: Option<Vec<u8>>,
    /// At most this many key-values; 0 means no limit. [`RangeResponse::more`] says whether
    /// the limit cut the answer short.
    pub limit: i64,
    /// Answer from the member's local copy (possibly stale, works without a leader) instead of
    /// a linearizable read through the leader.
    pub serializable: bool,
    /// Return keys and revisions without values.
    pub keys_only: bool,
}

impl RangeRequest {
    /// Reads one key.
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        RangeRequest {
            key: key.into(),
            range_end: None,
            limit: 0,
            serializable: false,
            keys_only: false,
        }
    }

    /// Reads every key that starts with `prefix`. An empty prefix reads the whole keyspace
    /// (etcd has no empty key, so that range starts at `[0]`).
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let prefix = prefix.into();
        let end = prefix_end(&prefix);
        let key = if prefix.is_empty() { vec![0] } else { prefix };
        RangeRequest::from_key_to(key, end)
    }

    /// Reads the keys in `[start, end)`.
    pub fn from_key_to(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        RangeRequest {
            range_end: Some(end.into()),
            ..RangeRequest::key(start)
        }
    }

    /// At most `n` key-values (0: no limit).
    pub fn with_limit(self, n: i64) -> Self {
        RangeRequest { limit: n, ..self }
    }

    /// A serializable read: served by the member asked, from its possibly stale copy.
    pub fn with_serializable(self) -> Self {
        RangeRequest {
            serializable: true,
            ..self
        }
    }

    /// Keys and revisions only, no values.
    pub fn with_keys_only(self) -> Self {
        RangeRequest {
            keys_only: true,
            ..self
        }
    }
}

/// What a range found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The key-values in key order, at most `limit` of them.
    pub kvs: Vec<KeyValue>,
    /// Whether more keys are in the range than `kvs` holds (the limit cut it short).
    pub more: bool,
    /// How many keys the whole range holds, whatever the limit.
    pub count: i64,
    /// The store's revision the read saw.
    pub revision: i64,
}

/// One key and its value, with the revisions etcd keeps for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    /// Empty for a keys-only read (and for an empty value).
    pub value: Vec<u8>,
    /// The revision of the put that created the key (since its last delete).
    pub create_revision: i64,
    /// The revision of the last put to the key.
    pub mod_revision: i64,
    /// How many puts since the key was created (1 after the first).
    pub version: i64,
    /// The lease the key is attached to, 0 for none.
    pub lease: i64,
}

/// A lease: keys attached to it are deleted when it expires or is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseId(pub i64);

/// What one member says about itself (`/v3/maintenance/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberStatus {
    /// etcd's version, e.g. "3.4.23".
    pub version: String,
    /// The member id of the leader this member knows; 0 when it knows none.
    pub leader: u64,
    /// This member's id.
    pub member_id: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    /// The size of the backend database file, bytes.
    pub db_size: i64,
    /// Problems the member reports about itself, e.g. "etcdserver: no leader".
    pub errors: Vec<String>,
}

impl MemberStatus {
    /// Whether this member is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader != 0 && self.leader == self.member_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"a/b"), b"a/c");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"a\xfe\xff\xff"), b"a\xff");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn constructors_say_what_they_read() {
        let one = RangeRequest::key("k");
        assert_eq!((one.key.as_slice(), one.range_end), (&b"k"[..], None));
        let prefix = RangeRequest::prefix("locks/")
            .with_limit(2)
            .with_keys_only();
        assert_eq!(prefix.range_end.as_deref(), Some(&b"locks0"[..]));
        assert_eq!(
            (prefix.limit, prefix.keys_only, prefix.serializable),
            (2, true, false)
        );
        let all = RangeRequest::prefix("").with_serializable();
        assert_eq!((all.key, all.range_end), (vec![0], Some(vec![0])));
        assert!(all.serializable);
    }

    #[test]
    fn the_leader_is_the_member_whose_id_it_names() {
        let mut status = MemberStatus {
            leader: 7,
            member_id: 7,
            ..MemberStatus::default()
        };
        assert!(status.is_leader());
        status.member_id = 8;
        assert!(!status.is_leader());
        status.leader = 0;
        status.member_id = 0;
        assert!(!status.is_leader());
    }
}
