//! The pure swarm state: every tracker behaviour and every limit, in
//! virtual time, without sockets.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceRequest, AnswerRequest, ClientMessage, Offer, ScrapeRequest, SdpType,
    SessionDescription, TrackerMessage,
};
use p2pml_tracker::{CloseReason, ConnId, Refusal, Tracker, TrackerConfig};

fn hash(n: u8) -> InfoHash {
    InfoHash::from([n; 20])
}

fn peer(n: u8) -> PeerId {
    let mut id = *b"-PM0203-000000000000";
    id[19] = b'a' + n % 26;
    id[18] = b'a' + n / 26;
    PeerId::from(id)
}

fn offer_id(peer: u8, n: u8) -> OfferId {
    let mut id = [0u8; 20];
    id[0] = peer;
    id[1] = n;
    OfferId::from(id)
}

fn offers(from: u8, count: u8) -> Vec<Offer> {
    (0..count)
        .map(|n| Offer {
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: format!("v=0 offer {from}/{n}"),
            },
            offer_id: offer_id(from, n),
        })
        .collect()
}

fn config() -> TrackerConfig {
    TrackerConfig {
        seed: Some(7),
        ..TrackerConfig::default()
    }
}

struct Harness {
    tracker: Tracker,
    now: Instant,
}

impl Harness {
    fn new(config: TrackerConfig) -> Self {
        Self {
            tracker: Tracker::new(config),
            now: Instant::now(),
        }
    }

    fn connect(&mut self, conn: u64) {
        self.tracker.connect(self.now, ConnId(conn)).unwrap();
    }

    fn announce_full(
        &mut self,
        conn: u64,
        swarm: u8,
        who: u8,
        event: Option<AnnounceEvent>,
        offers: Vec<Offer>,
    ) -> Vec<(ConnId, TrackerMessage)> {
        let a = AnnounceRequest::new(hash(swarm), peer(who), event, Vec::new()).unwrap();
        let numwant = offers.len() as u32;
        let a = AnnounceRequest {
            numwant,
            offers,
            ..a
        };
        self.tracker
            .handle(self.now, ConnId(conn), ClientMessage::Announce(a))
    }

    fn announce(&mut self, conn: u64, swarm: u8, who: u8, n: u8) -> Vec<(ConnId, TrackerMessage)> {
        self.announce_full(conn, swarm, who, None, offers(who, n))
    }

    fn answer(
        &mut self,
        conn: u64,
        swarm: u8,
        who: u8,
        to: u8,
        id: OfferId,
    ) -> Vec<(ConnId, TrackerMessage)> {
        let a = AnswerRequest {
            info_hash: hash(swarm),
            peer_id: peer(who),
            to_peer_id: peer(to),
            answer: SessionDescription {
                kind: SdpType::Answer,
                sdp: format!("v=0 answer from {who}"),
            },
            offer_id: id,
            tracker_id: None,
        };
        self.tracker
            .handle(self.now, ConnId(conn), ClientMessage::Answer(a))
    }

    fn scrape(&mut self, conn: u64, swarms: &[u8]) -> TrackerMessage {
        let s = ScrapeRequest {
            info_hashes: swarms.iter().map(|&n| hash(n)).collect(),
        };
        let mut out = self
            .tracker
            .handle(self.now, ConnId(conn), ClientMessage::Scrape(s));
        assert_eq!(out.len(), 1);
        out.pop().unwrap().1
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.tracker.expire(self.now);
    }
}

/// The relayed offers in `out`: (receiving connection, offerer, offer id).
fn relayed(out: &[(ConnId, TrackerMessage)]) -> Vec<(ConnId, PeerId, OfferId)> {
    out.iter()
        .filter_map(|(c, m)| match m {
            TrackerMessage::Offer(o) => Some((*c, o.peer_id, o.offer_id)),
            _ => None,
        })
        .collect()
}

fn failure(out: &[(ConnId, TrackerMessage)]) -> String {
    match out {
        [(_, TrackerMessage::Failure(f))] => f.reason.clone(),
        other => panic!("expected one failure, got {other:?}"),
    }
}

fn counts(out: &[(ConnId, TrackerMessage)]) -> (u64, u64) {
    out.iter()
        .find_map(|(_, m)| match m {
            TrackerMessage::AnnounceResponse(r) => {
                Some((r.complete.unwrap(), r.incomplete.unwrap()))
            }
            _ => None,
        })
        .expect("an announce response")
}

