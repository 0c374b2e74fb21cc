//! One object: put (single request), get, ranged get, head and delete.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};

use super::SwiftStorage;
use super::body::{self, RequestBody};
use super::bulk_report::BulkReport;
use super::client::{Call, Failure, Reply, Target};
use super::status::{not_found, status_error};
use crate::{
    ErrorKind, GetResult, ObjectMeta, PutMode, PutPayload, Result, StorageError, clip_range,
};

/// The error of a failed request, marked when it never left this process (so that
/// [`crate::retry::Retrying`] may repeat even a create).
pub(super) fn note_failure(failure: Failure) -> StorageError {
    if failure.maybe_sent {
        failure.error
    } else {
        failure.error.mark_not_sent()
    }
}

/// A `PUT` of `body` to `target`; create-only with `If-None-Match: *`.
pub(super) fn put_call(target: Target<'_>, body: RequestBody, mode: PutMode) -> Call<'_> {
    let call = Call::new(Method::PUT, target)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
        .body(body);
    match mode {
        PutMode::Overwrite => call,
        PutMode::Create => call.header(header::IF_NONE_MATCH, HeaderValue::from_static("*")),
    }
}

impl SwiftStorage {
    /// Interprets the answer to a `PUT` of an object: 412 on a create means the name is
    /// taken. A 404 means the proxy could not confirm the container: either it does not
    /// exist, or the proxy's own container lookup failed (a slow or overloaded container
    /// server reads as "no container" to it). A `HEAD` tells the two apart; in the second
    /// case nothing was written, so the error is temporary and safe to repeat.
    pub(super) async fn put_outcome(
        &self,
        reply: Reply,
        target: Target<'_>,
        mode: PutMode,
    ) -> Result<Reply> {
        let status = reply.status();
        match (status, target) {
            (s, _) if s.is_success() => Ok(reply),
            (StatusCode::PRECONDITION_FAILED, Target::Object(container, name))
                if mode == PutMode::Create =>
            {
                Err(StorageError::already_exists(container, name))
            }
            (StatusCode::NOT_FOUND, Target::Object(container, _)) => {
                drop(reply);
                match self.container_exists_impl(container).await {
                    Ok(false) => Err(StorageError::container_not_found(container)),
                    Ok(true) => Err(StorageError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "Swift answered 404 to a PUT of {target} although the container \
                             exists (its container lookup failed; the server is overloaded?)"
                        ),
                    )
                    .mark_not_sent()),
                    Err(err) => Err(err),
                }
            }
            _ => Err(reply.into_error(target).await),
        }
    }

    pub(super) async fn put_impl(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        self.info.names.check_container(container)?;
        self.info.names.check_object(container, name)?;
        let body = match payload {
            PutPayload::Bytes(bytes) => RequestBody::Bytes(bytes),
            PutPayload::File(path) => {
                let len = body::file_size(&path).await?;
                RequestBody::File {
                    path: Arc::new(path),
                    offset: 0,
                    len,
                }
            }
        };
        let size = body.len();
        if size > self.large.threshold {
            self.put_large(container, name, body, mode).await?;
        } else {
            let target = Target::Object(container, name);
            let call = put_call(target, body, mode);
            let reply = self
                .client
                .send_tracked(&call)
                .await
                .map_err(note_failure)?;
            self.put_outcome(reply, target, mode).await?;
        }
        Ok(ObjectMeta {
            name: name.to_string(),
            size,
        })
    }

    pub(super) async fn get_impl(&self, container: &str, name: &str) -> Result<GetResult> {
        self.info.names.check_container(container)?;
        self.info.names.check_object(container, name)?;
        let target = Target::Object(container, name);
        let reply = self.client.send(&Call::new(Method::GET, target)).await?;
        if !reply.status().is_success() {
            return Err(reply.into_error(target).await);
        }
        let size = reply.content_length()?;
        Ok(GetResult {
            meta: ObjectMeta {
                name: name.to_string(),
                size,
            },
            body: reply.into_stream(),
        })
    }

    pub(super) async fn get_range_impl(
        &self,
        container: &str,
        name: &str,
        range: Range<u64>,
    ) -> Result<Bytes> {
        self.info.names.check_container(container)?;
        self.info.names.check_object(container, name)?;
        // Refuses a range that ends before it starts; an empty one needs no request.
        clip_range(range.clone(), u64::MAX, container, name)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let target = Target::Object(container, name);
        let spec = format!("bytes={}-{}", range.start, range.end - 1);
        let value = HeaderValue::from_str(&spec).expect("holds because it is ASCII digits");
        let call = Call::new(Method::GET, target).header(header::RANGE, value);
        let reply = self.client.send(&call).await?;
        match reply.status() {
            StatusCode::PARTIAL_CONTENT => {
                let expected = reply
                    .header("Content-Range")
                    .and_then(parse_content_range)
                    .map(|(first, last, _)| (first, last + 1 - first.min(last + 1)));
                let bytes = reply.bytes().await?;
                match expected {
                    Some((first, len)) if first == range.start && len == bytes.len() as u64 => {
                        Ok(bytes)
                    }
                    _ => Err(StorageError::new(
                        ErrorKind::Other,
                        format!(
                            "Swift answered the range {range:?} of {container}/{name} with {} \
                             bytes that do not match its Content-Range",
                            bytes.len()
                        ),
                    )),
                }
            }
            // A server that ignores `Range` sends the whole object.
            StatusCode::OK => {
                let bytes = reply.bytes().await?;
                let clipped = clip_range(range, bytes.len() as u64, container, name)?;
                Ok(bytes.slice(clipped.start as usize..clipped.end as usize))
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let size = reply
                    .header("Content-Range")
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|v| v.trim().parse::<u64>().ok());
                match size.map(|size| clip_range(range.clone(), size, container, name)) {
                    Some(Err(err)) => Err(err),
                    _ => Err(StorageError::new(
                        ErrorKind::RangeNotSatisfiable,
                        format!("range {range:?} starts past the end of {container}/{name}"),
                    )),
                }
            }
            _ => Err(reply.into_error(target).await),
        }
    }

    pub(super) async fn head_impl(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        self.info.names.check_container(container)?;
        self.info.names.check_object(container, name)?;
        let target = Target::Object(container, name);
        let reply = self.client.send(&Call::new(Method::HEAD, target)).await?;
        if !reply.status().is_success() {
            return Err(reply.into_error(target).await);
        }
        Ok(ObjectMeta {
            name: name.to_string(),
            size: reply.content_length()?,
        })
    }

    pub(super) async fn delete_impl(&self, container: &str, name: &str) -> Result<()> {
        self.info.names.check_container(container)?;
        self.info.names.check_object(container, name)?;
        let target = Target::Object(container, name);
        if self.info.slo.is_none() {
            return self.delete_plain(target).await;
        }
        // Deletes a manifest with its segments. Swift 2.38 refuses it for a plain object
        // (HTTP 200 with "400 Bad Request" / "Not an SLO manifest" in the JSON report, object
        // kept), so a plain object takes a second, plain DELETE; a large object or a missing
        // one takes one request.
        let call = Call::new(Method::DELETE, target)
            .query("multipart-manifest", "delete")
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        let reply = self.client.send(&call).await?;
        if !reply.status().is_success() {
            return Err(reply.into_error(target).await);
        }
        if reply.status() == StatusCode::NO_CONTENT {
            return Ok(());
        }
        let what = call.to_string();
        let body = reply.bytes().await?;
        match bulk_outcome(&body, &what, target)? {
            BulkOutcome::Deleted => Ok(()),
            BulkOutcome::NotAManifest => self.delete_plain(target).await,
        }
    }

    /// A plain `DELETE` of one object (a manifest's segments stay).
    pub(super) async fn delete_plain(&self, target: Target<'_>) -> Result<()> {
        let reply = self.client.send(&Call::new(Method::DELETE, target)).await?;
        if reply.status().is_success() {
            Ok(())
        } else {
            Err(reply.into_error(target).await)
        }
    }
}

