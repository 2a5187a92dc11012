//! The swarm state split over several shards: a scrape over swarms of
//! different shards, a connection in swarms of different shards (offers,
//! answers, disconnect), and the global caps. Both through the real server
//! on 127.0.0.1:0 and on the pure shards.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceRequest, AnswerRequest, ClientMessage, Offer, ScrapeRequest, SdpType,
    SessionDescription, TrackerMessage,
};
use p2pml_tracker::{
    ConnId, Refusal, Server, ServerConfig, Stats, SwarmBudget, Tracker, TrackerConfig, shard_of,
};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);
const WORKERS: usize = 4;

/// The first info hashes (by a counter in their bytes) that fall into
/// `count` different shards of `WORKERS`, in shard order 0, 1, ...
fn hashes_in_distinct_shards(count: usize) -> Vec<InfoHash> {
    (0..count)
        .map(|shard| {
            (0u32..)
                .map(|n| {
                    let mut bytes = [b'x'; 20];
                    bytes[..4].copy_from_slice(&n.to_be_bytes());
                    InfoHash::from(bytes)
                })
                .find(|h| shard_of(h, WORKERS) == shard)
                .unwrap()
        })
        .collect()
}

fn peer(c: u8) -> PeerId {
    let mut id = *b"-PM0203-shardtest000";
    id[19] = c;
    PeerId::from(id)
}

fn announce(info_hash: InfoHash, who: u8, offers: u8) -> ClientMessage {
    let offers = (0..offers)
        .map(|n| Offer {
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: format!("v=0 offer {who}/{n}"),
            },
            offer_id: OfferId::from([
                n + 1,
                who,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                9,
            ]),
        })
        .collect();
    let event = Some(AnnounceEvent::Started);
    ClientMessage::Announce(AnnounceRequest::new(info_hash, peer(who), event, offers).unwrap())
}

fn answer(info_hash: InfoHash, who: u8, to: PeerId, offer_id: OfferId) -> ClientMessage {
    ClientMessage::Answer(AnswerRequest {
        info_hash,
        peer_id: peer(who),
        to_peer_id: to,
        answer: SessionDescription {
            kind: SdpType::Answer,
            sdp: format!("v=0 answer from {who}"),
        },
        offer_id,
        tracker_id: None,
    })
}

struct Running {
    ws: SocketAddr,
    stats: watch::Receiver<Stats>,
    _stop: oneshot::Sender<()>,
}

async fn start(tracker: TrackerConfig) -> Running {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: WORKERS,
        tracker: TrackerConfig {
            seed: Some(3),
            ..tracker
        },
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.unwrap();
    let ws = server.local_addr().unwrap();
    let stats = server.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Running {
        ws,
        stats,
        _stop: stop,
    }
}

