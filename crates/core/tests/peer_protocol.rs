//! The per-connection peer protocol: byte-exact against transcripts of two
//! real P2P Media Loader 2.3.1 peers, and every downloader/uploader rule of
//! SPEC §1.6–1.7.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use p2pml_core::payload::{Payload, VirtualPayload};
use p2pml_core::peer::{CloseReason, DownloadError, PeerConfig, PeerConnection, PeerEvent};
use p2pml_core::time::Instant;
use p2pml_proto::command::{Announcement, PeerCommand, SegmentData, SegmentRef};
use serde_json::Value;

fn transcripts() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/p2pml-transcripts.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn wire_hex(scenario: &str, from: &str) -> Vec<String> {
    let t = transcripts();
    let s = t
        .iter()
        .find(|s| s["scenario"].as_str().unwrap().contains(scenario))
        .unwrap();
    s["wire"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["from"] == from && w["kind"] == "command-part")
        .map(|w| w["hex"].as_str().unwrap().to_owned())
        .collect()
}

/// The transcripts' segment content: byte i is i % 256.
fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| i as u8).collect::<Vec<u8>>().into()
}

fn drain<P: Payload>(peer: &mut PeerConnection<P>) -> Vec<P> {
    std::iter::from_fn(|| peer.poll_transmit()).collect()
}

fn events<P: Payload>(peer: &mut PeerConnection<P>) -> Vec<PeerEvent<P>> {
    std::iter::from_fn(|| peer.poll_event()).collect()
}

/// Puts downloads back together from their `Downloaded` events (the only
/// place a connection hands out received bytes) and checks each completion's
/// byte count against what came.
struct Received<P> {
    parts: HashMap<i64, Vec<P>>,
}

impl<P: Payload> Received<P> {
    fn new() -> Self {
        Self {
            parts: HashMap::new(),
        }
    }

    /// Takes `events`; returns the downloads they complete, with their bytes.
    fn take(&mut self, events: Vec<PeerEvent<P>>) -> Vec<(i64, P)> {
        let mut done = Vec::new();
        for e in events {
            match e {
                PeerEvent::Downloaded {
                    segment_id, data, ..
                } => self.parts.entry(segment_id).or_default().push(data),
                PeerEvent::DownloadCompleted { segment_id, bytes } => {
                    let data = P::concat(&self.parts.remove(&segment_id).unwrap_or_default());
                    assert_eq!(
                        data.len() as u64,
                        bytes,
                        "completion count vs bytes that came"
                    );
                    done.push((segment_id, data));
                }
                _ => {}
            }
        }
        done
    }
}

/// The bytes of the download that `events` complete, if any.
fn completed_bytes<P: Payload>(events: Vec<PeerEvent<P>>) -> Option<P> {
    Received::new().take(events).pop().map(|(_, data)| data)
}

fn cmd(bytes: &Bytes) -> PeerCommand {
    let payload = &bytes[4..bytes.len() - 4];
    PeerCommand::decode(payload).unwrap()
}

const T0: Instant = Instant::ZERO;

#[test]
fn our_uploader_writes_what_the_js_uploader_wrote() {
    let js_b = wire_hex("full download", "B");
    let js_a = wire_hex("full download", "A");
    // JS writes every chunk at once; so do we with a high-water mark above the segment.
    let config = PeerConfig {
        send_high_water: 1 << 20,
        ..PeerConfig::default()
    };
    let mut b: PeerConnection<Bytes> = PeerConnection::new(config, 0);
    b.announce(Announcement {
        loaded: vec![40, 41, 42],
        http_loading: vec![43],
    });
    assert_eq!(hex::encode(&drain(&mut b)[0]), js_b[0]);
    // A's request, as the JS peer sent it.
    b.handle_message(T0, Bytes::from(hex::decode(&js_a[0]).unwrap()));
    let ev = events(&mut b);
    assert_eq!(
        ev,
        [PeerEvent::UploadRequested {
            segment_id: 42,
            request_id: 777,
            byte_from: 0
        }]
    );
    b.serve(42, 777, 0, Some(pattern(150_000)));
    let out = drain(&mut b);
    assert_eq!(hex::encode(&out[0]), js_b[1], "SegmentData header");
    let chunk_lens: Vec<usize> = out[1..out.len() - 1].iter().map(Bytes::len).collect();
    assert_eq!(chunk_lens, [65_535, 65_535, 18_930]);
    assert_eq!(out[1..out.len() - 1].concat(), pattern(150_000));
    assert_eq!(
        hex::encode(out.last().unwrap()),
        js_b[2],
        "SendingCompleted"
    );
}