/// n peers, peer i on connection i, in swarm 1.
fn swarm_of(n: u8) -> Harness {
    let mut h = Harness::new(config());
    for i in 1..=n {
        h.connect(u64::from(i));
        h.announce_full(u64::from(i), 1, i, Some(AnnounceEvent::Started), Vec::new());
    }
    h
}

#[test]
fn announce_response_carries_interval_and_counts() {
    let mut h = Harness::new(config());
    h.connect(1);
    let out = h.announce_full(1, 1, 1, Some(AnnounceEvent::Started), Vec::new());
    let [(ConnId(1), TrackerMessage::AnnounceResponse(r))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(r.interval_secs, Some(120.0));
    assert_eq!(r.info_hash, Some(hash(1)));
    assert_eq!((r.complete, r.incomplete), (Some(0), Some(1)));
}

#[test]
fn offers_go_to_distinct_other_peers_never_the_sender() {
    let mut h = swarm_of(8);
    let out = h.announce(1, 1, 1, 5);
    let relays = relayed(&out);
    assert_eq!(relays.len(), 5);
    let targets: HashSet<ConnId> = relays.iter().map(|r| r.0).collect();
    assert_eq!(targets.len(), 5, "distinct peers");
    assert!(!targets.contains(&ConnId(1)), "never back to the sender");
    assert!(relays.iter().all(|r| r.1 == peer(1)));
    let ids: HashSet<OfferId> = relays.iter().map(|r| r.2).collect();
    assert_eq!(ids.len(), 5, "each offer once");
}

#[test]
fn relay_count_is_bounded_by_others_offers_and_numwant() {
    let mut h = swarm_of(3);
    assert_eq!(relayed(&h.announce(1, 1, 1, 5)).len(), 2, "only two others");
    let mut h = swarm_of(8);
    assert_eq!(relayed(&h.announce(1, 1, 1, 3)).len(), 3, "three offers");
    let a = AnnounceRequest {
        numwant: 2,
        ..AnnounceRequest::new(hash(1), peer(1), None, offers(1, 5)).unwrap()
    };
    let out = h
        .tracker
        .handle(h.now, ConnId(1), ClientMessage::Announce(a));
    assert_eq!(relayed(&out).len(), 2, "numwant 2");
    let mut h = swarm_of(1);
    assert!(relayed(&h.announce(1, 1, 1, 5)).is_empty(), "alone");
}

#[test]
fn peer_choice_is_random_but_seeded() {
    let targets = |seed: u64| {
        let mut h = Harness::new(TrackerConfig {
            seed: Some(seed),
            max_pending_offers_per_peer: 1000,
            ..config()
        });
        for i in 1..=30 {
            h.connect(i);
            h.announce_full(i, 1, i as u8, None, Vec::new());
        }
        let mut seen = Vec::new();
        for round in 0..40 {
            h.now += Duration::from_secs(1);
            let mut o = offers(1, 3);
            for (n, offer) in o.iter_mut().enumerate() {
                offer.offer_id = offer_id(round, n as u8);
            }
            let out = h.announce_full(1, 1, 1, None, o);
            seen.extend(relayed(&out).into_iter().map(|r| r.0));
        }
        assert_eq!(seen.len(), 120);
        seen
    };
    assert_eq!(targets(3), targets(3), "same seed, same choice");
    assert_ne!(targets(3), targets(4), "another seed, another choice");
    let seen = targets(3);
    let mut hits: HashMap<ConnId, usize> = HashMap::new();
    for c in &seen {
        *hits.entry(*c).or_default() += 1;
    }
    // 120 offers over 29 peers: each expects about 4; uniform choice reaches
    // nearly all of them and favours none.
    assert!(hits.len() >= 25, "{} peers reached", hits.len());
    assert!(hits.values().all(|&n| n <= 15), "{hits:?}");
    assert!(!hits.contains_key(&ConnId(1)));
}

#[test]
fn answer_is_routed_to_the_offerer_once() {
    let mut h = swarm_of(2);
    let out = h.announce(1, 1, 1, 1);
    let [(ConnId(2), _, id)] = relayed(&out)[..] else {
        panic!("{out:?}");
    };
    let out = h.answer(2, 1, 2, 1, id);
    let [(ConnId(1), TrackerMessage::Answer(a))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!((a.peer_id, a.offer_id, a.info_hash), (peer(2), id, hash(1)));
    assert_eq!(
        failure(&h.answer(2, 1, 2, 1, id)),
        Refusal::UnknownOffer.to_string()
    );
    assert_eq!(h.tracker.stats().answers_relayed, 1);
}

#[test]
fn answers_from_the_wrong_peer_or_connection_are_refused() {
    let mut h = swarm_of(3);
    let out = h.announce(1, 1, 1, 1);
    let [(ConnId(to), _, id)] = relayed(&out)[..] else {
        panic!("{out:?}");
    };
    let other = if to == 2 { 3 } else { 2 };
    // A peer the offer did not go to.
    let out = h.answer(other, 1, other as u8, 1, id);
    assert_eq!(failure(&out), Refusal::UnknownOffer.to_string());
    // The right peer id, from a connection it did not announce on.
    let out = h.answer(other, 1, to as u8, 1, id);
    assert_eq!(failure(&out), Refusal::NotInSwarm.to_string());
    // An unknown swarm.
    let out = h.answer(to, 9, to as u8, 1, id);
    assert_eq!(failure(&out), Refusal::NotInSwarm.to_string());
    // The offer is still answerable by its receiver.
    assert_eq!(h.answer(to, 1, to as u8, 1, id).len(), 1);
}

#[test]
fn answer_to_a_departed_offerer_is_refused() {
    let mut h = swarm_of(2);
    let out = h.announce(1, 1, 1, 1);
    let id = relayed(&out)[0].2;
    h.tracker.disconnect(h.now, ConnId(1), CloseReason::Client);
    assert_eq!(
        failure(&h.answer(2, 1, 2, 1, id)),
        Refusal::UnknownOffer.to_string()
    );
}

#[test]
fn scrape_one_and_many() {
    let mut h = swarm_of(3);
    h.announce_full(1, 1, 1, Some(AnnounceEvent::Completed), Vec::new());
    h.connect(9);
    h.announce_full(9, 2, 9, None, Vec::new());
    let TrackerMessage::Scrape(s) = h.scrape(9, &[1]) else {
        panic!()
    };
    assert_eq!(s.files.len(), 1);
    let one = s.files[&hash(1)];
    assert_eq!((one.complete, one.incomplete, one.downloaded), (1, 2, 1));
    let TrackerMessage::Scrape(s) = h.scrape(9, &[1, 2, 3]) else {
        panic!()
    };
    assert_eq!(s.files.len(), 3);
    assert_eq!(s.files[&hash(2)].incomplete, 1);
    assert_eq!(
        s.files[&hash(3)],
        Default::default(),
        "unknown swarm: zeros"
    );
    let TrackerMessage::Failure(f) = h.scrape(9, &[]) else {
        panic!()
    };
    assert_eq!(f.reason, Refusal::ScrapeAll.to_string());
    assert_eq!(h.tracker.stats().scrapes, 2);
}

#[test]
fn events_started_completed_stopped() {
    let mut h = swarm_of(2);
    let out = h.announce_full(1, 1, 1, Some(AnnounceEvent::Completed), Vec::new());
    assert_eq!(counts(&out), (1, 1), "completed moves the peer to seeders");
    let out = h.announce_full(1, 1, 1, Some(AnnounceEvent::Completed), Vec::new());
    assert_eq!(counts(&out), (1, 1), "a second completed changes nothing");
    let out = h.announce_full(2, 1, 2, Some(AnnounceEvent::Stopped), Vec::new());
    assert_eq!(counts(&out), (1, 0), "stopped removes the peer");
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(1)]);
    let out = h.announce_full(1, 1, 1, Some(AnnounceEvent::Stopped), Vec::new());
    assert_eq!(counts(&out), (0, 0));
    assert_eq!(h.tracker.stats().swarms, 0, "an empty swarm is dropped");
    let out = h.announce_full(1, 1, 1, Some(AnnounceEvent::Paused), Vec::new());
    assert_eq!(
        failure(&out),
        Refusal::UnsupportedEvent("paused").to_string()
    );
}

