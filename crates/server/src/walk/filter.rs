//! Partial-clone filters as the tree walk applies them: which objects to leave out, and whether a
//! tree's entries need to be looked at at all.
//!
//! Depth counts from a root tree (0); its entries are at depth 1. Objects a want names
//! explicitly are always sent, whatever the filter (C git's default, which a partial clone's
//! lazy fetch of a missing blob relies on); the walk handles that, not this module.

use gix_object::Kind;
use swiftgit_protocol::filter::{FilterSpec, ObjectType};

use super::WalkError;

/// A filter ready to answer the walk's questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectFilter {
    /// Everything is sent.
    None,
    /// `blob:none`.
    BlobNone,
    /// `blob:limit=<n>`: blobs of `n` bytes or more are left out.
    BlobLimit(u64),
    /// `tree:<n>`: trees and blobs at depth `n` or deeper are left out.
    TreeDepth(u64),
    /// `object:type=<t>`: only objects of this kind are sent.
    ObjectType(Kind),
    /// `combine:`: an object is sent only if every filter sends it.
    All(Vec<ObjectFilter>),
}

impl ObjectFilter {
    /// The filter for `spec`; `sparse:oid=` is not supported.
    pub fn new(spec: Option<&FilterSpec>) -> Result<ObjectFilter, WalkError> {
        let Some(spec) = spec else {
            return Ok(ObjectFilter::None);
        };
        Ok(match spec {
            FilterSpec::BlobNone => ObjectFilter::BlobNone,
            FilterSpec::BlobLimit(limit) => ObjectFilter::BlobLimit(*limit),
            FilterSpec::TreeDepth(depth) => ObjectFilter::TreeDepth(*depth),
            FilterSpec::ObjectType(kind) => ObjectFilter::ObjectType(match kind {
                ObjectType::Blob => Kind::Blob,
                ObjectType::Tree => Kind::Tree,
                ObjectType::Commit => Kind::Commit,
                ObjectType::Tag => Kind::Tag,
            }),
            FilterSpec::SparseOid(name) => {
                return Err(WalkError::UnsupportedFilter {
                    spec: format!("sparse:oid={name}"),
                });
            }
            FilterSpec::Combine(specs) => ObjectFilter::All(
                specs
                    .iter()
                    .map(|spec| ObjectFilter::new(Some(spec)))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Whether commits and tags of `kind` are sent (only `object:type` leaves them out).
    pub fn include_kind(&self, kind: Kind) -> bool {
        match self {
            ObjectFilter::ObjectType(only) => *only == kind,
            ObjectFilter::All(filters) => filters.iter().all(|f| f.include_kind(kind)),
            _ => true,
        }
    }

    /// Whether a tree at `depth` is sent.
    pub fn include_tree(&self, depth: u64) -> bool {
        match self {
            ObjectFilter::TreeDepth(limit) => depth < *limit,
            ObjectFilter::ObjectType(only) => *only == Kind::Tree,
            ObjectFilter::All(filters) => filters.iter().all(|f| f.include_tree(depth)),
            _ => true,
        }
    }

    /// Whether the entries of a tree at `depth` can contain anything to send.
    pub fn descend(&self, depth: u64) -> bool {
        match self {
            ObjectFilter::TreeDepth(limit) => depth + 1 < *limit,
            ObjectFilter::ObjectType(Kind::Commit | Kind::Tag) => false,
            ObjectFilter::All(filters) => filters.iter().all(|f| f.descend(depth)),
            _ => true,
        }
    }

    /// Whether blobs need their size to be decided.
    pub fn needs_blob_size(&self) -> bool {
        match self {
            ObjectFilter::BlobLimit(_) => true,
            ObjectFilter::All(filters) => filters.iter().any(ObjectFilter::needs_blob_size),
            _ => false,
        }
    }

    /// Whether a blob at `depth` of `size` bytes (when [`Self::needs_blob_size`]) is sent.
    pub fn include_blob(&self, depth: u64, size: Option<u64>) -> bool {
        match self {
            ObjectFilter::None => true,
            ObjectFilter::BlobNone => false,
            ObjectFilter::BlobLimit(limit) => size.is_some_and(|size| size < *limit),
            ObjectFilter::TreeDepth(limit) => depth < *limit,
            ObjectFilter::ObjectType(only) => *only == Kind::Blob,
            ObjectFilter::All(filters) => filters.iter().all(|f| f.include_blob(depth, size)),
        }
    }

    /// Whether no blob can be sent at all (then blob entries are not even looked at).
    pub fn excludes_all_blobs(&self) -> bool {
        match self {
            ObjectFilter::BlobNone => true,
            ObjectFilter::BlobLimit(0) => true,
            ObjectFilter::ObjectType(only) => *only != Kind::Blob,
            ObjectFilter::All(filters) => filters.iter().any(ObjectFilter::excludes_all_blobs),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(spec: &[u8]) -> ObjectFilter {
        ObjectFilter::new(Some(&FilterSpec::parse(spec).unwrap())).unwrap()
    }

    #[test]
    fn blob_filters() {
        assert!(!filter(b"blob:none").include_blob(1, None));
        assert!(filter(b"blob:none").include_tree(3));
        let limit = filter(b"blob:limit=10");
        assert!(limit.needs_blob_size());
        assert!(limit.include_blob(1, Some(9)));
        assert!(!limit.include_blob(1, Some(10)));
    }

    #[test]
    fn tree_depth_counts_from_the_root() {
        let none = filter(b"tree:0");
        assert!(!none.include_tree(0));
        assert!(!none.descend(0));
        let root = filter(b"tree:1");
        assert!(root.include_tree(0));
        assert!(!root.descend(0));
        let two = filter(b"tree:2");
        assert!(two.descend(0));
        assert!(two.include_blob(1, None));
        assert!(!two.include_tree(2));
    }

    #[test]
    fn combine_needs_every_filter() {
        let both = filter(b"combine:blob:none+tree:2");
        assert!(!both.include_blob(1, None));
        assert!(both.include_tree(1));
        assert!(!both.descend(1));
        assert!(both.excludes_all_blobs());
    }

    #[test]
    fn object_type_keeps_one_kind() {
        let blobs = filter(b"object:type=blob");
        assert!(!blobs.include_kind(Kind::Commit));
        assert!(!blobs.include_tree(0));
        assert!(blobs.descend(5));
        assert!(blobs.include_blob(9, None));
    }

    #[test]
    fn sparse_is_refused() {
        let spec = FilterSpec::parse(b"sparse:oid=main:.sparse").unwrap();
        assert!(matches!(
            ObjectFilter::new(Some(&spec)),
            Err(WalkError::UnsupportedFilter { .. })
        ));
    }
}
