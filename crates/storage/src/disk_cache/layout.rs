//! Where the disk cache keeps its files, and what it finds there at startup.
//!
//! ```text
//! <dir>/<cluster>/<container>/<name>     complete copies, immutable once renamed into place
//! <dir>/<cluster>/.tmp/<pid>-<random>.part   downloads in progress
//! ```
//!
//! `<cluster>` is the first 16 hex digits of the SHA-1 of the backend's identity (a Swift
//! storage URL), so two clusters with the same container names never share a copy.
//! `<container>` and `<name>` are percent-encoded into single file names (`/` becomes `%2F`,
//! a leading `.` becomes `%2E`, so nothing collides with `.tmp`); one longer than
//! [`MAX_ENCODED`] bytes becomes `~` and the SHA-1 of the raw text (`~` itself is always
//! encoded, so the two forms cannot collide). Several processes may share the directory:
//! copies are named by what they hold and appear by an atomic rename, and temporary names are
//! unique.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes kept as they are in file names; everything else is `%XX`.
const NAME_ENCODING: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
/// Longest encoded component kept readable; longer ones are hashed (file names stop at 255).
const MAX_ENCODED: usize = 200;
/// The directory of downloads in progress.
const TEMP_DIR: &str = ".tmp";
/// A temporary file whose process still runs is removed at startup only when this old.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

/// A complete copy found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundFile {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// `<dir>/<cluster>`.
    root: PathBuf,
}

fn sha1_hex(text: &str) -> String {
    let mut hasher = sha1dc::Hasher::default();
    hasher.update(text.as_bytes());
    match hasher.finalize() {
        Ok(digest) => format!("{digest:x}"),
        // Only crafted collision inputs get here; their digest still names them.
        Err(collision) => format!("{:x}", collision.digest()),
    }
}

fn encode(component: &str) -> String {
    let encoded = utf8_percent_encode(component, NAME_ENCODING).to_string();
    let encoded = match encoded.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => encoded,
    };
    if encoded.is_empty() || encoded.len() > MAX_ENCODED {
        format!("~{}", sha1_hex(component))
    } else {
        encoded
    }
}

impl Layout {
    pub fn new(dir: &Path, cluster: &str) -> Layout {
        Layout {
            root: dir.join(&sha1_hex(cluster)[..16]),
        }
    }

    /// This cluster's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key of an object: its path below [`Self::root`].
    pub fn key(container: &str, name: &str) -> String {
        format!("{}/{}", encode(container), encode(name))
    }

    /// The key prefix of every object of `container`.
    pub fn container_prefix(container: &str) -> String {
        format!("{}/", encode(container))
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub fn container_dir(&self, container: &str) -> PathBuf {
        self.root.join(encode(container))
    }

    /// A fresh name for a download in progress.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join(TEMP_DIR).join(format!(
            "{}-{:016x}.part",
            std::process::id(),
            rand::random::<u64>()
        ))
    }

    /// Creates the directories (mode 0700), checks that this process may write there and owns
    /// this cluster's directory (so nobody else can plant copies in it), removes temporary
    /// files that no running process writes, and returns every complete copy. Blocking.
    pub fn open(&self) -> io::Result<Vec<FoundFile>> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.root.join(TEMP_DIR))?;
        let probe = self.temp_path();
        let writer = File::options()
            .write(true)
            .create_new(true)
            .open(&probe)?
            .metadata()?
            .uid();
        std::fs::remove_file(&probe)?;
        if std::fs::metadata(&self.root)?.uid() != writer {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the directory belongs to another user",
            ));
        }
        self.remove_stale_temp_files()?;
        let mut found = Vec::new();
        for container in std::fs::read_dir(&self.root)? {
            let container = container?;
            let container_name = container.file_name();
            let Some(container_name) = container_name.to_str() else {
                continue;
            };
            if container_name == TEMP_DIR {
                continue;
            }
            // A container directory removed meanwhile by another process is skipped, not a
            // reason to give up on the cache.
            let files = match container.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::read_dir(container.path()),
                Ok(_) => continue,
                Err(e) => Err(e),
            };
            let files = match files {
                Ok(files) => files,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for file in files {
                let file = file?;
                let metadata = match file.metadata() {
                    Ok(metadata) if metadata.is_file() => metadata,
                    // Removed meanwhile by another process, or not ours.
                    _ => continue,
                };
                let Some(file_name) = file.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                found.push(FoundFile {
                    key: format!("{container_name}/{file_name}"),
                    size: metadata.len(),
                    modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(found)
    }

    fn remove_stale_temp_files(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(self.root.join(TEMP_DIR))? {
            let entry = entry?;
            let name = entry.file_name();
            let writer_runs = name
                .to_str()
                .and_then(|name| name.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if !writer_runs || old {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::debug!(path = %entry.path().display(), "removed a stale download")
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_single_file_names_per_component() {
        assert_eq!(
            Layout::key("repo", "objects/pack/pack-ab.pack"),
            "repo/objects%2Fpack%2Fpack-ab.pack"
        );
        assert_eq!(Layout::key(".tmp", ".."), "%2Etmp/%2E.");
        assert_eq!(Layout::key("caf\u{e9} x", "~"), "caf%C3%A9%20x/%7E");
        let long = "x".repeat(300);
        let key = Layout::key(&long, "a");
        assert!(key.starts_with('~') && key.len() == 1 + 40 + 2, "{key}");
        assert_eq!(Layout::container_prefix("repo"), "repo/");
    }

    #[test]
    fn clusters_get_their_own_directory() {
        let a = Layout::new(Path::new("/c"), "http://a/v1/AUTH_x");
        let b = Layout::new(Path::new("/c"), "http://b/v1/AUTH_x");
        assert_ne!(a.root(), b.root());
        assert_eq!(a.root().parent(), Some(Path::new("/c")));
        assert_eq!(a.root().file_name().map(|n| n.len()), Some(16));
    }
}
