//! Fetch in protocol v0/v1 against git 2.47's traces.

use swiftgit_protocol::Parsed;
use swiftgit_protocol::ProtocolVersion;
use swiftgit_protocol::advertisement::{AdvertisedRef, RefAdvertisement};
use swiftgit_protocol::capabilities::{AckMode, Symref, UploadPackFeatures};
use swiftgit_protocol::daemon_request::Service;
use swiftgit_protocol::filter::FilterSpec;
use swiftgit_protocol::sideband::SidebandMode;
use swiftgit_protocol::upload_pack::{
    Ack, RoundEnd, UploadRequest, WantList, encode_ack, encode_shallow_update, parse_have_round,
    parse_upload_request,
};

use crate::vectors::*;
use crate::*;

fn features() -> UploadPackFeatures {
    UploadPackFeatures {
        agent: GIT_AGENT.into(),
        ..UploadPackFeatures::default()
    }
}

fn refs() -> Vec<AdvertisedRef> {
    let plain = |name: &str, hex: &str| AdvertisedRef {
        name: name.into(),
        id: id(hex),
        peeled: None,
    };
    vec![
        plain("HEAD", MAIN),
        plain("refs/heads/main", MAIN),
        plain("refs/heads/side", SIDE),
        plain("refs/tags/light", LIGHT),
        AdvertisedRef {
            peeled: Some(id(SIDE)),
            ..plain("refs/tags/v1", TAG_V1)
        },
    ]
}

fn head_symref() -> Vec<Symref> {
    vec![Symref {
        name: "HEAD".into(),
        target: "refs/heads/main".into(),
    }]
}

fn advertisement(
    features: &UploadPackFeatures,
    version: ProtocolVersion,
    refs: &[AdvertisedRef],
    symrefs: &[Symref],
) -> Vec<u8> {
    let capabilities = features.advertise(symrefs);
    let mut out = Vec::new();
    RefAdvertisement {
        version,
        refs,
        capabilities: &capabilities,
        shallow: &[],
    }
    .encode(&mut out)
    .expect("advertisement fits");
    out
}

/// Parse the want list after the daemon request; return it and the bytes after it.
fn want_list(connection: &[&[u8]]) -> (UploadRequest, Vec<u8>) {
    let (_, rest) = daemon_request_and_rest(connection);
    let (wants, consumed) = complete(parse_upload_request(&rest, &features()).unwrap());
    let WantList::Wants(request) = wants else {
        panic!("expected wants");
    };
    (*request, rest[consumed..].to_vec())
}

#[test]
fn daemon_requests_name_service_and_version() {
    let cases: [(&[&[u8]], Service, ProtocolVersion); 6] = [
        (LSREMOTE_V0_C, Service::UploadPack, ProtocolVersion::V0),
        (LSREMOTE_V1_C, Service::UploadPack, ProtocolVersion::V1),
        (LSREMOTE_V2_C, Service::UploadPack, ProtocolVersion::V2),
        (PUSH_V0_C, Service::ReceivePack, ProtocolVersion::V0),
        (PUSH_DELETE_V1_C, Service::ReceivePack, ProtocolVersion::V1),
        // `-c protocol.version=2 push` asks for nothing: git pushes in v0.
        (PUSH_OPTIONS_C, Service::ReceivePack, ProtocolVersion::V0),
    ];
    for (connection, service, version) in cases {
        let (request, _) = daemon_request_and_rest(connection);
        assert_eq!(request.service, service);
        assert_eq!(request.version, version);
        assert_eq!(request.path, "/repo.git");
        assert_eq!(request.host, Some("127.0.0.1:12345".into()));
    }
}

#[test]
fn advertisement_is_byte_identical_to_git() {
    assert_same(
        &advertisement(&features(), ProtocolVersion::V0, &refs(), &head_symref()),
        &LSREMOTE_V0_S.concat(),
    );
    assert_same(
        &advertisement(&features(), ProtocolVersion::V1, &refs(), &head_symref()),
        &LSREMOTE_V1_S.concat(),
    );
}

#[test]
fn empty_repository_advertises_capabilities_on_a_placeholder() {
    // An unborn HEAD cannot be expressed in v0, so git sends no symref for it; empty.git had
    // no uploadpack.allowFilter.
    let no_filter = UploadPackFeatures {
        filter: false,
        ..features()
    };
    assert_same(
        &advertisement(&no_filter, ProtocolVersion::V0, &[], &[]),
        &EMPTY_V0_S.concat(),
    );
}

#[test]
fn ls_remote_wants_nothing() {
    for connection in [LSREMOTE_V0_C, LSREMOTE_V1_C, EMPTY_V0_C] {
        let (_, rest) = daemon_request_and_rest(connection);
        let (wants, consumed) = complete(parse_upload_request(&rest, &features()).unwrap());
        assert_eq!(wants, WantList::Empty);
        assert_eq!(consumed, rest.len());
    }
}

