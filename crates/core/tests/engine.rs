//! The engine against a scripted remote peer that behaves like a P2P Media
//! Loader 2.3 JS peer (one request at a time, silent on ids it does not
//! have), with the tracker and WebRTC played by the test.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use p2pml_core::engine::{Engine, EngineConfig, Event, Input, Output};
use p2pml_core::payload::{Payload, VirtualPayload};
use p2pml_core::streams::SegmentInfo;
use p2pml_core::time::Instant;
use p2pml_core::tracker::ConnId;
use p2pml_proto::command::{
    Announcement, Extension, PeerCommand, RELAY_VERSION, SegmentData, SegmentRef, SegmentRequest,
};
use p2pml_proto::identity::{OfferId, PeerId, StreamType};
use p2pml_proto::tracker::{
    AnnounceResponse, ClientMessage, RelayedAnswer, RelayedOffer, SdpType, SessionDescription,
    TrackerMessage,
};

const SEG: u64 = 500_000;

struct Harness {
    engine: Engine<VirtualPayload>,
    now: Instant,
    out: Vec<Output<VirtualPayload>>,
    /// HTTP fetches seen and not served yet: (fetch, url).
    fetches: Vec<(u64, String)>,
}

fn segment(id: i64) -> SegmentInfo {
    let start = id as f64 * 2.0;
    SegmentInfo {
        id,
        url: format!("https://cdn.test/{id}.ts"),
        byte_range: None,
        start,
        end: start + 2.0,
    }
}

fn frame(c: PeerCommand) -> VirtualPayload {
    VirtualPayload::from_command(c.encode(65_535).unwrap().remove(0))
}

fn command(p: &VirtualPayload) -> Option<PeerCommand> {
    let b = p.command_bytes()?;
    PeerCommand::decode(&b[4..b.len() - 4]).ok()
}

impl Harness {
    fn new(config: EngineConfig) -> Self {
        let mut h = Self::without_playback(config);
        h.input(Input::Playback {
            position: 0.0,
            rate: 1.0,
        });
        h
    }

    /// A harness whose player has not reported a position yet.
    fn without_playback(config: EngineConfig) -> Self {
        let mut h = Self {
            engine: Engine::new(config, Instant::ZERO),
            now: Instant::ZERO,
            out: Vec::new(),
            fetches: Vec::new(),
        };
        h.input(Input::ManifestUrl("https://cdn.test/master.m3u8".into()));
        h.input(Input::AddStream {
            stream: 1,
            stream_type: StreamType::Main,
            index: "idx".into(),
        });
        h.input(Input::UpdateStream {
            stream: 1,
            add: (0..30).map(segment).collect(),
            remove: vec![],
        });
        h
    }

    fn config() -> EngineConfig {
        let mut c = EngineConfig::default();
        c.common.announce_trackers = vec!["wss://tracker.test".into()];
        c
    }