/// `bytes FIRST-LAST/SIZE` → (first, last, size).
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, size) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    Some((
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        size.trim().parse().ok()?,
    ))
}

enum BulkOutcome {
    Deleted,
    NotAManifest,
}

/// Reads the report Swift sends (with HTTP 200) for `multipart-manifest=delete`: the real
/// status is inside it.
fn bulk_outcome(body: &[u8], what: &str, target: Target<'_>) -> Result<BulkOutcome> {
    let report = BulkReport::parse(body, what)?;
    let code = report.code();
    let text = format!("{} {:?}", report.body, report.errors);
    match code {
        200..=299 if report.errors.is_empty() && report.deleted == 0 && report.not_found > 0 => {
            Err(not_found(target))
        }
        200..=299 if report.errors.is_empty() => Ok(BulkOutcome::Deleted),
        404 => Err(not_found(target)),
        400 if text.contains("Not an SLO manifest") => Ok(BulkOutcome::NotAManifest),
        _ => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            Err(status_error(status, text.as_bytes(), "", &what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 0-9/100"), None);
    }

    #[test]
    fn bulk_reports_carry_the_real_status() {
        let target = Target::Object("c", "o");
        let ok = br#"{"Response Status": "200 OK", "Number Deleted": 3, "Errors": []}"#;
        assert!(matches!(
            bulk_outcome(ok, "DELETE c/o", target),
            Ok(BulkOutcome::Deleted)
        ));
        // What Swift 2.38 answers for a missing object, and for a plain one.
        let missing = br#"{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 0, "Number Not Found": 1, "Errors": []}"#;
        let err = bulk_outcome(missing, "DELETE c/o", target)
            .err()
            .expect("not found");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let plain = br#"{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 0, "Number Not Found": 0, "Errors": [["/c/o", "Not an SLO manifest"]]}"#;
        assert!(matches!(
            bulk_outcome(plain, "DELETE c/o", target),
            Ok(BulkOutcome::NotAManifest)
        ));
        let busy =
            br#"{"Response Status": "503 Service Unavailable", "Errors": [["/c/s1", "503"]]}"#;
        let err = bulk_outcome(busy, "DELETE c/o", target)
            .err()
            .expect("busy");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains("503"), "{err}");
    }
}
