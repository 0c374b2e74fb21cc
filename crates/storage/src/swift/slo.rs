//! Static large objects: payloads above the cluster's `max_file_size` are uploaded as segments,
//! then a manifest that lists them is stored under the object's name.
//!
//! Segments are named `.swiftgit-segments/<name>/<upload id>/<00000001>` in the object's own
//! container, so that deleting the container removes them and two uploads of one name never
//! share a segment. Up to `concurrency` segments upload at once, each streamed from its range of
//! the file (or a slice of the bytes), so memory stays bounded. Readers see nothing until the
//! manifest `PUT` succeeds; Swift then serves the concatenation, ranges included.
//!
//! On failure the uploaded segments are deleted, best effort — except when the manifest `PUT`
//! itself may have succeeded (a timeout or a lost answer): deleting its segments would break a
//! stored object, so they stay (`delete_container` removes them with the rest).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::{self, HeaderValue};
use serde::Serialize;

use super::SwiftStorage;
use super::body::RequestBody;
use super::client::{Call, Target};
use super::names::{SEGMENT_PREFIX, segment_name_budget, truncate_utf8};
use super::objects::{note_failure, put_call};
use crate::retry::retry_idempotent;
use crate::{ErrorKind, PutMode, Result, StorageError};

/// One segment as the manifest lists it.
#[derive(Debug, Serialize)]
struct ManifestEntry {
    path: String,
    etag: Option<String>,
    size_bytes: u64,
}

/// Where a segment's bytes come from.
fn segment_body(body: &RequestBody, offset: u64, len: u64) -> RequestBody {
    match body {
        RequestBody::Empty => RequestBody::Empty,
        RequestBody::Bytes(bytes) => {
            RequestBody::Bytes(bytes.slice(offset as usize..(offset + len) as usize))
        }
        RequestBody::File {
            path,
            offset: start,
            ..
        } => RequestBody::File {
            path: path.clone(),
            offset: start + offset,
            len,
        },
    }
}

/// A name for this upload's segments that no other upload uses.
fn upload_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:08x}", rand::random::<u32>())
}

