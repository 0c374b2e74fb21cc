//! Every bad request gets its own error, naming what was wrong and where.

use swiftgit_protocol::capabilities::{CapabilityError, ReceivePackFeatures, UploadPackFeatures};
use swiftgit_protocol::pkt_line::{PktLineError, encode};
use swiftgit_protocol::receive_pack::{PushRequestError, parse_push_request};
use swiftgit_protocol::upload_pack::{
    DeepenError, NegotiationError, UploadRequestError, parse_have_round, parse_upload_request,
};
use swiftgit_protocol::v2::{
    CommandError, FetchError, LsRefsError, V2Features, parse_command_request,
};

use crate::*;

/// Frame text lines as pkt-lines; `"0000"`, `"0001"`, `"0002"` stand for themselves.
fn packets(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        match *line {
            "0000" | "0001" | "0002" => out.extend_from_slice(line.as_bytes()),
            _ => encode::text(&mut out, line.as_bytes()).unwrap(),
        }
    }
    out
}

fn want(hex: &str) -> String {
    format!("want {hex}")
}

fn upload_error(lines: &[&str]) -> UploadRequestError {
    parse_upload_request(&packets(lines), &UploadPackFeatures::default()).unwrap_err()
}

#[test]
fn want_list_errors() {
    let first = format!("want {MAIN} ofs-delta");
    assert!(matches!(
        upload_error(&["want 1234", "0000"]),
        UploadRequestError::BadWant { offset: 0, .. }
    ));
    assert!(matches!(
        upload_error(&[&format!("want {MAIN}x"), "0000"]),
        UploadRequestError::BadWant { .. }
    ));
    assert!(matches!(
        upload_error(&[&first, &format!("want {SIDE} thin-pack"), "0000"]),
        UploadRequestError::CapabilitiesAfterFirstWant { offset: 60, .. }
    ));
    assert!(matches!(
        upload_error(&[&first, "have 1234", "0000"]),
        UploadRequestError::UnexpectedLine { .. }
    ));
    assert!(matches!(
        upload_error(&[&first, "0001"]),
        UploadRequestError::UnexpectedSpecialPacket {
            packet: "delim",
            ..
        }
    ));
    assert_eq!(
        upload_error(&[&first, "filter blob:none", "0000"]),
        UploadRequestError::FilterNotNegotiated { offset: 60 }
    );
    let with_filter = format!("want {MAIN} filter");
    assert!(matches!(
        upload_error(&[&with_filter, "filter blob:none", "filter tree:0", "0000"]),
        UploadRequestError::DuplicateFilter { .. }
    ));
    assert!(matches!(
        upload_error(&[&with_filter, "filter blob:lots", "0000"]),
        UploadRequestError::Filter { .. }
    ));
    assert_eq!(
        upload_error(&["deepen 1", "0000"]),
        UploadRequestError::NoWants
    );
    assert!(matches!(
        upload_error(&[&first, "deepen 1", "deepen-since 5", "0000"]),
        UploadRequestError::Deepen {
            source: DeepenError::DepthWithRevisions,
            ..
        }
    ));
    assert!(matches!(
        upload_error(&[&format!("want {MAIN} side-band side-band-64k"), "0000"]),
        UploadRequestError::Capabilities {
            source: CapabilityError::Conflicting { .. }
        }
    ));
    assert!(matches!(
        parse_upload_request(b"00zz", &UploadPackFeatures::default()).unwrap_err(),
        UploadRequestError::PktLine {
            offset: 0,
            source: PktLineError::LengthNotHex { .. }
        }
    ));
}

#[test]
fn want_list_error_messages_read_well() {
    let err = upload_error(&[&want(MAIN), "wnt garbage\u{1b}", "0000"]);
    assert_eq!(
        err.to_string(),
        "protocol error at byte 50: expected want, shallow, deepen or filter, got 'wnt garbage\\x1b'"
    );
    let no_shallow = UploadPackFeatures {
        shallow: false,
        ..UploadPackFeatures::default()
    };
    let err = parse_upload_request(&packets(&[&want(MAIN), "deepen 3", "0000"]), &no_shallow)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 50: deepen 3 requires the 'shallow' capability, which this server did not advertise"
    );
}

#[test]
fn have_round_errors() {
    assert!(matches!(
        parse_have_round(&packets(&["have zz", "0000"])),
        Err(NegotiationError::BadHave { offset: 0, .. })
    ));
    assert!(matches!(
        parse_have_round(&packets(&[&format!("have {MAIN}"), "ready", "0000"])),
        Err(NegotiationError::UnexpectedLine { offset: 50, .. })
    ));
    assert!(matches!(
        parse_have_round(b"0002"),
        Err(NegotiationError::UnexpectedSpecialPacket {
            packet: "response-end",
            ..
        })
    ));
    assert!(matches!(
        parse_have_round(b"fff1"),
        Err(NegotiationError::PktLine {
            source: PktLineError::LengthTooLong { length: 0xfff1 },
            ..
        })
    ));
}

fn command_error(lines: &[&str], features: &V2Features) -> CommandError {
    parse_command_request(&packets(lines), features).unwrap_err()
}

