//! Push (receive-pack) against git 2.47's traces.

use swiftgit_protocol::Parsed;
use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::advertisement::{AdvertisedRef, RefAdvertisement};
use swiftgit_protocol::capabilities::{ReceivePackFeatures, ReportStatusVersion};
use swiftgit_protocol::object_id::ZERO_ID;
use swiftgit_protocol::receive_pack::{
    CommandStatus, PushRequest, ReceiveRequest, RefRewrite, RefUpdate, Report, UpdateKind,
    encode_report, encode_report_sideband, parse_push_request,
};
use swiftgit_protocol::sideband::{self, Band, SidebandMode};

use crate::vectors::*;
use crate::*;

fn features() -> ReceivePackFeatures {
    ReceivePackFeatures {
        agent: GIT_AGENT.into(),
        push_options: true,
        ..ReceivePackFeatures::default()
    }
}

/// Parse the push request; return it and the bytes where the pack starts.
fn push(connection: &[&[u8]]) -> (PushRequest, Vec<u8>) {
    let (_, rest) = daemon_request_and_rest(connection);
    let (request, consumed) = complete(parse_push_request(&rest, &features()).unwrap());
    let ReceiveRequest::Push(request) = request else {
        panic!("expected commands");
    };
    (request, rest[consumed..].to_vec())
}

fn ok(name: &str) -> CommandStatus {
    CommandStatus::Ok {
        name: name.into(),
        rewrites: vec![],
    }
}

fn sideband_report(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    encode_report_sideband(&mut out, report, ReportStatusVersion::V2).unwrap();
    out
}

#[test]
fn advertisement_is_byte_identical_to_git() {
    let plain = |name: &str, hex: &str| AdvertisedRef {
        name: name.into(),
        id: id(hex),
        peeled: None,
    };
    // receive-pack lists no HEAD and no peeled tags.
    let refs = [
        plain("refs/heads/main", MAIN),
        plain("refs/heads/side", SIDE),
        plain("refs/tags/light", LIGHT),
        plain("refs/tags/v1", TAG_V1),
    ];
    let capabilities = features().advertise();
    let mut out = Vec::new();
    RefAdvertisement {
        version: ProtocolVersion::V0,
        refs: &refs,
        capabilities: &capabilities,
        shallow: &[],
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &PUSH_V0_S[..5].concat());

    let refs = [
        plain("refs/heads/main", C5),
        plain("refs/heads/newbranch", C5),
        plain("refs/heads/side", SIDE),
        plain("refs/tags/light", LIGHT),
        plain("refs/tags/v1", TAG_V1),
    ];
    let mut out = Vec::new();
    RefAdvertisement {
        version: ProtocolVersion::V1,
        refs: &refs,
        capabilities: &capabilities,
        shallow: &[],
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &PUSH_DELETE_V1_S[..7].concat());
}

#[test]
fn empty_repository_advertisement() {
    let capabilities = ReceivePackFeatures {
        agent: GIT_AGENT.into(),
        ..ReceivePackFeatures::default()
    }
    .advertise();
    let mut out = Vec::new();
    RefAdvertisement {
        version: ProtocolVersion::V0,
        refs: &[],
        capabilities: &capabilities,
        shallow: &[],
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &PUSH_EMPTY_S[..2].concat());
}

#[test]
fn update_then_pack() {
    let (request, pack) = push(PUSH_V0_C);
    assert_eq!(
        request.commands,
        [RefUpdate {
            old_id: id(MAIN),
            new_id: id(C4),
            name: "refs/heads/main".into(),
        }]
    );
    assert_eq!(request.commands[0].kind(), UpdateKind::Update);
    assert!(request.expects_pack());
    assert!(request.push_options.is_empty());
    let caps = &request.capabilities;
    assert_eq!(caps.report_status, Some(ReportStatusVersion::V2));
    assert!(caps.side_band_64k && caps.quiet && !caps.atomic);
    assert_eq!(pack, b"PACK\0\0\0\x02\0\0\0\x03");

    let report = Report {
        unpack: Ok(()),
        commands: vec![ok("refs/heads/main")],
    };
    assert_same(&sideband_report(&report), &PUSH_V0_S[5..].concat());
}

#[test]
fn atomic_push_with_options() {
    let (request, pack) = push(PUSH_OPTIONS_C);
    assert_eq!(request.commands.len(), 2);
    assert_eq!(request.commands[1].kind(), UpdateKind::Create);
    assert_eq!(request.commands[1].old_id, ZERO_ID);
    assert!(request.capabilities.atomic && request.capabilities.push_options);
    assert_eq!(request.push_options, ["ci.skip", "msg=hello world"]);
    assert!(pack.starts_with(b"PACK"));
    let report = Report {
        unpack: Ok(()),
        commands: vec![ok("refs/heads/main"), ok("refs/heads/newbranch")],
    };
    assert_same(&sideband_report(&report), &PUSH_OPTIONS_S[5..].concat());
}

