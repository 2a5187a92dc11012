//! The swarm state driven by sequences of well-formed-ish operations from a
//! few connections and peers over a few swarms, so the fuzzer reaches offer
//! relay and answer routing (answers pick offers the tracker really relayed),
//! as one `Tracker` or as two shards sharing a swarm budget, the way the
//! server runs them.
//!
//! Checked after every step: nothing is sent to a closed connection, an
//! offer goes to a connection holding another peer of its swarm, an answer
//! goes to the connection its offerer last announced on, pending offers stay
//! within their per-peer bound; at the end, closing every connection leaves
//! no peer, no swarm, and the shared swarm budget empty.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceRequest, AnswerRequest, ClientMessage, Offer, ScrapeRequest, SdpType,
    SessionDescription, TrackerMessage,
};
use p2pml_tracker::{CloseReason, ConnId, SwarmBudget, Tracker, TrackerConfig, shard_of};

const CONNS: u8 = 5;
const PEERS: u8 = 6;
const SWARMS: u8 = 3;
const MAX_PENDING: usize = 4;

#[derive(Arbitrary, Debug)]
struct Input {
    sharded: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Event {
    None,
    Started,
    Stopped,
    Completed,
    Paused,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect(u8),
    Disconnect(u8),
    Announce {
        conn: u8,
        swarm: u8,
        peer: u8,
        event: Event,
        offers: u8,
        numwant: u8,
        seeder: bool,
        /// Send it as JSON text through the connection's gate (single mode).
        as_text: bool,
    },
    /// Answers the `pick`-th offer relayed so far; `wrong` alters one field.
    Answer {
        pick: u16,
        wrong: u8,
    },
    Scrape {
        conn: u8,
        swarms: Vec<u8>,
    },
    Advance(u8),
    Binary(u8),
}

struct Relayed {
    to: ConnId,
    info_hash: InfoHash,
    offerer: PeerId,
    offer_id: OfferId,
}

fn hash(n: u8) -> InfoHash {
    InfoHash::from([b'a' + n % SWARMS; 20])
}

fn peer(n: u8) -> PeerId {
    let mut id = *b"-FZ0001-000000000000";
    id[19] = b'a' + n % PEERS;
    PeerId::from(id)
}

fn sdp(kind: SdpType) -> SessionDescription {
    SessionDescription {
        kind,
        sdp: "v=0\r\n".to_owned(),
    }
}

/// One tracker, or two shards routed by info hash.
enum Host {
    Single(Tracker),
    Sharded(Vec<Tracker>, SwarmBudget),
}

fn config() -> TrackerConfig {
    TrackerConfig {
        seed: Some(0),
        max_connections: 4,
        max_peers_per_swarm: 4,
        max_swarms: 2,
        max_pending_offers_per_peer: MAX_PENDING,
        max_offers_per_announce: 6,
        ..TrackerConfig::default()
    }
}

fuzz_target!(|input: Input| {
    let mut host = if input.sharded {
        let budget = SwarmBudget::new(config().max_swarms);
        let shards = (0..2)
            .map(|i| Tracker::shard(config(), budget.clone(), i))
            .collect();
        Host::Sharded(shards, budget)
    } else {
        Host::Single(Tracker::new(config()))
    };
    let mut now = Instant::now();
    let mut open: HashSet<ConnId> = HashSet::new();
    // (swarm, peer) -> the connection it last announced on.
    let mut announced_on: HashMap<(InfoHash, PeerId), ConnId> = HashMap::new();
    let mut relayed: Vec<Relayed> = Vec::new();
    let mut offer_counter = 0u8;

    for op in input.ops.into_iter().take(400) {
        // Where a relayed answer must go, for an `Answer` step.
        let mut answer_to = None;
        let out = match op {
            Op::Connect(c) => {
                let conn = ConnId(u64::from(c % CONNS));
                let admitted = match &mut host {
                    Host::Single(t) => t.connect(now, conn).is_ok(),
                    // The host caps connections; shards learn of them lazily.
                    Host::Sharded(..) => open.len() < 4,
                };
                if admitted {
                    open.insert(conn);
                }
                continue;
            }
            Op::Disconnect(c) => {
                let conn = ConnId(u64::from(c % CONNS));
                close(&mut host, now, conn);
                open.remove(&conn);
                continue;
            }
            Op::Advance(secs) => {
                now += Duration::from_secs(u64::from(secs));
                match &mut host {
                    Host::Single(t) => t.expire(now),
                    Host::Sharded(shards, _) => shards.iter_mut().for_each(|t| t.expire(now)),
                }
                continue;
            }
            Op::Binary(c) => {
                let conn = ConnId(u64::from(c % CONNS));
                match &mut host {
                    Host::Single(t) => t.receive_binary(now, conn),
                    Host::Sharded(..) => continue,
                }
            }
            Op::Announce {
                conn,
                swarm,
                peer: who,
                event,
                offers,
                numwant,
                seeder,
                as_text,
            } => {
                let conn = ConnId(u64::from(conn % CONNS));
                let offers: Vec<Offer> = (0..offers % 12)
                    .map(|_| {
                        offer_counter = offer_counter.wrapping_add(1);
                        Offer {
                            offer: sdp(SdpType::Offer),
                            offer_id: OfferId::from([offer_counter; 20]),
                        }
                    })
                    .collect();
                let event = match event {
                    Event::None => None,
                    Event::Started => Some(AnnounceEvent::Started),
                    Event::Stopped => Some(AnnounceEvent::Stopped),
                    Event::Completed => Some(AnnounceEvent::Completed),
                    Event::Paused => Some(AnnounceEvent::Paused),
                };
                let message = ClientMessage::Announce(AnnounceRequest {
                    numwant: u32::from(numwant % 12),
                    uploaded: 0,
                    downloaded: 0,
                    left: seeder.then_some(0),
                    event,
                    info_hash: hash(swarm),
                    peer_id: peer(who),
                    tracker_id: None,
                    offers,
                });
                let text = as_text.then(|| message.to_json());
                let out = deliver(&mut host, &open, now, conn, message, text.as_deref());
                let joined = out
                    .iter()
                    .any(|(to, m)| *to == conn && matches!(m, TrackerMessage::AnnounceResponse(_)));
                if joined && event != Some(AnnounceEvent::Stopped) {
                    announced_on.insert((hash(swarm), peer(who)), conn);
                }
                out
            }
            Op::Answer { pick, wrong } => {
                let Some(r) = relayed.get(usize::from(pick) % relayed.len().max(1)) else {
                    continue;
                };
                let Some((&(info_hash, answerer), _)) = announced_on
                    .iter()
                    .find(|((h, _), c)| *h == r.info_hash && **c == r.to)
                else {
                    continue;
                };
                let mut a = AnswerRequest {
                    info_hash,
                    peer_id: answerer,
                    to_peer_id: r.offerer,
                    answer: sdp(SdpType::Answer),
                    offer_id: r.offer_id,
                    tracker_id: None,
                };
                let mut conn = r.to;
                match wrong % 8 {
                    1 => a.offer_id = OfferId::from([wrong; 20]),
                    2 => a.to_peer_id = peer(wrong),
                    3 => a.peer_id = peer(wrong),
                    4 => conn = ConnId(u64::from(wrong % CONNS)),
                    5 => a.info_hash = hash(wrong),
                    _ => {}
                }
                answer_to = announced_on.get(&(a.info_hash, a.to_peer_id)).copied();
                deliver(&mut host, &open, now, conn, ClientMessage::Answer(a), None)
            }
            Op::Scrape { conn, swarms } => {
                let conn = ConnId(u64::from(conn % CONNS));
                let info_hashes = swarms.into_iter().take(8).map(hash).collect();
                let s = ClientMessage::Scrape(ScrapeRequest { info_hashes });
                deliver(&mut host, &open, now, conn, s, None)
            }
        };
        for (to, message) in out {
            assert!(
                open.contains(&to),
                "message to a closed connection: {message:?}"
            );
            match message {
                TrackerMessage::Offer(o) => {
                    let other_peer_there = announced_on
                        .iter()
                        .any(|(&(h, p), &c)| h == o.info_hash && p != o.peer_id && c == to);
                    assert!(
                        other_peer_there,
                        "an offer went to no other peer of its swarm"
                    );
                    relayed.push(Relayed {
                        to,
                        info_hash: o.info_hash,
                        offerer: o.peer_id,
                        offer_id: o.offer_id,
                    });
                }
                TrackerMessage::Answer(_) => {
                    assert_eq!(answer_to, Some(to), "answer routed to the wrong connection");
                }
                _ => {}
            }
        }
        if relayed.len() > 64 {
            relayed.drain(..relayed.len() - 64);
        }
        let stats = stats(&host);
        let pairs = usize::from(SWARMS) * usize::from(PEERS);
        assert!(
            stats.pending_offers as usize <= pairs * MAX_PENDING,
            "pending offers unbounded"
        );
        assert!(stats.answers_relayed <= stats.offers_relayed);
    }
    for conn in open.drain() {
        close(&mut host, now, conn);
    }
    let stats = stats(&host);
    assert_eq!((stats.swarms, stats.peers, stats.seeders), (0, 0, 0));
    if let Host::Sharded(_, budget) = &host {
        assert_eq!(budget.swarms(), 0, "the swarm budget leaked");
    }
});

/// Sends a message the way the host would: only from open connections, in
/// sharded mode to the shard of its info hash, a scrape to every shard.
fn deliver(
    host: &mut Host,
    open: &HashSet<ConnId>,
    now: Instant,
    conn: ConnId,
    message: ClientMessage,
    text: Option<&str>,
) -> Vec<(ConnId, TrackerMessage)> {
    match host {
        Host::Single(t) => match text {
            Some(text) => t.receive_text(now, conn, text),
            None => t.handle(now, conn, message),
        },
        Host::Sharded(shards, _) => {
            if !open.contains(&conn) {
                return Vec::new();
            }
            let info_hash = match &message {
                ClientMessage::Announce(a) => a.info_hash,
                ClientMessage::Answer(a) => a.info_hash,
                ClientMessage::Scrape(s) => {
                    for shard in shards.iter() {
                        let _ = shard.scrape_stats(&s.info_hashes);
                    }
                    return Vec::new();
                }
            };
            let index = shard_of(&info_hash, shards.len());
            shards[index].handle_admitted(now, conn, message)
        }
    }
}

fn close(host: &mut Host, now: Instant, conn: ConnId) {
    match host {
        Host::Single(t) => t.disconnect(now, conn, CloseReason::Client),
        Host::Sharded(shards, _) => shards.iter_mut().for_each(|t| t.detach(now, conn)),
    }
}

fn stats(host: &Host) -> p2pml_tracker::Stats {
    match host {
        Host::Single(t) => t.stats(),
        Host::Sharded(shards, _) => {
            let mut total = p2pml_tracker::Stats::default();
            for s in shards.iter().map(Tracker::stats) {
                total.swarms += s.swarms;
                total.peers += s.peers;
                total.seeders += s.seeders;
                total.pending_offers += s.pending_offers;
                total.offers_relayed += s.offers_relayed;
                total.answers_relayed += s.answers_relayed;
            }
            total
        }
    }
}
