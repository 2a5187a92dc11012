//! An emulated WebTorrent tracker. It speaks the real JSON (engines send and
//! receive the same text a real tracker sees) and behaves like
//! bittorrent-tracker: each offer goes to a different random peer of the
//! swarm, answers go to the offerer.

use std::collections::BTreeMap;

use p2pml_proto::identity::{InfoHash, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceResponse, ClientMessage, RelayedAnswer, RelayedOffer, TrackerMessage,
};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

/// A connected client: its peer slot and session.
pub(crate) type Client = (usize, u64);

/// Offers relayed per announce at most (aquatic_ws: 10).
const MAX_OFFERS: usize = 10;

#[derive(Debug, Default)]
pub(crate) struct SimTracker {
    swarms: BTreeMap<InfoHash, BTreeMap<PeerId, Client>>,
    pub(crate) interval_secs: f64,
    pub(crate) messages: u64,
}

impl SimTracker {
    pub(crate) fn new(interval_secs: f64) -> Self {
        Self {
            swarms: BTreeMap::new(),
            interval_secs,
            messages: 0,
        }
    }

    /// Handles a client's text frame; returns the frames to deliver, to whom.
    pub(crate) fn handle(
        &mut self,
        from: Client,
        text: &str,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(Client, String)> {
        self.messages += 1;
        let Ok(message) = ClientMessage::parse(text) else {
            return Vec::new();
        };
        match message {
            ClientMessage::Announce(a) => {
                let swarm = self.swarms.entry(a.info_hash).or_default();
                if a.event == Some(AnnounceEvent::Stopped) {
                    swarm.remove(&a.peer_id);
                    return Vec::new();
                }
                swarm.insert(a.peer_id, from);
                let mut out = vec![(
                    from,
                    TrackerMessage::AnnounceResponse(AnnounceResponse {
                        info_hash: Some(a.info_hash),
                        interval_secs: Some(self.interval_secs),
                        complete: Some(0),
                        incomplete: Some(swarm.len() as u64),
                        tracker_id: None,
                        warning: None,
                    })
                    .to_json(),
                )];
                let mut others: Vec<(PeerId, Client)> = swarm
                    .iter()
                    .filter(|(id, c)| **id != a.peer_id && c.0 != from.0)
                    .map(|(id, c)| (*id, *c))
                    .collect();
                // Fisher–Yates, seeded: the relay targets are random but replayable.
                for i in (1..others.len()).rev() {
                    let j = (rng.next_u32() as usize) % (i + 1);
                    others.swap(i, j);
                }
                let k = a.offers.len().min(a.numwant as usize).min(MAX_OFFERS);
                for (offer, (_, to)) in a.offers.into_iter().take(k).zip(others) {
                    out.push((
                        to,
                        TrackerMessage::Offer(RelayedOffer {
                            info_hash: a.info_hash,
                            peer_id: a.peer_id,
                            offer: offer.offer,
                            offer_id: offer.offer_id,
                        })
                        .to_json(),
                    ));
                }
                out
            }
            ClientMessage::Answer(a) => {
                let Some(&to) = self
                    .swarms
                    .get(&a.info_hash)
                    .and_then(|s| s.get(&a.to_peer_id))
                else {
                    return Vec::new();
                };
                vec![(
                    to,
                    TrackerMessage::Answer(RelayedAnswer {
                        info_hash: a.info_hash,
                        peer_id: a.peer_id,
                        answer: a.answer,
                        offer_id: a.offer_id,
                    })
                    .to_json(),
                )]
            }
            ClientMessage::Scrape(_) => Vec::new(),
        }
    }

    /// A client's socket closed: it leaves every swarm.
    pub(crate) fn remove(&mut self, client: Client) {
        for swarm in self.swarms.values_mut() {
            swarm.retain(|_, c| *c != client);
        }
    }
}