#[test]
fn stopped_peer_gets_no_more_offers() {
    let mut h = swarm_of(2);
    h.announce_full(2, 1, 2, Some(AnnounceEvent::Stopped), Vec::new());
    assert!(relayed(&h.announce(1, 1, 1, 5)).is_empty());
}

#[test]
fn peers_expire_after_interval_plus_grace() {
    let mut h = swarm_of(2);
    h.advance(200);
    h.announce(1, 1, 1, 0); // peer 1 keeps announcing
    h.advance(39);
    assert_eq!(h.tracker.peer_ids(&hash(1)).len(), 2, "240 s not reached");
    h.advance(1);
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(1)]);
    assert_eq!(h.tracker.stats().peers_expired, 1);
    assert!(relayed(&h.announce(1, 1, 1, 5)).is_empty(), "nobody left");
}

#[test]
fn unanswered_offers_expire() {
    let mut h = swarm_of(2);
    let id = relayed(&h.announce(1, 1, 1, 1))[0].2;
    assert_eq!(h.tracker.stats().pending_offers, 1);
    h.advance(50);
    let stats = h.tracker.stats();
    assert_eq!((stats.pending_offers, stats.offers_expired), (0, 1));
    assert_eq!(
        failure(&h.answer(2, 1, 2, 1, id)),
        Refusal::UnknownOffer.to_string()
    );
}

