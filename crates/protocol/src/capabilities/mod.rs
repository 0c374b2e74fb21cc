//! Capabilities of protocol v0/v1: what the server offers behind the NUL of its first ref line,
//! and what the client picks on its first `want` (fetch) or command (push) line.
//!
//! [`CapabilityList`] splits a space-separated list into `name` / `name=value` items. The
//! per-service modules hold the switches a server operator may turn off ([`UploadPackFeatures`],
//! [`ReceivePackFeatures`]), render the advertisement from them in C git's order, and turn the
//! client's list into typed choices ([`UploadPackClientCaps`], [`ReceivePackClientCaps`]). As C git
//! does, unknown capabilities from the client are ignored (kept for logging); a known capability
//! the server did not advertise is an error, as is an object format other than SHA-1.

mod receive_pack;
mod upload_pack;

pub use receive_pack::{ReceivePackClientCaps, ReceivePackFeatures, ReportStatusVersion};
pub use upload_pack::{AckMode, UploadPackClientCaps, UploadPackFeatures};

use bstr::BString;

use crate::escaped::EscapedBytes;
use crate::object_id::OBJECT_FORMAT;

/// The agent string this server announces: `swiftgit/<version>`.
pub fn default_agent() -> String {
    format!("swiftgit/{}", env!("CARGO_PKG_VERSION"))
}

/// A symbolic ref to announce as `symref=<name>:<target>`, e.g. `HEAD` → `refs/heads/main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symref {
    /// The symbolic ref, usually `HEAD`.
    pub name: BString,
    /// The ref it points to.
    pub target: BString,
}

/// One capability: `name` or `name=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability<'a> {
    /// The part before the first `=`.
    pub name: &'a [u8],
    /// The part after the first `=`, if there is one.
    pub value: Option<&'a [u8]>,
}

/// A space-separated capability list as a client sends it. Empty items (the leading space git's
/// send-pack puts after the NUL) are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilityList<'a> {
    items: Vec<Capability<'a>>,
}

impl<'a> CapabilityList<'a> {
    /// Split `list` into capabilities. Never fails: what each item means is up to the caller.
    pub fn parse(list: &'a [u8]) -> Self {
        let items = list
            .split(|&byte| byte == b' ')
            .filter(|item| !item.is_empty())
            .map(|item| match item.iter().position(|&byte| byte == b'=') {
                Some(eq) => Capability {
                    name: &item[..eq],
                    value: Some(&item[eq + 1..]),
                },
                None => Capability {
                    name: item,
                    value: None,
                },
            })
            .collect();
        CapabilityList { items }
    }

    /// The capabilities in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = &Capability<'a>> {
        self.items.iter()
    }

    /// Whether a capability with this name was sent.
    pub fn contains(&self, name: &str) -> bool {
        self.items.iter().any(|item| item.name == name.as_bytes())
    }

    /// The value of the first capability with this name.
    pub fn value(&self, name: &str) -> Option<&'a [u8]> {
        self.items
            .iter()
            .find(|item| item.name == name.as_bytes())
            .and_then(|item| item.value)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The client's capabilities cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// The client asked for a capability this server did not advertise.
    #[error("client requested capability '{capability}', which this server did not advertise")]
    NotAdvertised { capability: &'static str },
    /// Two mutually exclusive capabilities were both requested.
    #[error("client requested both '{first}' and '{second}', which exclude each other")]
    Conflicting {
        first: &'static str,
        second: &'static str,
    },
    /// The client wants a hash other than SHA-1.
    #[error("unsupported object format '{format}': this server only speaks {OBJECT_FORMAT}")]
    UnsupportedObjectFormat { format: EscapedBytes },
}

/// Check an `object-format=` value, if sent.
fn check_object_format(list: &CapabilityList<'_>) -> Result<(), CapabilityError> {
    match list.value("object-format") {
        Some(format) if format != OBJECT_FORMAT.as_bytes() => {
            Err(CapabilityError::UnsupportedObjectFormat {
                format: EscapedBytes::new(format),
            })
        }
        _ => Ok(()),
    }
}

/// One capability a service understands in a client's list: its name, whether this server
/// advertised it (a client asking for one it did not is an error), and what choosing it sets in
/// the service's typed choices `C`.
pub(crate) struct Understood<C> {
    pub name: &'static str,
    pub advertised: bool,
    pub choose: fn(&mut C),
}

impl<C> Understood<C> {
    /// A capability that is only allowed or not: choosing it sets nothing.
    pub fn allowed(name: &'static str, advertised: bool) -> Self {
        Understood {
            name,
            advertised,
            choose: |_| {},
        }
    }

    /// A capability this server never advertises (asking for it is always an error).
    pub fn never(name: &'static str) -> Self {
        Understood {
            name,
            advertised: false,
            choose: |_| {},
        }
    }
}

/// What any client's list may carry besides the service's own capabilities.
#[derive(Debug, Default)]
pub(crate) struct ClientIdentity {
    /// The `agent=` value.
    pub agent: Option<String>,
    /// The `session-id=` value.
    pub session_id: Option<String>,
    /// Capabilities no service here knows, ignored as C git ignores them.
    pub unknown: Vec<String>,
}

/// Interprets the client's `list` for a service that understands `understood`: checks
/// `object-format`, then applies each capability's `choose` to `caps` in the list's order. Fails
/// on the first understood capability that was not advertised; returns the agent, session id and
/// unknown capabilities for the caller to keep.
pub(crate) fn negotiate<C>(
    list: &CapabilityList<'_>,
    understood: &[Understood<C>],
    caps: &mut C,
) -> Result<ClientIdentity, CapabilityError> {
    check_object_format(list)?;
    let mut identity = ClientIdentity::default();
    for item in list.iter() {
        match item.name {
            b"agent" => identity.agent = item.value.map(value_text),
            b"session-id" => identity.session_id = item.value.map(value_text),
            b"object-format" => {}
            name => match understood
                .iter()
                .find(|known| known.name.as_bytes() == name)
            {
                Some(known) if known.advertised => (known.choose)(caps),
                Some(known) => {
                    return Err(CapabilityError::NotAdvertised {
                        capability: known.name,
                    });
                }
                None => identity.unknown.push(value_text(name)),
            },
        }
    }
    Ok(identity)
}

/// A capability value as text (agent strings and session ids are printable ASCII by spec).
pub(crate) fn value_text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

/// Build `a b c` from items, skipping none.
pub(crate) fn join(items: &[&[u8]]) -> Vec<u8> {
    items.join(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_splits_names_and_values() {
        let list = CapabilityList::parse(b" report-status-v2 side-band-64k agent=git/2.47.3 a=b=c");
        let items: Vec<_> = list.iter().copied().collect();
        assert_eq!(
            items,
            [
                Capability {
                    name: b"report-status-v2",
                    value: None
                },
                Capability {
                    name: b"side-band-64k",
                    value: None
                },
                Capability {
                    name: b"agent",
                    value: Some(b"git/2.47.3")
                },
                Capability {
                    name: b"a",
                    value: Some(b"b=c")
                },
            ]
        );
        assert!(list.contains("side-band-64k"));
        assert!(!list.contains("side-band"));
        assert_eq!(list.value("agent"), Some(&b"git/2.47.3"[..]));
    }

    #[test]
    fn empty_list() {
        assert!(CapabilityList::parse(b"").is_empty());
        assert!(CapabilityList::parse(b"   ").is_empty());
    }

    #[test]
    fn agent_names_this_crate() {
        assert_eq!(
            default_agent(),
            format!("swiftgit/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
