//! Repositories laid out by dulwich's Swift backend (`dulwich/contrib/swift.py`), opened as they
//! are and adopted into swiftgit's log by their first commit.
//!
//! What dulwich writes into the container: `objects/pack` (an empty marker object) and
//! `info/refs` at `init`, plus `description`, `config` and `info/exclude`; then per push
//! `objects/pack/pack-<sha>.pack`, `.idx` and (for thin packs) `.info`, and `info/refs` rewritten
//! in dumb-HTTP format: `<sha>\t<refname>` lines sorted by name, each annotated tag followed by a
//! `<peeled sha>\t<refname>^{}` line. Dulwich stores no HEAD: it always reports HEAD as
//! `refs/heads/master`. A `HEAD` object, if someone put one there (say by uploading a bare
//! repository), is honoured.
//!
//! Reading such a layout costs a listing of `objects/pack/` (dulwich keeps no list of packs; on
//! Swift a listing may lag behind a recent upload). A pack is taken only with its `.idx`. After
//! adoption the log is authoritative and `info/refs` is no longer read or written.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use swiftgit_storage::{ErrorKind, Storage, StorageError};

use crate::refs::{Head, RefName, RepoState};
use crate::{ObjectId, PackId};

/// dulwich's refs file.
pub const INFO_REFS: &str = "info/refs";
/// The empty object dulwich's `init` writes.
pub const PACK_MARKER: &str = "objects/pack";
/// A symbolic or detached HEAD, if the layout has one (dulwich writes none).
pub const HEAD: &str = "HEAD";
const PACK_PREFIX: &str = "objects/pack/";

/// The refs of an `info/refs` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoRefs {
    pub refs: BTreeMap<RefName, ObjectId>,
    /// For annotated tags: the object the tag finally points to (the `^{}` lines).
    pub peeled: BTreeMap<RefName, ObjectId>,
}

/// A line of `info/refs` that is not `<40 hex>\t<ref name>[^{}]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("info/refs line {line}: {reason}")]
pub struct InfoRefsError {
    pub line: usize,
    pub reason: String,
}

/// Parses `info/refs` in dumb-HTTP format. `HEAD` lines are skipped; `^{}` lines become
/// [`InfoRefs::peeled`]. Blank lines and `\r\n` endings are accepted.
pub fn parse_info_refs(bytes: &[u8]) -> Result<InfoRefs, InfoRefsError> {
    let mut parsed = InfoRefs::default();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let fail = |reason: String| InfoRefsError {
            line: index + 1,
            reason,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(line).map_err(|_| fail("not UTF-8".into()))?;
        let (hex, name) = line
            .split_once('\t')
            .ok_or_else(|| fail(format!("{line:?} is not '<sha>\\t<refname>'")))?;
        let id = ObjectId::from_hex(hex.as_bytes())
            .ok()
            .filter(|_| hex.len() == 40)
            .ok_or_else(|| fail(format!("{hex:?} is not an object id")))?;
        if name == "HEAD" {
            continue;
        }
        let (name, peeled) = match name.strip_suffix("^{}") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let name = RefName::new(name).map_err(|e| fail(e.to_string()))?;
        if peeled {
            parsed.peeled.insert(name, id);
        } else {
            parsed.refs.insert(name, id);
        }
    }
    Ok(parsed)
}

/// A dulwich layout read from a container.
#[derive(Debug, Clone)]
pub struct SeedLayout {
    /// Refs, HEAD and packs, at seq 0 (not in swiftgit's log yet).
    pub state: RepoState,
    /// Peeled values of annotated tags, from `info/refs`.
    pub peeled: BTreeMap<RefName, ObjectId>,
    /// Pack objects left out because their `.idx` is missing (an interrupted upload).
    pub packs_without_index: Vec<String>,
}

/// A dulwich layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("repository {repo}: cannot {action} {object}: {error}")]
    Storage {
        repo: String,
        action: &'static str,
        object: String,
        error: StorageError,
    },
    #[error("repository {repo}: {error}")]
    InfoRefs { repo: String, error: InfoRefsError },
    #[error("repository {repo}: HEAD {content:?} is neither 'ref: refs/…' nor an object id")]
    Head { repo: String, content: String },
}

/// Whether `container` holds a dulwich layout (its `info/refs` or its `objects/pack` marker).
pub async fn detect(storage: &dyn Storage, container: &str) -> Result<bool, SeedError> {
    let (info_refs, marker) = futures::join!(
        exists(storage, container, INFO_REFS),
        exists(storage, container, PACK_MARKER)
    );
    Ok(info_refs? || marker?)
}