#[test]
fn one_connection_in_several_swarms() {
    let mut h = swarm_of(2);
    // Peer 1 announces the same id into swarm 2 on the same connection.
    h.announce(1, 2, 1, 0);
    h.connect(3);
    h.announce(3, 2, 3, 0);
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(1), peer(2)]);
    assert_eq!(h.tracker.peer_ids(&hash(2)), vec![peer(1), peer(3)]);
    let out = h.announce(3, 2, 3, 5);
    assert_eq!(
        relayed(&out).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![ConnId(1)]
    );
    h.tracker.disconnect(h.now, ConnId(1), CloseReason::Client);
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(2)]);
    assert_eq!(h.tracker.peer_ids(&hash(2)), vec![peer(3)]);
    assert_eq!(h.tracker.stats().peers, 2);
}

#[test]
fn reannounce_from_a_new_connection_replaces_the_old_one() {
    let mut h = swarm_of(2);
    h.connect(5);
    h.announce(5, 1, 1, 0); // peer 1 again, now on connection 5
    assert_eq!(h.tracker.peer_ids(&hash(1)).len(), 2, "still one peer 1");
    let out = h.announce(2, 1, 2, 1);
    assert_eq!(
        relayed(&out)[0].0,
        ConnId(5),
        "offers go to the new connection"
    );
    // Closing the old connection no longer removes peer 1.
    h.tracker.disconnect(h.now, ConnId(1), CloseReason::Client);
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(1), peer(2)]);
    h.tracker.disconnect(h.now, ConnId(5), CloseReason::Client);
    assert_eq!(h.tracker.peer_ids(&hash(1)), vec![peer(2)]);
}

#[test]
fn connecting_an_open_connection_again_keeps_its_peers() {
    // Found by the tracker_ops fuzz target: a second `connect` replaced the
    // connection's record, so its peers outlived its disconnect.
    let mut h = Harness::new(config());
    h.connect(1);
    h.announce(1, 1, 1, 0);
    h.connect(1);
    h.tracker.disconnect(h.now, ConnId(1), CloseReason::Client);
    let stats = h.tracker.stats();
    assert_eq!((stats.swarms, stats.peers, stats.connections), (0, 0, 0));
    assert_eq!(stats.connections_total, 1);
}

#[test]
fn frames_from_a_connection_that_is_not_open_are_dropped() {
    let mut h = Harness::new(config());
    assert!(
        h.tracker
            .receive_text(h.now, ConnId(9), "not json")
            .is_empty()
    );
    assert!(h.tracker.receive_binary(h.now, ConnId(9)).is_empty());
}

#[test]
fn connection_limit() {
    let mut h = Harness::new(TrackerConfig {
        max_connections: 2,
        ..config()
    });
    h.connect(1);
    h.connect(2);
    let refused = h.tracker.connect(h.now, ConnId(3)).unwrap_err();
    assert_eq!(refused, Refusal::TooManyConnections(2));
    h.tracker.disconnect(h.now, ConnId(1), CloseReason::Client);
    h.connect(3);
    assert_eq!(h.tracker.stats().errors[refused.index()], 1);
}

#[test]
fn swarm_and_swarm_count_limits() {
    let mut h = Harness::new(TrackerConfig {
        max_peers_per_swarm: 2,
        max_swarms: 2,
        ..config()
    });
    for c in 1..=3 {
        h.connect(c);
    }
    h.announce(1, 1, 1, 0);
    h.announce(2, 1, 2, 0);
    let out = h.announce(3, 1, 3, 0);
    assert_eq!(failure(&out), "swarm is full (2 peers)");
    h.announce(1, 1, 1, 0); // a member re-announcing is not refused
    h.announce(3, 2, 3, 0);
    let out = h.announce(3, 3, 3, 0);
    assert_eq!(failure(&out), Refusal::TooManySwarms(2).to_string());
    assert_eq!(h.tracker.stats().swarms, 2);
}

#[test]
fn offer_count_limit() {
    let mut h = swarm_of(12);
    let out = h.announce(1, 1, 1, 11);
    assert_eq!(
        failure(&out),
        Refusal::TooManyOffers { count: 11, max: 10 }.to_string()
    );
    assert_eq!(relayed(&h.announce(1, 1, 1, 10)).len(), 10);
}

