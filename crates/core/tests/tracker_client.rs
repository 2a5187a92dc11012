//! The tracker client: announce cadence, offers, answers, expiry, back-off.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use p2pml_core::time::Instant;
use p2pml_core::tracker::{
    Announcer, AnnouncerConfig, AnnouncerOutput, Backoff, info_hash_of, keep_link_offered_by,
};
use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceResponse, ClientMessage, Failure, RelayedAnswer, RelayedOffer, SdpType,
    SessionDescription, TrackerMessage,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const T0: Instant = Instant::ZERO;

fn ids() -> (InfoHash, PeerId, PeerId) {
    (
        InfoHash::from_binary_string("sNS9hkFnoJOLT+X2k7+f").unwrap(),
        PeerId::from_binary_string("-PM0203-5WtNoo3wtVui").unwrap(),
        PeerId::from_binary_string("-PM0203-hgzx1IVLI24R").unwrap(),
    )
}

fn outputs(a: &mut Announcer) -> Vec<AnnouncerOutput> {
    std::iter::from_fn(|| a.poll_output()).collect()
}

fn announced(out: &[AnnouncerOutput]) -> Vec<&p2pml_proto::tracker::AnnounceRequest> {
    out.iter()
        .filter_map(|o| match o {
            AnnouncerOutput::Send(ClientMessage::Announce(a)) => Some(a),
            _ => None,
        })
        .collect()
}

/// Connects and completes the first announce with `n` offers on conns 0..n.
fn started(n: usize, rng: &mut ChaCha8Rng) -> (Announcer, Vec<AnnouncerOutput>) {
    let (ih, me, _) = ids();
    let mut a = Announcer::new(AnnouncerConfig::default(), ih, me);
    a.connected(T0, n);
    let mut out = outputs(&mut a);
    if n > 0 {
        assert_eq!(out, [AnnouncerOutput::CreateOffers { count: n.min(5) }]);
        for conn in 0..n.min(5) as u64 {
            a.offer_created(T0, conn, format!("v=0 offer {conn}"), rng);
        }
        out = outputs(&mut a);
    }
    (a, out)
}

#[test]
fn first_announce_is_started_with_offers_and_numwant_equal() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (a, out) = started(8, &mut rng);
    let sent = announced(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event, Some(AnnounceEvent::Started));
    assert_eq!((sent[0].offers.len(), sent[0].numwant), (5, 5));
    // The JSON is what trackers expect.
    let json = ClientMessage::Announce(sent[0].clone()).to_json();
    assert!(json.starts_with(
        r#"{"numwant":5,"uploaded":0,"downloaded":0,"event":"started","action":"announce""#
    ));
    assert_eq!(a.poll_timeout(), Some(T0 + Duration::from_secs(30)));
    assert_eq!(a.pending_offers(), 5);
}

#[test]
fn re_announces_follow_the_trackers_interval_without_event() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (mut a, _) = started(0, &mut rng);
    let ih = a.info_hash();
    let response = |secs: f64| {
        TrackerMessage::AnnounceResponse(AnnounceResponse {
            info_hash: Some(ih),
            interval_secs: Some(secs),
            complete: Some(0),
            incomplete: Some(1),
            tracker_id: Some("t-1".into()),
            warning: Some("be nice".into()),
        })
    };
    a.handle_message(T0, response(120.0), |_| true);
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::Warning("be nice".into())]
    );
    assert_eq!(a.poll_timeout(), Some(T0 + Duration::from_secs(120)));
    // A tiny interval is clamped, so a broken tracker cannot make us loop.
    a.handle_message(T0, response(0.01), |_| true);
    assert_eq!(a.interval(), Duration::from_secs(5));
    let due = a.poll_timeout().unwrap();
    a.handle_timeout(due, 0);
    let out = outputs(&mut a);
    let sent = announced(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event, None, "never `update`, no event at all");
    assert_eq!(sent[0].tracker_id.as_deref(), Some("t-1"));
    assert!(
        sent[0].offers.is_empty(),
        "no offers when no connection is wanted"
    );
}

