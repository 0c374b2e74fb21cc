//! Random bytes, and random mutations of the requests git sent, fed to every parser: none may
//! panic, and a complete parse never claims more bytes than it was given.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use swiftgit_protocol::capabilities::{
    CapabilityList, ReceivePackClientCaps, ReceivePackFeatures, UploadPackClientCaps,
    UploadPackFeatures,
};
use swiftgit_protocol::filter::FilterSpec;
use swiftgit_protocol::pkt_line::{self, Decoded};
use swiftgit_protocol::receive_pack::parse_push_request;
use swiftgit_protocol::upload_pack::{parse_have_round, parse_upload_request};
use swiftgit_protocol::v2::{V2Features, parse_command_request};
use swiftgit_protocol::{Parsed, PktReader, ProtocolVersion, daemon_request, ref_name, sideband};

use crate::vectors::*;

const ROUNDS: usize = 3000;

fn check<T>(parsed: Result<Parsed<T>, impl std::error::Error>, len: usize) {
    match parsed {
        Ok(Parsed::Complete { consumed, .. }) => assert!(consumed <= len),
        Ok(Parsed::Incomplete) => {}
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// Run every parser on `input`.
fn parse_everything(input: &[u8]) {
    let len = input.len();
    if let Ok(Decoded::Complete { consumed, .. }) = pkt_line::decode(input) {
        assert!(consumed <= len);
    }
    let mut reader = PktReader::new();
    for chunk in input.chunks(7) {
        reader.push(chunk);
        while let Ok(Some(_)) = reader.next_packet() {}
    }
    let _ = daemon_request::parse(input);
    let list = CapabilityList::parse(input);
    let _ = UploadPackClientCaps::negotiate(&list, &UploadPackFeatures::default());
    let _ = ReceivePackClientCaps::negotiate(&list, &ReceivePackFeatures::default());
    let _ = FilterSpec::parse(input);
    let _ = ref_name::check_pushed(input);
    let _ = sideband::split(input);
    let _ = ProtocolVersion::from_git_protocol(input);
    check(
        parse_upload_request(input, &UploadPackFeatures::default()),
        len,
    );
    check(parse_have_round(input), len);
    let all_v2 = V2Features {
        fetch_ref_in_want: true,
        fetch_sideband_all: true,
        ..V2Features::default()
    };
    check(parse_command_request(input, &all_v2), len);
    let push_options = ReceivePackFeatures {
        push_options: true,
        ..ReceivePackFeatures::default()
    };
    check(parse_push_request(input, &push_options), len);
}

fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let len = bytes.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..7) {
            0 if len > 0 => bytes[at.min(len - 1)] = rng.random(),
            1 => bytes.insert(at, rng.random()),
            2 => bytes.truncate(at),
            3 => {
                let end = rng.random_range(at..=len);
                bytes.drain(at..end);
            }
            4 => {
                let end = rng.random_range(at..=len);
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            5 => {
                let from = rng.random_range(0..=other.len());
                bytes.splice(at..at, other[from..].iter().copied().take(200));
            }
            _ => {
                let hex = format!("{:04x}", rng.random_range(0..0x10000u32));
                let end = (at + 4).min(len);
                bytes.splice(at..end, hex.bytes());
            }
        }
    }
    bytes
}

fn corpus() -> Vec<Vec<u8>> {
    [
        CLONE_V0_C,
        FETCH_V0_C,
        DEEPEN_V0_C,
        FILTER_V0_C,
        ROUNDS_V0_C,
        CLONE_V2_C,
        DEEPEN_V2_C,
        FILTER_V2_C,
        NOT_V2_C,
        REFINWANT_V2_C,
        PUSH_V0_C,
        PUSH_OPTIONS_C,
        PUSH_DELETE_V1_C,
        LSREMOTE_V2_S,
        PUSH_NG_S,
    ]
    .iter()
    .flat_map(|connection| {
        // The whole connection, and the connection after git-daemon's request.
        let whole = connection.concat();
        let rest = connection[1..].concat();
        [whole, rest]
    })
    .collect()
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    for _ in 0..ROUNDS {
        let len = rng.random_range(0..300);
        let mut input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if rng.random_bool(0.5) {
            // Mostly-valid framing gets the parsers past the length check.
            let hex = format!("{:04x}", len.min(0xffff));
            input.splice(0..0, hex.bytes());
        }
        parse_everything(&input);
    }
}

#[test]
fn mutated_git_requests_never_panic() {
    let corpus = corpus();
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    for round in 0..ROUNDS * 3 {
        let input = &corpus[round % corpus.len()];
        let other = &corpus[rng.random_range(0..corpus.len())];
        parse_everything(&mutate(&mut rng, input, other));
    }
}

#[test]
fn valid_requests_parse_the_same_with_trailing_bytes() {
    let features = UploadPackFeatures::default();
    for connection in [CLONE_V0_C, DEEPEN_V0_C, FILTER_V0_C] {
        let rest = connection[1..].concat();
        let (value, consumed) = parse_upload_request(&rest, &features)
            .unwrap()
            .complete()
            .expect("complete");
        let mut longer = rest[..consumed].to_vec();
        longer.extend_from_slice(b"zzzz-not-a-packet");
        let (again, consumed_again) = parse_upload_request(&longer, &features)
            .unwrap()
            .complete()
            .expect("complete");
        assert_eq!((value, consumed), (again, consumed_again));
    }
}