    fn input(&mut self, input: Input<VirtualPayload>) {
        self.engine.handle_input(self.now, input);
        self.out
            .extend(std::iter::from_fn(|| self.engine.poll_output()));
    }

    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(t) = self.engine.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.engine.handle_timeout(self.now);
            self.out
                .extend(std::iter::from_fn(|| self.engine.poll_output()));
        }
        self.now = until;
    }

    fn take(&mut self) -> Vec<Output<VirtualPayload>> {
        let out = std::mem::take(&mut self.out);
        for o in &out {
            if let Output::HttpFetch { fetch, url, .. } = o {
                self.fetches.push((*fetch, url.clone()));
            }
        }
        out
    }

    /// The connections the engine closed since the last take, in its order.
    fn take_closed(&mut self) -> Vec<ConnId> {
        self.take()
            .iter()
            .filter_map(|o| match o {
                Output::Close { conn } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// Opens the tracker, has our offers created, and answers the first as
    /// `remote`: returns all offers' connections and the answered one.
    fn answer_first_offer(&mut self, remote: PeerId) -> (Vec<ConnId>, ConnId) {
        self.input(Input::LoadSegment {
            request: 1,
            stream: 1,
            segment: 0,
        });
        self.input(Input::TrackerOpened { tracker: 0 });
        let offers = created_offers(&self.take());
        for conn in &offers {
            self.input(Input::OfferCreated {
                conn: *conn,
                sdp: format!("offer {conn}"),
            });
        }
        let announce = self.take().into_iter().find_map(|o| match o {
            Output::TrackerSend { text, .. } => match ClientMessage::parse(&text).unwrap() {
                ClientMessage::Announce(a) => Some(a),
                _ => None,
            },
            _ => None,
        });
        let announce = announce.expect("an announce with offers");
        let answer = TrackerMessage::Answer(RelayedAnswer {
            info_hash: announce.info_hash,
            peer_id: remote,
            answer: SessionDescription {
                kind: SdpType::Answer,
                sdp: "answer".into(),
            },
            offer_id: announce.offers[0].offer_id,
        });
        self.input(Input::TrackerMessage {
            tracker: 0,
            text: answer.to_json(),
        });
        let conn = self.take().into_iter().find_map(|o| match o {
            Output::AcceptAnswer { conn, .. } => Some(conn),
            _ => None,
        });
        let conn = conn.expect("the answer is applied to the offer's connection");
        (offers, conn)
    }

    /// Opens the tracker, answers offers, and connects one remote peer.
    fn connect_peer(&mut self, remote: PeerId) -> ConnId {
        let (_, conn) = self.answer_first_offer(remote);
        self.input(Input::ChannelOpen { conn });
        conn
    }

    /// A remote peer's offer relayed by tracker 0, answered and opened:
    /// the answering connection.
    fn connect_answering(&mut self, remote: &str, offer_id: u8) -> ConnId {
        let c = self.answer_relayed_offer(remote, offer_id);
        self.input(Input::ChannelOpen { conn: c });
        c
    }

    /// A remote peer's offer relayed by tracker 0 and answered; the channel
    /// has not reported open.
    fn answer_relayed_offer(&mut self, remote: &str, offer_id: u8) -> ConnId {
        let offer = TrackerMessage::Offer(RelayedOffer {
            info_hash: swarm_info_hash(),
            peer_id: PeerId::from_binary_string(remote).unwrap(),
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: "o".into(),
            },
            offer_id: OfferId([offer_id; 20]),
        });
        self.input(Input::TrackerMessage {
            tracker: 0,
            text: offer.to_json(),
        });
        let c = self
            .take()
            .iter()
            .find_map(|o| match o {
                Output::CreateAnswer { conn, .. } => Some(*conn),
                _ => None,
            })
            .expect("the offer is answered");
        self.input(Input::AnswerCreated {
            conn: c,
            sdp: "a".into(),
        });
        c
    }

    /// Whether segment data went out on `conn` since the last look.
    fn sends_data_on(&mut self, conn: ConnId) -> bool {
        self.sent_on(conn)
            .iter()
            .any(|c| matches!(c, PeerCommand::SegmentData(_)))
    }

    /// The remote on `conn` asks for `segment`: what we answer.
    fn request_from(&mut self, conn: ConnId, segment: i64, request_id: i64) -> Vec<PeerCommand> {
        self.input(Input::ChannelMessage {
            conn,
            data: frame(PeerCommand::SegmentRequest(SegmentRequest {
                segment_id: segment,
                request_id,
                byte_from: 0,
            })),
        });
        self.sent_on(conn)
    }

    fn sent_on(&mut self, conn: ConnId) -> Vec<PeerCommand> {
        self.take()
            .iter()
            .filter_map(|o| match o {
                Output::Send { conn: c, data } if *c == conn => command(data),
                _ => None,
            })
            .collect()
    }

    /// Answers the first HTTP fetch of `segment` with 200 and its size:
    /// returns the fetch, for its body.
    fn respond_http(&mut self, segment: i64) -> u64 {
        self.take();
        let at = self
            .fetches
            .iter()
            .position(|(_, url)| url.ends_with(&format!("/{segment}.ts")));
        let (fetch, _) = self.fetches.remove(at.expect("an HTTP fetch"));
        self.input(Input::HttpHeaders {
            fetch,
            status: 200,
            content_length: Some(SEG),
        });
        fetch
    }

    /// Serves the first HTTP fetch of `segment` in full.
    fn serve_http(&mut self, segment: i64) {
        let fetch = self.respond_http(segment);
        self.input(Input::HttpData {
            fetch,
            data: VirtualPayload::segment(segment as u64, SEG),
        });
        self.input(Input::HttpEnd { fetch });
    }
}

/// The info hash of the harness's stream.
fn swarm_info_hash() -> p2pml_proto::identity::InfoHash {
    p2pml_proto::identity::InfoHash::from_stream_swarm_id(&p2pml_proto::identity::stream_swarm_id(
        "https://cdn.test/master.m3u8",
        StreamType::Main,
        "idx",
    ))
}

/// The connections the engine asked to create offers for.
fn created_offers(out: &[Output<VirtualPayload>]) -> Vec<ConnId> {
    out.iter()
        .filter_map(|o| match o {
            Output::CreateOffer { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn remote() -> PeerId {
    PeerId::from_binary_string("-PM0203-jsPeer000001").unwrap()
}

#[test]
fn a_connected_peer_gets_our_announcement_and_is_served_like_a_js_peer() {
    let mut h = Harness::new(Harness::config());
    let conn = h.connect_peer(remote());
    // Segment 0 is due now: HTTP. Once stored, it is announced.
    h.serve_http(0);
    let sent = h.sent_on(conn);
    assert!(
        sent.iter()
            .any(|c| matches!(c, PeerCommand::SegmentsAnnouncement(a) if a.loaded.contains(&0))),
        "{sent:?}"
    );
    // The JS peer asks for it and gets header, data and completion.
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentRequest(SegmentRequest {
            segment_id: 0,
            request_id: 7,
            byte_from: 0,
        })),
    });
    let out = h.take();
    let mut got = Vec::new();
    let mut cmds = Vec::new();
    for o in &out {
        if let Output::Send { conn: c, data } = o {
            assert_eq!(*c, conn);
            match command(data) {
                Some(cmd) => cmds.push(cmd),
                None => got.push(data.clone()),
            }
        }
    }
    // Chunks beyond the high-water mark wait for the channel to drain.
    for _ in 0..100 {
        h.input(Input::ChannelBuffered { conn, amount: 0 });
        let sends: Vec<VirtualPayload> = h
            .take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { data, .. } => Some(data),
                _ => None,
            })
            .collect();
        if sends.is_empty() {
            break;
        }
        for data in sends {
            match command(&data) {
                Some(cmd) => cmds.push(cmd),
                None => got.push(data),
            }
        }
    }
    assert!(
        matches!(
            cmds.first(),
            Some(PeerCommand::SegmentData(SegmentData {
                segment_id: 0,
                request_id: 7,
                byte_length: SEG
            }))
        ),
        "{cmds:?}"
    );
    assert!(matches!(
        cmds.last(),
        Some(PeerCommand::SegmentDataSendingCompleted(SegmentRef {
            segment_id: 0,
            request_id: 7
        }))
    ));
    assert_eq!(
        VirtualPayload::concat(&got),
        VirtualPayload::segment(0, SEG)
    );
    // An id we do not have: Absent (a JS uploader would stay silent).
    let sent = h.request_from(conn, 29, 8);
    assert!(
        sent.contains(&PeerCommand::SegmentAbsent(SegmentRef {
            segment_id: 29,
            request_id: 8
        })),
        "{sent:?}"
    );
}

