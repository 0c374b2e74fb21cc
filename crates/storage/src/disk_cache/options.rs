//! How a [`super::DiskCache`] is set up: which objects it caches ([`CacheRule`]), how it checks
//! a copy ([`Check`]), where it keeps them and how many bytes it may use ([`DiskCacheOptions`]).

use std::fmt;
use std::path::PathBuf;

/// Downloads at once by default; each holds one connection to the storage while it runs.
pub const DEFAULT_MAX_DOWNLOADS: usize = 4;

/// Reads of an object that go to the inner storage before one starts its download, by
/// default: a fetch that needs a handful of objects of a big pack (a filtered clone of a
/// repository of large blobs, an incremental fetch) reads them directly instead of pulling
/// the whole pack, while a clone, which reads hundreds of ranges, downloads it after a few.
pub const DEFAULT_DOWNLOAD_AFTER: u32 = 4;

/// How a downloaded copy is checked before it is kept, besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Its size is the object's size.
    Size,
    /// Also, its last 20 bytes are the SHA-1 of all bytes before them (git packs and v2
    /// indexes end so).
    Sha1Trailer,
}

/// Which objects are immutable — cached — and how their copies are checked.
#[derive(Clone, Copy)]
pub struct CacheRule {
    downloaded: fn(&str) -> Option<Check>,
    kept: fn(&str) -> bool,
}

impl CacheRule {
    /// Git pack files, `objects/pack/<file>.pack`, downloaded once read often enough and
    /// checked by their SHA-1 trailer; and their `.idx` and `.meta`, kept when the object
    /// database offers the copy it read whole (see [`crate::Storage::offer_copy`]).
    pub const GIT_PACKS: CacheRule = CacheRule {
        downloaded: git_pack,
        kept: git_pack_index,
    };

    /// A rule of one's own: `Some(check)` for the names of objects that never change (and are
    /// downloaded when read); nothing kept from offers.
    pub const fn new(rule: fn(&str) -> Option<Check>) -> CacheRule {
        CacheRule {
            downloaded: rule,
            kept: |_| false,
        }
    }

    /// How to check a downloaded copy of `name`, or `None` if it is not downloaded.
    pub fn check(&self, name: &str) -> Option<Check> {
        (self.downloaded)(name)
    }

    /// Whether an offered copy of `name` is kept. Such copies end with the SHA-1 of the bytes
    /// before it, checked whenever a copy is read.
    pub fn keeps(&self, name: &str) -> bool {
        (self.kept)(name)
    }
}

impl fmt::Debug for CacheRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheRule(..)")
    }
}

fn git_pack(name: &str) -> Option<Check> {
    let file = name.strip_prefix("objects/pack/")?;
    (file.ends_with(".pack") && !file.contains('/')).then_some(Check::Sha1Trailer)
}

/// A pack's `.idx` (git's v2 index) or `.meta` (swiftgit's metadata): both end with the SHA-1
/// of everything before.
fn git_pack_index(name: &str) -> bool {
    name.strip_prefix("objects/pack/pack-").is_some_and(|file| {
        (file.ends_with(".idx") || file.ends_with(".meta")) && !file.contains('/')
    })
}

/// How to build a [`super::DiskCache`].
#[derive(Debug, Clone)]
pub struct DiskCacheOptions {
    /// Where the copies go (created if missing); shared by all clusters and processes.
    pub dir: PathBuf,
    /// What identifies the backend (a Swift storage URL): hashed into the layout, so that two
    /// clusters with the same container names never share a copy.
    pub cluster: String,
    /// Most bytes of complete copies of this cluster kept at once.
    pub budget_bytes: u64,
    pub rule: CacheRule,
    /// Downloads at once; a miss beyond that reads the inner storage.
    pub max_downloads: usize,
    /// Reads of an object that go to the inner storage before the next one starts its
    /// download; 0 downloads on the first read.
    pub download_after: u32,
}

impl DiskCacheOptions {
    /// Git packs, [`DEFAULT_MAX_DOWNLOADS`] downloads at once, each after
    /// [`DEFAULT_DOWNLOAD_AFTER`] reads.
    pub fn new(dir: impl Into<PathBuf>, cluster: impl Into<String>, budget_bytes: u64) -> Self {
        DiskCacheOptions {
            dir: dir.into(),
            cluster: cluster.into(),
            budget_bytes,
            rule: CacheRule::GIT_PACKS,
            max_downloads: DEFAULT_MAX_DOWNLOADS,
            download_after: DEFAULT_DOWNLOAD_AFTER,
        }
    }
}
