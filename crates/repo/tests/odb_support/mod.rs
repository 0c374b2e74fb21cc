//! Shared by the `odb_*` test binaries: the storage backends under test, real `git` as fixture
//! builder and oracle, and a builder of hand-crafted (often broken) packs.
//!
//! Every case is a function taking an `Arc<dyn Storage>`; [`backends`] lists the storages to
//! run it on, built by the repository tests' shared `tests/common` helper.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use gix_hash::ObjectId;

use crate::common;
use swiftgit_repo::odb::{IngestLimits, IngestedPack, ObjectDb, OdbError, OdbOptions};
use swiftgit_storage::Storage;

/// A storage under test, with what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub storage: Arc<dyn Storage>,
    _fixture: common::Fixture,
}

impl Backend {
    /// Deletes the containers this run made (so a real Swift is left clean). Best effort:
    /// a failure is reported, not fatal, as the cases themselves have passed by then.
    pub async fn cleanup(&self) {
        for attempt in 1..=3 {
            match self.try_cleanup().await {
                Ok(()) => return,
                Err(e) => eprintln!("{}: cleanup attempt {attempt} failed: {e}", self.name),
            }
        }
    }

    async fn try_cleanup(&self) -> swiftgit_storage::Result<()> {
        for container in self.storage.list_containers().await? {
            if container.starts_with(&run_prefix()) {
                self.storage.delete_container(&container).await?;
            }
        }
        Ok(())
    }
}

/// The backends every case runs on: memory, a local directory, and a real Swift when
/// `SWIFTGIT_TEST_CONFIG` names a config (see `tests/common`).
pub async fn backends() -> Vec<Backend> {
    let mut out = Vec::new();
    for (name, backend) in [
        ("memory", common::Backend::Memory),
        ("local", common::Backend::Local),
        ("swift", common::Backend::Swift),
    ] {
        if let Some(fixture) = common::fixture(backend).await {
            out.push(Backend {
                name,
                storage: Arc::clone(&fixture.storage),
                _fixture: fixture,
            });
        }
    }
    out
}

/// Container names of this test process start with this.
fn run_prefix() -> String {
    static RUN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    format!("odb-test-{:08x}-", RUN.get_or_init(rand::random::<u32>))
}

/// A fresh container and an empty object database over it.
pub async fn empty_db(storage: &Arc<dyn Storage>) -> (String, ObjectDb) {
    let container = format!("{}{:08x}", run_prefix(), rand::random::<u32>());
    storage.create_container(&container).await.unwrap();
    let db = ObjectDb::open(Arc::clone(storage), container.clone(), &[], options())
        .await
        .unwrap();
    (container, db)
}

/// Small blocks and caches, so that tests cross block boundaries and evict.
pub fn options() -> OdbOptions {
    OdbOptions {
        cache_bytes: 1 << 20,
        chunk_bytes: 0,
        delta_cache_bytes: 256 << 10,
        ..OdbOptions::default()
    }
}

pub async fn ingest(db: &ObjectDb, pack: &[u8]) -> Result<IngestedPack, OdbError> {
    ingest_with(db, pack, &IngestLimits::default()).await
}

pub async fn ingest_with(
    db: &ObjectDb,
    pack: &[u8],
    limits: &IngestLimits,
) -> Result<IngestedPack, OdbError> {
    db.ingest(pack, limits, Arc::new(())).await
}

/// Names of everything stored under `objects/`.
pub async fn stored_objects(storage: &Arc<dyn Storage>, container: &str) -> Vec<String> {
    storage
        .list(container, "objects/")
        .await
        .unwrap()
        .into_iter()
        .map(|meta| meta.name)
        .collect()
}

// --- real git ---

/// Runs git in `dir` with no user or system configuration, feeding `input`; returns stdout.
pub fn git(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("holds where git is installed");
    let mut stdin = child.stdin.take().expect("holds: piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("holds: git runs");
    writer
        .join()
        .expect("holds: writer thread")
        .expect("holds: git reads its input");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn git_text(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git(dir, args, b"")).expect("holds: git prints UTF-8 here")
}

/// The fixture repository of `tests/fixtures/odb_repo.sh`, in a fresh temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/odb_repo.sh");
        let status = Command::new("sh")
            .arg(script)
            .arg(dir.path().join("repo"))
            .status()
            .unwrap();
        assert!(status.success(), "fixture script failed");
        Fixture { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// `git pack-objects --stdout` of `revs` (rev-list syntax, one per line); `extra` flags
    /// such as `--thin` or `--delta-base-offset`.
    pub fn pack(&self, revs: &str, extra: &[&str]) -> Vec<u8> {
        let mut args = vec!["pack-objects", "--stdout", "--revs", "-q"];
        args.extend_from_slice(extra);
        git(&self.path(), &args, revs.as_bytes())
    }

    /// Every object `git` has, as (id, type, content), via `cat-file --batch`.
    pub fn all_objects(&self) -> Vec<(ObjectId, String, Vec<u8>)> {
        let ids = git_text(
            &self.path(),
            &[
                "cat-file",
                "--batch-all-objects",
                "--batch-check=%(objectname)",
            ],
        );
        let out = git(&self.path(), &["cat-file", "--batch"], ids.as_bytes());
        let mut objects = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n').unwrap();
            let header = std::str::from_utf8(&rest[..newline]).unwrap();
            let mut fields = header.split(' ');
            let id = ObjectId::from_hex(fields.next().unwrap().as_bytes()).unwrap();
            let kind = fields.next().unwrap().to_string();
            let size: usize = fields.next().unwrap().parse().unwrap();
            let content = rest[newline + 1..newline + 1 + size].to_vec();
            rest = &rest[newline + 2 + size..];
            objects.push((id, kind, content));
        }
        objects
    }
}