impl SwiftStorage {
    /// The segment size for an object of `size` bytes: the preferred size, raised if the
    /// manifest would otherwise list too many segments. Invalid if even segments of the
    /// largest allowed size are too many.
    fn segment_size(&self, container: &str, name: &str, size: u64) -> Result<u64> {
        let Some(slo) = self.info.slo else {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                format!(
                    "{container}/{name} is {size} bytes, more than this Swift's max_file_size \
                     ({} bytes), and the cluster does not offer static large objects (no `slo` \
                     in /info)",
                    self.info.max_file_size
                ),
            ));
        };
        let needed = size.div_ceil(slo.max_manifest_segments as u64);
        let segment_size = self
            .large
            .segment_size
            .max(needed)
            .max(slo.min_segment_size);
        if segment_size > self.large.threshold {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                format!(
                    "{container}/{name} is {size} bytes: more than {} segments of at most {} \
                     bytes, the largest object this Swift can store",
                    slo.max_manifest_segments, self.large.threshold
                ),
            ));
        }
        Ok(segment_size)
    }

    /// Uploads `body` as a static large object. See the module doc for what a failure leaves.
    pub(super) async fn put_large(
        &self,
        container: &str,
        name: &str,
        body: RequestBody,
        mode: PutMode,
    ) -> Result<()> {
        let size = body.len();
        let segment_size = self.segment_size(container, name, size)?;
        if mode == PutMode::Create {
            match self.head_impl(container, name).await {
                Ok(_) => return Err(StorageError::already_exists(container, name)),
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => return Err(err.mark_not_sent()),
            }
        }
        let id = upload_id();
        // Leave room for the prefix, the id and the segment number within the name limit.
        let budget = segment_name_budget(self.info.names.max_object_name_length, id.len());
        let base = format!("{SEGMENT_PREFIX}{}/{id}", truncate_utf8(name, budget));
        let count = size.div_ceil(segment_size);
        let segments: Vec<(String, u64, u64)> = (0..count)
            .map(|i| {
                let offset = i * segment_size;
                let len = segment_size.min(size - offset);
                (format!("{base}/{:08}", i + 1), offset, len)
            })
            .collect();
        tracing::debug!(
            container,
            name,
            size,
            count,
            segment_size,
            "uploading a large object"
        );

        // The stream starts an upload when it pulls it from the iterator: `started` counts them,
        // so that cleaning up after a failure deletes only segments that may exist.
        let started = AtomicUsize::new(0);
        // Indices rather than references: a closure over `&(..)` trips the compiler's
        // higher-ranked lifetime check inside `async_trait`.
        let uploads = futures::stream::iter((0..segments.len()).map(|i| {
            started.fetch_add(1, Ordering::Relaxed);
            let (segment, offset, len) = &segments[i];
            let body = segment_body(&body, *offset, *len);
            self.put_segment(container, segment, body)
        }))
        .buffered(self.concurrency);
        let etags: Vec<Option<String>> = match uploads.try_collect().await {
            Ok(etags) => etags,
            Err(err) => {
                let started = started.load(Ordering::Relaxed).min(segments.len());
                self.delete_segments(container, &segments[..started]).await;
                // The manifest was never sent: the name is still free.
                return Err(err.mark_not_sent());
            }
        };

        let manifest: Vec<ManifestEntry> = segments
            .iter()
            .zip(etags)
            .map(|((segment, _, len), etag)| ManifestEntry {
                path: format!("/{container}/{segment}"),
                etag,
                size_bytes: *len,
            })
            .collect();
        let document = serde_json::to_vec(&manifest).expect("holds because it is plain data");
        let target = Target::Object(container, name);
        let call = put_call(target, RequestBody::Bytes(document.into()), mode)
            .query("multipart-manifest", "put")
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        let reply = match self.client.send_tracked(&call).await {
            Ok(reply) => reply,
            Err(failure) => {
                if !failure.maybe_sent {
                    self.delete_segments(container, &segments).await;
                }
                return Err(note_failure(failure));
            }
        };
        let definite_refusal = reply.status().is_client_error();
        match self.put_outcome(reply, target, mode).await {
            Ok(_) => Ok(()),
            Err(err) => {
                if definite_refusal {
                    self.delete_segments(container, &segments).await;
                }
                Err(err)
            }
        }
    }

    /// Uploads one segment (retried on its own); returns the ETag Swift computed.
    async fn put_segment(
        &self,
        container: &str,
        segment: &str,
        body: RequestBody,
    ) -> Result<Option<String>> {
        let target = Target::Object(container, segment);
        retry_idempotent(&self.segment_retry, &format!("upload of {target}"), || {
            let call = put_call(target, body.clone(), PutMode::Overwrite);
            async move {
                let reply = self.client.send(&call).await?;
                let reply = self.put_outcome(reply, target, PutMode::Overwrite).await?;
                Ok(reply
                    .header("Etag")
                    .map(|etag| etag.trim_matches('"').to_string()))
            }
        })
        .await
    }

    /// Deletes the segments of a failed upload, best effort: failures are logged.
    async fn delete_segments(&self, container: &str, segments: &[(String, u64, u64)]) {
        let deletions = futures::stream::iter((0..segments.len()).map(|i| async move {
            let target = Target::Object(container, &segments[i].0);
            let reply = self.client.send(&Call::new(Method::DELETE, target)).await;
            match reply {
                Ok(reply) if reply.status().is_success() => {}
                Ok(reply) if reply.status() == reqwest::StatusCode::NOT_FOUND => {}
                Ok(reply) => {
                    let err = reply.into_error(target).await;
                    tracing::warn!(error = %err, "cannot delete the segment of a failed upload");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot delete the segment of a failed upload");
                }
            }
        }))
        .buffer_unordered(self.concurrency);
        deletions.collect::<()>().await;
    }
}
