//! receive-pack (push) capabilities of protocol v0/v1.

use super::{CapabilityError, CapabilityList, Understood, default_agent, join, negotiate};
use crate::object_id::OBJECT_FORMAT;

/// What this receive-pack offers. All on by default except `push_options` (C git's default:
/// `receive.advertisePushOptions` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivePackFeatures {
    /// `report-status`.
    pub report_status: bool,
    /// `report-status-v2`.
    pub report_status_v2: bool,
    /// `delete-refs`: zero new ids (deletions) are accepted.
    pub delete_refs: bool,
    /// `side-band-64k`: progress and the report travel on side-band.
    pub side_band_64k: bool,
    /// `quiet`: the client may ask for no progress.
    pub quiet: bool,
    /// `atomic`: all-or-nothing pushes.
    pub atomic: bool,
    /// `ofs-delta`: the client may send OFS_DELTA entries.
    pub ofs_delta: bool,
    /// `push-options`: options after the commands, passed to hooks.
    pub push_options: bool,
    /// The `agent=` value.
    pub agent: String,
}

impl Default for ReceivePackFeatures {
    fn default() -> Self {
        ReceivePackFeatures {
            report_status: true,
            report_status_v2: true,
            delete_refs: true,
            side_band_64k: true,
            quiet: true,
            atomic: true,
            ofs_delta: true,
            push_options: false,
            agent: default_agent(),
        }
    }
}

impl ReceivePackFeatures {
    /// The capability list for the first ref line, in C git's order: `report-status
    /// report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta push-options
    /// object-format=sha1 agent=…`.
    pub fn advertise(&self) -> Vec<u8> {
        let object_format = format!("object-format={OBJECT_FORMAT}");
        let agent = format!("agent={}", self.agent);
        let mut items: Vec<&[u8]> = [
            (self.report_status, "report-status"),
            (self.report_status_v2, "report-status-v2"),
            (self.delete_refs, "delete-refs"),
            (self.side_band_64k, "side-band-64k"),
            (self.quiet, "quiet"),
            (self.atomic, "atomic"),
            (self.ofs_delta, "ofs-delta"),
            (self.push_options, "push-options"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.as_bytes())
        .collect();
        items.push(object_format.as_bytes());
        items.push(agent.as_bytes());
        join(&items)
    }
}

/// Which report the client wants after the push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatusVersion {
    /// `report-status`: `unpack`, then `ok`/`ng` per command.
    V1,
    /// `report-status-v2`: like V1, plus `option` lines after `ok`.
    V2,
}

/// What the client chose on its first command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivePackClientCaps {
    /// The report to send, if any (v2 wins when both are requested).
    pub report_status: Option<ReportStatusVersion>,
    /// `side-band-64k`: progress on band 2, the report inside band 1.
    pub side_band_64k: bool,
    /// `quiet`: no progress output.
    pub quiet: bool,
    /// `atomic`: update all refs or none.
    pub atomic: bool,
    /// `push-options`: a list of options follows the commands.
    pub push_options: bool,
    /// `ofs-delta`: the pack may hold OFS_DELTA entries.
    pub ofs_delta: bool,
    /// The client's `agent=` value.
    pub agent: Option<String>,
    /// The client's `session-id=` value.
    pub session_id: Option<String>,
    /// Capabilities this server does not know, ignored as C git ignores them.
    pub unknown: Vec<String>,
}

impl ReceivePackClientCaps {
    /// Interpret the client's list against what `features` advertised.
    pub fn negotiate(
        list: &CapabilityList<'_>,
        features: &ReceivePackFeatures,
    ) -> Result<Self, CapabilityError> {
        let understood: &[Understood<Self>] = &[
            Understood {
                name: "report-status",
                advertised: features.report_status,
                choose: |caps| {
                    caps.report_status.get_or_insert(ReportStatusVersion::V1);
                },
            },
            Understood {
                name: "report-status-v2",
                advertised: features.report_status_v2,
                choose: |caps| caps.report_status = Some(ReportStatusVersion::V2),
            },
            Understood {
                name: "side-band-64k",
                advertised: features.side_band_64k,
                choose: |caps| caps.side_band_64k = true,
            },
            Understood::never("side-band"),
            Understood {
                name: "quiet",
                advertised: features.quiet,
                choose: |caps| caps.quiet = true,
            },
            Understood {
                name: "atomic",
                advertised: features.atomic,
                choose: |caps| caps.atomic = true,
            },
            Understood {
                name: "push-options",
                advertised: features.push_options,
                choose: |caps| caps.push_options = true,
            },
            Understood {
                name: "ofs-delta",
                advertised: features.ofs_delta,
                choose: |caps| caps.ofs_delta = true,
            },
            Understood::never("push-cert"),
            Understood::allowed("delete-refs", features.delete_refs),
        ];
        let mut caps = ReceivePackClientCaps::default();
        let identity = negotiate(list, understood, &mut caps)?;
        caps.agent = identity.agent;
        caps.session_id = identity.session_id;
        caps.unknown = identity.unknown;
        Ok(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> ReceivePackFeatures {
        ReceivePackFeatures {
            agent: "git/2.47.3".into(),
            ..ReceivePackFeatures::default()
        }
    }

    #[test]
    fn advertisement_matches_git_2_47() {
        assert_eq!(
            String::from_utf8(features().advertise()).unwrap(),
            "report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta \
             object-format=sha1 agent=git/2.47.3"
        );
        let with_options = ReceivePackFeatures {
            push_options: true,
            ..features()
        };
        assert_eq!(
            String::from_utf8(with_options.advertise()).unwrap(),
            "report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta \
             push-options object-format=sha1 agent=git/2.47.3"
        );
    }

    #[test]
    fn git_send_pack_choice_is_understood() {
        let list = CapabilityList::parse(
            b" report-status-v2 side-band-64k quiet atomic push-options object-format=sha1 \
              agent=git/2.47.3",
        );
        let features = ReceivePackFeatures {
            push_options: true,
            ..features()
        };
        let caps = ReceivePackClientCaps::negotiate(&list, &features).unwrap();
        assert_eq!(
            caps,
            ReceivePackClientCaps {
                report_status: Some(ReportStatusVersion::V2),
                side_band_64k: true,
                quiet: true,
                atomic: true,
                push_options: true,
                agent: Some("git/2.47.3".into()),
                ..ReceivePackClientCaps::default()
            }
        );
    }

    #[test]
    fn report_status_v2_wins_in_any_order() {
        let caps = |list: &[u8]| {
            ReceivePackClientCaps::negotiate(&CapabilityList::parse(list), &features()).unwrap()
        };
        assert_eq!(
            caps(b"report-status-v2 report-status").report_status,
            Some(ReportStatusVersion::V2)
        );
        assert_eq!(
            caps(b"report-status").report_status,
            Some(ReportStatusVersion::V1)
        );
        assert_eq!(caps(b"").report_status, None);
    }

    #[test]
    fn capabilities_never_advertised_are_refused() {
        let negotiate = |list: &[u8]| {
            ReceivePackClientCaps::negotiate(&CapabilityList::parse(list), &features())
        };
        assert_eq!(
            negotiate(b"push-options"),
            Err(CapabilityError::NotAdvertised {
                capability: "push-options"
            })
        );
        assert_eq!(
            negotiate(b"side-band"),
            Err(CapabilityError::NotAdvertised {
                capability: "side-band"
            })
        );
        assert!(matches!(
            negotiate(b"object-format=sha256"),
            Err(CapabilityError::UnsupportedObjectFormat { .. })
        ));
    }
}
