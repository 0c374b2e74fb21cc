//! Partial-clone filter specs: the value of a `filter` line (v0/v1 and v2 fetch).
//!
//! The forms C git understands: `blob:none`, `blob:limit=<n>[kmg]`, `tree:<depth>`,
//! `sparse:oid=<blob-ish>`, `object:type=<type>` and `combine:<spec>+<spec>…` whose sub-specs are
//! percent-encoded. Numbers are decimal with an optional `k`/`m`/`g` (×1024ⁿ) suffix; C git's
//! parser would also take octal and hex, but clients are told to send plain decimal. Unknown forms,
//! and `sparse:path=` which git dropped, are errors.

use bstr::BString;

use crate::escaped::EscapedBytes;

/// The deepest `combine:` nesting accepted (each level must be percent-encoded again; real clients
/// never nest).
pub const MAX_COMBINE_DEPTH: usize = 4;

/// A parsed filter spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterSpec {
    /// `blob:none`: omit all blobs.
    BlobNone,
    /// `blob:limit=<n>`: omit blobs of `n` bytes or more.
    BlobLimit(u64),
    /// `tree:<depth>`: omit trees and blobs deeper than `depth` below the root tree (0: no trees).
    TreeDepth(u64),
    /// `sparse:oid=<blob-ish>`: keep what the sparse-checkout spec in that blob selects.
    SparseOid(BString),
    /// `object:type=<type>`: keep only objects of this type.
    ObjectType(ObjectType),
    /// `combine:…`: an object is kept only if every sub-filter keeps it.
    Combine(Vec<FilterSpec>),
}

/// The object types `object:type=` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `blob`.
    Blob,
    /// `tree`.
    Tree,
    /// `commit`.
    Commit,
    /// `tag`.
    Tag,
}

/// A filter spec we cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not one of the known forms.
    #[error("invalid filter-spec '{spec}'")]
    Unknown { spec: EscapedBytes },
    /// The number in `blob:limit=` or `tree:` is not a decimal with an optional k/m/g suffix.
    #[error("invalid number in filter-spec '{spec}'")]
    BadNumber { spec: EscapedBytes },
    /// `object:type=` names no object type.
    #[error("'{name}' for 'object:type=<type>' is not a valid object type")]
    BadObjectType { name: EscapedBytes },
    /// `sparse:path=` is no longer supported by git.
    #[error("sparse:path filters support has been dropped")]
    SparsePathDropped,
    /// `combine:` without sub-filters.
    #[error("expected something after combine:")]
    EmptyCombine,
    /// A sub-filter contains a byte that must be percent-encoded.
    #[error("must escape char in sub-filter-spec: {byte}")]
    UnescapedCharacter { byte: EscapedBytes },
    /// `combine:` nested deeper than [`MAX_COMBINE_DEPTH`].
    #[error("combine: filters nested more than {MAX_COMBINE_DEPTH} deep")]
    TooDeep,
}

impl FilterSpec {
    /// Parse a filter spec (the text after `filter `).
    pub fn parse(spec: &[u8]) -> Result<Self, FilterError> {
        parse_at_depth(spec, 0)
    }
}

fn parse_at_depth(spec: &[u8], depth: usize) -> Result<FilterSpec, FilterError> {
    if spec == b"blob:none" {
        return Ok(FilterSpec::BlobNone);
    }
    if let Some(limit) = spec.strip_prefix(b"blob:limit=") {
        return scaled_number(limit)
            .map(FilterSpec::BlobLimit)
            .ok_or_else(|| bad_number(spec));
    }
    if let Some(tree_depth) = spec.strip_prefix(b"tree:") {
        return scaled_number(tree_depth)
            .map(FilterSpec::TreeDepth)
            .ok_or_else(|| bad_number(spec));
    }
    if let Some(name) = spec.strip_prefix(b"sparse:oid=") {
        return Ok(FilterSpec::SparseOid(name.into()));
    }
    if spec.starts_with(b"sparse:path=") {
        return Err(FilterError::SparsePathDropped);
    }
    if let Some(name) = spec.strip_prefix(b"object:type=") {
        let object_type = match name {
            b"blob" => ObjectType::Blob,
            b"tree" => ObjectType::Tree,
            b"commit" => ObjectType::Commit,
            b"tag" => ObjectType::Tag,
            _ => {
                return Err(FilterError::BadObjectType {
                    name: EscapedBytes::new(name),
                });
            }
        };
        return Ok(FilterSpec::ObjectType(object_type));
    }
    if let Some(subs) = spec.strip_prefix(b"combine:") {
        if depth >= MAX_COMBINE_DEPTH {
            return Err(FilterError::TooDeep);
        }
        return parse_combine(subs, depth);
    }
    Err(FilterError::Unknown {
        spec: EscapedBytes::new(spec),
    })
}

fn parse_combine(subs: &[u8], depth: usize) -> Result<FilterSpec, FilterError> {
    const RESERVED: &[u8] = b"~`!@#$^&*()[]{}\\;'\",<>?";
    let mut filters = Vec::new();
    for sub in subs
        .split(|&byte| byte == b'+')
        .filter(|sub| !sub.is_empty())
    {
        if let Some(&byte) = sub
            .iter()
            .find(|&&byte| byte <= b' ' || byte >= 0x7f || RESERVED.contains(&byte))
        {
            return Err(FilterError::UnescapedCharacter {
                byte: EscapedBytes::new(&[byte]),
            });
        }
        filters.push(parse_at_depth(&percent_decode(sub), depth + 1)?);
    }
    if filters.is_empty() {
        return Err(FilterError::EmptyCombine);
    }
    Ok(FilterSpec::Combine(filters))
}

