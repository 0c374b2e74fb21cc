//! The v2 capability advertisement, built from switches like the v0/v1 one.

use bytes::BufMut;

use crate::capabilities::default_agent;
use crate::object_id::OBJECT_FORMAT;
use crate::pkt_line::encode;

/// What this v2 server offers. Defaults follow C git's defaults: `ls-refs=unborn`,
/// `fetch=shallow wait-for-done filter`, `server-option`; `ref-in-want` and `sideband-all` off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Features {
    /// The `agent=` value.
    pub agent: String,
    /// `ls-refs=unborn`: report an unborn HEAD as `unborn HEAD symref-target:…`.
    pub ls_refs_unborn: bool,
    /// `fetch=shallow`: shallow, deepen, deepen-since, deepen-not, deepen-relative.
    pub fetch_shallow: bool,
    /// `fetch=wait-for-done`.
    pub fetch_wait_for_done: bool,
    /// `fetch=filter`: partial clone.
    pub fetch_filter: bool,
    /// `fetch=ref-in-want`: `want-ref <name>` and the wanted-refs section.
    pub fetch_ref_in_want: bool,
    /// `fetch=sideband-all`: the whole response multiplexed.
    pub fetch_sideband_all: bool,
    /// `server-option`: `server-option=<text>` capability lines in requests.
    pub server_option: bool,
}

impl Default for V2Features {
    fn default() -> Self {
        V2Features {
            agent: default_agent(),
            ls_refs_unborn: true,
            fetch_shallow: true,
            fetch_wait_for_done: true,
            fetch_filter: true,
            fetch_ref_in_want: false,
            fetch_sideband_all: false,
            server_option: true,
        }
    }
}

/// Write the v2 capability advertisement, closing flush included, in C git's order.
pub fn encode_capability_advertisement(out: &mut impl BufMut, features: &V2Features) {
    let mut lines: Vec<String> = vec!["version 2".into(), format!("agent={}", features.agent)];
    lines.push(if features.ls_refs_unborn {
        "ls-refs=unborn".into()
    } else {
        "ls-refs".into()
    });
    let fetch: Vec<&str> = [
        (features.fetch_shallow, "shallow"),
        (features.fetch_wait_for_done, "wait-for-done"),
        (features.fetch_filter, "filter"),
        (features.fetch_ref_in_want, "ref-in-want"),
        (features.fetch_sideband_all, "sideband-all"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name)
    .collect();
    lines.push(if fetch.is_empty() {
        "fetch".into()
    } else {
        format!("fetch={}", fetch.join(" "))
    });
    if features.server_option {
        lines.push("server-option".into());
    }
    lines.push(format!("object-format={OBJECT_FORMAT}"));
    for line in &lines {
        // An agent string too long for a packet is cut rather than failing the session.
        let line = &line.as_bytes()[..line.len().min(crate::pkt_line::MAX_DATA_LEN - 1)];
        encode::text(out, line).expect("holds because the line was cut to fit");
    }
    encode::flush(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_matches_git_2_47() {
        let features = V2Features {
            agent: "git/2.47.3".into(),
            ..V2Features::default()
        };
        let mut out = Vec::new();
        encode_capability_advertisement(&mut out, &features);
        assert_eq!(
            out,
            b"000eversion 2\n0015agent=git/2.47.3\n0013ls-refs=unborn\n\
              0027fetch=shallow wait-for-done filter\n0012server-option\n\
              0017object-format=sha1\n0000"
        );
    }

    #[test]
    fn switches_change_the_lines() {
        let features = V2Features {
            agent: "a".into(),
            ls_refs_unborn: false,
            fetch_shallow: false,
            fetch_wait_for_done: false,
            fetch_filter: false,
            fetch_ref_in_want: true,
            fetch_sideband_all: true,
            server_option: false,
        };
        let mut out = Vec::new();
        encode_capability_advertisement(&mut out, &features);
        assert_eq!(
            out,
            b"000eversion 2\n000cagent=a\n000cls-refs\n\
              0023fetch=ref-in-want sideband-all\n0017object-format=sha1\n0000"
        );
    }
}