#[test]
fn v2_command_errors() {
    let features = V2Features::default();
    assert!(matches!(
        command_error(&["command=ls-refs", "frobnicate=1", "0000"], &features),
        CommandError::UnknownCapability { .. }
    ));
    assert!(matches!(
        command_error(&["command=object-info", "0001", "size", "0000"], &features),
        CommandError::UnknownCommand { .. }
    ));
    assert!(matches!(
        command_error(&["command=ls-refs", "command=fetch", "0000"], &features),
        CommandError::SecondCommand { .. }
    ));
    assert_eq!(
        command_error(&["agent=x", "0000"], &features),
        CommandError::NoCommand
    );
    assert!(matches!(
        command_error(&["command=ls-refs", "0002"], &features),
        CommandError::UnexpectedResponseEnd { .. }
    ));
    assert!(matches!(
        command_error(&["command=ls-refs", "0001", "peel", "0001"], &features),
        CommandError::ExpectedFlush { .. }
    ));
    assert_eq!(
        command_error(
            &["command=fetch", "object-format=sha256", "0000"],
            &features
        )
        .to_string(),
        "mismatched object format: server sha1; client sha256"
    );
    let no_options = V2Features {
        server_option: false,
        ..V2Features::default()
    };
    assert_eq!(
        command_error(&["command=fetch", "server-option=x", "0000"], &no_options),
        CommandError::NotAdvertised {
            capability: "server-option"
        }
    );
    assert!(matches!(
        command_error(&["command=ls-refs", "0001", "tags", "0000"], &features),
        CommandError::LsRefs(LsRefsError::UnexpectedLine { .. })
    ));
}

#[test]
fn v2_fetch_errors() {
    let features = V2Features::default();
    let fetch_error = |args: &[&str], features: &V2Features| {
        let mut lines = vec!["command=fetch", "0001"];
        lines.extend_from_slice(args);
        lines.push("0000");
        match command_error(&lines, features) {
            CommandError::Fetch(err) => err,
            other => panic!("expected a fetch error, got {other:?}"),
        }
    };
    assert_eq!(
        fetch_error(&["packfile-uris https"], &features),
        FetchError::PackfileUrisUnsupported
    );
    assert!(matches!(
        fetch_error(&["want-ref refs/heads/main"], &features),
        FetchError::NotAdvertised {
            feature: "ref-in-want",
            ..
        }
    ));
    let ref_in_want = V2Features {
        fetch_ref_in_want: true,
        ..V2Features::default()
    };
    assert!(matches!(
        fetch_error(
            &["want-ref refs/heads/x", "want-ref refs/heads/x"],
            &ref_in_want
        ),
        FetchError::DuplicateWantRef { .. }
    ));
    assert!(matches!(
        fetch_error(&["sideband-all"], &features),
        FetchError::NotAdvertised {
            feature: "sideband-all",
            ..
        }
    ));
    assert!(matches!(
        fetch_error(&["want HEAD"], &features),
        FetchError::BadWant { .. }
    ));
    assert!(matches!(
        fetch_error(&["have 12"], &features),
        FetchError::BadHave { .. }
    ));
    assert_eq!(
        fetch_error(&["filter blob:none", "filter blob:none"], &features),
        FetchError::DuplicateFilter
    );
    assert!(matches!(
        fetch_error(&["deepen 0"], &features),
        FetchError::Deepen(DeepenError::BadDepth { .. })
    ));
    assert_eq!(
        fetch_error(&["deepen 2", "deepen-not main"], &features),
        FetchError::Deepen(DeepenError::DepthWithRevisions)
    );
    assert!(matches!(
        fetch_error(&["frobnicate"], &features),
        FetchError::UnexpectedLine { .. }
    ));
    let no_shallow = V2Features {
        fetch_shallow: false,
        ..V2Features::default()
    };
    assert!(matches!(
        fetch_error(&["deepen-relative"], &no_shallow),
        FetchError::NotAdvertised {
            feature: "shallow",
            ..
        }
    ));
}

#[test]
fn push_errors() {
    let features = ReceivePackFeatures::default();
    let push_error = |lines: &[&str]| parse_push_request(&packets(lines), &features).unwrap_err();
    let update = format!("{MAIN} {SIDE} refs/heads/main");
    assert!(matches!(
        push_error(&[
            "push-cert\0report-status",
            "certificate version 0.1",
            "0000"
        ]),
        PushRequestError::PushCertUnsupported { offset: 0 }
    ));
    assert!(matches!(
        push_error(&[&format!("{MAIN} {SIDE}"), "0000"]),
        PushRequestError::BadCommand { .. }
    ));
    assert!(matches!(
        push_error(&[&format!("{MAIN} {SIDE} "), "0000"]),
        PushRequestError::BadCommand { .. }
    ));
    assert!(matches!(
        push_error(&[&format!("{MAIN}  {SIDE} refs/heads/x"), "0000"]),
        PushRequestError::BadCommand { .. }
    ));
    assert!(matches!(
        push_error(&["shallow 12", "0000"]),
        PushRequestError::BadShallow { .. }
    ));
    assert!(matches!(
        push_error(&[&update, &format!("{update}\0atomic"), "0000"]),
        PushRequestError::CapabilitiesAfterFirstCommand { .. }
    ));
    assert!(matches!(
        push_error(&[&format!("{update}\0 push-options"), "0000"]),
        PushRequestError::Capabilities {
            source: CapabilityError::NotAdvertised {
                capability: "push-options"
            }
        }
    ));
    assert!(matches!(
        push_error(&[&update, "0001"]),
        PushRequestError::UnexpectedSpecialPacket {
            packet: "delim",
            ..
        }
    ));
    assert_eq!(
        push_error(&["push-cert\0", "0000"]).to_string(),
        "signed pushes (push-cert) are not supported by this server; push without --signed"
    );
}
