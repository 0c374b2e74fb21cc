//! A local directory as object storage: the embedded default.
//!
//! Layout: `<root>/<container>/<encoded name>`, one flat directory per container. Object names
//! are percent-encoded into single file names (`/` becomes `%2F`), so `a` and `a/b` can coexist
//! and a listing is one `read_dir`. Temporary files live in `<root>/.tmp/` (same filesystem, and
//! not a valid container name).
//!
//! Atomicity: a write goes to a temporary file which is fsynced, then renamed over the name
//! ([`PutMode::Overwrite`]) or hard-linked to it ([`PutMode::Create`]: `link(2)` fails if the name
//! exists, so exactly one of any number of racing creators wins, across processes too); then the
//! directory is fsynced. Readers see the old file or the new, never a partial one.

use std::io::{ErrorKind as IoKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::{
    ErrorKind, GetResult, ObjectMeta, PutMode, PutPayload, Result, Storage, StorageError,
    clip_range,
};

/// Bytes kept as they are in file names; everything else is `%XX`.
const NAME_ENCODING: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
/// Longest file name most filesystems accept.
const MAX_FILE_NAME: usize = 255;
/// Bytes read per chunk when streaming a file.
const STREAM_CHUNK: usize = 256 * 1024;
/// Largest buffer a ranged read allocates before it knows the file's size.
const MAX_PREALLOCATED: u64 = 16 << 20;

#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
    tmp_counter: AtomicU64,
}

fn io_error(kind: ErrorKind, what: String, error: std::io::Error) -> StorageError {
    StorageError::with_source(kind, what, error)
}

fn map_io(error: std::io::Error, container: &str, name: &str, action: &str) -> StorageError {
    match error.kind() {
        IoKind::NotFound => StorageError::not_found(container, name),
        IoKind::AlreadyExists => StorageError::already_exists(container, name),
        _ => io_error(
            ErrorKind::Io,
            format!("cannot {action} {container}/{name}"),
            error,
        ),
    }
}

impl LocalStorage {
    /// Opens (creating if needed) a storage rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStorage> {
        let root = root.into();
        std::fs::create_dir_all(root.join(".tmp")).map_err(|e| {
            io_error(
                ErrorKind::Io,
                format!("cannot create the data directory {}", root.display()),
                e,
            )
        })?;
        Ok(LocalStorage {
            root,
            tmp_counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn container_dir(&self, container: &str) -> Result<PathBuf> {
        if container.is_empty()
            || container.starts_with('.')
            || container.contains(['/', '\\', '\0'])
            || container.len() > MAX_FILE_NAME
        {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                format!("{container:?} is not a valid container name here"),
            ));
        }
        Ok(self.root.join(container))
    }

    fn object_path(&self, container: &str, name: &str) -> Result<PathBuf> {
        let encoded = encode_name(name);
        if name.is_empty() || encoded.len() > MAX_FILE_NAME {
            return Err(StorageError::new(
                ErrorKind::Invalid,
                format!(
                    "object name {name:?} in {container} is empty or too long for a local file"
                ),
            ));
        }
        Ok(self.container_dir(container)?.join(encoded))
    }

    async fn require_container(&self, container: &str) -> Result<PathBuf> {
        let dir = self.container_dir(container)?;
        match tokio::fs::metadata(&dir).await {
            Ok(meta) if meta.is_dir() => Ok(dir),
            Ok(_) => Err(StorageError::container_not_found(container)),
            Err(e) if e.kind() == IoKind::NotFound => {
                Err(StorageError::container_not_found(container))
            }
            Err(e) => Err(io_error(
                ErrorKind::Io,
                format!("cannot read container {container}"),
                e,
            )),
        }
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root.join(".tmp").join(format!(
            "{}-{n}-{}",
            std::process::id(),
            rand::random::<u32>()
        ))
    }
}

fn encode_name(name: &str) -> String {
    let encoded = utf8_percent_encode(name, NAME_ENCODING).to_string();
    // "." and ".." are not usable file names; a leading '.' also marks our own files.
    match encoded.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => encoded,
    }
}

