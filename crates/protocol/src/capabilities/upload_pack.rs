//! upload-pack (fetch) capabilities of protocol v0/v1.

use super::{CapabilityError, CapabilityList, Symref, Understood, default_agent, join, negotiate};
use crate::object_id::OBJECT_FORMAT;
use crate::sideband::SidebandMode;

/// What this upload-pack offers. Every switch defaults to on except `no_done`, which only makes
/// sense on stateless transports (smart HTTP), and the two `allow_*_in_want` switches, which widen
/// what a client may fetch (C git's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPackFeatures {
    /// `multi_ack`.
    pub multi_ack: bool,
    /// `multi_ack_detailed`.
    pub multi_ack_detailed: bool,
    /// `no-done`: with `multi_ack_detailed`, send the pack right after `ACK <id> ready` (HTTP).
    pub no_done: bool,
    /// `thin-pack`.
    pub thin_pack: bool,
    /// `side-band`.
    pub side_band: bool,
    /// `side-band-64k`.
    pub side_band_64k: bool,
    /// `ofs-delta`.
    pub ofs_delta: bool,
    /// `shallow`: `shallow` and `deepen <n>` lines.
    pub shallow: bool,
    /// `deepen-since`.
    pub deepen_since: bool,
    /// `deepen-not`.
    pub deepen_not: bool,
    /// `deepen-relative`.
    pub deepen_relative: bool,
    /// `no-progress`.
    pub no_progress: bool,
    /// `include-tag`.
    pub include_tag: bool,
    /// `allow-tip-sha1-in-want`: wants may name unadvertised ref tips.
    pub allow_tip_sha1_in_want: bool,
    /// `allow-reachable-sha1-in-want`: wants may name any reachable object.
    pub allow_reachable_sha1_in_want: bool,
    /// `filter`: partial clone.
    pub filter: bool,
    /// The `agent=` value.
    pub agent: String,
}

impl Default for UploadPackFeatures {
    fn default() -> Self {
        UploadPackFeatures {
            multi_ack: true,
            multi_ack_detailed: true,
            no_done: false,
            thin_pack: true,
            side_band: true,
            side_band_64k: true,
            ofs_delta: true,
            shallow: true,
            deepen_since: true,
            deepen_not: true,
            deepen_relative: true,
            no_progress: true,
            include_tag: true,
            allow_tip_sha1_in_want: false,
            allow_reachable_sha1_in_want: false,
            filter: true,
            agent: default_agent(),
        }
    }
}

impl UploadPackFeatures {
    /// The capability list for the first ref line, in C git's order:
    /// `multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since deepen-not
    /// deepen-relative no-progress include-tag multi_ack_detailed [allow-tip-sha1-in-want]
    /// [allow-reachable-sha1-in-want] [no-done] [symref=…] [filter] object-format=sha1 agent=…`.
    pub fn advertise(&self, symrefs: &[Symref]) -> Vec<u8> {
        let symrefs: Vec<Vec<u8>> = symrefs
            .iter()
            .map(|symref| [&b"symref="[..], &symref.name, b":", &symref.target].concat())
            .collect();
        let object_format = format!("object-format={OBJECT_FORMAT}");
        let agent = format!("agent={}", self.agent);
        let mut items: Vec<&[u8]> = Vec::new();
        let mut add = |on: bool, name: &'static str| {
            if on {
                items.push(name.as_bytes());
            }
        };
        add(self.multi_ack, "multi_ack");
        add(self.thin_pack, "thin-pack");
        add(self.side_band, "side-band");
        add(self.side_band_64k, "side-band-64k");
        add(self.ofs_delta, "ofs-delta");
        add(self.shallow, "shallow");
        add(self.deepen_since, "deepen-since");
        add(self.deepen_not, "deepen-not");
        add(self.deepen_relative, "deepen-relative");
        add(self.no_progress, "no-progress");
        add(self.include_tag, "include-tag");
        add(self.multi_ack_detailed, "multi_ack_detailed");
        add(self.allow_tip_sha1_in_want, "allow-tip-sha1-in-want");
        add(
            self.allow_reachable_sha1_in_want,
            "allow-reachable-sha1-in-want",
        );
        add(self.no_done, "no-done");
        items.extend(symrefs.iter().map(Vec::as_slice));
        if self.filter {
            items.push(b"filter");
        }
        items.push(object_format.as_bytes());
        items.push(agent.as_bytes());
        join(&items)
    }
}

