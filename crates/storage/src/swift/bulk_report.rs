//! The pure side of deleting many objects: the body of a bulk-delete request, the JSON report
//! Swift answers it with, and which names are large objects (from their segments' names).
//!
//! Swift's bulk middleware answers `POST ?bulk-delete` (and a manifest's
//! `DELETE ?multipart-manifest=delete`) with HTTP 200 as soon as it starts, then spaces while it
//! works, then a report: `{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 3,
//! "Number Not Found": 1, "Errors": [["/c/o", "409 Conflict"]]}`. The real outcome is in the
//! report; each error names the URL-encoded `/<container>/<object>` path it concerns.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use percent_encoding::percent_decode_str;
use reqwest::StatusCode;
use serde::Deserialize;

use super::names::{NameLimits, truncate_utf8};
use super::names::{SEGMENT_PREFIX, encode_container, encode_object, segment_name_budget};
use super::status::{excerpt, status_kind};
use crate::{ErrorKind, Result, StorageError};

/// How many failed names an error message quotes.
const QUOTED_FAILURES: usize = 5;

/// The report at the end of a bulk answer.
#[derive(Debug, Deserialize)]
pub(super) struct BulkReport {
    #[serde(rename = "Response Status", default)]
    pub status: String,
    #[serde(rename = "Response Body", default)]
    pub body: String,
    #[serde(rename = "Number Deleted", default)]
    pub deleted: u64,
    #[serde(rename = "Number Not Found", default)]
    pub not_found: u64,
    /// `[path, status]` pairs, kept as JSON so that an unexpected shape still reads.
    #[serde(rename = "Errors", default)]
    pub errors: Vec<serde_json::Value>,
}

impl BulkReport {
    /// Parses the answer to `what` (leading whitespace, Swift's heartbeat, is skipped).
    pub(super) fn parse(body: &[u8], what: &str) -> Result<BulkReport> {
        serde_json::from_slice(body).map_err(|e| {
            StorageError::with_source(
                ErrorKind::Other,
                format!(
                    "Swift answered {what} with a report that is not the expected JSON: {}",
                    excerpt(body)
                ),
                e,
            )
        })
    }

    /// The code of "Response Status" (`"400 Bad Request"` → 400), 0 if there is none.
    pub(super) fn code(&self) -> u16 {
        leading_code(&self.status)
    }
}

fn leading_code(status: &str) -> u16 {
    status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// What a bulk delete of some names of one container did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DeleteOutcome {
    /// Every name is gone; this many were deleted by the request (the others were absent).
    Done { deleted: u64 },
    /// Swift refused the token for the deletes (the middleware sits before the auth
    /// middleware, so an expired token shows here rather than as a 401 answer).
    Unauthorized,
}

/// The body of `POST ?bulk-delete`: one URL-encoded `/<container>/<object>` per line.
pub(super) fn delete_request_body(container: &str, names: &[&str]) -> Bytes {
    let container = encode_container(container);
    let mut body = String::new();
    for name in names {
        body.push('/');
        body.push_str(&container);
        body.push('/');
        body.push_str(&encode_object(name));
        body.push('\n');
    }
    Bytes::from(body)
}

/// Whether the bulk middleware takes `name`'s line: it refuses a whole request with a line
/// longer than twice its `max_path_length` (the longest container and object names plus 2),
/// and percent-encoding may triple a name.
pub(super) fn fits_a_bulk_line(limits: &NameLimits, container: &str, name: &str) -> bool {
    let max_path_length = limits.max_object_name_length + limits.max_container_name_length + 2;
    let line = 2 + encode_container(container).len() + encode_object(name).len();
    line <= 2 * max_path_length
}