#[test]
fn our_downloader_reads_what_the_js_uploader_wrote() {
    let js_b = wire_hex("full download", "B");
    let js_a = wire_hex("full download", "A");
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 777);
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[0]).unwrap()));
    assert!(a.has(42) && a.is_http_loading(43) && !a.has(43));
    assert!(a.request(T0, 42, 0, None));
    assert_eq!(
        hex::encode(&drain(&mut a)[0]),
        js_a[0],
        "request bytes equal the JS request"
    );
    assert!(!a.request(T0, 41, 0, None), "never two requests at once");
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[1]).unwrap()));
    let data = pattern(150_000);
    for range in [0..65_535, 65_535..131_070, 131_070..150_000] {
        a.handle_message(T0, data.slice(range));
    }
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[2]).unwrap()));
    let completed = Received::new()
        .take(events(&mut a))
        .into_iter()
        .find_map(|(id, bytes)| (id == 42).then_some(bytes));
    assert_eq!(completed.unwrap(), data);
    assert!(!a.is_downloading());
}

#[test]
fn resume_uses_b_and_totals_b_plus_s() {
    let js_a = wire_hex("resume", "A");
    let js_b = wire_hex("resume", "B");
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 777);
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[0]).unwrap()));
    assert!(a.request(T0, 42, 70_000, Some(150_000)));
    assert_eq!(hex::encode(&drain(&mut a)[0]), js_a[0]);
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[1]).unwrap()));
    let data = pattern(150_000);
    a.handle_message(T0, data.slice(70_000..135_535));
    a.handle_message(T0, data.slice(135_535..150_000));
    a.handle_message(T0, Bytes::from(hex::decode(&js_b[2]).unwrap()));
    let got = completed_bytes(events(&mut a));
    assert_eq!(got.unwrap(), data.slice(70_000..150_000));

    // With the total unknown, a resumed response of s bytes totals b + s (JS sets s).
    let mut c: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 5);
    assert!(c.request(T0, 9, 100, None));
    drain(&mut c);
    c.handle_message(T0, header(9, 5, 50));
    c.handle_message(T0, Bytes::from(vec![1u8; 50]));
    c.handle_message(T0, completed(9, 5));
    assert!(
        events(&mut c)
            .iter()
            .any(|e| matches!(e, PeerEvent::DownloadCompleted { bytes: 50, .. }))
    );
}

fn frame(command: PeerCommand) -> Bytes {
    Bytes::from(command.encode(65_535).unwrap().remove(0))
}

/// `SegmentData` header, framed.
fn header(segment_id: i64, request_id: i64, byte_length: u64) -> Bytes {
    frame(PeerCommand::SegmentData(SegmentData {
        segment_id,
        request_id,
        byte_length,
    }))
}

/// `SegmentDataSendingCompleted`, framed.
fn completed(segment_id: i64, request_id: i64) -> Bytes {
    frame(PeerCommand::SegmentDataSendingCompleted(SegmentRef {
        segment_id,
        request_id,
    }))
}