#[test]
fn messages_before_the_open_event_open_the_channel_and_are_not_lost() {
    // Seen with webrtc-rs through TURN: the answering side got the
    // offerer's announcement before its own open event.
    let mut h = Harness::new(Harness::config());
    h.connect_peer(remote());
    h.serve_http(0);
    h.take();
    let conn = h.answer_relayed_offer("-PM0203-secondPeer01", 3);
    h.take();
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: (1..30).collect(),
            http_loading: vec![],
        })),
    });
    let out = h.take();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::PeerConnect { .. }))),
        "{out:?}"
    );
    let sent: Vec<PeerCommand> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, data } if *c == conn => command(data),
            _ => None,
        })
        .collect();
    assert!(
        sent.iter()
            .any(|c| matches!(c, PeerCommand::SegmentsAnnouncement(a) if a.loaded.contains(&0))),
        "ours goes out: {sent:?}"
    );
    assert!(
        sent.iter()
            .any(|c| matches!(c, PeerCommand::SegmentRequest(_))),
        "theirs was kept, so we ask: {sent:?}"
    );
    // The late open event changes nothing: no second announcement.
    h.input(Input::ChannelOpen { conn });
    assert_eq!(h.sent_on(conn), vec![]);
}

#[test]
fn prefetch_asks_the_peer_one_segment_at_a_time_and_a_late_one_resumes_over_http() {
    let mut h = Harness::new(Harness::config());
    let conn = h.connect_peer(remote());
    h.serve_http(0);
    h.take();
    // The JS peer has everything ahead.
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: (1..30).collect(),
            http_loading: vec![],
        })),
    });
    let requests: Vec<SegmentRequest> = h
        .sent_on(conn)
        .into_iter()
        .filter_map(|c| match c {
            PeerCommand::SegmentRequest(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "never pipeline to a JS peer: {requests:?}"
    );
    let r = requests[0];
    // It starts answering, then goes quiet after one chunk.
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentData(SegmentData {
            segment_id: r.segment_id,
            request_id: r.request_id,
            byte_length: SEG,
        })),
    });
    let whole = VirtualPayload::segment(r.segment_id as u64, SEG);
    h.input(Input::ChannelMessage {
        conn,
        data: whole.slice(0..65_535),
    });
    // The player asks for that segment now; the peer stays silent.
    h.input(Input::LoadSegment {
        request: 2,
        stream: 1,
        segment: r.segment_id,
    });
    h.input(Input::Playback {
        position: r.segment_id as f64 * 2.0,
        rate: 1.0,
    });
    let out = h.take();
    let resumed = out.iter().find_map(|o| match o {
        Output::HttpFetch { range, url, .. } if url.ends_with(&format!("/{}.ts", r.segment_id)) => {
            Some(*range)
        }
        _ => None,
    });
    let range = resumed
        .expect("the late segment switches to HTTP")
        .expect("with a range");
    assert_eq!(range.start, 65_535, "resuming after the peer's bytes");
    let cancelled = out.iter().any(|o| matches!(o, Output::Send { conn: c, data } if *c == conn
        && matches!(command(data), Some(PeerCommand::CancelSegmentRequest(x)) if x.request_id == r.request_id)));
    assert!(cancelled, "the peer is told to stop");
    // The rest over HTTP completes the same segment, whole and correct.
    let fetch = out
        .iter()
        .find_map(|o| match o {
            Output::HttpFetch { fetch, .. } => Some(*fetch),
            _ => None,
        })
        .unwrap();
    h.input(Input::HttpHeaders {
        fetch,
        status: 206,
        content_length: Some(SEG - 65_535),
    });
    h.input(Input::HttpData {
        fetch,
        data: whole.slice(65_535..usize::try_from(SEG).unwrap()),
    });
    h.input(Input::HttpEnd { fetch });
    let delivered = h.take().into_iter().find_map(|o| match o {
        Output::SegmentLoaded {
            request: 2, data, ..
        } => Some(data),
        _ => None,
    });
    assert_eq!(delivered, Some(whole));
}

#[test]
fn a_silent_peer_times_out_and_the_segment_still_arrives() {
    let mut h = Harness::new(Harness::config());
    let conn = h.connect_peer(remote());
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: vec![5],
            http_loading: vec![],
        })),
    });
    let asked = h
        .sent_on(conn)
        .iter()
        .any(|c| matches!(c, PeerCommand::SegmentRequest(r) if r.segment_id == 5));
    assert!(asked);
    // JS peers say nothing for ids outside their playlist: 2 s later we give up.
    h.advance(Duration::from_millis(2100));
    let sent = h.sent_on(conn);
    assert!(
        sent.iter()
            .any(|c| matches!(c, PeerCommand::CancelSegmentRequest(r) if r.segment_id == 5)),
        "{sent:?}"
    );
    // By the time it is due, HTTP has it.
    h.input(Input::Playback {
        position: 8.0,
        rate: 1.0,
    });
    h.input(Input::LoadSegment {
        request: 3,
        stream: 1,
        segment: 5,
    });
    // 2 s before it is due is still P2P time; HTTP takes over within the
    // lead, as playback goes on.
    for step in 1..=8 {
        h.advance(Duration::from_millis(250));
        h.input(Input::Playback {
            position: 8.0 + f64::from(step) * 0.25,
            rate: 1.0,
        });
    }
    h.take();
    assert!(
        h.fetches.iter().any(|(_, url)| url.ends_with("/5.ts")),
        "{:?}",
        h.fetches
    );
}

