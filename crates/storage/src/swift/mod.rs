//! OpenStack Swift backend: [`SwiftStorage`] speaks Swift's HTTP API with `reqwest`.
//!
//! [`SwiftStorage::connect`] authenticates (tempauth v1, Keystone v2.0 or v3: `auth.rs`) and
//! reads the cluster's limits from `/info` (`info.rs`). Each request goes through one client
//! (`client.rs`) that bounds concurrency to `http_pool_length`, applies `http_timeout` as an
//! idle timeout (`body.rs`), re-authenticates once on a 401 and maps statuses to
//! [`crate::ErrorKind`]s. Object operations live in `objects.rs`; objects larger than the
//! cluster's `max_file_size` are stored as static large objects (`slo.rs`) whose segments sit
//! under a reserved prefix of the same container (`names.rs`); listings are paged
//! (`listing.rs`); container operations are in `containers.rs`; deleting many objects at once,
//! with the bulk middleware when the cluster has it, is in `bulk.rs` (its request body and
//! report in `bulk_report.rs`). Nothing here retries a temporary failure of a whole operation:
//! wrap the storage in [`crate::retry::Retrying`].
//!
//! Consistency is Swift's: a GET or HEAD of a newly created object sees it; overwrites,
//! deletes and listings are eventually consistent; `PutMode::Create` (`If-None-Match: *`)
//! narrows but does not close the race between two writers.

mod auth;
mod body;
mod bulk;
mod bulk_report;
mod catalog;
mod client;
mod containers;
mod info;
mod listing;
mod names;
mod objects;
mod slo;
mod stats;
mod status;

#[cfg(test)]
mod tests;

pub use stats::SwiftStats;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use swiftgit_config::SwiftConfig;

use crate::retry::RetryPolicy;
use crate::{GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage};
use client::Client;
use info::ClusterInfo;

/// The size of a large object's segments when the cluster allows larger: small enough that
/// `concurrency` segments upload in parallel and a failed one is cheap to send again, large
/// enough that the manifest stays far below the segment limit (1000 by default, so objects up
/// to about 1 TB). Memory use does not depend on it: segments are streamed.
const PREFERRED_SEGMENT_SIZE: u64 = 1024 * 1024 * 1024;

/// Objects larger than this many bytes are stored as static large objects (at most the
/// cluster's `max_file_size`).
#[derive(Debug, Clone, Copy)]
struct LargeObjects {
    threshold: u64,
    segment_size: u64,
}

/// An account in OpenStack Swift, one container per repository. Cheap to clone: clones share
/// the connection pool, the token and the counters.
///
/// At most `http_pool_length` requests run at once across all clones; the body stream of a
/// [`Storage::get`] holds its slot until it ends or is dropped, so a caller that keeps that many
/// bodies open and waits for another request waits forever. Every request re-authenticates
/// once on a 401 (one re-authentication serves all requests that hit the expired token).
#[derive(Clone)]
pub struct SwiftStorage {
    client: Arc<Client>,
    info: ClusterInfo,
    large: LargeObjects,
    listing_page_size: usize,
    /// Names per `POST ?bulk-delete`; `None`: one `DELETE` per object.
    bulk_delete_page: Option<usize>,
    concurrency: usize,
    segment_retry: RetryPolicy,
}

impl fmt::Debug for SwiftStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftStorage")
            .field("storage_url", &self.client.session().storage_url.as_str())
            .field("user", &self.client.user())
            .field("large_object_threshold", &self.large.threshold)
            .finish_non_exhaustive()
    }
}

impl SwiftStorage {
    /// Authenticates with the configured method and reads the cluster's limits from `/info`
    /// (Swift's defaults if the cluster hides it). Errors: [`crate::ErrorKind::Unauthorized`]
    /// for refused credentials, [`crate::ErrorKind::Unavailable`] if the auth service or Swift
    /// cannot be reached, [`crate::ErrorKind::Invalid`] if the catalog has no object-store
    /// endpoint for `region_name` and `endpoint_type`. Never retried here.
    pub async fn connect(config: &SwiftConfig) -> Result<SwiftStorage> {
        let client = Client::connect(config).await?;
        let info_url = info::info_url(&client.session().storage_url);
        let info = match client.get_public(info_url.clone()).await? {
            Some(body) => ClusterInfo::parse(&body).unwrap_or_else(|e| {
                tracing::warn!(url = %info_url, error = %e, "cannot parse Swift's /info; assuming Swift's default limits");
                ClusterInfo::default()
            }),
            None => {
                tracing::warn!(url = %info_url, "Swift hides /info; assuming its default limits");
                ClusterInfo::default()
            }
        };
        tracing::debug!(?info, "connected to Swift");
        let threshold = info.max_file_size;
        Ok(SwiftStorage {
            client: Arc::new(client),
            large: LargeObjects {
                threshold,
                segment_size: PREFERRED_SEGMENT_SIZE.min(threshold),
            },
            listing_page_size: info.listing_limit,
            bulk_delete_page: info.bulk_delete.map(|bulk| bulk.max_deletes_per_request),
            info,
            concurrency: config.concurrency.max(1),
            segment_retry: RetryPolicy::default(),
        })
    }