#[test]
fn cancel_matches_the_js_transcript_and_stray_chunks_are_dropped() {
    let js_a = wire_hex("cancels", "A");
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 777);
    assert!(a.request(T0, 42, 0, None));
    drain(&mut a);
    a.handle_message(T0, header(42, 777, 300_000));
    a.handle_message(T0, pattern(65_535));
    a.abort_download();
    assert_eq!(hex::encode(&drain(&mut a)[0]), js_a[1]);
    let ev = events(&mut a);
    assert!(matches!(
        ev.last(),
        Some(PeerEvent::DownloadFailed {
            error: DownloadError::Aborted,
            partial: Some(65_535),
            ..
        })
    ));
    // Chunks already in flight arrive and are dropped; the next request works.
    a.handle_message(T0, pattern(37_860));
    assert!(events(&mut a).is_empty());
    assert!(a.request(T0, 43, 0, None));
}

#[test]
fn absent_fails_the_download_forgets_the_id_and_marks_the_peer_busy() {
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 1);
    let backoff = Duration::from_millis(500);
    assert_eq!(a.busy_until(backoff), None);
    a.handle_message(
        T0,
        frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: vec![7],
            http_loading: vec![],
        })),
    );
    assert!(a.request(T0, 7, 0, None));
    a.handle_message(
        T0,
        frame(PeerCommand::SegmentAbsent(SegmentRef {
            segment_id: 7,
            request_id: 1,
        })),
    );
    let ev = events(&mut a);
    assert!(ev.contains(&PeerEvent::DownloadFailed {
        segment_id: 7,
        error: DownloadError::Absent,
        partial: None
    }));
    assert!(!a.has(7));
    // A refusal usually means full upload slots: the peer counts as busy.
    assert_eq!(a.busy_until(backoff), Some(T0 + backoff));
}

#[test]
fn timeouts_strike_and_the_third_closes_but_a_success_forgives() {
    let mut a: PeerConnection<VirtualPayload> = PeerConnection::new(PeerConfig::default(), 0);
    let mut now = T0;
    let strike = |a: &mut PeerConnection<VirtualPayload>, now: &mut Instant| {
        assert!(a.request(*now, 1, 0, None));
        *now += Duration::from_millis(1999);
        a.handle_timeout(*now);
        assert!(a.is_downloading(), "not yet");
        *now = a.poll_timeout().unwrap();
        a.handle_timeout(*now);
        let ev = events(a);
        assert!(ev.iter().any(|e| matches!(
            e,
            PeerEvent::DownloadFailed {
                error: DownloadError::Timeout,
                ..
            }
        )));
        let sent: Vec<PeerCommand> = drain(a)
            .iter()
            .filter_map(|p| {
                p.command_bytes()
                    .map(|b| PeerCommand::decode(&b[4..b.len() - 4]).unwrap())
            })
            .collect();
        assert!(matches!(
            sent.last(),
            Some(PeerCommand::CancelSegmentRequest(_))
        ));
        ev
    };
    strike(&mut a, &mut now);
    strike(&mut a, &mut now);
    // A success resets the count.
    assert!(a.request(now, 2, 0, None));
    let r = match cmd_of(&drain(&mut a)[0]) {
        PeerCommand::SegmentRequest(r) => r.request_id,
        other => panic!("{other:?}"),
    };
    a.handle_message(now, VirtualPayload::from_command(header(2, r, 10).to_vec()));
    a.handle_message(now, VirtualPayload::segment(2, 10));
    a.handle_message(now, VirtualPayload::from_command(completed(2, r).to_vec()));
    assert!(
        events(&mut a)
            .iter()
            .any(|e| matches!(e, PeerEvent::DownloadCompleted { .. }))
    );
    strike(&mut a, &mut now);
    strike(&mut a, &mut now);
    let ev = strike(&mut a, &mut now);
    assert_eq!(
        ev.last(),
        Some(&PeerEvent::Close(CloseReason::TooManyTimeouts))
    );
}

fn cmd_of(p: &VirtualPayload) -> PeerCommand {
    let b = p.command_bytes().unwrap();
    PeerCommand::decode(&b[4..b.len() - 4]).unwrap()
}