/// Reads the report of a bulk delete of names of `container`. A 404 for a name means it is
/// already gone. Any other failed name is an error that names it (with the first few others);
/// its kind is Unavailable when every failure is temporary (5xx), else that of the first
/// failure that is not.
pub(super) fn delete_outcome(body: &[u8], container: &str, what: &str) -> Result<DeleteOutcome> {
    let report = BulkReport::parse(body, what)?;
    let code = report.code();
    let mut failures: Vec<(String, StatusCode, String)> = Vec::new();
    for entry in &report.errors {
        let (path, status) = match entry.as_array().map(Vec::as_slice) {
            Some(
                [
                    serde_json::Value::String(path),
                    serde_json::Value::String(status),
                ],
            ) => (path.as_str(), status.as_str()),
            _ => ("", ""),
        };
        let status_code = StatusCode::from_u16(leading_code(status)).ok();
        match status_code {
            Some(StatusCode::NOT_FOUND) => {}
            Some(StatusCode::UNAUTHORIZED) => return Ok(DeleteOutcome::Unauthorized),
            _ if path.is_empty() => failures.push((
                format!("an object of {container}"),
                StatusCode::BAD_GATEWAY,
                entry.to_string(),
            )),
            _ => failures.push((
                object_of(container, path),
                status_code.unwrap_or(StatusCode::BAD_GATEWAY),
                status.to_string(),
            )),
        }
    }
    if failures.is_empty() && (!report.errors.is_empty() || (200..300).contains(&code)) {
        return Ok(DeleteOutcome::Done {
            deleted: report.deleted,
        });
    }
    if failures.is_empty() {
        // The request as a whole failed (too many names, a server error): no name to blame.
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        let text = format!("{} {}", report.status, report.body);
        return Err(StorageError::new(
            status_kind(status),
            format!(
                "Swift reported {} to {what}: {}",
                report.status,
                excerpt(text.as_bytes())
            ),
        ));
    }
    let kind = failures
        .iter()
        .map(|(_, status, _)| status_kind(*status))
        .find(|kind| !kind.is_temporary())
        .unwrap_or(ErrorKind::Unavailable);
    let quoted: Vec<String> = failures
        .iter()
        .take(QUOTED_FAILURES)
        .map(|(object, _, status)| format!("{object} ({status})"))
        .collect();
    let more = match failures.len().saturating_sub(QUOTED_FAILURES) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(StorageError::new(
        kind,
        format!(
            "Swift could not delete {} of the objects in {what}: {}{more} ({} deleted, {} not \
             found; deleting them again finishes the job if the cause is gone)",
            failures.len(),
            quoted.join(", "),
            report.deleted,
            report.not_found,
        ),
    ))
}

/// `container/name` for an error's `/<container>/<name>` path (URL-encoded), or the decoded
/// path when it is not in `container`.
fn object_of(container: &str, path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    match decoded
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(container))
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(name) => format!("{container}/{name}"),
        None => decoded.into_owned(),
    }
}

