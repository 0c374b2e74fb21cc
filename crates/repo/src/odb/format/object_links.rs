//! What a commit, tag or tree refers to, parsed leniently from its raw bytes: only the fields the
//! object database records (commit tree, parents, committer time; tag target; tree entry ids).
//! Lenient like git itself on receive: odd modes, odd signatures or extra headers are accepted;
//! only what we need must parse.

use gix_hash::ObjectId;
use gix_object::Kind;

use super::entry::HASH_LEN;

/// What a commit walk needs of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// Committer time, seconds since the epoch (0 if unparsable).
    pub time: i64,
}

/// What peeling needs of an annotated tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    pub target: ObjectId,
    pub target_kind: Kind,
}

fn header_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(data.len(), |at| at + 1);
    data[..end]
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
}

fn hex_id(field: &[u8], what: &str) -> Result<ObjectId, String> {
    ObjectId::from_hex(field).map_err(|_| format!("{what} is not a 40-digit hex id"))
}

/// Tree, parents and committer time of a commit.
pub fn parse_commit(data: &[u8]) -> Result<CommitInfo, String> {
    let mut lines = header_lines(data);
    let tree = match lines.next().and_then(|l| l.strip_prefix(b"tree ")) {
        Some(hex) => hex_id(hex, "tree")?,
        None => return Err("commit does not start with a tree line".into()),
    };
    let mut parents = Vec::new();
    let mut time = 0;
    for line in lines {
        if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(hex_id(hex, "parent")?);
        } else if let Some(signature) = line.strip_prefix(b"committer ") {
            time = signature_time(signature);
        }
    }
    Ok(CommitInfo {
        tree,
        parents,
        time,
    })
}

/// Seconds from `Name <email> 1700000000 +0100`: the next-to-last field, 0 if absent.
fn signature_time(signature: &[u8]) -> i64 {
    let after_email = signature
        .iter()
        .rposition(|&b| b == b'>')
        .map_or(signature, |at| &signature[at + 1..]);
    std::str::from_utf8(after_email)
        .ok()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(0)
}

/// Target and target type of an annotated tag.
pub fn parse_tag(data: &[u8]) -> Result<TagInfo, String> {
    let mut target = None;
    let mut target_kind = None;
    for line in header_lines(data) {
        if let Some(hex) = line.strip_prefix(b"object ") {
            target = Some(hex_id(hex, "tag object")?);
        } else if let Some(kind) = line.strip_prefix(b"type ") {
            target_kind =
                Some(Kind::from_bytes(kind).map_err(|_| "tag type is unknown".to_string())?);
        }
    }
    match (target, target_kind) {
        (Some(target), Some(target_kind)) => Ok(TagInfo {
            target,
            target_kind,
        }),
        _ => Err("tag lacks an object or type line".into()),
    }
}

/// Calls `each(id, is_gitlink)` for every entry of a tree. Gitlinks (mode 160000) name commits
/// of another repository.
pub fn for_each_tree_entry(
    mut data: &[u8],
    mut each: impl FnMut(&[u8; HASH_LEN], bool),
) -> Result<(), String> {
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("tree entry has no mode")?;
        let mode = &data[..space];
        if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return Err("tree entry mode is not octal".into());
        }
        let rest = &data[space + 1..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("tree entry name is not terminated")?;
        if nul == 0 {
            return Err("tree entry has an empty name".into());
        }
        let id = rest
            .get(nul + 1..nul + 1 + HASH_LEN)
            .ok_or("tree entry id is truncated")?;
        each(
            id.try_into()
                .expect("holds because the slice is HASH_LEN bytes"),
            mode == b"160000",
        );
        data = &rest[nul + 1 + HASH_LEN..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_parse_leniently() {
        let commit = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent 0000000000000000000000000000000000000001\n\
parent 0000000000000000000000000000000000000002\n\
author A U Thor <a@example.com> 1600000000 +0000\n\
committer C O Mitter <c@example.com> 1700000000 +0100\n\
gpgsig -----BEGIN\n \n -----END\n\
\nmessage\nparent ffffffffffffffffffffffffffffffffffffffff\n";
        let info = parse_commit(commit).unwrap();
        assert_eq!(info.parents.len(), 2);
        assert_eq!(info.time, 1_700_000_000);
        assert!(parse_commit(b"parent x\n").is_err());
        assert_eq!(
            parse_commit(b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter x\n")
                .unwrap()
                .time,
            0
        );
    }

    #[test]
    fn trees_list_entries() {
        let mut tree = b"100644 a\0".to_vec();
        tree.extend_from_slice(&[1; 20]);
        tree.extend_from_slice(b"160000 sub\0");
        tree.extend_from_slice(&[2; 20]);
        let mut seen = Vec::new();
        for_each_tree_entry(&tree, |id, gitlink| seen.push((id[0], gitlink))).unwrap();
        assert_eq!(seen, [(1, false), (2, true)]);
        assert!(for_each_tree_entry(&tree[..tree.len() - 1], |_, _| {}).is_err());
        assert!(for_each_tree_entry(b"10x644 a\0", |_, _| {}).is_err());
    }
}
