//! Protocol v2 against git 2.47's traces.

use swiftgit_protocol::error_packet::encode_error;
use swiftgit_protocol::filter::FilterSpec;
use swiftgit_protocol::pkt_line::encode;
use swiftgit_protocol::v2::{
    Command, CommandError, CommandRequest, FetchError, FetchRequest, LsRefsRef, LsRefsRequest,
    PackfilePreamble, RefTarget, ShallowInfo, V2Features, V2Request, WantedRef,
    encode_acknowledgments_only, encode_capability_advertisement, encode_ls_refs_ref,
    parse_command_request,
};

use crate::vectors::*;
use crate::*;

fn features() -> V2Features {
    V2Features {
        agent: GIT_AGENT.into(),
        ..V2Features::default()
    }
}

/// All command requests of a connection, in order, with the features given.
fn requests(connection: &[&[u8]], features: &V2Features) -> Vec<V2Request> {
    let (_, mut rest) = daemon_request_and_rest(connection);
    let mut found = Vec::new();
    while !rest.is_empty() {
        let (request, consumed) = complete(parse_command_request(&rest, features).unwrap());
        rest.drain(..consumed);
        found.push(request);
    }
    found
}

fn commands(connection: &[&[u8]], features: &V2Features) -> Vec<CommandRequest> {
    requests(connection, features)
        .into_iter()
        .filter_map(|request| match request {
            V2Request::Command(command) => Some(*command),
            V2Request::EndOfSession => None,
        })
        .collect()
}

fn fetch(command: &CommandRequest) -> &FetchRequest {
    match &command.command {
        Command::Fetch(fetch) => fetch,
        other => panic!("expected fetch, got {other:?}"),
    }
}

fn ls_refs_response(refs: &[LsRefsRef]) -> Vec<u8> {
    let mut out = Vec::new();
    for listed in refs {
        encode_ls_refs_ref(&mut out, listed).unwrap();
    }
    encode::flush(&mut out);
    out
}

#[test]
fn capability_advertisement_is_byte_identical_to_git() {
    let mut out = Vec::new();
    encode_capability_advertisement(&mut out, &features());
    assert_same(&out, &LSREMOTE_V2_S[..7].concat());
    let mut out = Vec::new();
    let ref_in_want = V2Features {
        fetch_ref_in_want: true,
        ..features()
    };
    encode_capability_advertisement(&mut out, &ref_in_want);
    assert_same(&out, &REFINWANT_V2_S[..7].concat());
    let mut out = Vec::new();
    let no_filter = V2Features {
        fetch_filter: false,
        ..features()
    };
    encode_capability_advertisement(&mut out, &no_filter);
    assert_same(&out, &EMPTY_V2_S[..7].concat());
}

#[test]
fn ls_remote_session() {
    let requests = requests(LSREMOTE_V2_C, &features());
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1], V2Request::EndOfSession);
    let V2Request::Command(command) = &requests[0] else {
        panic!("expected ls-refs first");
    };
    assert_eq!(command.capabilities.agent.as_deref(), Some(GIT_AGENT));
    assert_eq!(
        command.command,
        Command::LsRefs(LsRefsRequest {
            peel: true,
            symrefs: true,
            unborn: true,
            ref_prefixes: vec![],
        })
    );
    let listed = |name: &str, hex: &str| LsRefsRef {
        name: name.into(),
        target: RefTarget::Id(id(hex)),
        symref_target: None,
        peeled: None,
    };
    let response = ls_refs_response(&[
        LsRefsRef {
            symref_target: Some("refs/heads/main".into()),
            ..listed("HEAD", MAIN)
        },
        listed("refs/heads/main", MAIN),
        listed("refs/heads/side", SIDE),
        listed("refs/tags/light", LIGHT),
        LsRefsRef {
            peeled: Some(id(SIDE)),
            ..listed("refs/tags/v1", TAG_V1)
        },
    ]);
    assert_same(&response, &LSREMOTE_V2_S[7..].concat());
}

