//! Which protocol version a client asked for.
//!
//! The client names it in "extra parameters": after the host in git-daemon's first packet, in the
//! `Git-Protocol` HTTP header, in `GIT_PROTOCOL` over SSH — `version=2`, several parameters
//! separated by `:` in the header forms. As C git does, the greatest known version asked for wins,
//! unknown keys and versions are ignored, and no parameter means version 0.

/// A wire protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ProtocolVersion {
    /// The original protocol: the server starts with its ref advertisement.
    #[default]
    V0,
    /// Version 0 preceded by a `version 1` line.
    V1,
    /// Command-based protocol v2 (upload-pack only; C git answers a v2 push in v0, and so should
    /// the service layer).
    V2,
}

impl ProtocolVersion {
    /// The greatest version among `version=N` parameters; others are ignored.
    pub fn from_parameters<'a>(parameters: impl IntoIterator<Item = &'a [u8]>) -> Self {
        parameters
            .into_iter()
            .filter_map(|parameter| match parameter.strip_prefix(b"version=")? {
                b"1" => Some(ProtocolVersion::V1),
                b"2" => Some(ProtocolVersion::V2),
                _ => None,
            })
            .max()
            .unwrap_or_default()
    }

    /// Read a `Git-Protocol` header or `GIT_PROTOCOL` value: parameters separated by `:`.
    pub fn from_git_protocol(value: &[u8]) -> Self {
        Self::from_parameters(value.split(|&byte| byte == b':'))
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolVersion;

    #[test]
    fn greatest_known_version_wins() {
        assert_eq!(
            ProtocolVersion::from_git_protocol(b"version=2"),
            ProtocolVersion::V2
        );
        assert_eq!(
            ProtocolVersion::from_git_protocol(b"version=1:version=2:foo=bar"),
            ProtocolVersion::V2
        );
        assert_eq!(
            ProtocolVersion::from_git_protocol(b"version=3:version=1"),
            ProtocolVersion::V1
        );
        assert_eq!(ProtocolVersion::from_git_protocol(b""), ProtocolVersion::V0);
        assert_eq!(
            ProtocolVersion::from_git_protocol(b"version=0"),
            ProtocolVersion::V0
        );
    }
}