/// How the server acknowledges `have` lines during v0/v1 negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// Neither multi_ack: one `ACK <id>` for the first common object, `NAK` on flush until then.
    #[default]
    Single,
    /// `multi_ack`: `ACK <id> continue` for common objects, `NAK` after each flush.
    Multi,
    /// `multi_ack_detailed`: `ACK <id> common`, `ACK <id> ready`, `NAK` after each flush.
    MultiDetailed,
}

/// What the client chose on its first `want` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadPackClientCaps {
    /// How to acknowledge haves.
    pub ack_mode: AckMode,
    /// `no-done`: the pack may follow `ACK <id> ready` without waiting for `done`.
    pub no_done: bool,
    /// `thin-pack`: deltas against objects the client has are allowed.
    pub thin_pack: bool,
    /// Side-band framing of the pack, if any.
    pub sideband: Option<SidebandMode>,
    /// `ofs-delta`: the client reads OFS_DELTA entries.
    pub ofs_delta: bool,
    /// `no-progress`: send nothing on band 2.
    pub no_progress: bool,
    /// `include-tag`: send annotated tags pointing at sent objects.
    pub include_tag: bool,
    /// `deepen-relative`: `deepen <n>` counts from the client's shallow boundary.
    pub deepen_relative: bool,
    /// `filter`: the client may send a `filter` line.
    pub filter: bool,
    /// The client's `agent=` value.
    pub agent: Option<String>,
    /// The client's `session-id=` value.
    pub session_id: Option<String>,
    /// Capabilities this server does not know, ignored as C git ignores them.
    pub unknown: Vec<String>,
}