#[test]
fn empty_repository_lists_unborn_head() {
    let commands = commands(EMPTY_V2_C, &features());
    let Command::LsRefs(ls_refs) = &commands[0].command else {
        panic!("expected ls-refs");
    };
    assert_eq!(ls_refs.ref_prefixes, ["HEAD", "refs/heads/", "refs/tags/"]);
    assert!(ls_refs.wants(b"HEAD"));
    let response = ls_refs_response(&[LsRefsRef {
        name: "HEAD".into(),
        target: RefTarget::Unborn,
        symref_target: Some("refs/heads/main".into()),
        peeled: None,
    }]);
    assert_same(&response, &EMPTY_V2_S[7..].concat());
}

#[test]
fn clone_fetch_sends_the_pack_after_done() {
    let commands = commands(CLONE_V2_C, &features());
    let request = fetch(&commands[1]);
    assert_eq!(
        request.wants,
        [id(MAIN), id(MAIN), id(SIDE), id(LIGHT), id(TAG_V1)]
    );
    assert!(request.done && request.thin_pack && request.no_progress && request.ofs_delta);
    assert!(!request.include_tag && request.haves.is_empty());
    let mut out = Vec::new();
    PackfilePreamble::default().encode(&mut out).unwrap();
    assert_same(&out, CLONE_V2_S.last().unwrap());
}

#[test]
fn shallow_clone_answers_with_shallow_info() {
    let commands = commands(SHALLOW_V2_C, &features());
    let request = fetch(&commands[1]);
    assert_eq!(request.deepen.depth, Some(1));
    assert!(request.include_tag && request.done);
    let mut out = Vec::new();
    PackfilePreamble {
        shallow_info: Some(ShallowInfo {
            shallow: &[id(MAIN)],
            unshallow: &[],
        }),
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &SHALLOW_V2_S[13..].concat());
}

#[test]
fn deepen_fetch_acknowledges_then_sends_shallow_info() {
    let commands = commands(DEEPEN_V2_C, &features());
    let Command::LsRefs(ls_refs) = &commands[0].command else {
        panic!("expected ls-refs");
    };
    assert!(ls_refs.wants(b"refs/heads/main") && !ls_refs.wants(b"refs/tags/v1"));
    let request = fetch(&commands[1]);
    assert_eq!(request.shallows, [id(MAIN)]);
    assert_eq!(request.deepen.depth, Some(1));
    assert!(request.deepen.relative);
    assert_eq!(request.wants, [id(MAIN)]);
    assert_eq!(request.haves, [id(MAIN)]);
    assert!(!request.done);
    let mut out = Vec::new();
    PackfilePreamble {
        acknowledgments: Some(&[id(MAIN)]),
        shallow_info: Some(ShallowInfo {
            shallow: &[id(SIDE)],
            unshallow: &[id(MAIN)],
        }),
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &DEEPEN_V2_S[9..].concat());
}

#[test]
fn filter_and_deepen_not_arguments() {
    let features = V2Features {
        fetch_ref_in_want: true,
        ..features()
    };
    let filter = commands(FILTER_V2_C, &features);
    assert_eq!(fetch(&filter[1]).filter, Some(FilterSpec::BlobLimit(1024)));
    let deepen_not = commands(NOT_V2_C, &features);
    assert_eq!(fetch(&deepen_not[1]).deepen.not, ["side"]);
}

#[test]
fn negotiation_over_two_requests() {
    let commands = commands(ROUNDS_V2_C, &features());
    assert_eq!(commands.len(), 3);
    let first = fetch(&commands[1]);
    let second = fetch(&commands[2]);
    assert_eq!(first.wants, [id(C6)]);
    assert!(!first.done && !second.done);
    assert!(first.haves.len() >= 16);
    assert!(second.haves.contains(&id(SIDE)));

    let mut out = Vec::new();
    encode_acknowledgments_only(&mut out, &[], false);
    PackfilePreamble {
        acknowledgments: Some(&[id(SIDE)]),
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &ROUNDS_V2_S[9..].concat());
}