/// An engine with a 3-peer cap that has joined the swarm and made its first
/// announce's offering connections (not yet gathered).
fn joined_with_a_cap_of_three() -> (Harness, Vec<ConnId>) {
    let mut config = Harness::config();
    config.common.max_peers_per_swarm = 3;
    let mut h = Harness::new(config);
    h.input(Input::LoadSegment {
        request: 1,
        stream: 1,
        segment: 0,
    });
    h.input(Input::TrackerOpened { tracker: 0 });
    let offers = created_offers(&h.take());
    (h, offers)
}

/// Remote peer `n`'s offer, relayed by tracker 0.
fn offer_from(n: u8) -> Input<VirtualPayload> {
    Input::TrackerMessage {
        tracker: 0,
        text: TrackerMessage::Offer(RelayedOffer {
            info_hash: swarm_info_hash(),
            peer_id: PeerId(*b"-PM0203-remotepeer00").map_last(n),
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: "o".into(),
            },
            offer_id: OfferId([n; 20]),
        })
        .to_json(),
    }
}

#[test]
fn offers_beyond_the_connection_cap_are_not_answered() {
    let (mut h, offers) = joined_with_a_cap_of_three();
    assert!(
        offers.len() <= 3,
        "offers only up to the cap: {}",
        offers.len()
    );
    for n in 0..20u8 {
        h.input(offer_from(n));
    }
    let answers = h
        .take()
        .iter()
        .filter(|o| matches!(o, Output::CreateAnswer { .. }))
        .count();
    assert!(
        offers.len() + answers <= 3,
        "{} offers + {answers} answers",
        offers.len()
    );
}

#[test]
fn offers_into_an_empty_swarm_give_their_slots_to_a_newcomer() {
    let (mut h, offers) = joined_with_a_cap_of_three();
    assert_eq!(offers.len(), 3, "the first announce fills the cap");
    for conn in &offers {
        h.input(Input::OfferCreated {
            conn: *conn,
            sdp: format!("offer {conn}"),
        });
    }
    h.take();
    // At the cap, a peer's offer is refused.
    h.input(offer_from(0));
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, Output::CreateAnswer { .. }))
    );
    // The tracker's response to our announce: the swarm holds only us, so
    // our offers reached nobody, and their connections are closed.
    h.input(Input::TrackerMessage {
        tracker: 0,
        text: TrackerMessage::AnnounceResponse(AnnounceResponse {
            info_hash: Some(swarm_info_hash()),
            interval_secs: Some(30.0),
            complete: Some(0),
            incomplete: Some(1),
            tracker_id: None,
            warning: None,
        })
        .to_json(),
    });
    let mut closed = h.take_closed();
    closed.sort_unstable();
    assert_eq!(closed, offers);
    // A newcomer's offer is answered now.
    h.input(offer_from(1));
    assert!(
        h.take()
            .iter()
            .any(|o| matches!(o, Output::CreateAnswer { .. }))
    );
}

trait MapLast {
    fn map_last(self, n: u8) -> PeerId;
}

impl MapLast for PeerId {
    fn map_last(mut self, n: u8) -> PeerId {
        self.0[19] = b'a' + n;
        self
    }
}

#[test]
fn uploads_beyond_the_slots_are_answered_absent() {
    let mut config = Harness::config();
    config.common.max_concurrent_uploads = 1;
    let mut h = Harness::new(config);
    let conn = h.connect_peer(remote());
    h.serve_http(0);
    let conn2 = {
        // A second remote through a relayed offer we answer.
        let c = h.connect_answering("-PM0203-secondPeer01", 3);
        h.take();
        c
    };
    let ask = |r| {
        frame(PeerCommand::SegmentRequest(SegmentRequest {
            segment_id: 0,
            request_id: r,
            byte_from: 0,
        }))
    };
    h.input(Input::ChannelMessage { conn, data: ask(1) });
    assert!(h.sends_data_on(conn));
    h.input(Input::ChannelMessage {
        conn: conn2,
        data: ask(2),
    });
    assert!(
        h.sent_on(conn2)
            .contains(&PeerCommand::SegmentAbsent(SegmentRef {
                segment_id: 0,
                request_id: 2
            }))
    );
}

#[test]
fn connections_that_never_open_are_dropped_and_timers_move_on() {
    let mut h = Harness::new(Harness::config());
    // One offer is answered but its channel never opens; the others are
    // never answered. Every wake-up must move time forward: a deadline that
    // handling leaves in the past would spin the host.
    let (offers, _) = h.answer_first_offer(remote());
    let until = h.now + Duration::from_secs(60);
    let mut wakes = 0;
    while let Some(t) = h.engine.poll_timeout().filter(|t| *t <= until) {
        wakes += 1;
        assert!(wakes < 10_000, "the engine keeps asking to wake at {t:?}");
        h.now = t.max(h.now);
        h.engine.handle_timeout(h.now);
        h.out.extend(std::iter::from_fn(|| h.engine.poll_output()));
    }
    let closed = h.take_closed();
    for conn in &offers {
        assert!(closed.contains(conn), "{conn} still pending: {closed:?}");
    }
}

