//! One swarm: its peers in a vector (for uniform random choice) with an index
//! by peer id (for lookup and O(1) removal).

use std::collections::HashMap;
use std::time::Instant;

use p2pml_proto::identity::PeerId;
use rand_core::Rng;

use crate::ConnId;

/// A peer of one swarm.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    /// The connection its messages go to: the one it last announced on.
    pub(crate) conn: ConnId,
    pub(crate) seeder: bool,
    /// When it is dropped unless it announces again.
    pub(crate) expires: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Swarm {
    peers: Vec<Peer>,
    index: HashMap<PeerId, usize>,
    seeders: usize,
    /// `completed` events seen (scrape's `downloaded`).
    pub(crate) downloaded: u64,
}

impl Swarm {
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub(crate) fn seeders(&self) -> usize {
        self.seeders
    }

    pub(crate) fn leechers(&self) -> usize {
        self.peers.len().saturating_sub(self.seeders)
    }

    pub(crate) fn get(&self, id: &PeerId) -> Option<&Peer> {
        self.index.get(id).and_then(|&i| self.peers.get(i))
    }

    pub(crate) fn get_mut(&mut self, id: &PeerId) -> Option<&mut Peer> {
        self.index.get(id).and_then(|&i| self.peers.get_mut(i))
    }

    pub(crate) fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// Adds a peer that is not in the swarm yet.
    pub(crate) fn insert(&mut self, peer: Peer) {
        self.seeders += usize::from(peer.seeder);
        self.index.insert(peer.id, self.peers.len());
        self.peers.push(peer);
    }

    /// Marks a peer as a seeder; false if it already was one (or is absent).
    pub(crate) fn make_seeder(&mut self, id: &PeerId) -> bool {
        match self.get_mut(id) {
            Some(peer) if !peer.seeder => {
                peer.seeder = true;
                self.seeders += 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn remove(&mut self, id: &PeerId) -> Option<Peer> {
        let i = self.index.remove(id)?;
        if i >= self.peers.len() {
            return None;
        }
        let peer = self.peers.swap_remove(i);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.id, i);
        }
        self.seeders -= usize::from(peer.seeder);
        Some(peer)
    }

    /// Up to `count` distinct peers other than `except`, uniformly at random
    /// (Floyd's sampling: O(count²), whatever the swarm's size).
    pub(crate) fn choose_others(
        &self,
        except: &PeerId,
        count: usize,
        rng: &mut impl Rng,
    ) -> Vec<&Peer> {
        let skip = self.index.get(except).copied();
        let candidates = self.peers.len() - usize::from(skip.is_some());
        let count = count.min(candidates);
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        for j in candidates - count..candidates {
            let bound = u64::try_from(j).unwrap_or(u64::MAX).saturating_add(1);
            let t = usize::try_from(rng.next_u64() % bound).unwrap_or(j);
            chosen.push(if chosen.contains(&t) { j } else { t });
        }
        chosen
            .into_iter()
            .map(|c| match skip {
                Some(s) if c >= s => c + 1,
                _ => c,
            })
            .filter_map(|i| self.peers.get(i))
            .collect()
    }
}
