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

/// One swarm: members in a vector for O(1) random picks, with an index.
#[derive(Debug, Default)]
struct Swarm {
    members: Vec<(PeerId, Client)>,
    index: BTreeMap<PeerId, usize>,
}

impl Swarm {
    fn insert(&mut self, id: PeerId, client: Client) {
        match self.index.get(&id) {
            Some(&i) => {
                if let Some(m) = self.members.get_mut(i) {
                    m.1 = client;
                }
            }
            None => {
                self.index.insert(id, self.members.len());
                self.members.push((id, client));
            }
        }
    }

    fn remove(&mut self, id: &PeerId) {
        if let Some(i) = self.index.remove(id) {
            self.members.swap_remove(i);
            if let Some((moved, _)) = self.members.get(i) {
                self.index.insert(*moved, i);
            }
        }
    }

    /// Up to `k` distinct random members other than `except`.
    fn pick(&self, k: usize, except: Client, rng: &mut ChaCha8Rng) -> Vec<Client> {
        let n = self.members.len();
        let mut chosen: Vec<usize> = Vec::new();
        let mut tries = 0;
        while chosen.len() < k && chosen.len() + 1 < n && tries < 8 * k + 8 {
            tries += 1;
            let i = (rng.next_u32() as usize) % n;
            let ok = self.members.get(i).is_some_and(|m| m.1.0 != except.0);
            if ok && !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        chosen
            .into_iter()
            .filter_map(|i| self.members.get(i).map(|m| m.1))
            .collect()
    }
}

#[derive(Debug, Default)]
pub(crate) struct SimTracker {
    swarms: BTreeMap<InfoHash, Swarm>,
    by_client: BTreeMap<Client, Vec<(InfoHash, PeerId)>>,
    pub(crate) interval_secs: f64,
    pub(crate) messages: u64,
}

impl SimTracker {
    pub(crate) fn new(interval_secs: f64) -> Self {
        Self {
            interval_secs,
            ..Self::default()
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
                let entry = self.by_client.entry(from).or_default();
                if !entry.contains(&(a.info_hash, a.peer_id)) {
                    entry.push((a.info_hash, a.peer_id));
                }
                let mut out = vec![(
                    from,
                    TrackerMessage::AnnounceResponse(AnnounceResponse {
                        info_hash: Some(a.info_hash),
                        interval_secs: Some(self.interval_secs),
                        complete: Some(0),
                        incomplete: Some(swarm.members.len() as u64),
                        tracker_id: None,
                        warning: None,
                    })
                    .to_json(),
                )];
                let k = a.offers.len().min(a.numwant as usize).min(MAX_OFFERS);
                let targets = swarm.pick(k, from, rng);
                for (offer, to) in a.offers.into_iter().zip(targets) {
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
                let to = self
                    .swarms
                    .get(&a.info_hash)
                    .and_then(|s| s.index.get(&a.to_peer_id).and_then(|&i| s.members.get(i)))
                    .map(|m| m.1);
                let Some(to) = to else {
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
        for (info_hash, id) in self.by_client.remove(&client).unwrap_or_default() {
            if let Some(swarm) = self.swarms.get_mut(&info_hash) {
                let owned = swarm
                    .index
                    .get(&id)
                    .and_then(|&i| swarm.members.get(i))
                    .is_some_and(|m| m.1 == client);
                if owned {
                    swarm.remove(&id);
                }
            }
        }
    }
}