#[test]
fn offers_are_answered_and_answers_reach_their_connection() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (mut a, out) = started(2, &mut rng);
    let (ih, me, them) = ids();
    let offer_ids: Vec<OfferId> = announced(&out)[0]
        .offers
        .iter()
        .map(|o| o.offer_id)
        .collect();
    // Their offer: answered only if the engine wants the connection.
    let offer = |from: PeerId| {
        TrackerMessage::Offer(RelayedOffer {
            info_hash: ih,
            peer_id: from,
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: "their offer".into(),
            },
            offer_id: OfferId([9; 20]),
        })
    };
    a.handle_message(T0, offer(them), |_| false);
    a.handle_message(T0, offer(me), |_| true); // our own offer echoed back
    assert!(outputs(&mut a).is_empty());
    a.handle_message(T0, offer(them), |p| *p == them);
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::CreateAnswer {
            remote: them,
            offer_id: OfferId([9; 20]),
            offer: "their offer".into()
        }]
    );
    a.answer_created(them, OfferId([9; 20]), "our answer".into());
    let out = outputs(&mut a);
    let AnnouncerOutput::Send(ClientMessage::Answer(ans)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (ans.to_peer_id, ans.offer_id, ans.peer_id),
        (them, OfferId([9; 20]), me)
    );
    // Their answer to our second offer.
    let answer = |offer_id| {
        TrackerMessage::Answer(RelayedAnswer {
            info_hash: ih,
            peer_id: them,
            answer: SessionDescription {
                kind: SdpType::Answer,
                sdp: "their answer".into(),
            },
            offer_id,
        })
    };
    a.handle_message(T0, answer(offer_ids[1]), |_| true);
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::AcceptAnswer {
            conn: 1,
            remote: them,
            answer: "their answer".into()
        }]
    );
    // The same answer again, or one for an unknown offer: ignored.
    a.handle_message(T0, answer(offer_ids[1]), |_| true);
    a.handle_message(T0, answer(OfferId([7; 20])), |_| true);
    assert!(outputs(&mut a).is_empty());
    assert_eq!(a.pending_offers(), 1);
}

#[test]
fn unanswered_offers_expire_and_slow_gathering_does_not_block_the_announce() {
    let (ih, me, _) = ids();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut a = Announcer::new(AnnouncerConfig::default(), ih, me);
    a.connected(T0, 5);
    outputs(&mut a);
    a.offer_created(T0, 10, "a".into(), &mut rng);
    a.offer_failed(T0);
    a.offer_created(T0 + Duration::from_secs(1), 11, "b".into(), &mut rng);
    // Two more never come: after 5 s the announce goes with what is there.
    let due = a.poll_timeout().unwrap();
    assert_eq!(due, T0 + Duration::from_secs(5));
    a.handle_timeout(due, 5);
    let out = outputs(&mut a);
    assert_eq!(announced(&out)[0].offers.len(), 2);
    // A late offer is dropped at once.
    a.offer_created(due, 12, "late".into(), &mut rng);
    assert_eq!(outputs(&mut a), [AnnouncerOutput::DropOffer { conn: 12 }]);
    // 50 s after creation, unanswered offers are dropped.
    // (The 30 s re-announce after the first one is due by then too.)
    a.handle_timeout(T0 + Duration::from_secs(50), 0);
    let out = outputs(&mut a);
    assert!(out.contains(&AnnouncerOutput::DropOffer { conn: 10 }));
    assert!(!out.contains(&AnnouncerOutput::DropOffer { conn: 11 }));
    a.handle_timeout(T0 + Duration::from_secs(51), 0);
    assert!(outputs(&mut a).contains(&AnnouncerOutput::DropOffer { conn: 11 }));
}

fn counts(ih: InfoHash, complete: Option<u64>, incomplete: Option<u64>) -> TrackerMessage {
    TrackerMessage::AnnounceResponse(AnnounceResponse {
        info_hash: Some(ih),
        interval_secs: Some(30.0),
        complete,
        incomplete,
        tracker_id: None,
        warning: None,
    })
}

/// Runs the next re-announce with `wanted` connections wanted; returns how
/// many offers it asked for.
fn reannounce_offers(a: &mut Announcer, wanted: usize) -> usize {
    let mut out = Vec::new();
    // Earlier offers may expire first.
    while out
        .iter()
        .all(|o| matches!(o, AnnouncerOutput::DropOffer { .. }))
    {
        let due = a.poll_timeout().unwrap();
        a.handle_timeout(due, wanted);
        out = outputs(a);
    }
    out.retain(|o| !matches!(o, AnnouncerOutput::DropOffer { .. }));
    match out.as_slice() {
        [AnnouncerOutput::CreateOffers { count }] => {
            // Let the gathering finish empty-handed, so the next one can start.
            let deadline = a.poll_timeout().unwrap();
            a.handle_timeout(deadline, wanted);
            outputs(a);
            *count
        }
        other => {
            assert_eq!(announced(other).len(), 1, "{other:?}");
            assert!(announced(other)[0].offers.is_empty());
            0
        }
    }
}

#[test]
fn no_offers_are_made_into_a_swarm_the_tracker_says_holds_only_us() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // The first announce offers: nothing is known about the swarm yet.
    let (mut a, out) = started(3, &mut rng);
    assert_eq!(announced(&out)[0].offers.len(), 3);
    let ih = a.info_hash();
    // The tracker counts us alone (trackers count the announcing peer).
    a.handle_message(T0, counts(ih, Some(0), Some(1)), |_| true);
    assert!(a.swarm_alone());
    assert_eq!(reannounce_offers(&mut a, 5), 0, "nobody would receive them");
    // Somebody else is there: offers again.
    a.handle_message(T0, counts(ih, Some(1), Some(1)), |_| true);
    assert!(!a.swarm_alone());
    assert_eq!(reannounce_offers(&mut a, 5), 5);
    // A tracker that sends no counts: nothing is known, offers as usual.
    a.handle_message(T0, counts(ih, Some(0), Some(1)), |_| true);
    a.handle_message(T0, counts(ih, None, None), |_| true);
    assert_eq!(reannounce_offers(&mut a, 2), 2);
    // After a reconnect the old count means nothing: the tracker may have
    // restarted with other peers in the swarm.
    a.handle_message(T0, counts(ih, Some(1), None), |_| true);
    assert!(a.swarm_alone());
    a.disconnected();
    assert!(!a.swarm_alone());
    a.connected(T0 + Duration::from_secs(200), 4);
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::CreateOffers { count: 4 }]
    );
}