#[test]
fn delete_only_push_has_no_pack() {
    let (request, pack) = push(PUSH_DELETE_V1_C);
    assert_eq!(request.commands[0].kind(), UpdateKind::Delete);
    assert!(!request.expects_pack());
    assert!(pack.is_empty());
    let report = Report {
        unpack: Ok(()),
        commands: vec![ok("refs/heads/newbranch")],
    };
    assert_same(&sideband_report(&report), &PUSH_DELETE_V1_S[7..].concat());
}

#[test]
fn rejected_update_with_progress_message() {
    let (request, pack) = push(PUSH_NG_C);
    assert_eq!(request.commands[0].name, "refs/heads/side");
    // git sends an empty pack (no objects) for an update to an object the server has.
    assert_eq!(pack, b"PACK\0\0\0\x02\0\0\0\0");
    let mut out = Vec::new();
    sideband::encode(
        &mut out,
        Band::Progress,
        b"error: denying non-fast-forward refs/heads/side (you should pull first)\n",
        SidebandMode::SideBand64k,
    );
    encode_report_sideband(
        &mut out,
        &Report {
            unpack: Ok(()),
            commands: vec![CommandStatus::Rejected {
                name: "refs/heads/side".into(),
                reason: "non-fast-forward".into(),
            }],
        },
        ReportStatusVersion::V2,
    )
    .unwrap();
    assert_same(&out, &PUSH_NG_S[5..].concat());
}

#[test]
fn push_into_empty_repository() {
    let (request, _) = push(PUSH_EMPTY_C);
    assert_eq!(request.commands[0].kind(), UpdateKind::Create);
    let report = Report {
        unpack: Ok(()),
        commands: vec![ok("refs/heads/main")],
    };
    assert_same(&sideband_report(&report), &PUSH_EMPTY_S[2..].concat());
}

#[test]
fn plain_reports_v1_and_v2() {
    let report = Report {
        unpack: Err("index-pack abnormal exit\nsecond line".into()),
        commands: vec![
            CommandStatus::Ok {
                name: "refs/for/main".into(),
                rewrites: vec![
                    RefRewrite {
                        refname: Some("refs/changes/1".into()),
                        old_id: Some(ZERO_ID),
                        new_id: Some(id(C4)),
                        forced_update: false,
                    },
                    RefRewrite {
                        forced_update: true,
                        ..RefRewrite::default()
                    },
                ],
            },
            CommandStatus::Rejected {
                name: "refs/heads/x".into(),
                reason: "failed to lock".into(),
            },
        ],
    };
    let mut v1 = Vec::new();
    encode_report(&mut v1, &report, ReportStatusVersion::V1).unwrap();
    assert_same(
        &v1,
        b"0030unpack index-pack abnormal exit second line\n\
          0015ok refs/for/main\n\
          0023ng refs/heads/x failed to lock\n\
          0000",
    );
    let mut v2 = Vec::new();
    encode_report(&mut v2, &report, ReportStatusVersion::V2).unwrap();
    let expected = [
        &b"0030unpack index-pack abnormal exit second line\n"[..],
        b"0015ok refs/for/main\n",
        b"0022option refname refs/changes/1\n",
        b"003coption old-oid 0000000000000000000000000000000000000000\n",
        format!("003coption new-oid {C4}\n").as_bytes(),
        b"0015ok refs/for/main\n",
        b"0019option forced-update\n",
        b"0023ng refs/heads/x failed to lock\n",
        b"0000",
    ]
    .concat();
    assert_same(&v2, &expected);
}

#[test]
fn every_prefix_of_the_commands_is_incomplete() {
    for connection in [PUSH_V0_C, PUSH_OPTIONS_C, PUSH_DELETE_V1_C] {
        let (_, rest) = daemon_request_and_rest(connection);
        let (_, consumed) = complete(parse_push_request(&rest, &features()).unwrap());
        for end in 0..consumed {
            assert_eq!(
                parse_push_request(&rest[..end], &features()),
                Ok(Parsed::Incomplete),
                "prefix of {end} bytes"
            );
        }
    }
}

#[test]
fn nothing_to_push() {
    assert_eq!(
        parse_push_request(b"0000", &features()),
        Ok(Parsed::Complete {
            value: ReceiveRequest::Empty,
            consumed: 4
        })
    );
}
