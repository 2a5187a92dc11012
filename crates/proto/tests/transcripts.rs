//! The data-channel transcripts of two real P2P Media Loader 2.3.1 peers
//! (`p2pml-transcripts.json`): every command part decodes, re-encodes to the
//! same bytes, and the exchanges are consistent with the protocol rules.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

mod common;

use p2pml_proto::command::{
    DEFAULT_MAX_MESSAGE_SIZE, Incoming, PeerCommand, PeerMessageReader, SegmentData, SegmentRef,
    SegmentRequest,
};
use serde_json::Value;

struct Exchange {
    commands: Vec<(String, PeerCommand)>,
    data_lengths: Vec<usize>,
}

fn replay(scenario: &Value) -> Exchange {
    let mut reader = PeerMessageReader::default();
    let mut commands = Vec::new();
    let mut data_lengths = Vec::new();
    for entry in scenario["wire"].as_array().unwrap() {
        let from = entry["from"].as_str().unwrap_or_default().to_owned();
        match entry["kind"].as_str() {
            Some("command-part") => {
                let bytes = common::unhex(entry["hex"].as_str().unwrap());
                assert_eq!(bytes.len() as u64, entry["length"].as_u64().unwrap());
                let Incoming::Command(cmd) = reader.read(&bytes).unwrap() else {
                    panic!("single-message command expected")
                };
                let again = cmd.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
                assert_eq!(again, [bytes], "re-encoding differs");
                commands.push((from, cmd));
            }
            Some("segment-data") => {
                // Rebuild the chunk: the peers sent bytes i % 256 of the segment.
                let len = entry["length"].as_u64().unwrap() as usize;
                let first = common::unhex(entry["firstBytesHex"].as_str().unwrap());
                let chunk: Vec<u8> = (0..len).map(|i| first[0].wrapping_add(i as u8)).collect();
                assert_eq!(chunk[..first.len()], first[..]);
                assert!(
                    matches!(reader.read(&chunk).unwrap(), Incoming::SegmentData(d) if d.len() == len)
                );
                data_lengths.push(len);
            }
            _ => {}
        }
    }
    Exchange {
        commands,
        data_lengths,
    }
}

fn scenario(name_part: &str) -> Value {
    common::fixture("p2pml-transcripts.json")
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"].as_str().unwrap().contains(name_part))
        .unwrap()
        .clone()
}

fn announced(ex: &Exchange) -> &PeerCommand {
    &ex.commands[0].1
}

#[test]
fn full_download() {
    let s = scenario("full download");
    let ex = replay(&s);
    let PeerCommand::SegmentsAnnouncement(a) = announced(&ex) else {
        panic!()
    };
    assert_eq!(
        (a.loaded.as_slice(), a.http_loading.as_slice()),
        (&[40, 41, 42][..], &[43][..])
    );
    let request = SegmentRequest {
        segment_id: 42,
        request_id: 777,
        byte_from: 0,
    };
    assert_eq!(
        ex.commands[1],
        ("A".into(), PeerCommand::SegmentRequest(request))
    );
    let header = SegmentData {
        segment_id: 42,
        request_id: 777,
        byte_length: 150_000,
    };
    assert_eq!(
        ex.commands[2],
        ("B".into(), PeerCommand::SegmentData(header))
    );
    // Chunks of webRtcMaxMessageSize, the last one shorter, summing to `s`.
    assert_eq!(ex.data_lengths, [65_535, 65_535, 18_930]);
    assert_eq!(
        ex.data_lengths.iter().sum::<usize>() as u64,
        s["segmentBytes"].as_u64().unwrap()
    );
    let done = SegmentRef {
        segment_id: 42,
        request_id: 777,
    };
    assert_eq!(
        ex.commands[3].1,
        PeerCommand::SegmentDataSendingCompleted(done)
    );
}

#[test]
fn absent_segment() {
    let ex = replay(&scenario("SegmentAbsent"));
    let r = SegmentRef {
        segment_id: 42,
        request_id: 777,
    };
    assert_eq!(ex.commands.last().unwrap().1, PeerCommand::SegmentAbsent(r));
    assert!(ex.data_lengths.is_empty());
}

#[test]
fn resume_from_an_offset() {
    let s = scenario("resume");
    let ex = replay(&s);
    let PeerCommand::SegmentRequest(req) = ex.commands[1].1 else {
        panic!()
    };
    assert_eq!(req.byte_from, 70_000);
    let PeerCommand::SegmentData(header) = ex.commands[2].1 else {
        panic!()
    };
    // The uploader answers with the remaining size: total = b + s.
    assert_eq!(
        req.byte_from + header.byte_length,
        s["segmentBytes"].as_u64().unwrap()
    );
    assert_eq!(
        ex.data_lengths.iter().sum::<usize>() as u64,
        header.byte_length
    );
}

#[test]
fn cancel_stops_the_upload_without_completion() {
    let ex = replay(&scenario("cancels"));
    let r = SegmentRef {
        segment_id: 42,
        request_id: 777,
    };
    assert!(
        ex.commands
            .iter()
            .any(|(from, c)| from == "A" && *c == PeerCommand::CancelSegmentRequest(r))
    );
    assert!(
        !ex.commands
            .iter()
            .any(|(_, c)| matches!(c, PeerCommand::SegmentDataSendingCompleted(_)))
    );
    // Chunks already handed down still arrive after the cancel.
    assert_eq!(ex.data_lengths.len(), 5);
}
