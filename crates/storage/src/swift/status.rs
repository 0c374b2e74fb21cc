//! What a status from Swift means to a caller: the [`ErrorKind`] it maps to, and a message
//! with the request and the start of the answer's body.

use std::fmt;

use reqwest::StatusCode;

use super::client::Target;
use crate::{ErrorKind, StorageError};

/// The error for a 404 on `target`.
pub(crate) fn not_found(target: Target<'_>) -> StorageError {
    match target {
        Target::Object(container, name) => StorageError::not_found(container, name),
        Target::Container(container) => StorageError::container_not_found(container),
        Target::Account => StorageError::new(
            ErrorKind::NotFound,
            "the Swift account does not exist (HTTP 404)",
        ),
    }
}

/// The kind of error a status Swift answered means: 401 Unauthorized, 403 Forbidden, 404
/// NotFound, 412 Precondition, 416 RangeNotSatisfiable, 408/429/498/5xx Unavailable, other
/// malformed-request statuses Invalid, anything else Other.
pub(crate) fn status_kind(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        412 => ErrorKind::Precondition,
        416 => ErrorKind::RangeNotSatisfiable,
        408 | 429 | 498 | 500..=599 => ErrorKind::Unavailable,
        400 | 411 | 413 | 414 | 422 => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

/// Maps a status Swift answered to the error a caller sees (its kind per [`status_kind`]), with
/// the request and the start of the answer's body.
pub(crate) fn status_error(
    status: StatusCode,
    body: &[u8],
    method: &str,
    what: &dyn fmt::Display,
) -> StorageError {
    let kind = status_kind(status);
    let quoted = excerpt(body);
    let method = if method.is_empty() {
        String::new()
    } else {
        format!("{method} ")
    };
    let message = if quoted.is_empty() {
        format!("Swift answered HTTP {status} to {method}{what}")
    } else {
        format!("Swift answered HTTP {status} to {method}{what}: {quoted}")
    };
    StorageError::new(kind, message)
}

/// The start of an error body on one line, HTML tags removed, for a message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                plain.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            c if c.is_control() || c.is_whitespace() => plain.push(' '),
            c => plain.push(c),
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() > MAX_CHARS {
        let cut: String = joined.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_plain_text() {
        let html = b"<html><h1>Service Unavailable</h1><p>The server is\r\ncurrently unavailable.</p></html>";
        assert_eq!(
            excerpt(html),
            "Service Unavailable The server is currently unavailable."
        );
        assert_eq!(excerpt(&[b'x'; 500]).chars().count(), 201);
    }

    #[test]
    fn statuses_map_to_kinds() {
        let kind = |code: u16| {
            let status = StatusCode::from_u16(code).expect("holds because codes are valid");
            status_error(status, b"", "PUT", &"c/o").kind()
        };
        assert_eq!(kind(503), ErrorKind::Unavailable);
        assert_eq!(kind(500), ErrorKind::Unavailable);
        assert_eq!(kind(498), ErrorKind::Unavailable);
        assert_eq!(kind(401), ErrorKind::Unauthorized);
        assert_eq!(kind(403), ErrorKind::Forbidden);
        assert_eq!(kind(416), ErrorKind::RangeNotSatisfiable);
        assert_eq!(kind(400), ErrorKind::Invalid);
        assert_eq!(kind(409), ErrorKind::Other);
        let err = status_error(StatusCode::SERVICE_UNAVAILABLE, b"busy", "PUT", &"c/o");
        assert_eq!(
            err.message(),
            "Swift answered HTTP 503 Service Unavailable to PUT c/o: busy"
        );
    }
}
