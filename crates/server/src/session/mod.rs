//! Transport-independent git sessions: upload-pack (fetch, clone, ls-remote) and receive-pack
//! (push) over any async byte stream, speaking protocol v0, v1 and v2.

pub mod pkt_io;