impl UploadPackClientCaps {
    /// Interpret the client's list against what `features` advertised.
    pub fn negotiate(
        list: &CapabilityList<'_>,
        features: &UploadPackFeatures,
    ) -> Result<Self, CapabilityError> {
        let understood: &[Understood<Self>] = &[
            Understood::allowed("multi_ack", features.multi_ack),
            Understood::allowed("multi_ack_detailed", features.multi_ack_detailed),
            Understood {
                name: "no-done",
                advertised: features.no_done,
                choose: |caps| caps.no_done = true,
            },
            Understood {
                name: "thin-pack",
                advertised: features.thin_pack,
                choose: |caps| caps.thin_pack = true,
            },
            Understood::allowed("side-band", features.side_band),
            Understood::allowed("side-band-64k", features.side_band_64k),
            Understood {
                name: "ofs-delta",
                advertised: features.ofs_delta,
                choose: |caps| caps.ofs_delta = true,
            },
            Understood::allowed("shallow", features.shallow),
            Understood::allowed("deepen-since", features.deepen_since),
            Understood::allowed("deepen-not", features.deepen_not),
            Understood {
                name: "deepen-relative",
                advertised: features.deepen_relative,
                choose: |caps| caps.deepen_relative = true,
            },
            Understood {
                name: "no-progress",
                advertised: features.no_progress,
                choose: |caps| caps.no_progress = true,
            },
            Understood {
                name: "include-tag",
                advertised: features.include_tag,
                choose: |caps| caps.include_tag = true,
            },
            Understood {
                name: "filter",
                advertised: features.filter,
                choose: |caps| caps.filter = true,
            },
        ];
        let mut caps = UploadPackClientCaps::default();
        let identity = negotiate(list, understood, &mut caps)?;
        caps.agent = identity.agent;
        caps.session_id = identity.session_id;
        caps.unknown = identity.unknown;
        caps.ack_mode = if list.contains("multi_ack_detailed") {
            AckMode::MultiDetailed
        } else if list.contains("multi_ack") {
            AckMode::Multi
        } else {
            AckMode::Single
        };
        caps.sideband = match (list.contains("side-band"), list.contains("side-band-64k")) {
            (true, true) => {
                return Err(CapabilityError::Conflicting {
                    first: "side-band",
                    second: "side-band-64k",
                });
            }
            (false, true) => Some(SidebandMode::SideBand64k),
            (true, false) => Some(SidebandMode::SideBand),
            (false, false) => None,
        };
        Ok(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> UploadPackFeatures {
        UploadPackFeatures {
            agent: "git/2.47.3".into(),
            ..UploadPackFeatures::default()
        }
    }

    #[test]
    fn advertisement_matches_git_2_47() {
        let symrefs = [Symref {
            name: "HEAD".into(),
            target: "refs/heads/main".into(),
        }];
        assert_eq!(
            String::from_utf8(features().advertise(&symrefs)).unwrap(),
            "multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since \
             deepen-not deepen-relative no-progress include-tag multi_ack_detailed \
             symref=HEAD:refs/heads/main filter object-format=sha1 agent=git/2.47.3"
        );
        let all = UploadPackFeatures {
            allow_tip_sha1_in_want: true,
            allow_reachable_sha1_in_want: true,
            ..features()
        };
        assert_eq!(
            String::from_utf8(all.advertise(&symrefs)).unwrap(),
            "multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since \
             deepen-not deepen-relative no-progress include-tag multi_ack_detailed \
             allow-tip-sha1-in-want allow-reachable-sha1-in-want \
             symref=HEAD:refs/heads/main filter object-format=sha1 agent=git/2.47.3"
        );
    }

    #[test]
    fn switched_off_features_are_not_advertised() {
        let few = UploadPackFeatures {
            filter: false,
            side_band: false,
            multi_ack: false,
            shallow: false,
            deepen_since: false,
            deepen_not: false,
            deepen_relative: false,
            no_done: true,
            ..features()
        };
        assert_eq!(
            String::from_utf8(few.advertise(&[])).unwrap(),
            "thin-pack side-band-64k ofs-delta no-progress include-tag multi_ack_detailed \
             no-done object-format=sha1 agent=git/2.47.3"
        );
    }

    #[test]
    fn git_clients_choice_is_understood() {
        let list = CapabilityList::parse(
            b"multi_ack_detailed side-band-64k thin-pack no-progress include-tag ofs-delta \
              deepen-since deepen-not agent=git/2.47.3 filter",
        );
        let caps = UploadPackClientCaps::negotiate(&list, &features()).unwrap();
        assert_eq!(
            caps,
            UploadPackClientCaps {
                ack_mode: AckMode::MultiDetailed,
                sideband: Some(SidebandMode::SideBand64k),
                thin_pack: true,
                no_progress: true,
                include_tag: true,
                ofs_delta: true,
                filter: true,
                agent: Some("git/2.47.3".into()),
                ..UploadPackClientCaps::default()
            }
        );
    }

    #[test]
    fn modes_follow_the_strongest_request() {
        let caps = |list: &[u8]| {
            UploadPackClientCaps::negotiate(&CapabilityList::parse(list), &features()).unwrap()
        };
        assert_eq!(caps(b"multi_ack").ack_mode, AckMode::Multi);
        assert_eq!(
            caps(b"multi_ack multi_ack_detailed").ack_mode,
            AckMode::MultiDetailed
        );
        assert_eq!(caps(b"").ack_mode, AckMode::Single);
        assert_eq!(caps(b"side-band").sideband, Some(SidebandMode::SideBand));
        assert_eq!(caps(b"").sideband, None);
        assert_eq!(caps(b"frobnicate x=y").unknown, ["frobnicate", "x"]);
    }

    #[test]
    fn bad_requests_are_refused() {
        let negotiate = |list: &[u8], features: &UploadPackFeatures| {
            UploadPackClientCaps::negotiate(&CapabilityList::parse(list), features)
        };
        assert_eq!(
            negotiate(b"side-band side-band-64k", &features()),
            Err(CapabilityError::Conflicting {
                first: "side-band",
                second: "side-band-64k"
            })
        );
        let no_filter = UploadPackFeatures {
            filter: false,
            ..features()
        };
        assert_eq!(
            negotiate(b"ofs-delta filter", &no_filter),
            Err(CapabilityError::NotAdvertised {
                capability: "filter"
            })
        );
        assert_eq!(
            negotiate(b"no-done", &features()),
            Err(CapabilityError::NotAdvertised {
                capability: "no-done"
            })
        );
        let err = negotiate(b"object-format=sha256", &features()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported object format 'sha256': this server only speaks sha1"
        );
        assert!(negotiate(b"object-format=sha1", &features()).is_ok());
    }
}
