//! Every vector of `p2pml-golden-vectors.json` (the real 2.3.1 serializer):
//! our encoder reproduces its bytes except where its output is broken, and
//! our receive path decodes its bytes to what its decoder returned.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

mod common;

use p2pml_proto::command::{PeerCommand, RawCommand};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    common::fixture("p2pml-golden-vectors.json")
        .as_array()
        .unwrap()
        .clone()
}

fn js_decode_failed(v: &Value) -> bool {
    v["decoded"].get("error").is_some()
}

fn command_from_json(json: &Value) -> PeerCommand {
    PeerCommand::from_raw(RawCommand::from_json(json).unwrap()).unwrap()
}

#[test]
fn there_are_33_vectors() {
    assert_eq!(vectors().len(), 33);
}

#[test]
fn encoding_is_byte_identical_where_js_output_is_valid() {
    let mut checked = 0;
    for (n, v) in vectors().iter().enumerate() {
        if js_decode_failed(v) {
            continue;
        }
        let cmd = command_from_json(&v["command"]);
        let max = v["maxMessageSize"].as_u64().unwrap() as usize;
        let ours: Vec<String> = cmd.encode(max).unwrap().iter().map(hex::encode).collect();
        let theirs: Vec<String> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ours, theirs, "vector {} ({})", n + 1, v["description"]);
        checked += 1;
    }
    assert_eq!(checked, 30);
}

#[test]
fn decoding_their_bytes_gives_what_their_decoder_gave() {
    for (n, v) in vectors().iter().enumerate() {
        let messages: Vec<Vec<u8>> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| common::unhex(m.as_str().unwrap()))
            .collect();
        let payload = common::join(&messages);
        let raw = RawCommand::decode(&payload);
        if js_decode_failed(v) {
            // JS throws on these; we must not panic, and must not invent ids.
            assert!(raw.is_err(), "vector {}: {raw:?}", n + 1);
            continue;
        }
        let raw = raw.unwrap();
        assert_eq!(raw.to_json(), v["decoded"], "vector {}", n + 1);
        // The typed view agrees with the raw one.
        let typed = PeerCommand::from_raw(raw.clone()).unwrap();
        assert_eq!(typed.code(), raw.code);
    }
}

#[test]
fn our_encoding_of_the_broken_vectors_is_readable() {
    for v in vectors().iter().filter(|v| js_decode_failed(v)) {
        let cmd = command_from_json(&v["command"]);
        let messages = cmd.encode(65_535).unwrap();
        let decoded = PeerCommand::decode(&common::join(&messages)).unwrap();
        match (&cmd, &decoded) {
            (PeerCommand::SegmentsAnnouncement(sent), PeerCommand::SegmentsAnnouncement(got)) => {
                // Ids are consecutive within each block, so grouping keeps order.
                assert_eq!(sent, got);
            }
            (PeerCommand::Extension(sent), PeerCommand::Extension(got)) => assert_eq!(sent, got),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn annotated_vector_14_decodes_to_a_request() {
    // SPEC §1.8: `cstr` | 01 | 'i' 02 3039 | 'r' 02 0309 | `cend`.
    let cmd = PeerCommand::decode(&common::unhex("016902303972020309")).unwrap();
    assert_eq!(
        cmd,
        PeerCommand::SegmentRequest(p2pml_proto::command::SegmentRequest {
            segment_id: 12345,
            request_id: 777,
            byte_from: 0
        })
    );
}

#[test]
fn repeated_fields_cost_no_memory_beyond_one_slot_each() {
    // 1 MiB of `i`=0 fields decodes to a single field, as a JS object would.
    let mut payload = vec![4u8];
    for _ in 0..(1 << 19) {
        payload.extend_from_slice(&[b'i', 0]);
    }
    payload.extend_from_slice(&[b'r', 1, 5]);
    let raw = RawCommand::decode(&payload).unwrap();
    assert_eq!(raw.fields.len(), 2);
    assert_eq!(
        PeerCommand::from_raw(raw).unwrap(),
        PeerCommand::SegmentAbsent(p2pml_proto::command::SegmentRef {
            segment_id: 0,
            request_id: 5
        })
    );
}
