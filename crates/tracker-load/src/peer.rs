//! One simulated peer: a WebSocket that announces with offers, answers every
//! offer relayed to it, and counts what the tracker sends back.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Latency samples kept; past this the run has enough for its percentiles.
pub(crate) const MAX_SAMPLES: usize = 4_000_000;

/// Where the run is. Peers announce in `Warmup` and `Measure`, answer offers
/// until `Done`, and close at `Done`; frames count only in `Measure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Connecting,
    Warmup,
    Measure,
    Idle,
    Done,
}

/// What every peer reads.
pub(crate) struct Plan {
    pub(crate) url: String,
    pub(crate) server: SocketAddr,
    /// Peers spread their source address over 127.0.0.2 onwards, this many.
    pub(crate) source_ips: usize,
    pub(crate) peers_per_swarm: usize,
    pub(crate) offers: usize,
    /// `{"type":"offer","sdp":"..."}`, serialized once.
    pub(crate) offer_json: String,
    /// `{"type":"answer","sdp":"..."}`, serialized once.
    pub(crate) answer_json: String,
    /// Announces per peer; `None`: one after another until `Idle`.
    pub(crate) announces: Option<u32>,
    /// The tracker answers each answer with an announce response too
    /// (aquatic_ws does; bittorrent-tracker and ours do not).
    pub(crate) answer_acks: bool,
}

/// What the peers count (one thread runs them all: the atomics are uncontended).
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) announces_sent: AtomicU64,
    pub(crate) announce_responses: AtomicU64,
    pub(crate) offers: AtomicU64,
    pub(crate) answers: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Announce responses to answers (see [`Plan::answer_acks`]).
    pub(crate) acks: AtomicU64,
    pub(crate) other: AtomicU64,
    pub(crate) answers_sent: AtomicU64,
    /// Peers whose first announce was answered.
    pub(crate) first_responses: AtomicU64,
    /// Connections the tracker or the network closed before `Done`.
    pub(crate) dropped: AtomicU64,
    /// Microseconds from an announce sent in `Measure` to its response.
    pub(crate) latencies_us: Mutex<Vec<u32>>,
}

type Ws = WebSocketStream<TcpStream>;

/// Opens peer `index`'s connection from its source address.
pub(crate) async fn connect(plan: &Plan, index: usize) -> anyhow::Result<Ws> {
    let last = u8::try_from(2 + index % plan.source_ips.clamp(1, 250)).unwrap_or(2);
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 0)))
        .with_context(|| format!("binding 127.0.0.{last}"))?;
    let stream = socket.connect(plan.server).await?;
    stream.set_nodelay(true)?;
    // Small buffers: tens of thousands of these live in one process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(&plan.url, stream, Some(config))
        .await
        .context("WebSocket handshake")?;
    Ok(ws)
}

/// The fields of a tracker frame a peer acts on; the SDP is skipped unread.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    offer_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    peer_id: Option<Cow<'a, str>>,
    #[serde(default)]
    offer: Option<IgnoredAny>,
    #[serde(default)]
    answer: Option<IgnoredAny>,
    #[serde(rename = "failure reason", default)]
    failure: Option<IgnoredAny>,
}

/// A request whose announce response is still to come.
enum Pending {
    /// Sent at, and whether in `Measure`.
    Announce(Instant, bool),
    Answer,
}

/// Runs peer `index` on its open connection until `Done`.
pub(crate) async fn run(
    index: usize,
    mut ws: Ws,
    plan: &Plan,
    tally: &Tally,
    mut phase: watch::Receiver<Phase>,
) {
    let info_hash = format!("load-swarm-{:09}", index / plan.peers_per_swarm.max(1));
    let peer_id = format!("-LG0001-{index:012}");
    let mut offer_counter = 0u64;
    let mut announced = 0u32;
    // In the order sent: the tracker answers one connection in order.
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut in_flight = false;
    if phase.wait_for(|&p| p >= Phase::Warmup).await.is_err() {
        return;
    }
    loop {
        let now_phase = *phase.borrow();
        if now_phase == Phase::Done {
            break;
        }
        let wants_more = plan.announces.is_none_or(|n| announced < n);
        if !in_flight && wants_more && now_phase <= Phase::Measure {
            let text = announce(
                plan,
                &info_hash,
                &peer_id,
                announced == 0,
                &mut offer_counter,
            );
            pending.push_back(Pending::Announce(
                Instant::now(),
                now_phase == Phase::Measure,
            ));
            in_flight = true;
            announced += 1;
            tally.announces_sent.fetch_add(1, Ordering::Relaxed);
            if ws.send(Message::text(text)).await.is_err() {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let frame = tokio::select! {
            frame = ws.next() => frame,
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => continue,
        };
        let counting = *phase.borrow() == Phase::Measure;
        let count = |c: &AtomicU64| {
            if counting {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        let Ok(incoming) = serde_json::from_str::<Incoming<'_>>(text.as_str()) else {
            count(&tally.other);
            continue;
        };
        if incoming.failure.is_some() {
            count(&tally.failures);
            // A refused announce ends its wait too.
            if let Some(Pending::Announce(..)) = pending.pop_front() {
                in_flight = false;
            }
        } else if incoming.offer.is_some() {
            count(&tally.offers);
            let (Some(to), Some(offer_id)) = (incoming.peer_id, incoming.offer_id) else {
                continue;
            };
            let reply = answer(plan, &info_hash, &peer_id, &to, &offer_id);
            tally.answers_sent.fetch_add(1, Ordering::Relaxed);
            if plan.answer_acks {
                pending.push_back(Pending::Answer);
            }
            if ws.send(Message::text(reply)).await.is_err() {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        } else if incoming.answer.is_some() {
            count(&tally.answers);
        } else {
            match pending.pop_front() {
                Some(Pending::Announce(sent, measured)) => {
                    count(&tally.announce_responses);
                    in_flight = false;
                    if announced == 1 {
                        tally.first_responses.fetch_add(1, Ordering::Relaxed);
                    }
                    if measured {
                        record(tally, sent.elapsed());
                    }
                }
                Some(Pending::Answer) => count(&tally.acks),
                None => count(&tally.other),
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

fn record(tally: &Tally, latency: Duration) {
    let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
    let mut samples = tally
        .latencies_us
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if samples.len() < MAX_SAMPLES {
        samples.push(us);
    }
}

/// An announce as P2P Media Loader sends it: `numwant` equal to the offers.
fn announce(plan: &Plan, info_hash: &str, peer_id: &str, first: bool, counter: &mut u64) -> String {
    let offers: Vec<String> = (0..plan.offers)
        .map(|_| {
            *counter += 1;
            format!(
                r#"{{"offer":{},"offer_id":"of{:018}"}}"#,
                plan.offer_json, *counter
            )
        })
        .collect();
    let event = if first { r#""event":"started","# } else { "" };
    format!(
        r#"{{"action":"announce","info_hash":"{info_hash}","peer_id":"{peer_id}","numwant":{},"uploaded":0,"downloaded":0,{event}"offers":[{}]}}"#,
        plan.offers,
        offers.join(",")
    )
}

/// The answer to a relayed offer, addressed to the offering peer.
fn answer(plan: &Plan, info_hash: &str, peer_id: &str, to: &str, offer_id: &str) -> String {
    // The ids come back from the tracker: re-escape them.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        r#"{{"action":"announce","info_hash":"{info_hash}","peer_id":"{peer_id}","to_peer_id":{},"answer":{},"offer_id":{}}}"#,
        quote(to),
        plan.answer_json,
        quote(offer_id)
    )
}