fn dropped(out: &[AnnouncerOutput]) -> Vec<u64> {
    let mut conns: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            AnnouncerOutput::DropOffer { conn } => Some(*conn),
            _ => None,
        })
        .collect();
    conns.sort_unstable();
    conns
}

#[test]
fn sent_offers_are_given_up_when_the_tracker_says_nobody_else_is_in_the_swarm() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (ih, _, them) = ids();
    let (mut a, out) = started(2, &mut rng);
    let sent: Vec<OfferId> = announced(&out)[0]
        .offers
        .iter()
        .map(|o| o.offer_id)
        .collect();
    // Somebody else is there: the offers stay pending.
    a.handle_message(T0, counts(ih, Some(0), Some(2)), |_| true);
    assert!(outputs(&mut a).is_empty());
    assert_eq!(a.pending_offers(), 2);
    // Only us: whoever received them has left, so no answer will come, and
    // their connections go at once instead of after 50 s.
    a.handle_message(T0, counts(ih, Some(1), Some(0)), |_| true);
    assert_eq!(dropped(&outputs(&mut a)), [0, 1]);
    assert_eq!(a.pending_offers(), 0);
    // A late answer to one of them reaches no connection.
    a.handle_message(
        T0,
        TrackerMessage::Answer(RelayedAnswer {
            info_hash: ih,
            peer_id: them,
            answer: SessionDescription {
                kind: SdpType::Answer,
                sdp: "late".into(),
            },
            offer_id: sent[0],
        }),
        |_| true,
    );
    assert!(outputs(&mut a).is_empty());
}

#[test]
fn offers_still_being_gathered_are_kept_when_the_tracker_says_we_are_alone() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (ih, me, _) = ids();
    let mut a = Announcer::new(AnnouncerConfig::default(), ih, me);
    a.connected(T0, 2);
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::CreateOffers { count: 2 }]
    );
    a.offer_created(T0, 5, "first".into(), &mut rng);
    // A response (to an earlier announce) arrives mid-gathering.
    a.handle_message(T0, counts(ih, None, Some(1)), |_| true);
    assert!(dropped(&outputs(&mut a)).is_empty(), "not sent yet");
    a.offer_created(T0, 6, "second".into(), &mut rng);
    let out = outputs(&mut a);
    assert_eq!(announced(&out)[0].offers.len(), 2);
    assert_eq!(a.pending_offers(), 2);
}

#[test]
fn stopping_says_stopped_and_drops_offers() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut a, _) = started(1, &mut rng);
    a.stop();
    let out = outputs(&mut a);
    assert_eq!(announced(&out)[0].event, Some(AnnounceEvent::Stopped));
    assert!(out.contains(&AnnouncerOutput::DropOffer { conn: 0 }));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn failures_become_warnings_and_reconnects_reannounce_without_started() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (mut a, _) = started(0, &mut rng);
    a.handle_message(
        T0,
        TrackerMessage::Failure(Failure {
            action: None,
            info_hash: None,
            reason: "invalid info_hash".into(),
        }),
        |_| true,
    );
    assert_eq!(
        outputs(&mut a),
        [AnnouncerOutput::Error("invalid info_hash".into())]
    );
    a.disconnected();
    assert_eq!(a.poll_timeout(), None);
    a.connected(T0 + Duration::from_secs(60), 0);
    assert_eq!(announced(&outputs(&mut a))[0].event, None);
}

#[test]
fn backoff_doubles_with_bounded_jitter_and_resets() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut b = Backoff::default();
    let mut expected = 10.0;
    for _ in 0..12 {
        let at = b.failed(T0, &mut rng);
        let secs = (at - T0).as_secs_f64();
        assert!(
            secs >= expected && secs <= expected * 1.1,
            "{secs} vs {expected}"
        );
        expected = (expected * 2.0).min(3600.0);
    }
    b.succeeded();
    let secs = (b.failed(T0, &mut rng) - T0).as_secs_f64();
    assert!((10.0..=11.0).contains(&secs));
}

#[test]
fn duplicate_links_are_resolved_the_same_way_on_both_sides() {
    let (_, me, them) = ids();
    assert_ne!(
        keep_link_offered_by(&me, &them),
        keep_link_offered_by(&them, &me)
    );
}

#[test]
fn tracker_messages_route_by_info_hash() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/p2pml-tracker-capture.json"
    );
    let capture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (ih, _, _) = ids();
    for m in capture["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["dir"] == "tracker->client")
    {
        let msg = TrackerMessage::parse(m["raw"].as_str().unwrap()).unwrap();
        assert_eq!(info_hash_of(&msg), Some(ih));
    }
}
