//! The pack files stored in a repository's container, from a listing, grouped by pack.

use std::collections::BTreeMap;

use swiftgit_repo::{ObjectId, PackId};
use swiftgit_storage::Storage;

use super::GcError;

pub const PACK_PREFIX: &str = "objects/pack/";

/// One pack's stored files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackFiles {
    /// Every object named `objects/pack/pack-<id>.*`.
    pub names: Vec<String>,
    /// Size of its `.pack` (`None` if the listing did not show one).
    pub pack_bytes: Option<u64>,
    /// Size of all its files.
    pub bytes: u64,
}

/// The packs a listing showed.
pub type StoredPacks = BTreeMap<PackId, PackFiles>;

/// Lists `objects/pack/` of `container`. Listings are eventually consistent on Swift: a pack
/// stored a moment ago may be missing, which only delays what is done with it.
pub async fn list(storage: &dyn Storage, container: &str) -> Result<StoredPacks, GcError> {
    let listed = storage
        .list(container, PACK_PREFIX)
        .await
        .map_err(GcError::storage("list", PACK_PREFIX))?;
    let mut packs = StoredPacks::new();
    for meta in listed {
        let Some((pack, ext)) = parse_name(&meta.name) else {
            continue;
        };
        let files = packs.entry(pack).or_default();
        if ext == "pack" {
            files.pack_bytes = Some(meta.size);
        }
        files.bytes += meta.size;
        files.names.push(meta.name);
    }
    Ok(packs)
}

/// `objects/pack/pack-<hex>.<ext>` → (pack, ext).
fn parse_name(name: &str) -> Option<(PackId, &str)> {
    let rest = name.strip_prefix(PACK_PREFIX)?.strip_prefix("pack-")?;
    let (hex, ext) = rest.split_once('.')?;
    let id = ObjectId::from_hex(hex.as_bytes()).ok()?;
    Some((PackId(id), ext))
}

/// The names to delete for `pack`: what the listing showed, and the files swiftgit writes in
/// case the listing lagged (deleting an absent name is fine).
pub fn names_of(pack: PackId, stored: &StoredPacks) -> Vec<String> {
    let mut names: Vec<String> = ["pack", "idx", "meta"]
        .iter()
        .map(|ext| pack.object_name(ext))
        .collect();
    if let Some(files) = stored.get(&pack) {
        for name in &files.names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_names_parse() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let name = format!("objects/pack/pack-{hex}.idx");
        let (pack, ext) = parse_name(&name).expect("a pack file");
        assert_eq!(pack.0.to_string(), hex);
        assert_eq!(ext, "idx");
        assert_eq!(parse_name("objects/pack/pack-zz.idx"), None);
        assert_eq!(parse_name("objects/pack/README"), None);
        assert_eq!(parse_name("swiftgit/latest"), None);
    }
}