#[test]
fn dynamic_config_silences_uploads_and_turns_p2p_off() {
    let mut h = Harness::new(Harness::config());
    let conn = h.connect_peer(remote());
    h.serve_http(0);
    h.take();
    // Upload off: peers are told we have nothing, and requests get Absent.
    let mut config = h.engine.config().clone();
    config.main.p2p_upload_disabled = true;
    h.engine.set_config(h.now, config.clone());
    h.out.extend(std::iter::from_fn(|| h.engine.poll_output()));
    let sent = h.sent_on(conn);
    assert!(
        sent.iter().any(|c| matches!(c,
            PeerCommand::SegmentsAnnouncement(a) if a.loaded.is_empty() && a.http_loading.is_empty())),
        "{sent:?}"
    );
    let sent = h.request_from(conn, 0, 3);
    assert!(
        matches!(sent[..], [PeerCommand::SegmentAbsent(_)]),
        "{sent:?}"
    );
    // Upload back on: a fresh announcement lists segment 0 again.
    config.main.p2p_upload_disabled = false;
    h.engine.set_config(h.now, config.clone());
    h.out.extend(std::iter::from_fn(|| h.engine.poll_output()));
    let sent = h.sent_on(conn);
    assert!(
        sent.iter()
            .any(|c| matches!(c, PeerCommand::SegmentsAnnouncement(a) if a.loaded.contains(&0))),
        "{sent:?}"
    );
    // P2P off: the swarm's connections close and the next segment is fetched over HTTP.
    config.main.p2p_disabled = true;
    h.engine.set_config(h.now, config);
    h.out.extend(std::iter::from_fn(|| h.engine.poll_output()));
    assert!(
        h.take()
            .iter()
            .any(|o| matches!(o, Output::Close { conn: c } if *c == conn))
    );
    assert_eq!(h.engine.connected_peers(), 0);
}

#[test]
fn a_malformed_command_is_reported_as_a_peer_error_and_the_peer_stays() {
    let mut h = Harness::new(Harness::config());
    let conn = h.connect_peer(remote());
    h.take();
    let mut bad = b"cstr".to_vec();
    bad.extend_from_slice(&[4, b'i', 2, 3]);
    bad.extend_from_slice(b"cend");
    h.input(Input::ChannelMessage {
        conn,
        data: VirtualPayload::from_command(bad),
    });
    let out = h.take();
    assert!(
        out.iter().any(|o| matches!(o,
            Output::Event(Event::PeerError { peer: Some(p), stream_type: StreamType::Main, reason })
                if *p == remote() && reason.contains("truncated"))),
        "{out:?}"
    );
    assert_eq!(h.engine.connected_peers(), 1);
}

#[test]
fn bytes_arriving_over_http_are_relayed_to_our_waiting_peer_at_once() {
    let mut h = Harness::new(Harness::config());
    let ours = PeerId::from_binary_string("-RS0001-ourPeer00001").unwrap();
    let conn = h.connect_peer(ours);
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::Extension(
            Extension::Hello {
                version: RELAY_VERSION,
            }
            .to_raw(),
        )),
    });
    // Segment 0 comes over HTTP; its first kilobyte has arrived.
    let fetch = h.respond_http(0);
    let whole = VirtualPayload::segment(0, SEG);
    h.input(Input::HttpData {
        fetch,
        data: whole.slice(0..1000),
    });
    // Our peer asks for it: the full size, and the kilobyte we have.
    let sent = h.request_from(conn, 0, 3);
    assert!(
        sent.contains(&PeerCommand::SegmentData(SegmentData {
            segment_id: 0,
            request_id: 3,
            byte_length: SEG
        })),
        "{sent:?}"
    );
    // The next chunk goes out with the input that brought it, not with
    // whatever message next touches the connection.
    h.input(Input::HttpData {
        fetch,
        data: whole.slice(1000..3000),
    });
    let relayed: u64 = h
        .take()
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, data } if *c == conn && command(data).is_none() => {
                Some(data.len() as u64)
            }
            _ => None,
        })
        .sum();
    assert_eq!(relayed, 2000);
}

#[test]
fn a_secondary_stream_has_its_own_loader_and_its_own_swarm() {
    let mut h = Harness::new(Harness::config());
    h.input(Input::AddStream {
        stream: 2,
        stream_type: StreamType::Secondary,
        index: "audio".into(),
    });
    let audio = |id: i64| SegmentInfo {
        url: format!("https://cdn.test/audio/{id}.aac"),
        ..segment(id)
    };
    h.input(Input::UpdateStream {
        stream: 2,
        add: (0..30).map(audio).collect(),
        remove: vec![],
    });
    // The player wants video 0 and audio 0 at once: each type has its own
    // loader, so neither waits for the other.
    h.input(Input::LoadSegment {
        request: 1,
        stream: 1,
        segment: 0,
    });
    h.input(Input::LoadSegment {
        request: 2,
        stream: 2,
        segment: 0,
    });
    h.input(Input::TrackerOpened { tracker: 0 });
    let out = h.take();
    let urls: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::HttpFetch { url, .. } => Some(url.as_str()),
            _ => None,
        })
        .collect();
    assert!(urls.contains(&"https://cdn.test/0.ts"), "{urls:?}");
    assert!(urls.contains(&"https://cdn.test/audio/0.aac"), "{urls:?}");
    // One swarm per stream: offers go out for both.
    for conn in created_offers(&out) {
        h.input(Input::OfferCreated {
            conn,
            sdp: format!("offer {conn}"),
        });
    }
    let hashes: std::collections::BTreeSet<_> = h
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::TrackerSend { text, .. } => match ClientMessage::parse(&text).unwrap() {
                ClientMessage::Announce(a) => Some(a.info_hash),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let secondary = p2pml_proto::identity::InfoHash::from_stream_swarm_id(
        &p2pml_proto::identity::stream_swarm_id(
            "https://cdn.test/master.m3u8",
            StreamType::Secondary,
            "audio",
        ),
    );
    assert!(hashes.contains(&swarm_info_hash()), "{hashes:?}");
    assert!(hashes.contains(&secondary), "{hashes:?}");
}

