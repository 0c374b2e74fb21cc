//! Deleting many objects of one container, for [`crate::Storage::delete_many`] and the rounds of
//! `delete_container`: with Swift's bulk middleware when `/info` offers it (`POST
//! /v1/<account>?bulk-delete`, a page of at most `max_deletes_per_request` names per request,
//! spread over up to `concurrency` pages at once), else one `DELETE` per object, `concurrency` at a time.
//! Either way a name Swift does not find counts as already deleted. The request body and the
//! report are built and read in `bulk_report.rs`.
//!
//! A plain delete (bulk or not) removes a large object's manifest but not its segments, so
//! `delete_many` first lists the segments (one request when there are few; it also tells a
//! missing container) and deletes the names that have some as `delete` does, one by one with
//! `multipart-manifest=delete`. The listing is eventually consistent: segments of a large
//! object uploaded a moment ago may not be listed yet, and would then stay behind its deleted
//! manifest until the container is deleted.
//!
//! The middleware runs before the auth middleware in Swift's pipeline, so an expired token
//! does not get a 401 answer: each name fails with "401 Unauthorized" inside a 200. The page is
//! then sent once more with a fresh token (deleting is idempotent). Swift sends a space every
//! `yield_frequency` (10 s) while it works through a page, which keeps the idle timeout
//! (`http_timeout`) from firing on a long page as long as it is longer than that.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::{self, HeaderValue};

use super::SwiftStorage;
use super::body::RequestBody;
use super::bulk_report::{self, DeleteOutcome};
use super::client::{Call, Target};
use super::names::SEGMENT_PREFIX;
use super::status::status_error;
use crate::{ErrorKind, Result, StorageError};

/// The fewest names a bulk-delete request carries when there are more to delete than that.
const MIN_BULK_PAGE: usize = 100;

impl SwiftStorage {
    pub(super) async fn delete_many_impl(&self, container: &str, names: &[String]) -> Result<u64> {
        self.info.names.check_container(container)?;
        for name in names {
            self.info.names.check_object(container, name)?;
        }
        if names.is_empty() {
            return Ok(0);
        }
        // A name twice could be deleted twice at once, both answered 204: counted once here.
        let mut seen = HashSet::new();
        let names: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|name| seen.insert(*name))
            .collect();
        let (large, plain, container_seen) = match self.info.slo {
            Some(_) => {
                // A 404 here is the container's: NotFound, as documented.
                let target = Target::Container(container);
                let segments: Vec<String> = self
                    .list_all(target, SEGMENT_PREFIX)
                    .await?
                    .into_iter()
                    .map(|entry| entry.name)
                    .collect();
                let max = self.info.names.max_object_name_length;
                let (large, plain) = bulk_report::split_large(&segments, &names, max);
                (large, plain, true)
            }
            None => (Vec::new(), names, false),
        };
        // Indices rather than references in the streams: a closure taking `&str` trips the
        // compiler's higher-ranked lifetime check inside `async_trait` (as in `slo.rs`).
        let large = &large;
        let large_removed = futures::stream::iter(0..large.len())
            .map(|i| async move {
                match self.delete_impl(container, large[i]).await {
                    Ok(()) => Ok(1),
                    Err(err) if err.kind() == ErrorKind::NotFound => Ok(0),
                    Err(err) => Err(err),
                }
            })
            .buffer_unordered(self.concurrency)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
            .await?;
        let removed = large_removed + self.delete_plain_names(container, &plain).await?;
        // Nothing removed, and no request told whether the container exists: a missing
        // container answers every delete with 404 too.
        if removed == 0 && !container_seen && !self.container_exists_impl(container).await? {
            return Err(StorageError::container_not_found(container));
        }
        Ok(removed)
    }

    /// Deletes `names` with plain deletes (a manifest's segments stay), in bulk when the
    /// cluster allows it; returns how many Swift deleted. Names are not checked: segments too
    /// may be deleted here.
    pub(super) async fn delete_plain_names(&self, container: &str, names: &[&str]) -> Result<u64> {
        let (bulk, single): (Vec<&str>, Vec<&str>) = match self.bulk_delete_page {
            Some(_) => names
                .iter()
                .partition(|name| bulk_report::fits_a_bulk_line(&self.info.names, container, name)),
            None => (Vec::new(), names.to_vec()),
        };
        // Indices rather than references, as in `delete_many_impl`.
        // Swift works through one request's names one after the other: spread many names
        // over `concurrency` requests, none smaller than MIN_BULK_PAGE nor larger than allowed.
        let spread = bulk
            .len()
            .div_ceil(self.concurrency.max(1))
            .max(MIN_BULK_PAGE);
        let page = self.bulk_delete_page.unwrap_or(1).clamp(1, spread);
        let (bulk, single) = (&bulk, &single);
        let in_bulk = futures::stream::iter(0..bulk.len().div_ceil(page))
            .map(|p| {
                let names = &bulk[p * page..bulk.len().min((p + 1) * page)];
                self.bulk_delete_page(container, names)
            })
            .buffer_unordered(self.concurrency)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) });
        let one_by_one = futures::stream::iter(0..single.len())
            .map(|i| async move {
                match self
                    .delete_plain(Target::Object(container, single[i]))
                    .await
                {
                    Ok(()) => Ok(1),
                    Err(err) if err.kind() == ErrorKind::NotFound => Ok(0),
                    Err(err) => Err(err),
                }
            })
            .buffer_unordered(self.concurrency)
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) });
        let (in_bulk, one_by_one) = futures::future::try_join(in_bulk, one_by_one).await?;
        Ok(in_bulk + one_by_one)
    }

    /// One `POST ?bulk-delete` of `names` (at most a page); sent once more with a fresh token if
    /// Swift refused the first one's.
    async fn bulk_delete_page(&self, container: &str, names: &[&str]) -> Result<u64> {
        let body = RequestBody::Bytes(bulk_report::delete_request_body(container, names));
        let what = format!(
            "a bulk delete of {} objects of container {container}",
            names.len()
        );
        let call = Call::new(Method::POST, Target::Account)
            .query("bulk-delete", "")
            .header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .body(body);
        for attempt in 1..=2 {
            let session = self.client.session();
            let reply = self.client.send(&call).await?;
            let status = reply.status();
            let answer = reply.bytes().await?;
            if !status.is_success() {
                return Err(status_error(status, &answer, "", &what));
            }
            match bulk_report::delete_outcome(&answer, container, &what)? {
                DeleteOutcome::Done { deleted } => return Ok(deleted),
                DeleteOutcome::Unauthorized if attempt == 1 => {
                    self.client.reauthenticate(&session).await?;
                }
                DeleteOutcome::Unauthorized => break,
            }
        }
        Err(StorageError::new(
            ErrorKind::Unauthorized,
            format!(
                "Swift refused {what} for user {} with a fresh token (401 Unauthorized for the \
                 objects, twice): the user may lack access to this account",
                self.client.user()
            ),
        ))
    }
}