#[test]
fn pending_offer_limit_relays_what_fits_and_warns() {
    let mut h = Harness::new(TrackerConfig {
        max_pending_offers_per_peer: 7,
        ..config()
    });
    for i in 1..=10 {
        h.connect(u64::from(i));
        h.announce(u64::from(i), 1, i, 0);
    }
    assert_eq!(relayed(&h.announce(1, 1, 1, 5)).len(), 5);
    let mut second = offers(1, 5);
    for (n, o) in second.iter_mut().enumerate() {
        o.offer_id = offer_id(100, n as u8);
    }
    let out = h.announce_full(1, 1, 1, None, second);
    assert_eq!(relayed(&out).len(), 2);
    let warning = out.iter().find_map(|(_, m)| match m {
        TrackerMessage::AnnounceResponse(r) => r.warning.clone(),
        _ => None,
    });
    assert!(warning.unwrap().contains("3 offers not relayed"));
    // Once they expire, there is room again.
    h.advance(50);
    h.announce(2, 1, 2, 0); // keep somebody around
    assert_eq!(relayed(&h.announce(1, 1, 1, 5)).len(), 5);
}

#[test]
fn message_rate_limit_refills_over_time() {
    let mut h = Harness::new(TrackerConfig {
        max_messages_per_sec: 2,
        message_burst: 3,
        ..config()
    });
    h.connect(1);
    let scrape = r#"{"action":"scrape","info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#;
    for _ in 0..3 {
        let out = h.tracker.receive_text(h.now, ConnId(1), scrape);
        assert!(matches!(out[0].1, TrackerMessage::Scrape(_)));
    }
    let out = h.tracker.receive_text(h.now, ConnId(1), scrape);
    assert_eq!(failure(&out), Refusal::RateLimited(2).to_string());
    h.now += Duration::from_millis(500);
    let out = h.tracker.receive_text(h.now, ConnId(1), scrape);
    assert!(
        matches!(out[0].1, TrackerMessage::Scrape(_)),
        "one token back"
    );
    let out = h.tracker.receive_binary(h.now, ConnId(1));
    assert_eq!(failure(&out), Refusal::RateLimited(2).to_string());
}

#[test]
fn malformed_oversized_and_binary_input_fail_without_side_effects() {
    let mut h = Harness::new(TrackerConfig {
        max_message_len: 200,
        ..config()
    });
    h.connect(1);
    for bad in [
        "not json",
        "[]",
        r#"{"action":"connect"}"#,
        r#"{"info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#,
        r#"{"action":"announce","info_hash":"short","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
        r#"{"action":"announce","info_hash":"sNS9hkFnoJOLT+X2k7+f","peer_id":"-PM0203-5WtNoo3wtVu"}"#,
        r#"{"action":"announce","info_hash":"sNS9hkFnoJOLT+X2k7+f","peer_id":"-PM0203-5WtNoo3wtVui","event":"jumped"}"#,
    ] {
        let reason = failure(&h.tracker.receive_text(h.now, ConnId(1), bad));
        assert!(reason.starts_with("invalid message"), "{bad}: {reason}");
    }
    let long = format!(r#"{{"action":"scrape","x":"{}"}}"#, "a".repeat(300));
    let reason = failure(&h.tracker.receive_text(h.now, ConnId(1), &long));
    assert!(reason.contains("exceeds the 200-byte limit"), "{reason}");
    let reason = failure(&h.tracker.receive_binary(h.now, ConnId(1)));
    assert_eq!(reason, Refusal::Binary.to_string());
    let stats = h.tracker.stats();
    assert_eq!((stats.swarms, stats.peers), (0, 0));
    assert_eq!(stats.errors.iter().sum::<u64>(), 9);
}

#[test]
fn counters_follow_the_traffic() {
    let mut h = swarm_of(4);
    let out = h.announce(1, 1, 1, 3);
    for (conn, from, id) in relayed(&out) {
        let who = conn.0 as u8;
        assert_eq!(from, peer(1));
        h.answer(conn.0, 1, who, 1, id);
    }
    let stats = h.tracker.stats();
    assert_eq!(stats.announces, 5);
    assert_eq!(stats.offers_relayed, 3);
    assert_eq!(stats.answers_relayed, 3);
    assert_eq!(stats.pending_offers, 0);
    assert_eq!((stats.connections, stats.swarms, stats.peers), (4, 1, 4));
}