#[test]
fn before_the_first_position_report_buffered_requests_are_not_urgent() {
    // hls.js asks for segment after segment as fast as they arrive, before the
    // video element reports a position. Each was taken as due at once, so a
    // newcomer fetched its whole buffer over HTTP before its peers connected.
    let mut config = Harness::config();
    config.common.seeding_grace = Duration::from_secs(3);
    let mut h = Harness::without_playback(config);
    h.input(Input::LoadSegment {
        request: 1,
        stream: 1,
        segment: 0,
    });
    h.serve_http(0);
    for (request, segment) in [(2, 1), (3, 2)] {
        h.input(Input::LoadSegment {
            request,
            stream: 1,
            segment,
        });
        h.advance(Duration::from_millis(100));
        h.take();
        // Not due yet, nobody connected, within the grace: no HTTP.
        assert!(h.fetches.is_empty(), "{:?}", h.fetches);
        h.input(Input::AbortSegment { request });
    }
    // The first position report: segment 2 is due in 4 s, which leaves
    // time; once the playhead nears it, HTTP takes over.
    h.input(Input::LoadSegment {
        request: 4,
        stream: 1,
        segment: 1,
    });
    h.input(Input::Playback {
        position: 1.5,
        rate: 1.0,
    });
    h.take();
    assert!(
        h.fetches.iter().any(|(_, url)| url.ends_with("/1.ts")),
        "segment 1 is due in 0.5 s: {:?}",
        h.fetches
    );
}

#[test]
fn a_player_that_never_reports_a_playhead_still_gets_every_segment_it_asks_for() {
    // Before the first playhead report, the window starts at the earliest
    // segment asked for; a host that loads one segment after another without
    // reporting one (a tool, a stuck video element) went past the prefetch
    // budget from there, and its request was never scheduled.
    let mut config = Harness::config();
    config.common.max_prefetch_bytes = 3 * SEG;
    let mut h = Harness::without_playback(config);
    for segment in 0..8 {
        let request = segment as u64 + 1;
        h.input(Input::LoadSegment {
            request,
            stream: 1,
            segment,
        });
        let url = format!("/{segment}.ts");
        let mut waited = Duration::ZERO;
        while !h.fetches.iter().any(|(_, u)| u.ends_with(&url)) {
            assert!(
                waited < Duration::from_secs(30),
                "segment {segment} never fetched"
            );
            h.advance(Duration::from_millis(250));
            waited += Duration::from_millis(250);
            h.take();
        }
        h.serve_http(segment);
        assert!(
            h.take()
                .iter()
                .any(|o| matches!(o, Output::SegmentLoaded { request: r, .. } if *r == request)),
            "segment {segment} not answered"
        );
    }
}

#[test]
fn seeding_waits_for_a_new_peers_first_announcement() {
    // A peer announces what it holds right after its channel opens; until
    // then it may hold the very segments we would seed over HTTP.
    let mut config = Harness::config();
    // Every connected peer seeds (one seeder per peer): without the wait,
    // we would seed at once.
    config.common.peers_per_seeder = 1;
    // Segments 0 and 1 take two HTTP slots and stay unserved here.
    config.main.simultaneous_http_downloads = 4;
    // Nothing is seeded before the peer connects (as in the browser).
    config.common.seeding_grace = Duration::from_secs(3);
    let mut h = Harness::new(config.clone());
    let conn = h.connect_peer(remote());
    h.take();
    // Segments 0 and 1 turn due within the test's time: they go over HTTP
    // whoever holds them.
    let ahead = |fetches: &[(u64, String)]| {
        fetches
            .iter()
            .filter(|(_, url)| !url.ends_with("/0.ts") && !url.ends_with("/1.ts"))
            .count()
    };
    h.advance(Duration::from_millis(100));
    h.take();
    assert_eq!(ahead(&h.fetches), 0, "{:?}", h.fetches);
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: (0..30).collect(),
            http_loading: vec![],
        })),
    });
    h.take();
    assert_eq!(ahead(&h.fetches), 0, "{:?}", h.fetches);

    // A peer that never announces (its upload is off) holds up seeding for
    // a second only.
    let mut silent = Harness::new(config);
    silent.connect_peer(remote());
    silent.advance(Duration::from_millis(1100));
    silent.take();
    assert!(ahead(&silent.fetches) > 0, "no seeding after the wait");
}

