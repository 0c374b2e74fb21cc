//! Writing a pack of chosen objects into storage: the fetch's pack writer (which copies stored
//! entries and their deltas as they are) feeds a push's ingest (which indexes, hashes and
//! stores the pack with its `.idx` and `.meta`) through an in-memory pipe, so nothing is held
//! whole and nothing is compressed again.

use std::sync::Arc;

use swiftgit_repo::odb::{IngestLimits, IngestedPack, ObjectDb};

use super::GcError;
use crate::pack::{PackOptions, PackOutput, PackRequest, write_pack};
use crate::session::pkt_io::PktSink;
use crate::walk::ObjectSet;

/// Bytes in flight between the writer and the ingest.
const PIPE_BYTES: usize = 1 << 20;

/// Stores a pack of `objects` (`None` if there are none). Deltas whose base is in the set are
/// kept as deltas; the others are stored whole. The pack is stored but not live: the caller
/// commits it.
pub async fn store_pack(
    odb: &ObjectDb,
    objects: &ObjectSet,
    options: &PackOptions,
) -> Result<Option<IngestedPack>, GcError> {
    if objects.is_empty() {
        return Ok(None);
    }
    let (writer, reader) = tokio::io::duplex(PIPE_BYTES);
    let nothing = ObjectSet::new(objects.packs().clone());
    let writing = async move {
        let mut sink = PktSink::new(writer);
        let mut out = PackOutput::new(&mut sink, None, false);
        let request = PackRequest {
            objects,
            client_has: &nothing,
            thin: false,
            ofs_delta: true,
        };
        // Header, entries and trailer.
        write_pack(odb, request, options, &mut out).await?;
        sink.flush().await?;
        Ok::<(), crate::pack::PackError>(())
        // The sink (and the pipe's writing end) drops here: the ingest sees the end.
    };
    // Our own objects: no limit on the pack's size; the object limits stay.
    let limits = IngestLimits {
        max_pack_bytes: u64::MAX,
        ..IngestLimits::default()
    };
    let (written, ingested) = tokio::join!(writing, odb.ingest(reader, &limits, Arc::new(())));
    // A failed write makes the ingest fail too (a cut pack): report the cause.
    written.map_err(GcError::Pack)?;
    // Not checked: `missing_references`, which a garbage pack's dangling objects fill, and
    // which for the other packs compares with a repository that still holds every object.
    ingested.map(Some).map_err(GcError::Odb)
}