// --- hand-crafted packs ---

pub const COMMIT: u8 = 1;
pub const TREE: u8 = 2;
pub const BLOB: u8 = 3;
pub const TAG: u8 = 4;

/// Writes packs entry by entry, well-formed or not.
pub struct PackBuilder {
    pub bytes: Vec<u8>,
    count: u32,
}

pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

pub fn entry_header(type_code: u8, size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = (type_code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
    out
}

pub fn ofs_distance(mut distance: u64) -> Vec<u8> {
    let mut out = vec![(distance & 0x7f) as u8];
    distance >>= 7;
    while distance != 0 {
        distance -= 1;
        out.push(0x80 | (distance & 0x7f) as u8);
        distance >>= 7;
    }
    out.reverse();
    out
}

pub fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// A delta that copies all of a `base_len`-byte base (up to 64 KiB) and appends `append`.
pub fn append_delta(base_len: usize, append: &[u8]) -> Vec<u8> {
    assert!(base_len > 0 && base_len <= 0xffff && append.len() < 128);
    let mut out = varint(base_len as u64);
    out.extend(varint((base_len + append.len()) as u64));
    out.extend([
        0x80 | 0x10 | 0x20,
        (base_len & 0xff) as u8,
        (base_len >> 8) as u8,
    ]);
    if !append.is_empty() {
        out.push(append.len() as u8);
        out.extend_from_slice(append);
    }
    out
}

pub fn object_id(type_code: u8, data: &[u8]) -> ObjectId {
    let kind = match type_code {
        COMMIT => gix_object::Kind::Commit,
        TREE => gix_object::Kind::Tree,
        BLOB => gix_object::Kind::Blob,
        _ => gix_object::Kind::Tag,
    };
    gix_object::compute_hash(gix_hash::Kind::Sha1, kind, data).unwrap()
}

impl Default for PackBuilder {
    fn default() -> Self {
        PackBuilder {
            bytes: b"PACK\0\0\0\x02\0\0\0\0".to_vec(),
            count: 0,
        }
    }
}

impl PackBuilder {
    /// Appends raw entry bytes; returns the entry's offset.
    pub fn raw(&mut self, bytes: &[u8]) -> u64 {
        let offset = self.bytes.len() as u64;
        self.bytes.extend_from_slice(bytes);
        self.count += 1;
        offset
    }

    pub fn object(&mut self, type_code: u8, data: &[u8]) -> u64 {
        let mut entry = entry_header(type_code, data.len() as u64);
        entry.extend(deflate(data));
        self.raw(&entry)
    }

    pub fn ofs_delta(&mut self, base_offset: u64, delta: &[u8]) -> u64 {
        let offset = self.bytes.len() as u64;
        let mut entry = entry_header(6, delta.len() as u64);
        entry.extend(ofs_distance(offset - base_offset));
        entry.extend(deflate(delta));
        self.raw(&entry)
    }

    pub fn ref_delta(&mut self, base: &ObjectId, delta: &[u8]) -> u64 {
        let mut entry = entry_header(7, delta.len() as u64);
        entry.extend_from_slice(base.as_slice());
        entry.extend(deflate(delta));
        self.raw(&entry)
    }

    /// The pack with the true object count and checksum.
    pub fn finish(self) -> Vec<u8> {
        let count = self.count;
        self.finish_claiming(count)
    }

    /// The pack with header count `count` and a correct checksum.
    pub fn finish_claiming(mut self, count: u32) -> Vec<u8> {
        self.bytes[8..12].copy_from_slice(&count.to_be_bytes());
        with_trailer(self.bytes)
    }
}

/// Appends the SHA-1 of `body`.
pub fn with_trailer(mut body: Vec<u8>) -> Vec<u8> {
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    hasher.update(&body);
    body.extend_from_slice(hasher.try_finalize().unwrap().as_slice());
    body
}

/// Replaces the trailer of a pack after its body was edited.
pub fn fix_trailer(mut pack: Vec<u8>) -> Vec<u8> {
    pack.truncate(pack.len() - 20);
    with_trailer(pack)
}