#[test]
fn want_ref_needs_ref_in_want_and_gets_wanted_refs() {
    let (_, rest) = daemon_request_and_rest(REFINWANT_V2_C);
    let (_, consumed) = complete(parse_command_request(&rest, &features()).unwrap());
    assert_eq!(
        parse_command_request(&rest[consumed..], &features()),
        Err(CommandError::Fetch(FetchError::NotAdvertised {
            line: b"want-ref HEAD"[..].into(),
            feature: "ref-in-want",
        }))
    );
    let features = V2Features {
        fetch_ref_in_want: true,
        ..features()
    };
    let commands = commands(REFINWANT_V2_C, &features);
    let request = fetch(&commands[1]);
    assert_eq!(
        request.want_refs,
        [
            "HEAD",
            "refs/heads/main",
            "refs/heads/side",
            "refs/tags/light",
            "refs/tags/v1"
        ]
    );
    let wanted = |hex: &str, name: &str| WantedRef {
        id: id(hex),
        name: name.into(),
    };
    let mut out = Vec::new();
    PackfilePreamble {
        wanted_refs: &[
            wanted(MAIN, "HEAD"),
            wanted(LIGHT, "refs/tags/light"),
            wanted(MAIN, "refs/heads/main"),
            wanted(SIDE, "refs/heads/side"),
            wanted(TAG_V1, "refs/tags/v1"),
        ],
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_same(&out, &REFINWANT_V2_S[13..].concat());
}

#[test]
fn shallow_info_goes_before_wanted_refs_unlike_git_2_47() {
    // git 2.47's server sent wanted-refs first and its own client died with
    // "expected 'packfile', received 'shallow-info'". We send the order the client reads.
    let features = V2Features {
        fetch_ref_in_want: true,
        ..features()
    };
    let commands = commands(REFINWANT_SHALLOW_V2_C, &features);
    let request = fetch(&commands[1]);
    assert_eq!(request.deepen.depth, Some(1));
    assert_eq!(request.want_refs, ["HEAD", "refs/heads/main"]);
    let git_order = REFINWANT_SHALLOW_V2_S[13..].concat();
    let mut out = Vec::new();
    PackfilePreamble {
        shallow_info: Some(ShallowInfo {
            shallow: &[id(MAIN)],
            unshallow: &[],
        }),
        wanted_refs: &[
            WantedRef {
                id: id(MAIN),
                name: "HEAD".into(),
            },
            WantedRef {
                id: id(MAIN),
                name: "refs/heads/main".into(),
            },
        ],
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_ne!(out, git_order);
    let expected = [
        &REFINWANT_SHALLOW_V2_S[17..20],
        &REFINWANT_SHALLOW_V2_S[13..17],
        &REFINWANT_SHALLOW_V2_S[20..],
    ]
    .concat()
    .concat();
    assert_same(&out, &expected);
}

#[test]
fn sideband_all_wraps_every_line_in_band_one() {
    let mut out = Vec::new();
    PackfilePreamble {
        acknowledgments: Some(&[]),
        sideband_all: true,
        ..PackfilePreamble::default()
    }
    .encode(&mut out)
    .unwrap();
    assert_same(
        &out,
        b"0015\x01acknowledgments\n0009\x01NAK\n000b\x01ready\n0001000e\x01packfile\n",
    );
}

#[test]
fn unknown_object_is_reported_like_git() {
    let commands = commands(NOTOURREF_V2_C, &features());
    let request = fetch(&commands[1]);
    assert_eq!(
        request.wants,
        [id("0123456789012345678901234567890123456789")]
    );
    let mut out = Vec::new();
    encode_error(
        &mut out,
        "upload-pack: not our ref 0123456789012345678901234567890123456789",
    );
    assert_same(&out, NOTOURREF_V2_S.last().unwrap());
    let mut out = Vec::new();
    encode_error(
        &mut out,
        "access denied or repository not exported: /nope.git",
    );
    assert_same(&out, &NOREPO_V0_S.concat());
}

#[test]
fn every_prefix_of_a_command_is_incomplete() {
    let (_, rest) = daemon_request_and_rest(DEEPEN_V2_C);
    let (_, first) = complete(parse_command_request(&rest, &features()).unwrap());
    let (_, second) = complete(parse_command_request(&rest[first..], &features()).unwrap());
    for end in 0..first + second {
        let start = if end < first { 0 } else { first };
        assert_eq!(
            parse_command_request(&rest[start..end], &features()),
            Ok(swiftgit_protocol::Parsed::Incomplete),
            "prefix of {end} bytes"
        );
    }
}