fn requested(max_segment_bytes: u64) -> PeerConnection<Bytes> {
    let config = PeerConfig {
        max_segment_bytes,
        ..PeerConfig::default()
    };
    let mut a = PeerConnection::new(config, 3);
    assert!(a.request(T0, 5, 0, None));
    drain(&mut a);
    a
}

fn closed_by(a: &mut PeerConnection<Bytes>, error: DownloadError) {
    let ev = events(a);
    assert!(ev.iter().any(|e| matches!(e, PeerEvent::DownloadFailed { error: e, partial: None, .. } if *e == error)), "{ev:?}");
    assert_eq!(
        ev.last(),
        Some(&PeerEvent::Close(CloseReason::ProtocolViolation(error)))
    );
}

#[test]
fn size_disagreements_and_violations_close_the_connection() {
    // More data than announced.
    let mut a = requested(1 << 20);
    a.handle_message(T0, header(5, 3, 10));
    a.handle_message(T0, Bytes::from(vec![0u8; 11]));
    closed_by(&mut a, DownloadError::LengthMismatch);

    // Completed before all bytes.
    let mut a = requested(1 << 20);
    a.handle_message(T0, header(5, 3, 10));
    a.handle_message(T0, Bytes::from(vec![0u8; 9]));
    a.handle_message(T0, completed(5, 3));
    closed_by(&mut a, DownloadError::LengthMismatch);

    // Completed for another request.
    let mut a = requested(1 << 20);
    a.handle_message(T0, header(5, 3, 1));
    a.handle_message(T0, completed(5, 4));
    closed_by(&mut a, DownloadError::ProtocolViolation);

    // A hostile size is refused before any byte is buffered, with a Cancel.
    let mut a = requested(1 << 20);
    a.handle_message(T0, header(5, 3, 1 << 40));
    let sent: Vec<PeerCommand> = drain(&mut a).iter().map(cmd).collect();
    assert!(matches!(
        sent[..],
        [PeerCommand::CancelSegmentRequest(SegmentRef {
            segment_id: 5,
            request_id: 3
        })]
    ));
    closed_by(&mut a, DownloadError::TooLarge);

    // A header for another request, and chunks before any header, are ignored.
    let mut a = requested(1 << 20);
    a.handle_message(T0, Bytes::from(vec![0u8; 100]));
    a.handle_message(T0, header(6, 3, 1));
    assert!(events(&mut a).is_empty());
    assert!(a.is_downloading());
}

#[test]
fn malformed_commands_are_reported_and_the_connection_lives_on() {
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 0);
    a.handle_message(T0, Bytes::from_static(b"cstr\x01\x69\x07cend"));
    assert!(matches!(events(&mut a)[..], [PeerEvent::Malformed(_)]));
    a.handle_message(
        T0,
        frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: vec![1],
            http_loading: vec![],
        })),
    );
    assert_eq!(events(&mut a), [PeerEvent::Announced]);
}