fn decode_name(file_name: &str) -> Option<String> {
    percent_decode_str(file_name)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Writes `payload` to `tmp` and fsyncs it. Blocking: run on the blocking pool.
fn write_temp(tmp: &Path, payload: &PutPayload) -> std::io::Result<u64> {
    let mut file = std::fs::File::create(tmp)?;
    let size = match payload {
        PutPayload::Bytes(bytes) => {
            file.write_all(bytes)?;
            bytes.len() as u64
        }
        PutPayload::File(source) => std::io::copy(&mut std::fs::File::open(source)?, &mut file)?,
    };
    file.sync_all()?;
    Ok(size)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait::async_trait]
impl Storage for LocalStorage {
    async fn create_container(&self, container: &str) -> Result<bool> {
        let dir = self.container_dir(container)?;
        match tokio::fs::create_dir(&dir).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == IoKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_error(
                ErrorKind::Io,
                format!("cannot create container {container} at {}", dir.display()),
                e,
            )),
        }
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        match self.require_container(container).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        let dir = self.require_container(container).await?;
        tokio::fs::remove_dir_all(&dir).await.map_err(|e| {
            io_error(
                ErrorKind::Io,
                format!("cannot delete container {container}"),
                e,
            )
        })
    }

    async fn list_containers(&self) -> Result<Vec<String>> {
        let mut entries = tokio::fs::read_dir(&self.root).await.map_err(|e| {
            io_error(
                ErrorKind::Io,
                format!("cannot list {}", self.root.display()),
                e,
            )
        })?;
        let mut names = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error(ErrorKind::Io, "cannot list containers".into(), e))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().is_dir() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    async fn put(
        &self,
        container: &str,
        name: &str,
        payload: PutPayload,
        mode: PutMode,
    ) -> Result<ObjectMeta> {
        let target = self.object_path(container, name)?;
        let dir = self.require_container(container).await?;
        let tmp = self.temp_path();
        let (container_owned, name_owned) = (container.to_string(), name.to_string());
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let size = write_temp(&tmp, &payload)?;
                match mode {
                    PutMode::Overwrite => std::fs::rename(&tmp, &target)?,
                    PutMode::Create => {
                        let linked = std::fs::hard_link(&tmp, &target);
                        let _ = std::fs::remove_file(&tmp);
                        linked?;
                    }
                }
                sync_dir(&dir)?;
                Ok(size)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
                .map(|size| ObjectMeta {
                    name: name_owned.clone(),
                    size,
                })
                .map_err(|e| map_io(e, &container_owned, &name_owned, "write"))
        })
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Io, "a write task failed", e))?
    }

    async fn get(&self, container: &str, name: &str) -> Result<GetResult> {
        let path = self.object_path(container, name)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| map_io(e, container, name, "open"))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| map_io(e, container, name, "stat"))?
            .len();
        let (container, name) = (container.to_string(), name.to_string());
        let what = format!("{container}/{name}");
        let body = tokio_util::io::ReaderStream::with_capacity(file, STREAM_CHUNK)
            .map(move |chunk| {
                chunk.map_err(|e| io_error(ErrorKind::Io, format!("cannot read {what}"), e))
            })
            .boxed();
        Ok(GetResult {
            meta: ObjectMeta { name, size },
            body,
        })
    }

    async fn get_range(&self, container: &str, name: &str, range: Range<u64>) -> Result<Bytes> {
        let path = self.object_path(container, name)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        // One blocking task that reads straight into the buffer returned: no intermediate
        // buffer on the blocking thread, one hop to the blocking pool instead of four.
        let (owned_container, owned_name) = (container.to_string(), name.to_string());
        let mut buf = Vec::with_capacity((range.end - range.start).min(MAX_PREALLOCATED) as usize);
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)
                .map_err(|e| map_io(e, &owned_container, &owned_name, "open"))?;
            let size = file
                .metadata()
                .map_err(|e| map_io(e, &owned_container, &owned_name, "stat"))?
                .len();
            let range = clip_range(range, size, &owned_container, &owned_name)?;
            buf.resize((range.end - range.start) as usize, 0);
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, range.start)
                .map_err(|e| map_io(e, &owned_container, &owned_name, "read"))?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Io, "a read task failed", e))?
    }

    async fn head(&self, container: &str, name: &str) -> Result<ObjectMeta> {
        let path = self.object_path(container, name)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| map_io(e, container, name, "stat"))?;
        Ok(ObjectMeta {
            name: name.to_string(),
            size: meta.len(),
        })
    }

    async fn delete(&self, container: &str, name: &str) -> Result<()> {
        let path = self.object_path(container, name)?;
        tokio::fs::remove_file(&path)
            .await
            .map_err(|e| map_io(e, container, name, "delete"))
    }

    /// One blocking task removes the files one by one; a failure stops it there.
    async fn delete_many(&self, container: &str, names: &[String]) -> Result<u64> {
        self.container_dir(container)?;
        let paths = names
            .iter()
            .map(|name| self.object_path(container, name))
            .collect::<Result<Vec<PathBuf>>>()?;
        if paths.is_empty() {
            return Ok(0);
        }
        self.require_container(container).await?;
        let (container, names) = (container.to_string(), names.to_vec());
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for (path, name) in paths.iter().zip(&names) {
                match std::fs::remove_file(path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == IoKind::NotFound => {}
                    Err(e) => return Err(map_io(e, &container, name, "delete")),
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Io, "a delete task failed", e))?
    }

    async fn list(&self, container: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let dir = self.require_container(container).await?;
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<ObjectMeta>> {
            let mut objects = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let file_name = entry.file_name();
                let Some(name) = file_name.to_str().and_then(decode_name) else {
                    continue;
                };
                // A file removed between read_dir and stat is simply not listed.
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_file() {
                    objects.push(ObjectMeta {
                        name,
                        size: meta.len(),
                    });
                }
            }
            Ok(objects)
        })
        .await
        .map_err(|e| StorageError::with_source(ErrorKind::Io, "a listing task failed", e))?
        .map(|mut objects| {
            objects.retain(|o| o.name.starts_with(prefix));
            objects.sort_by(|a, b| a.name.cmp(&b.name));
            objects
        })
        .map_err(|e| io_error(ErrorKind::Io, format!("cannot list {container}"), e))
    }

    /// A backend: nothing in front of it to keep a copy.
    async fn offer_copy(&self, _container: &str, _name: &str, _bytes: Bytes) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_file_names() {
        for name in ["a/b c", "%41", "é?#", ".hidden", "..", "pack-1.idx"] {
            let encoded = encode_name(name);
            assert!(
                !encoded.contains('/') && !encoded.starts_with('.'),
                "{encoded}"
            );
            assert_eq!(decode_name(&encoded).as_deref(), Some(name));
        }
    }
}
