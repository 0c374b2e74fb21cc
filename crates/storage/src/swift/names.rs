//! Container and object names: what Swift accepts, and how a name becomes a URL path.
//!
//! Names are percent-encoded byte by byte (UTF-8), keeping only unreserved ASCII and, in object
//! names, `/`, so `/` reads as `/` in logs while spaces, `%`, `?`, `#` and unicode survive the
//! trip. A name is checked here before any request so that a bad one fails with
//! [`ErrorKind::Invalid`] instead of a confusing status from Swift.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{ErrorKind, Result, StorageError};

/// Encodes everything except `A-Z a-z 0-9 - . _ ~`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Like [`SEGMENT`], and keeps `/` (object names are paths).
const OBJECT_PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Where the segments of static large objects live, in the container of their manifest. Names
/// under it are hidden from [`crate::Storage::list`] and refused by the other methods.
pub(crate) const SEGMENT_PREFIX: &str = ".swiftgit-segments/";

/// How many bytes of an object's name the names of its segments keep
/// (`<SEGMENT_PREFIX><name, cut to this>/<upload id>/<8 digits>`) for an upload id of `id_len`
/// bytes, so that they fit `max_object_name_length`.
pub(crate) fn segment_name_budget(max_object_name_length: usize, id_len: usize) -> usize {
    max_object_name_length.saturating_sub(SEGMENT_PREFIX.len() + id_len + 1 + 9 + 1)
}

/// The name limits of the cluster (from `GET /info`, else Swift's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameLimits {
    pub max_container_name_length: usize,
    pub max_object_name_length: usize,
}

impl Default for NameLimits {
    fn default() -> Self {
        NameLimits {
            max_container_name_length: 256,
            max_object_name_length: 1024,
        }
    }
}

impl NameLimits {
    pub(crate) fn check_container(&self, container: &str) -> Result<()> {
        let problem = if container.is_empty() {
            Some("is empty".to_string())
        } else if container.contains('/') {
            Some("contains `/`".to_string())
        } else if container.len() > self.max_container_name_length {
            Some(format!(
                "is {} bytes long; Swift allows {}",
                container.len(),
                self.max_container_name_length
            ))
        } else if container.contains('\0') {
            Some("contains a NUL character".to_string())
        } else if matches!(container, "." | "..") {
            Some("is `.` or `..`, which cannot be addressed over HTTP".to_string())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(StorageError::new(
                ErrorKind::Invalid,
                format!("container name {container:?} {problem}"),
            )),
            None => Ok(()),
        }
    }

    /// Checks a name a caller passes in: also refuses the reserved segment prefix.
    pub(crate) fn check_object(&self, container: &str, name: &str) -> Result<()> {
        if name.starts_with(SEGMENT_PREFIX) {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                format!(
                    "object name {container}/{name} is reserved: names under {SEGMENT_PREFIX} \
                     hold the segments of large objects"
                ),
            ));
        }
        self.check_any_object(container, name)
    }

    /// Checks an object name, segments included.
    pub(crate) fn check_any_object(&self, container: &str, name: &str) -> Result<()> {
        let problem = if name.is_empty() {
            Some("is empty".to_string())
        } else if name.len() > self.max_object_name_length {
            Some(format!(
                "is {} bytes long; Swift allows {}",
                name.len(),
                self.max_object_name_length
            ))
        } else if name.contains('\0') {
            Some("contains a NUL character".to_string())
        } else if name.split('/').any(|part| matches!(part, "." | "..")) {
            // URL parsers resolve `.` and `..` path segments (even percent-encoded ones), so
            // such a name would silently address another object.
            Some("has a `.` or `..` path segment, which cannot be addressed over HTTP".to_string())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(StorageError::new(
                ErrorKind::Invalid,
                format!("object name {container}/{name} {problem}"),
            )),
            None => Ok(()),
        }
    }
}

/// The URL path segment of a container.
pub(crate) fn encode_container(container: &str) -> String {
    utf8_percent_encode(container, SEGMENT).to_string()
}

/// The URL path of an object within its container, `/` kept.
pub(crate) fn encode_object(name: &str) -> String {
    utf8_percent_encode(name, OBJECT_PATH).to_string()
}

/// A query string value.
pub(crate) fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_keep_slashes_and_encode_the_rest() {
        assert_eq!(
            encode_object("objects/pack/a b%c?d#e"),
            "objects/pack/a%20b%25c%3Fd%23e"
        );
        assert_eq!(encode_object("été/ü"), "%C3%A9t%C3%A9/%C3%BC");
        assert_eq!(encode_object("a+b~c_d-e.f"), "a%2Bb~c_d-e.f");
    }

    #[test]
    fn container_names_encode_everything_reserved() {
        assert_eq!(encode_container("repo one"), "repo%20one");
        assert_eq!(encode_query_value("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn bad_names_are_invalid() {
        let limits = NameLimits::default();
        for name in ["", "a/../b", "..", "./x", "a\0b"] {
            let err = limits.check_object("c", name).expect_err(name);
            assert_eq!(err.kind(), ErrorKind::Invalid, "{name:?}");
        }
        let long = "x".repeat(1025);
        assert!(limits.check_object("c", &long).is_err());
        assert!(limits.check_object("c", &"x".repeat(1024)).is_ok());
        let reserved = limits
            .check_object("c", ".swiftgit-segments/a/1/00000001")
            .expect_err("reserved");
        assert!(reserved.message().contains("reserved"), "{reserved}");
        assert!(limits.check_object("c", "a/.../b").is_ok());
        for container in ["", "a/b", "..", &"c".repeat(257)] {
            assert!(limits.check_container(container).is_err(), "{container:?}");
        }
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