    /// Names per listing request (at most the cluster's `container_listing_limit`, 10 000 by
    /// default). Small pages are for tests of paging.
    pub fn with_listing_page_size(mut self, names: usize) -> Self {
        self.listing_page_size = names.clamp(1, self.info.listing_limit);
        self
    }

    /// Names per bulk-delete request (at most the cluster's `max_deletes_per_request`, 10 000 by
    /// default); no effect on a cluster without bulk deletes. Small pages are for tests.
    pub fn with_bulk_delete_page_size(mut self, names: usize) -> Self {
        if let Some(limits) = self.info.bulk_delete {
            self.bulk_delete_page = Some(names.clamp(1, limits.max_deletes_per_request));
        }
        self
    }

    /// Deletes many objects with one `DELETE` each, as on a cluster without the bulk
    /// middleware. For tests of that path.
    pub fn without_bulk_delete(mut self) -> Self {
        self.bulk_delete_page = None;
        self
    }

    /// How many names one request of [`Storage::delete_many`] carries: `None` when it sends
    /// one `DELETE` per object (the cluster's `/info` offers no `bulk_delete`, or it is hidden).
    pub fn bulk_delete_page_size(&self) -> Option<usize> {
        self.bulk_delete_page
    }

    /// Stores objects larger than `bytes` as static large objects with segments of at most
    /// `bytes` (never above the cluster's `max_file_size`). For tests of large objects.
    pub fn with_large_object_threshold(mut self, bytes: u64) -> Self {
        let threshold = bytes.clamp(1, self.info.max_file_size);
        self.large = LargeObjects {
            threshold,
            segment_size: PREFERRED_SEGMENT_SIZE.min(threshold),
        };
        self
    }

    /// How each segment upload of a large object is retried (independently of any
    /// [`crate::retry::Retrying`] around the whole `put`).
    pub fn with_segment_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.segment_retry = policy;
        self
    }

    /// Counters of requests, bytes and authentications since `connect`.
    pub fn stats(&self) -> SwiftStats {
        self.client.counters.snapshot()
    }

    /// The storage URL the auth service handed out (no secrets in it).
    pub fn storage_url(&self) -> String {
        self.client.session().storage_url.to_string()
    }

    /// The cluster's largest single object (`max_file_size` from `/info`).
    pub fn max_file_size(&self) -> u64 {
        self.info.max_file_size
    }
}

#[async_trait::async_trait]
impl Storage for SwiftStorage {
    /// `PUT` on the container: 201 → `true`, 202 → `false`.
    async fn create_container(&self, container: &str) -> Result<bool> {
        self.create_container_impl(container).await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.container_exists_impl(container).await
    }

    /// Deletes every object (segments of large objects included; in bulk when the cluster
    /// offers it, as `delete_many` does), then the container; a 409 (objects the listing did
    /// not show yet) starts another round, up to three.
    async fn delete_container(&self, container: &str) -> Result<()> {
        self.delete_container_impl(container).await
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        self.list_containers_impl().await
    }

    /// One `PUT` (with `If-None-Match: *` for [`PutMode::Create`]), or for a payload above
    /// `max_file_size` segment uploads followed by an SLO manifest `PUT`; readers see the
    /// object only once its manifest is stored. A create of a large object first checks that
    /// the name is free, so a taken name costs one HEAD rather than an upload.
    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        self.put_impl(container, name, payload, mode).await
    }

    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        self.get_impl(container, name).await
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.get_range_impl(container, name, range).await
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        self.head_impl(container, name).await
    }

    /// Deletes the object and, if it is a large object, its segments (Swift's
    /// `multipart-manifest=delete`).
    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        self.delete_impl(container, name).await
    }

    /// Lists the segments of large objects first (when the cluster offers them; a 404 there is
    /// the container's), deletes the large objects among `names` as `delete` does, and the
    /// others with `POST ?bulk-delete`, a page of up to `max_deletes_per_request` names per
    /// request, when `/info` offers bulk deletes, else with one `DELETE` each; up to
    /// `concurrency` requests at once. When nothing was deleted and nothing looked at the
    /// container, a `HEAD` tells an absent container from absent objects.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        self.delete_many_impl(container, names).await
    }

    /// Hides the segments of large objects.
    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.list_impl(container, prefix).await
    }

    /// A backend: nothing in front of it to keep a copy.
    async fn offer_copy(&self, _container: &str, _name: &str, _bytes: Bytes) {}
}