#[test]
fn a_newcomer_waits_for_peers_before_seeding_the_window_over_http() {
    let mut config = Harness::config();
    config.common.seeding_grace = Duration::from_secs(3);
    let mut h = Harness::new(config.clone());
    // Segment 0 may be due before the peer announces: none from further
    // ahead.
    let ahead = |fetches: &[(u64, String)]| {
        fetches
            .iter()
            .filter(|(_, url)| !url.ends_with("/0.ts") && !url.ends_with("/1.ts"))
            .count()
    };
    // Just joined, nobody connected yet: nothing is prefetched over HTTP.
    h.advance(Duration::from_millis(1000));
    h.take();
    assert!(h.fetches.is_empty(), "{:?}", h.fetches);
    // A peer arrives holding the window: it is asked, not the CDN.
    let conn = h.connect_peer(remote());
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: (0..30).collect(),
            http_loading: vec![],
        })),
    });
    let asked = h
        .sent_on(conn)
        .iter()
        .any(|c| matches!(c, PeerCommand::SegmentRequest(_)));
    assert!(asked);
    assert_eq!(ahead(&h.fetches), 0, "{:?}", h.fetches);

    // Alone, with the player asking: what it needs now comes over HTTP at
    // once, the rest of the window only once the grace is over.
    let mut alone = Harness::new(config);
    alone.input(Input::LoadSegment {
        request: 1,
        stream: 1,
        segment: 0,
    });
    alone.serve_http(0);
    alone.advance(Duration::from_millis(1000));
    alone.take();
    assert_eq!(ahead(&alone.fetches), 0, "{:?}", alone.fetches);
    alone.advance(Duration::from_millis(2100));
    alone.take();
    assert!(ahead(&alone.fetches) > 0, "no seeding after the grace");
}

/// A live harness at segment 26 of 0..30, connected to one of our peers
/// that holds nothing (so that it is never asked: it would not answer).
fn live_with_our_peer(peers_per_seeder: usize) -> (Harness, ConnId) {
    let mut config = Harness::config();
    config.common.peers_per_seeder = peers_per_seeder;
    // What turns urgent near the playhead must not hold up seeding.
    config.main.simultaneous_http_downloads = 10;
    let mut h = Harness::new(config);
    h.input(Input::Live(true));
    let ours = PeerId::from_binary_string("-RS0001-ourPeer00001").unwrap();
    let conn = h.connect_peer(ours);
    // The harness's player asked for segment 0; it plays near the edge now
    // (what it fetched for segment 0 on is dropped).
    h.input(Input::AbortSegment { request: 1 });
    h.input(Input::Playback {
        position: 52.0,
        rate: 1.0,
    });
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::Extension(
            Extension::Hello {
                version: RELAY_VERSION,
            }
            .to_raw(),
        )),
    });
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement::default())),
    });
    serve_all(&mut h);
    (h, conn)
}

fn listed(id: i64) -> VirtualPayload {
    frame(PeerCommand::Extension(Extension::Listed { id }.to_raw()))
}

/// Our playlist gains segment `id` (two seconds after the last), the
/// playhead keeping its distance: what we sent our peer.
fn list_next(h: &mut Harness, conn: ConnId, id: i64) -> Vec<PeerCommand> {
    h.input(Input::Playback {
        position: 52.0 + (id - 30) as f64 * 2.0,
        rate: 1.0,
    });
    h.input(Input::UpdateStream {
        stream: 1,
        add: vec![segment(id)],
        remove: vec![id - 30],
    });
    h.sent_on(conn)
}

/// Serves every HTTP fetch seen so far (what turns urgent near the
/// playhead must not hold the HTTP slots).
fn serve_all(h: &mut Harness) {
    h.take();
    while let Some((_, url)) = h.fetches.first() {
        let id = url
            .trim_start_matches("https://cdn.test/")
            .trim_end_matches(".ts")
            .parse()
            .unwrap();
        h.serve_http(id);
    }
}

fn fetched(h: &Harness, id: i64) -> bool {
    h.fetches
        .iter()
        .any(|(_, url)| url.ends_with(&format!("/{id}.ts")))
}

/// Another of our peers, connected through an offer it sent, holding
/// nothing.
fn another_of_ours(h: &mut Harness, name: &str, offer_id: u8) -> ConnId {
    let conn = h.connect_answering(name, offer_id);
    hello_from(h, conn);
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement::default())),
    });
    serve_all(h);
    conn
}