/// Reads the dulwich layout in `container`; `None` if there is none.
pub async fn load(storage: &dyn Storage, container: &str) -> Result<Option<SeedLayout>, SeedError> {
    let (info_refs, marker, head) = futures::join!(
        get_optional(storage, container, INFO_REFS),
        exists(storage, container, PACK_MARKER),
        get_optional(storage, container, HEAD)
    );
    let (info_refs, marker, head) = (info_refs?, marker?, head?);
    if info_refs.is_none() && !marker {
        return Ok(None);
    }
    let parsed = match &info_refs {
        Some(bytes) => parse_info_refs(bytes).map_err(|error| SeedError::InfoRefs {
            repo: container.to_owned(),
            error,
        })?,
        None => InfoRefs::default(),
    };
    let head = match head {
        Some(bytes) => parse_head(&bytes).ok_or_else(|| SeedError::Head {
            repo: container.to_owned(),
            content: String::from_utf8_lossy(&bytes).into_owned(),
        })?,
        None => Head::Symbolic(
            RefName::branch("master").expect("holds because 'master' is a valid branch"),
        ),
    };
    let (packs, packs_without_index) = list_packs(storage, container).await?;
    if !packs_without_index.is_empty() {
        tracing::warn!(repo = container, packs = ?packs_without_index, "ignoring packs without an .idx");
    }
    Ok(Some(SeedLayout {
        state: RepoState::new(0, head, parsed.refs, packs),
        peeled: parsed.peeled,
        packs_without_index,
    }))
}

fn parse_head(bytes: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end();
    if let Some(target) = text.strip_prefix("ref:") {
        return RefName::new(target.trim()).ok().map(Head::Symbolic);
    }
    (text.len() == 40)
        .then(|| ObjectId::from_hex(text.as_bytes()).ok())
        .flatten()
        .map(Head::Detached)
}

/// Packs listed under `objects/pack/` that have an `.idx`, and the `.pack` names that do not.
async fn list_packs(
    storage: &dyn Storage,
    container: &str,
) -> Result<(BTreeSet<PackId>, Vec<String>), SeedError> {
    let listed = storage
        .list(container, PACK_PREFIX)
        .await
        .map_err(|error| storage_error(container, "list", PACK_PREFIX, error))?;
    let names: BTreeSet<&str> = listed.iter().map(|meta| meta.name.as_str()).collect();
    let mut packs = BTreeSet::new();
    let mut without_index = Vec::new();
    for name in &names {
        let Some(hex) = name
            .strip_prefix("objects/pack/pack-")
            .and_then(|rest| rest.strip_suffix(".pack"))
        else {
            continue;
        };
        let Some(id) = (hex.len() == 40)
            .then(|| ObjectId::from_hex(hex.as_bytes()).ok())
            .flatten()
        else {
            continue;
        };
        let pack = PackId(id);
        if names.contains(pack.object_name("idx").as_str()) {
            packs.insert(pack);
        } else {
            without_index.push((*name).to_owned());
        }
    }
    Ok((packs, without_index))
}

fn storage_error(
    container: &str,
    action: &'static str,
    object: &str,
    error: StorageError,
) -> SeedError {
    SeedError::Storage {
        repo: container.to_owned(),
        action,
        object: object.to_owned(),
        error,
    }
}

async fn exists(storage: &dyn Storage, container: &str, name: &str) -> Result<bool, SeedError> {
    match storage.head(container, name).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(storage_error(container, "check", name, e)),
    }
}

async fn get_optional(
    storage: &dyn Storage,
    container: &str,
    name: &str,
) -> Result<Option<Bytes>, SeedError> {
    let read = async { storage.get(container, name).await?.bytes().await };
    match read.await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(storage_error(container, "read", name, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn info_refs_with_peeled_tags() {
        let text = format!(
            "{A}\trefs/heads/master\r\n{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n\n{A}\tHEAD\n"
        );
        let parsed = parse_info_refs(text.as_bytes()).expect("parses");
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).expect("hex");
        let name = |s: &str| RefName::new(s).expect("valid");
        assert_eq!(
            parsed.refs,
            [
                (name("refs/heads/master"), id(A)),
                (name("refs/tags/v1"), id(B))
            ]
            .into()
        );
        assert_eq!(parsed.peeled, [(name("refs/tags/v1"), id(A))].into());
        assert_eq!(parse_info_refs(b"").expect("empty"), InfoRefs::default());
    }

    #[test]
    fn bad_info_refs_lines_name_the_line() {
        let err = parse_info_refs(format!("{A}\trefs/heads/a\nnonsense\n").as_bytes())
            .expect_err("bad line");
        assert_eq!(err.line, 2);
        let err = parse_info_refs(b"1234\trefs/heads/a\n").expect_err("short id");
        assert!(err.reason.contains("1234"), "{err}");
        let err = parse_info_refs(format!("{A}\trefs/heads/a..b\n").as_bytes()).expect_err("name");
        assert!(err.to_string().contains("refs/heads/a..b"), "{err}");
    }

    #[test]
    fn head_objects() {
        assert_eq!(
            parse_head(b"ref: refs/heads/main\n"),
            Some(Head::Symbolic(
                RefName::new("refs/heads/main").expect("valid")
            ))
        );
        assert_eq!(
            parse_head(format!("{A}\n").as_bytes()),
            Some(Head::Detached(
                ObjectId::from_hex(A.as_bytes()).expect("hex")
            ))
        );
        assert_eq!(parse_head(b"garbage"), None);
    }
}