#[test]
fn uploads_follow_js_semantics() {
    let mut b: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 0);
    let request = |id: i64, r: i64| {
        frame(PeerCommand::SegmentRequest(
            p2pml_proto::command::SegmentRequest {
                segment_id: id,
                request_id: r,
                byte_from: 0,
            },
        ))
    };
    // Unknown segment: Absent, not silence.
    b.handle_message(T0, request(1, 10));
    b.serve(1, 10, 0, None);
    assert!(matches!(
        cmd(&drain(&mut b)[0]),
        PeerCommand::SegmentAbsent(SegmentRef {
            segment_id: 1,
            request_id: 10
        })
    ));
    // An offset past the end: Absent.
    b.serve(1, 11, 500, Some(pattern(100)));
    assert!(matches!(
        cmd(&drain(&mut b)[0]),
        PeerCommand::SegmentAbsent(_)
    ));
    // A cancel with another request id is ignored; with the running one, stops it.
    let config = PeerConfig {
        send_high_water: 100_000,
        ..PeerConfig::default()
    };
    let mut b: PeerConnection<Bytes> = PeerConnection::new(config, 0);
    b.serve(2, 20, 0, Some(pattern(500_000)));
    let first = drain(&mut b);
    assert_eq!(
        first.len(),
        3,
        "header and two 64 KiB chunks fill the 100 kB high-water mark"
    );
    b.handle_message(
        T0,
        frame(PeerCommand::CancelSegmentRequest(SegmentRef {
            segment_id: 2,
            request_id: 99,
        })),
    );
    b.handle_buffered_amount(T0, 0);
    assert_eq!(drain(&mut b).len(), 2, "still uploading");
    b.handle_message(
        T0,
        frame(PeerCommand::CancelSegmentRequest(SegmentRef {
            segment_id: 2,
            request_id: 20,
        })),
    );
    b.handle_buffered_amount(T0, 0);
    assert!(drain(&mut b).is_empty(), "stopped, and no SendingCompleted");
    assert!(!b.is_uploading());
    // A new request pre-empts a running upload.
    b.handle_message(T0, request(3, 30));
    b.serve(3, 30, 0, Some(pattern(500_000)));
    drain(&mut b);
    b.handle_message(T0, request(4, 31));
    b.serve(4, 31, 0, Some(pattern(10)));
    b.handle_buffered_amount(T0, 0);
    let out = drain(&mut b);
    let cmds: Vec<PeerCommand> = out
        .iter()
        .filter(|m| {
            p2pml_proto::command::classify(m) == p2pml_proto::command::MessageKind::CommandPart
        })
        .map(cmd)
        .collect();
    assert!(matches!(
        cmds[..],
        [
            PeerCommand::SegmentData(SegmentData { segment_id: 4, .. }),
            PeerCommand::SegmentDataSendingCompleted(SegmentRef { segment_id: 4, .. })
        ]
    ));
}

#[test]
fn a_chunk_that_would_look_like_a_command_is_shortened() {
    let mut data = vec![0u8; 100];
    data[..4].copy_from_slice(b"cstr");
    data[60..64].copy_from_slice(b"cend");
    let config = PeerConfig {
        max_message_size: 64,
        ..PeerConfig::default()
    };
    let mut b: PeerConnection<Bytes> = PeerConnection::new(config, 0);
    b.serve(1, 1, 0, Some(Bytes::from(data.clone())));
    let out = drain(&mut b);
    let chunks: Vec<&Bytes> = out[1..out.len() - 1].iter().collect();
    assert_eq!(chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), [63, 37]);
    assert_eq!(
        chunks
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect::<Vec<u8>>(),
        data
    );
}

/// Two connections wired back to back, exchanging many segments of virtual
/// data: every segment arrives whole and uncorrupted.
#[test]
fn a_pair_exchanges_segments_end_to_end() {
    let config = PeerConfig {
        send_high_water: 200_000,
        max_message_size: 16_384,
        ..PeerConfig::default()
    };
    let mut a: PeerConnection<VirtualPayload> = PeerConnection::new(config.clone(), 0);
    let mut b: PeerConnection<VirtualPayload> = PeerConnection::new(config, 500);
    b.announce(Announcement {
        loaded: (0..20).collect(),
        http_loading: vec![],
    });
    let now = T0;
    let mut completed = Vec::new();
    let mut received = Received::new();
    let mut next = 0i64;
    for _ in 0..10_000 {
        if !a.is_downloading() && next < 20 {
            assert!(a.request(now, next, 0, None));
            next += 1;
        }
        for m in drain(&mut a) {
            b.handle_message(now, m);
        }
        while let Some(e) = b.poll_event() {
            if let PeerEvent::UploadRequested {
                segment_id,
                request_id,
                byte_from,
            } = e
            {
                let len = 100_000 + segment_id as u64 * 7_919;
                b.serve(
                    segment_id,
                    request_id,
                    byte_from,
                    Some(VirtualPayload::segment(segment_id as u64, len)),
                );
            }
        }
        for m in drain(&mut b) {
            a.handle_message(now, m);
        }
        b.handle_buffered_amount(T0, 0); // the channel drained
        for (segment_id, data) in received.take(events(&mut a)) {
            let len = 100_000 + segment_id as u64 * 7_919;
            assert_eq!(data, VirtualPayload::segment(segment_id as u64, len));
            completed.push(segment_id);
        }
        if completed.len() == 20 {
            break;
        }
    }
    assert_eq!(completed, (0..20).collect::<Vec<_>>());
}