/// Lists segments 30..45, one every 2 s; each peer's playlist lists each
/// segment `delay` seconds after ours (before, if negative), as its
/// `Listed` messages say, up to the id given (then it falls silent, its
/// connection still open). Which of 31..45 we seeded over HTTP at once (30
/// is left out: nobody has compared listing times yet).
fn seeded_with_listers(h: &mut Harness, ours: ConnId, peers: &[(ConnId, f64, i64)]) -> Vec<bool> {
    // Events at seconds from now: our listing of id at 2 + 2 (id - 30),
    // each peer's `delay` from it; `None` stands for ours.
    let mut events: Vec<(f64, i64, Option<ConnId>)> = Vec::new();
    for id in 30..45 {
        let ours_at = 2.0 + 2.0 * (id - 30) as f64;
        events.push((ours_at, id, None));
        events.extend(
            peers
                .iter()
                .filter(|(_, _, last)| id <= *last)
                .map(|(c, d, _)| (ours_at + d, id, Some(*c))),
        );
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut seeded = Vec::new();
    let mut now = 0.0;
    for (at, id, who) in events {
        h.advance(Duration::from_secs_f64(at - now));
        now = at;
        let Some(conn) = who else {
            let sent = list_next(h, ours, id);
            // Our peers are told what our playlist lists.
            assert!(
                sent.iter()
                    .any(|c| *c == PeerCommand::Extension(Extension::Listed { id }.to_raw())),
                "{sent:?}"
            );
            h.take();
            if id > 30 {
                seeded.push(fetched(h, id));
            }
            serve_all(h);
            continue;
        };
        h.input(Input::ChannelMessage {
            conn,
            data: listed(id),
        });
    }
    seeded
}

/// With `peers_per_seeder`, two of our peers whose playlists list each
/// segment `delays` seconds after ours: how many of the segments we seeded,
/// of how many.
fn seeded_among(peers_per_seeder: usize, delays: [f64; 2]) -> (usize, usize) {
    let seeded = seeded_among_until(peers_per_seeder, delays, i64::MAX);
    (seeded.iter().filter(|s| **s).count(), seeded.len())
}

/// As [`seeded_among`], the first peer falling silent after listing
/// `first_last`: whether we seeded each of 31..45.
fn seeded_among_until(peers_per_seeder: usize, delays: [f64; 2], first_last: i64) -> Vec<bool> {
    let (mut h, first) = live_with_our_peer(peers_per_seeder);
    let second = another_of_ours(&mut h, "-RS0001-ourPeer00002", 3);
    seeded_with_listers(
        &mut h,
        first,
        &[
            (first, delays[0], first_last),
            (second, delays[1], i64::MAX),
        ],
    )
}

#[test]
fn playlists_that_list_a_live_segment_early_share_its_seeding() {
    // One seeder for all of us. The first peer lists 0.3 s after us, within
    // the lead window; the other 1.5 s after: it never seeds, so we seed
    // whatever rendezvous does not give the first peer.
    let (n, of) = seeded_among(10, [0.3, 1.5]);
    assert!(0 < n && n < of, "we seeded {n} of {of}");
}

#[test]
fn a_playlist_more_than_the_lead_window_behind_never_seeds() {
    // Every one of us would seed every segment by rendezvous hashing alone.
    let (n, of) = seeded_among(1, [-1.6, -1.4]);
    assert_eq!(n, 0, "we seeded {n} of {of}");
}

#[test]
fn the_first_two_listers_share_seeding_however_far_apart() {
    // One seeder for all of us. We list 1.5 s before the next: without the
    // second lister in the window, we would fetch every segment ourselves
    // and get none from our peers.
    let (n, of) = seeded_among(10, [1.5, 1.8]);
    assert!(0 < n && n < of, "we seeded {n} of {of}");
}

#[test]
fn a_lister_whose_playlist_stopped_growing_gives_up_its_seeding_place() {
    // Every one of us in the window seeds every segment. Both peers list
    // before us, the first 1.5 s and the second 1.4 s: we are behind and
    // seed nothing. The first then falls silent after 36 (its process died;
    // its connection lives on until it times out). From 38 on, we are the
    // second lister that keeps up, and seed.
    let seeded = seeded_among_until(1, [-1.5, -1.4], 36);
    let (before, after) = seeded.split_at(38 - 31);
    assert!(before.iter().all(|s| !s), "{seeded:?}");
    assert!(after.iter().all(|s| *s), "{seeded:?}");
}

/// Has the remote on `conn` say it is one of ours.
fn hello_from(h: &mut Harness, conn: ConnId) {
    h.input(Input::ChannelMessage {
        conn,
        data: frame(PeerCommand::Extension(
            Extension::Hello {
                version: RELAY_VERSION,
            }
            .to_raw(),
        )),
    });
}

#[test]
fn a_segment_only_we_hold_takes_the_upload_slot_of_one_others_hold() {
    let mut config = Harness::config();
    config.common.max_concurrent_uploads = 1;
    config.main.simultaneous_http_downloads = 4;
    let mut h = Harness::new(config);
    let first = h.connect_peer(PeerId::from_binary_string("-RS0001-ourPeer00001").unwrap());
    hello_from(&mut h, first);
    h.serve_http(0);
    h.serve_http(1);
    let second = h.connect_answering("-RS0001-ourPeer00002", 3);
    hello_from(&mut h, second);
    // The second peer holds segment 0; segment 1 only we hold.
    h.input(Input::ChannelMessage {
        conn: second,
        data: frame(PeerCommand::SegmentsAnnouncement(Announcement {
            loaded: vec![0],
            http_loading: vec![],
        })),
    });
    h.take();
    let ask = |segment_id, request_id| {
        frame(PeerCommand::SegmentRequest(SegmentRequest {
            segment_id,
            request_id,
            byte_from: 0,
        }))
    };
    // The first peer's upload of segment 0 takes the one slot.
    h.input(Input::ChannelMessage {
        conn: first,
        data: ask(0, 1),
    });
    assert!(h.sends_data_on(first));
    // The second asks for segment 1: the first peer can get 0 elsewhere.
    h.input(Input::ChannelMessage {
        conn: second,
        data: ask(1, 2),
    });
    let out = h.take();
    let on = |conn: ConnId| -> Vec<PeerCommand> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { conn: c, data } if *c == conn => command(data),
                _ => None,
            })
            .collect()
    };
    assert!(
        on(second).contains(&PeerCommand::SegmentData(SegmentData {
            segment_id: 1,
            request_id: 2,
            byte_length: SEG
        })),
        "{:?}",
        on(second)
    );
    assert!(
        on(first).contains(&PeerCommand::SegmentAbsent(SegmentRef {
            segment_id: 0,
            request_id: 1
        })),
        "{:?}",
        on(first)
    );
}
