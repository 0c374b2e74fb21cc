//! One stored pack checked end to end: its `.idx` (and `.meta`) load and verify, and its
//! `.pack`, read whole, has a valid header, as many objects as the index and a trailer that is
//! the SHA-1 of everything before it and the pack's name.

use futures::StreamExt;
use swiftgit_repo::PackId;
use swiftgit_repo::odb::ObjectDb;
use swiftgit_storage::{ErrorKind, Storage};

/// Bytes of the trailing checksum.
const TRAILER: usize = 20;
/// `PACK`, the version, the object count.
const HEADER: usize = 12;

/// What a good pack holds.
#[derive(Debug, Clone, Copy)]
pub struct GoodPack {
    pub objects: usize,
    pub pack_bytes: u64,
}

/// Loads `pack` into `odb` (the index's own checksum, that it describes this pack, the
/// metadata's object count; a failure leaves `odb` without it) and reads its `.pack` whole.
/// The error says what is wrong, naming the file.
pub async fn check(
    odb: &ObjectDb,
    storage: &dyn Storage,
    container: &str,
    pack: PackId,
) -> Result<GoodPack, String> {
    let idx_name = pack.object_name("idx");
    if let Err(error) = odb.add_packs(&[pack]).await {
        let missing = matches!(
            &error,
            swiftgit_repo::odb::OdbError::Storage { source, .. } if source.kind() == ErrorKind::NotFound
        );
        return Err(if missing {
            format!("{idx_name} is missing")
        } else {
            format!("{idx_name}: {:#}", anyhow::Error::from(error))
        });
    }
    let view = odb.raw_packs();
    let (objects, expected_bytes) = (0..view.len() as u32)
        .find(|&rank| view.pack_id(rank) == Some(pack))
        .map(|rank| {
            let size = odb.pack_sizes().into_iter().find(|(id, _)| *id == pack);
            (view.pack_len(rank), size.map_or(0, |(_, bytes)| bytes))
        })
        .ok_or_else(|| format!("{pack} was loaded but is not in the object database"))?;
    let pack_bytes = read_pack(storage, container, pack, objects).await?;
    if expected_bytes != 0 && pack_bytes != expected_bytes {
        return Err(format!(
            "{} is {pack_bytes} bytes, its metadata says {expected_bytes}",
            pack.object_name("pack")
        ));
    }
    Ok(GoodPack {
        objects,
        pack_bytes,
    })
}

/// Streams the `.pack` of `pack`, hashing it; its size.
async fn read_pack(
    storage: &dyn Storage,
    container: &str,
    pack: PackId,
    objects: usize,
) -> Result<u64, String> {
    let name = pack.object_name("pack");
    let found = match storage.get(container, &name).await {
        Ok(found) => found,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Err(format!("{name} is missing"));
        }
        Err(error) => return Err(format!("cannot read {name}: {error}")),
    };
    let mut hashed = Hashed::default();
    let mut body = found.body;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|error| format!("cannot read {name}: {error}"))?;
        hashed.update(&piece);
    }
    let total = hashed.total;
    if total < (HEADER + TRAILER) as u64 {
        return Err(format!("{name} is truncated: {total} bytes"));
    }
    let header = &hashed.header;
    if &header[..4] != b"PACK" || !matches!(be32(&header[4..8]), 2 | 3) {
        return Err(format!(
            "{name} does not start with a version 2 or 3 pack header"
        ));
    }
    let declared = be32(&header[8..12]) as usize;
    if declared != objects {
        return Err(format!(
            "{name} declares {declared} objects, its index lists {objects}"
        ));
    }
    let actual = hashed
        .hasher
        .try_finalize()
        .map_err(|error| format!("cannot hash {name}: {error}"))?;
    if hashed.tail.as_slice() != actual.as_slice() {
        return Err(format!(
            "{name} is corrupt: its content hashes to {actual}, its trailer says {}",
            hex(&hashed.tail)
        ));
    }
    if actual != pack.0 {
        return Err(format!(
            "{name} holds pack {actual}, not the one its name says"
        ));
    }
    Ok(total)
}

/// A running SHA-1 over everything but the last [`TRAILER`] bytes, which it keeps aside.
struct Hashed {
    hasher: gix_hash::Hasher,
    header: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
}

impl Default for Hashed {
    fn default() -> Self {
        Hashed {
            hasher: gix_hash::hasher(gix_hash::Kind::Sha1),
            header: Vec::with_capacity(HEADER),
            tail: Vec::with_capacity(2 * TRAILER),
            total: 0,
        }
    }
}

impl Hashed {
    fn update(&mut self, piece: &[u8]) {
        self.total += piece.len() as u64;
        let wanted = HEADER - self.header.len();
        self.header
            .extend_from_slice(&piece[..wanted.min(piece.len())]);
        if piece.len() >= TRAILER {
            self.hasher.update(&self.tail);
            let (body, tail) = piece.split_at(piece.len() - TRAILER);
            self.hasher.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(piece);
            if self.tail.len() > TRAILER {
                let excess = self.tail.len() - TRAILER;
                self.hasher.update(&self.tail[..excess]);
                self.tail.drain(..excess);
            }
        }
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_is_kept_aside_whatever_the_pieces() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = gix_hash::hasher(gix_hash::Kind::Sha1);
        whole.update(&data[..80]);
        let expected = whole.try_finalize().expect("hashes");
        for split in [1, 7, 19, 20, 21, 64, 100] {
            let mut hashed = Hashed::default();
            for piece in data.chunks(split) {
                hashed.update(piece);
            }
            assert_eq!(hashed.tail, &data[80..], "pieces of {split}");
            assert_eq!(hashed.header, &data[..12], "pieces of {split}");
            assert_eq!(hashed.total, 100);
            assert_eq!(
                hashed.hasher.try_finalize().expect("hashes"),
                expected,
                "pieces of {split}"
            );
        }
    }
}