/// Splits `names` into the large objects (those with segments among `segments`, the names
/// listed under [`SEGMENT_PREFIX`]) and the others. A segment's path holds its object's name
/// cut to [`segment_name_budget`], which its upload id's length gives; names too long to be
/// kept whole that share the part kept all count as large (deleting a plain object the way
/// a large one is deleted costs a request more, nothing else).
pub(super) fn split_large<'a>(
    segments: &[String],
    names: &[&'a str],
    max_object_name_length: usize,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let owners: HashSet<(&str, usize)> = segments
        .iter()
        .filter_map(|segment| {
            let mut parts = segment.strip_prefix(SEGMENT_PREFIX)?.rsplitn(3, '/');
            let (_number, id, owner) = (parts.next()?, parts.next()?, parts.next()?);
            Some((owner, segment_name_budget(max_object_name_length, id.len())))
        })
        .collect();
    let budgets: BTreeSet<usize> = owners.iter().map(|(_, budget)| *budget).collect();
    names.iter().partition(|name| {
        budgets
            .iter()
            .any(|budget| owners.contains(&(truncate_utf8(name, *budget), *budget)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHAT: &str = "a bulk delete of 4 objects of container c";

    #[test]
    fn request_bodies_are_encoded_paths() {
        let body = delete_request_body("my repo", &["a b/c", "100%", "line\nbreak"]);
        assert_eq!(
            &body[..],
            b"/my%20repo/a%20b/c\n/my%20repo/100%25\n/my%20repo/line%0Abreak\n"
        );
        let limits = NameLimits::default();
        assert!(fits_a_bulk_line(&limits, "c", &"x".repeat(1024)));
        assert!(!fits_a_bulk_line(&limits, "c", &"\u{e9}".repeat(512)));
    }

    #[test]
    fn a_clean_report_counts_the_deleted() {
        let all = br#"  {"Response Status": "200 OK", "Response Body": "", "Number Deleted": 4, "Number Not Found": 0, "Errors": []}"#;
        assert_eq!(
            delete_outcome(all, "c", WHAT).expect("clean"),
            DeleteOutcome::Done { deleted: 4 }
        );
        // What Swift 2.38 answers when some names were absent, after its heartbeat.
        let some = b" \r\n\r\n{\"Response Status\": \"200 OK\", \"Response Body\": \"\", \"Number Deleted\": 3, \"Number Not Found\": 1, \"Errors\": []}";
        assert_eq!(
            delete_outcome(some, "c", WHAT).expect("some absent"),
            DeleteOutcome::Done { deleted: 3 }
        );
        let odd_404 = br#"{"Response Status": "400 Bad Request", "Number Deleted": 1, "Errors": [["/c/x", "404 Not Found"]]}"#;
        assert_eq!(
            delete_outcome(odd_404, "c", WHAT).expect("a 404 is gone"),
            DeleteOutcome::Done { deleted: 1 }
        );
    }

    #[test]
    fn a_failed_name_is_an_error_naming_it() {
        let conflict = br#"{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 2, "Number Not Found": 1, "Errors": [["/c/objects/a%20b", "409 Conflict"]]}"#;
        let err = delete_outcome(conflict, "c", WHAT).expect_err("409");
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(
            err.message().contains("c/objects/a b (409 Conflict)"),
            "{err}"
        );
        assert!(err.message().contains("2 deleted, 1 not found"), "{err}");

        let server = br#"{"Response Status": "502 Bad Gateway", "Number Deleted": 3, "Errors": [["/c/p", "500 Internal Error"], ["/c/q", "503 Service Unavailable"]]}"#;
        let err = delete_outcome(server, "c", WHAT).expect_err("5xx");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "retryable: {err}");
        assert!(err.message().contains("c/p (500 Internal Error)"), "{err}");
        assert!(err.message().contains("c/q (503"), "{err}");

        let mixed = br#"{"Response Status": "400 Bad Request", "Errors": [["/c/p", "503 Service Unavailable"], ["/c/q", "403 Forbidden"]]}"#;
        let err = delete_outcome(mixed, "c", WHAT).expect_err("mixed");
        assert_eq!(err.kind(), ErrorKind::Forbidden, "not all temporary: {err}");

        let many: Vec<String> = (0..8)
            .map(|i| format!(r#"["/c/o{i}", "409 Conflict"]"#))
            .collect();
        let many = format!(
            r#"{{"Response Status": "400 Bad Request", "Errors": [{}]}}"#,
            many.join(",")
        );
        let err = delete_outcome(many.as_bytes(), "c", WHAT).expect_err("many");
        assert!(err.message().contains("and 3 more"), "{err}");
    }

    #[test]
    fn a_refused_token_asks_for_another() {
        let refused = br#"{"Response Status": "400 Bad Request", "Number Deleted": 0, "Errors": [["/c/o", "401 Unauthorized"]]}"#;
        assert_eq!(
            delete_outcome(refused, "c", WHAT).expect("401"),
            DeleteOutcome::Unauthorized
        );
    }

    #[test]
    fn a_failed_request_is_an_error_with_its_status() {
        let too_many = br#"{"Response Status": "413 Request Entity Too Large", "Response Body": "Maximum Bulk Deletes: 10000 per request", "Number Deleted": 0, "Number Not Found": 0, "Errors": []}"#;
        let err = delete_outcome(too_many, "c", WHAT).expect_err("413");
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(err.message().contains("Maximum Bulk Deletes"), "{err}");
        let crashed = br#"{"Response Status": "500 Internal Server Error", "Errors": []}"#;
        let err = delete_outcome(crashed, "c", WHAT).expect_err("500");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let err = delete_outcome(b"", "c", WHAT).expect_err("no report");
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(err.message().contains(WHAT), "{err}");
    }

    #[test]
    fn large_objects_are_told_by_their_segments() {
        let max = 1024;
        let long = "l".repeat(1000);
        let id = "18f2a3b4c5d6e7f8-0a1b2c3d";
        let budget = segment_name_budget(max, id.len());
        let segments = vec![
            format!("{SEGMENT_PREFIX}objects/pack/big.pack/{id}/00000001"),
            format!("{SEGMENT_PREFIX}objects/pack/big.pack/{id}/00000002"),
            format!(
                "{SEGMENT_PREFIX}{}/{id}/00000001",
                truncate_utf8(&long, budget)
            ),
        ];
        let other_long = format!("m{}", &long[1..]);
        let names = [
            "objects/pack/big.pack",
            "objects/pack/big",
            "objects/pack/big.pack.idx",
            &long,
            &long[..999],
            &other_long,
        ];
        let (large, plain) = split_large(&segments, &names, max);
        // The first 999 bytes of `long` keep what its segments keep: large too, to be safe.
        assert_eq!(
            large,
            ["objects/pack/big.pack", long.as_str(), &long[..999]]
        );
        assert_eq!(
            plain,
            ["objects/pack/big", "objects/pack/big.pack.idx", &other_long]
        );
    }
}