/// Two of our peers after exchanging Hello: `a` downloads, `b` uploads.
fn our_pair() -> (PeerConnection<Bytes>, PeerConnection<Bytes>) {
    let mut a: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 0);
    let mut b: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 500);
    a.hello();
    b.hello();
    for m in drain(&mut a) {
        b.handle_message(T0, m);
    }
    for m in drain(&mut b) {
        a.handle_message(T0, m);
    }
    assert_eq!(events(&mut a), [PeerEvent::Hello]);
    assert_eq!(events(&mut b), [PeerEvent::Hello]);
    assert!(a.is_ours() && b.is_ours());
    (a, b)
}

fn deliver(from: &mut PeerConnection<Bytes>, to: &mut PeerConnection<Bytes>) {
    for m in drain(from) {
        to.handle_message(T0, m);
    }
    // The channel sent everything: report it drained.
    from.handle_buffered_amount(T0, 0);
}

#[test]
fn a_segment_is_relayed_while_it_arrives() {
    let (mut a, mut b) = our_pair();
    b.announce_relaying(&[9]);
    deliver(&mut b, &mut a);
    assert!(a.relays(9));
    assert_eq!(a.highest_relaying(), Some(9));
    let _ = events(&mut a);
    assert!(a.request(T0, 9, 0, None));
    deliver(&mut a, &mut b);
    let Some(PeerEvent::UploadRequested { request_id, .. }) = events(&mut b).pop() else {
        panic!("no request");
    };
    // `b` holds 100 000 of 300 000 bytes so far.
    let data = pattern(300_000);
    b.serve_relay(9, request_id, 0, 300_000, vec![data.slice(0..100_000)]);
    assert_eq!(b.relay_waiting(), Some(9));
    let mut got = Vec::new();
    let mut pump = |a: &mut PeerConnection<Bytes>, b: &mut PeerConnection<Bytes>| {
        for _ in 0..20 {
            deliver(b, a);
        }
        for e in events(a) {
            match e {
                PeerEvent::Downloaded { data, total, .. } => {
                    assert_eq!(total, 300_000);
                    got.push(data);
                }
                PeerEvent::DownloadCompleted { bytes, .. } => return Some(bytes),
                _ => {}
            }
        }
        None
    };
    assert_eq!(
        pump(&mut a, &mut b),
        None,
        "not complete before all bytes came"
    );
    b.extend_upload(9, data.slice(100_000..250_000));
    b.extend_upload(7, pattern(10)); // another segment: ignored
    assert_eq!(pump(&mut a, &mut b), None);
    b.extend_upload(9, data.slice(250_000..300_000));
    assert_eq!(b.relay_waiting(), None);
    let whole = pump(&mut a, &mut b).expect("completed");
    assert_eq!(whole, 300_000);
    assert_eq!(got.concat(), data);
}