#[test]
fn clone_want_list_and_done() {
    let (request, rest) = want_list(CLONE_V0_C);
    // git repeats HEAD's id: once for HEAD, once for refs/heads/main.
    assert_eq!(
        request.wants,
        [id(MAIN), id(MAIN), id(SIDE), id(LIGHT), id(TAG_V1)]
    );
    let caps = &request.capabilities;
    assert_eq!(caps.ack_mode, AckMode::MultiDetailed);
    assert_eq!(caps.sideband, Some(SidebandMode::SideBand64k));
    assert!(caps.thin_pack && caps.no_progress && caps.ofs_delta);
    assert!(!caps.include_tag && !caps.filter);
    assert_eq!(caps.agent.as_deref(), Some(GIT_AGENT));
    assert!(caps.unknown.is_empty());
    assert!(!request.deepen.is_requested());
    let (round, consumed) = complete(parse_have_round(&rest).unwrap());
    assert!(round.haves.is_empty());
    assert_eq!(round.end, RoundEnd::Done);
    assert_eq!(consumed, rest.len());
    let mut nak = Vec::new();
    encode_ack(&mut nak, &Ack::Nak);
    assert_same(&nak, CLONE_V0_S.last().unwrap());
}

#[test]
fn shallow_clone_and_its_shallow_update() {
    let (request, rest) = want_list(SHALLOW_V0_C);
    assert_eq!(request.deepen.depth, Some(1));
    assert!(request.deepen.is_requested());
    assert!(request.capabilities.include_tag);
    assert_eq!(
        complete(parse_have_round(&rest).unwrap()).0.end,
        RoundEnd::Done
    );
    let mut out = Vec::new();
    encode_shallow_update(&mut out, &[id(MAIN)], &[]);
    encode_ack(&mut out, &Ack::Nak);
    assert_same(&out, &SHALLOW_V0_S[7..].concat());
}

#[test]
fn deepen_relative_fetch_with_negotiation() {
    let (request, rest) = want_list(DEEPEN_V0_C);
    assert_eq!(request.shallows, [id(MAIN)]);
    assert_eq!(request.deepen.depth, Some(1));
    assert!(request.deepen.relative);
    let (round, _) = complete(parse_have_round(&rest).unwrap());
    assert_eq!(round.haves, [id(MAIN)]);
    assert_eq!(round.end, RoundEnd::Done);

    let mode = request.capabilities.ack_mode;
    let mut out = Vec::new();
    encode_shallow_update(&mut out, &[id(SIDE)], &[id(MAIN)]);
    encode_ack(&mut out, &mode.ack_common(id(MAIN), true).unwrap());
    encode_ack(&mut out, &Ack::Plain(id(MAIN)));
    assert_same(&out, &DEEPEN_V0_S[7..].concat());
}

#[test]
fn filter_and_deepen_since_requests() {
    let (request, _) = want_list(FILTER_V0_C);
    assert!(request.capabilities.filter);
    assert_eq!(request.filter, Some(FilterSpec::BlobNone));
    let (request, _) = want_list(SINCE_V0_C);
    assert_eq!(request.deepen.since, Some(1704283200));
    assert!(request.deepen.is_requested());
}

#[test]
fn incremental_fetch_acks_like_git() {
    let (request, rest) = want_list(FETCH_V0_C);
    assert_eq!(request.wants, [id(C5)]);
    let (round, _) = complete(parse_have_round(&rest).unwrap());
    assert_eq!(round.haves, [id(MAIN), id(SIDE)]);
    assert_eq!(round.end, RoundEnd::Done);
    let mode = request.capabilities.ack_mode;
    let mut out = Vec::new();
    for (index, have) in round.haves.iter().enumerate() {
        encode_ack(&mut out, &mode.ack_common(*have, index == 0).unwrap());
    }
    encode_ack(&mut out, &Ack::Plain(id(SIDE)));
    assert_same(&out, &FETCH_V0_S[7..].concat());
}

#[test]
fn negotiation_in_rounds() {
    let (request, mut rest) = want_list(ROUNDS_V0_C);
    assert_eq!(request.wants, [id(C6)]);
    let mut rounds = Vec::new();
    loop {
        let (round, consumed) = complete(parse_have_round(&rest).unwrap());
        rest.drain(..consumed);
        let end = round.end;
        rounds.push(round);
        if end == RoundEnd::Done {
            break;
        }
    }
    assert!(rest.is_empty());
    let sizes: Vec<(usize, RoundEnd)> = rounds.iter().map(|r| (r.haves.len(), r.end)).collect();
    assert_eq!(
        sizes,
        [
            (16, RoundEnd::Flush),
            (16, RoundEnd::Flush),
            (9, RoundEnd::Done)
        ]
    );
    assert_eq!(rounds[2].haves.last(), Some(&id(SIDE)));

    let mut out = Vec::new();
    encode_ack(&mut out, &Ack::Nak);
    encode_ack(&mut out, &Ack::Nak);
    encode_ack(&mut out, &Ack::Common(id(SIDE)));
    encode_ack(&mut out, &Ack::Plain(id(SIDE)));
    assert_same(&out, &ROUNDS_V0_S[7..].concat());
}

#[test]
fn every_prefix_of_a_request_is_incomplete() {
    for connection in [
        CLONE_V0_C,
        SHALLOW_V0_C,
        DEEPEN_V0_C,
        FILTER_V0_C,
        FETCH_V0_C,
    ] {
        let (_, rest) = daemon_request_and_rest(connection);
        let (_, consumed) = complete(parse_upload_request(&rest, &features()).unwrap());
        for end in 0..consumed {
            assert_eq!(
                parse_upload_request(&rest[..end], &features()),
                Ok(Parsed::Incomplete),
                "prefix of {end} bytes"
            );
        }
        let haves = &rest[consumed..];
        let (_, round_len) = complete(parse_have_round(haves).unwrap());
        for end in 0..round_len {
            assert_eq!(parse_have_round(&haves[..end]), Ok(Parsed::Incomplete));
        }
    }
}