async fn client(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, message: &ClientMessage) {
    ws.send(Message::text(message.to_json())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> TrackerMessage {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("connection open")
            .expect("no error");
        if let Message::Text(text) = message {
            return TrackerMessage::parse(text.as_str()).unwrap();
        }
    }
}

async fn announced(ws: &mut Ws, message: &ClientMessage) {
    send(ws, message).await;
    match recv(ws).await {
        TrackerMessage::AnnounceResponse(_) => {}
        other => panic!("expected an announce response, got {other:?}"),
    }
}

async fn stats_until(stats: &mut watch::Receiver<Stats>, f: impl Fn(&Stats) -> bool) -> Stats {
    *tokio::time::timeout(WAIT, stats.wait_for(|s| f(s)))
        .await
        .expect("metrics in time")
        .unwrap()
}

#[tokio::test]
async fn scrape_gathers_swarms_of_every_shard() {
    let server = start(TrackerConfig::default()).await;
    let hashes = hashes_in_distinct_shards(WORKERS);
    let mut peers = Vec::new();
    // Swarm i (in shard i) gets i + 1 peers.
    for (i, &h) in hashes.iter().enumerate() {
        for who in 0..=i as u8 {
            let mut ws = client(server.ws).await;
            announced(&mut ws, &announce(h, who, 0)).await;
            peers.push(ws);
        }
    }
    let unknown = InfoHash::from([b'?'; 20]);
    let mut asker = client(server.ws).await;
    let info_hashes = hashes.iter().copied().chain([unknown]).collect();
    send(
        &mut asker,
        &ClientMessage::Scrape(ScrapeRequest { info_hashes }),
    )
    .await;
    let TrackerMessage::Scrape(s) = recv(&mut asker).await else {
        panic!("expected a scrape response")
    };
    assert_eq!(s.files.len(), WORKERS + 1);
    for (i, h) in hashes.iter().enumerate() {
        assert_eq!(s.files[h].incomplete, i as u64 + 1, "swarm in shard {i}");
    }
    assert_eq!(s.files[&unknown].incomplete, 0);
    let mut stats = server.stats.clone();
    let total = (1..=WORKERS as u64).sum::<u64>();
    stats_until(&mut stats, |s| s.scrapes == 1 && s.peers == total).await;
}

#[tokio::test]
async fn one_connection_in_two_shards_gets_offers_and_answers_from_both() {
    let server = start(TrackerConfig::default()).await;
    let [a, b] = hashes_in_distinct_shards(2)[..] else {
        unreachable!()
    };
    // The multi-swarm peer: one connection, peer 1 in both swarms.
    let mut multi = client(server.ws).await;
    announced(&mut multi, &announce(a, 1, 0)).await;
    announced(&mut multi, &announce(b, 1, 0)).await;
    let mut in_a = client(server.ws).await;
    let mut in_b = client(server.ws).await;
    for (ws, h, who) in [(&mut in_a, a, 2u8), (&mut in_b, b, 3u8)] {
        send(ws, &announce(h, who, 1)).await;
        assert!(matches!(
            recv(ws).await,
            TrackerMessage::AnnounceResponse(_)
        ));
        // The only other peer of each swarm is the multi-swarm peer.
        let TrackerMessage::Offer(offer) = recv(&mut multi).await else {
            panic!("expected an offer")
        };
        assert_eq!((offer.info_hash, offer.peer_id), (h, peer(who)));
        send(&mut multi, &answer(h, 1, offer.peer_id, offer.offer_id)).await;
        let TrackerMessage::Answer(got) = recv(ws).await else {
            panic!("expected the answer")
        };
        assert_eq!((got.info_hash, got.peer_id), (h, peer(1)));
        assert_eq!(got.offer_id, offer.offer_id);
    }
    // Its departure empties its place in both shards.
    let mut stats = server.stats.clone();
    stats_until(&mut stats, |s| s.peers == 4 && s.answers_relayed == 2).await;
    drop(multi);
    let s = stats_until(&mut stats, |s| s.peers == 2).await;
    assert_eq!((s.swarms, s.connections), (2, 2));
    // So does another connection's, in its own shard.
    drop(in_b);
    let s = stats_until(&mut stats, |s| s.peers == 1).await;
    assert_eq!(s.swarms, 1);
}

#[tokio::test]
async fn swarm_cap_holds_over_all_shards() {
    let server = start(TrackerConfig {
        max_swarms: 2,
        ..TrackerConfig::default()
    })
    .await;
    let hashes = hashes_in_distinct_shards(3);
    let mut ws = client(server.ws).await;
    announced(&mut ws, &announce(hashes[0], 1, 0)).await;
    announced(&mut ws, &announce(hashes[1], 1, 0)).await;
    send(&mut ws, &announce(hashes[2], 1, 0)).await;
    let TrackerMessage::Failure(f) = recv(&mut ws).await else {
        panic!("expected a refusal")
    };
    assert_eq!(f.reason, Refusal::TooManySwarms(2).to_string());
    // Leaving one swarm makes room for a swarm of another shard.
    let mut stop = AnnounceRequest::new(hashes[0], peer(1), None, Vec::new()).unwrap();
    stop.event = Some(AnnounceEvent::Stopped);
    announced(&mut ws, &ClientMessage::Announce(stop)).await;
    announced(&mut ws, &announce(hashes[2], 1, 0)).await;
    let mut stats = server.stats.clone();
    stats_until(&mut stats, |s| s.swarms == 2 && s.peers == 2).await;
}

#[test]
fn shards_share_one_swarm_budget() {
    let config = TrackerConfig {
        max_swarms: 2,
        seed: Some(1),
        ..TrackerConfig::default()
    };
    let budget = SwarmBudget::new(config.max_swarms);
    let mut shards: Vec<Tracker> = (0..2)
        .map(|i| Tracker::shard(config.clone(), budget.clone(), i))
        .collect();
    let now = Instant::now();
    let h = |n: u8| InfoHash::from([n; 20]);
    let mut admitted = |shard: usize, conn: u64, n: u8| {
        shards[shard].handle_admitted(now, ConnId(conn), announce(h(n), 1, 0))
    };
    assert!(matches!(
        admitted(0, 1, 1)[..],
        [(_, TrackerMessage::AnnounceResponse(_))]
    ));
    assert!(matches!(
        admitted(1, 1, 2)[..],
        [(_, TrackerMessage::AnnounceResponse(_))]
    ));
    assert!(matches!(
        admitted(1, 1, 3)[..],
        [(_, TrackerMessage::Failure(_))]
    ));
    assert_eq!(budget.swarms(), 2);
    // Detaching the connection from shard 0 frees its swarm for shard 1.
    shards[0].detach(now, ConnId(1));
    assert_eq!(budget.swarms(), 1);
    let out = shards[1].handle_admitted(now, ConnId(1), announce(h(3), 1, 0));
    assert!(matches!(
        out[..],
        [(_, TrackerMessage::AnnounceResponse(_))]
    ));
    let s = shards[1].stats();
    assert_eq!((s.swarms, s.peers), (2, 2));
}