#[test]
fn a_failed_relay_ends_with_absent_and_the_bytes_so_far_stay_valid() {
    let (mut a, mut b) = our_pair();
    assert!(a.request(T0, 3, 0, None));
    deliver(&mut a, &mut b);
    let Some(PeerEvent::UploadRequested { request_id, .. }) = events(&mut b).pop() else {
        panic!("no request");
    };
    b.serve_relay(3, request_id, 0, 1000, vec![pattern(400)]);
    b.relay_failed(3);
    assert_eq!(b.relay_waiting(), None);
    deliver(&mut b, &mut a);
    let ev = events(&mut a);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            PeerEvent::DownloadFailed {
                error: DownloadError::Absent,
                partial: Some(400),
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(!a.is_downloading());
}

#[test]
fn relaying_is_only_for_peers_that_said_hello() {
    let mut js: PeerConnection<Bytes> = PeerConnection::new(PeerConfig::default(), 0);
    // Not ours: no Relaying is sent, and a relay request is answered Absent.
    js.announce_relaying(&[1, 2]);
    assert!(drain(&mut js).is_empty());
    js.serve_relay(1, 5, 0, 100, vec![pattern(10)]);
    let out = drain(&mut js);
    assert!(matches!(cmd(&out[0]), PeerCommand::SegmentAbsent(_)));
    // A Relaying list from a peer that did not say Hello counts for nothing.
    let (mut a, mut b) = (
        PeerConnection::<Bytes>::new(PeerConfig::default(), 0),
        PeerConnection::<Bytes>::new(PeerConfig::default(), 0),
    );
    a.hello();
    deliver(&mut a, &mut b); // b knows a is ours; a does not know b
    b.announce_relaying(&[4]);
    deliver(&mut b, &mut a);
    assert!(!a.relays(4));
    assert_eq!(a.highest_relaying(), None);
}

/// Bytes of the messages `peer` has to send now.
fn drained_bytes(peer: &mut PeerConnection<Bytes>) -> usize {
    drain(peer).iter().map(Bytes::len).sum()
}

#[test]
fn the_send_mark_follows_the_channel_drain_rate_within_its_bounds() {
    let config = PeerConfig {
        send_high_water: 100_000,
        send_high_water_max: 4_000_000,
        send_queue_time: Duration::from_millis(20),
        ..PeerConfig::default()
    };
    let mut b: PeerConnection<Bytes> = PeerConnection::new(config, 0);
    b.serve(2, 20, 0, Some(pattern(25_000_000)));
    let mut queued = drained_bytes(&mut b);
    assert!(
        queued < 100_000 + 65_535,
        "{queued}: the floor, before any rate is known"
    );
    // The channel drains 100 MB/s: reports every 5 ms find it still busy.
    let mut now = T0;
    let mut unsent = queued;
    for _ in 0..40 {
        now += Duration::from_millis(5);
        unsent = unsent.saturating_sub(500_000).max(1);
        b.handle_buffered_amount(now, unsent);
        let more = drained_bytes(&mut b);
        unsent += more;
        queued = unsent;
    }
    // 100 MB/s × 20 ms = 2 MB kept queued (one message of slack).
    assert!(
        (2_000_000..2_000_000 + 65_535 + 10_000).contains(&queued),
        "{queued} queued at 100 MB/s"
    );
    let mark = b.send_high_water();
    assert!((1_980_000..=2_000_000).contains(&mark), "{mark}");
    // A slow stretch (1 MB/s: 20 kB in 20 ms) brings it back to the floor.
    for _ in 0..60 {
        now += Duration::from_millis(5);
        unsent = unsent.saturating_sub(5_000).max(1);
        b.handle_buffered_amount(now, unsent);
        unsent += drained_bytes(&mut b);
    }
    assert_eq!(b.send_high_water(), 100_000);

    // A fixed mark (the default: the maximum equals the floor) ignores rates.
    let mut c: PeerConnection<Bytes> = PeerConnection::new(
        PeerConfig {
            send_high_water: 100_000,
            ..PeerConfig::default()
        },
        0,
    );
    c.serve(3, 30, 0, Some(pattern(5_000_000)));
    drain(&mut c);
    c.handle_buffered_amount(T0 + Duration::from_millis(5), 50_000);
    drain(&mut c);
    c.handle_buffered_amount(T0 + Duration::from_millis(10), 50_000);
    assert_eq!(c.send_high_water(), 100_000);
}