/// `%XX` → byte; a `%` not followed by two hex digits stays as it is (as git's decoder does).
fn percent_decode(encoded: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let escaped = encoded
            .get(i + 1..i + 3)
            .filter(|_| encoded[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(encoded[i]);
                i += 1;
            }
        }
    }
    decoded
}

/// Decimal digits with an optional k/m/g suffix (case-insensitive), without overflow.
pub(crate) fn scaled_number(text: &[u8]) -> Option<u64> {
    let (digits, factor) = match text.last()?.to_ascii_lowercase() {
        b'k' => (&text[..text.len() - 1], 1u64 << 10),
        b'm' => (&text[..text.len() - 1], 1 << 20),
        b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    decimal(digits)?.checked_mul(factor)
}

/// Plain decimal digits (at least one), without overflow.
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

fn bad_number(spec: &[u8]) -> FilterError {
    FilterError::BadNumber {
        spec: EscapedBytes::new(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_forms() {
        assert_eq!(FilterSpec::parse(b"blob:none"), Ok(FilterSpec::BlobNone));
        assert_eq!(
            FilterSpec::parse(b"blob:limit=1024"),
            Ok(FilterSpec::BlobLimit(1024))
        );
        assert_eq!(FilterSpec::parse(b"tree:0"), Ok(FilterSpec::TreeDepth(0)));
        assert_eq!(
            FilterSpec::parse(b"sparse:oid=main:.sparse"),
            Ok(FilterSpec::SparseOid("main:.sparse".into()))
        );
        assert_eq!(
            FilterSpec::parse(b"object:type=commit"),
            Ok(FilterSpec::ObjectType(ObjectType::Commit))
        );
    }

    #[test]
    fn suffixes_scale_by_powers_of_1024() {
        assert_eq!(
            FilterSpec::parse(b"blob:limit=1k"),
            Ok(FilterSpec::BlobLimit(1024))
        );
        assert_eq!(
            FilterSpec::parse(b"blob:limit=2M"),
            Ok(FilterSpec::BlobLimit(2 << 20))
        );
        assert_eq!(
            FilterSpec::parse(b"blob:limit=3g"),
            Ok(FilterSpec::BlobLimit(3 << 30))
        );
        assert_eq!(
            FilterSpec::parse(b"tree:2k"),
            Ok(FilterSpec::TreeDepth(2048))
        );
    }

    #[test]
    fn combine_decodes_its_sub_filters() {
        assert_eq!(
            FilterSpec::parse(b"combine:blob:none+tree:3"),
            Ok(FilterSpec::Combine(vec![
                FilterSpec::BlobNone,
                FilterSpec::TreeDepth(3)
            ]))
        );
        assert_eq!(
            FilterSpec::parse(b"combine:sparse:oid=main%3a.s%2Bx++blob:limit=5"),
            Ok(FilterSpec::Combine(vec![
                FilterSpec::SparseOid("main:.s+x".into()),
                FilterSpec::BlobLimit(5)
            ]))
        );
    }

    #[test]
    fn bad_specs_get_specific_errors() {
        assert_eq!(
            FilterSpec::parse(b"blob:some").unwrap_err().to_string(),
            "invalid filter-spec 'blob:some'"
        );
        for bad in [
            &b"blob:limit="[..],
            b"blob:limit=k",
            b"blob:limit=-1",
            b"blob:limit=0x10",
            b"blob:limit=99999999999999999999",
            b"blob:limit=18014398509481984k",
            b"tree:",
            b"tree:x",
        ] {
            assert!(
                matches!(FilterSpec::parse(bad), Err(FilterError::BadNumber { .. })),
                "{}",
                bad.escape_ascii()
            );
        }
        assert_eq!(
            FilterSpec::parse(b"sparse:path=/x"),
            Err(FilterError::SparsePathDropped)
        );
        assert!(matches!(
            FilterSpec::parse(b"object:type=note"),
            Err(FilterError::BadObjectType { .. })
        ));
        assert_eq!(
            FilterSpec::parse(b"combine:"),
            Err(FilterError::EmptyCombine)
        );
        assert_eq!(
            FilterSpec::parse(b"combine:+"),
            Err(FilterError::EmptyCombine)
        );
        assert_eq!(
            FilterSpec::parse(b"combine:blob:none+tree:1~"),
            Err(FilterError::UnescapedCharacter {
                byte: EscapedBytes::new(b"~")
            })
        );
        assert!(matches!(
            FilterSpec::parse(b"combine:blob:frob"),
            Err(FilterError::Unknown { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut spec = b"blob:none".to_vec();
        for _ in 0..MAX_COMBINE_DEPTH {
            spec = [&b"combine:"[..], &percent_encode(&spec)].concat();
        }
        assert!(FilterSpec::parse(&spec).is_ok());
        let deeper = [&b"combine:"[..], &percent_encode(&spec)].concat();
        assert_eq!(FilterSpec::parse(&deeper), Err(FilterError::TooDeep));
    }

    fn percent_encode(spec: &[u8]) -> Vec<u8> {
        spec.iter()
            .flat_map(|&byte| match byte {
                b'a'..=b'z' | b'0'..=b'9' | b'=' | b'.' => vec![byte],
                _ => format!("%{byte:02x}").into_bytes(),
            })
            .collect()
    }
}
