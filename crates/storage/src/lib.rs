//! Object storage for swiftgit: one async trait, [`Storage`], and the backends that implement it —
//! [`memory::MemoryStorage`] for unit tests, [`local::LocalStorage`] (a directory tree) for the
//! embedded default, and [`swift::SwiftStorage`] for OpenStack Swift — plus wrappers that are
//! themselves storages ([`retry::Retrying`], [`counting::Counting`], and
//! [`disk_cache::DiskCache`], local copies of immutable pack files). The counting and retry
//! wrappers report to an [`observer::StorageObserver`] when given one (the daemon's metrics).
//!
//! A *container* holds one repository; an *object* is named by any UTF-8 string. Every method's
//! doc states what is atomic and which error a conflict returns. One conformance suite
//! (`tests/conformance`) runs against every backend.

pub mod counting;
pub mod disk_cache;
pub mod error;
pub mod local;
pub mod memory;
pub mod observer;
pub mod retry;
pub mod swift;

pub use error::{ErrorKind, Result, StorageError};

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::BoxStream;

/// A download: chunks of an object's bytes in order. Errors end the stream.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What `put` does when the object already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Replace it.
    Overwrite,
    /// Fail with [`ErrorKind::AlreadyExists`]. Atomic on memory and local; on Swift it maps to
    /// `If-None-Match: *`, which narrows but does not close the race between two writers.
    Create,
}

/// The bytes to upload. A file is read at upload time, streamed (never held whole in memory),
/// and read again if the upload is retried; it must not change until `put` returns.
#[derive(Debug, Clone)]
pub enum PutPayload {
    Bytes(Bytes),
    File(PathBuf),
}

impl From<Bytes> for PutPayload {
    fn from(bytes: Bytes) -> Self {
        PutPayload::Bytes(bytes)
    }
}

impl From<Vec<u8>> for PutPayload {
    fn from(bytes: Vec<u8>) -> Self {
        PutPayload::Bytes(Bytes::from(bytes))
    }
}

impl From<&'static str> for PutPayload {
    fn from(text: &'static str) -> Self {
        PutPayload::Bytes(Bytes::from_static(text.as_bytes()))
    }
}

/// What a backend knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub name: String,
    pub size: u64,
}

/// An object's metadata and a stream of its bytes.
pub struct GetResult {
    pub meta: ObjectMeta,
    pub body: ByteStream,
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl GetResult {
    /// Reads the whole body into memory. For small objects only.
    pub async fn bytes(self) -> Result<Bytes> {
        use futures::TryStreamExt;
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        if chunks.len() == 1 {
            return Ok(chunks.into_iter().next().expect("holds because len is 1"));
        }
        Ok(Bytes::from(chunks.concat()))
    }
}

/// One object store account: containers of named objects.
///
/// Consistency: on memory and local every method sees every completed write. On Swift a GET or
/// HEAD of a newly created name sees it; overwrites and listings are eventually consistent.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates the container. Returns `true` if this call created it, `false` if it existed.
    /// Idempotent, but on Swift not exclusive: two concurrent calls may both return `true`.
    async fn create_container(&self, container: &str) -> Result<bool>;

    /// Whether the container exists.
    async fn container_exists(&self, container: &str) -> Result<bool>;

    /// Deletes every object in the container, then the container. Not atomic: a failure part
    /// way leaves some objects. [`ErrorKind::NotFound`] if the container does not exist.
    async fn delete_container(&self, container: &str) -> Result<()>;

    /// Names of all containers, sorted by their UTF-8 bytes.
    async fn list_containers(&self) -> Result<Vec<String>>;

    /// Stores an object. Atomic for readers: a reader sees the old bytes or the new, never a mix.
    /// With [`PutMode::Create`] fails with [`ErrorKind::AlreadyExists`] if the name exists (see
    /// [`PutMode::Create`] for how exclusive that is). [`ErrorKind::NotFound`] if the container
    /// does not exist.
    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta>;

    /// Streams a whole object. [`ErrorKind::NotFound`] if it does not exist.
    async fn get(&self, container: &str, name: &str) -> Result<GetResult>;

    /// Reads bytes `range` of an object. An end past the object's size is clipped to it; a start
    /// at or past the size fails with [`ErrorKind::RangeNotSatisfiable`] (except that an empty
    /// range returns no bytes without a request).
    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes>;

    /// Size of an object. [`ErrorKind::NotFound`] if it does not exist.
    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta>;

    /// Removes an object. [`ErrorKind::NotFound`] if it does not exist.
    async fn delete(&self, container: &str, name: &str) -> Result<()>;

    /// Deletes the objects `names` of `container`, for callers that remove many at once (garbage
    /// collection): one request per page of names where the backend has a bulk operation.
    /// Idempotent: a name that does not exist counts as deleted, so calling again after a
    /// failure finishes the job. Not atomic: a failure part way leaves some objects deleted and
    /// others not, in no particular order. Returns how many objects this call removed; absent
    /// (or repeated) names are not counted, as far as the backend can tell. An empty `names`
    /// returns 0 at once, without looking at the container. A name the backend cannot address
    /// fails with [`ErrorKind::Invalid`] before anything is deleted; [`ErrorKind::NotFound`]
    /// only if the container does not exist.
    ///
    /// Deliberately without a default, like [`Storage::offer_copy`]: a wrapper that did not
    /// forward it would not compile, so no order of wrappers can silently fall back to one
    /// request per object.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64>;

    /// Every object whose name starts with `prefix`, sorted by name bytes; all pages.
    /// [`ErrorKind::NotFound`] if the container does not exist.
    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Offers the whole content of object `name`, which the caller just read with
    /// [`Storage::get`] and checked, to a cache in front of a slower storage: the
    /// [`disk_cache::DiskCache`] keeps pack indexes so that a restarted server reads them
    /// from the local disk. Best effort, in the background; backends ignore it.
    ///
    /// Deliberately without a default: a wrapper must forward it to what it wraps, and one
    /// that does not say so would not compile, so the order of wrappers cannot drop it.
    async fn offer_copy(&self, container: &str, name: &str, bytes: Bytes);
}

/// Clips `range` to an object of `size` bytes, per [`Storage::get_range`].
pub fn clip_range(range: Range<u64>, size: u64, container: &str, name: &str) -> Result<Range<u64>> {
    if range.start > range.end {
        return Err(StorageError::new(
            ErrorKind::Invalid,
            format!("range {range:?} of {container}/{name} ends before it starts"),
        ));
    }
    if range.start >= size && !range.is_empty() {
        return Err(StorageError::new(
            ErrorKind::RangeNotSatisfiable,
            format!("range {range:?} starts past the end of {container}/{name} ({size} bytes)"),
        ));
    }
    Ok(range.start..range.end.min(size))
}
