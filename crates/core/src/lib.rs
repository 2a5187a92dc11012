//! The sans-IO P2P Media Loader engine: one per player. It decides, segment
//! by segment, whether to fetch from the CDN over HTTP or from peers, speaks
//! the P2P Media Loader 2.3.x peer protocol, and keeps a bounded segment
//! store. It never reads a clock, touches a socket or draws entropy: time
//! comes in with every input, randomness from a seeded generator, and every
//! effect goes out as an output for the host to perform.
//!
//! Work in progress (issue 3): the foundations are here — [`time`],
//! [`payload`], [`config`], [`storage`], [`bandwidth`], the per-connection
//! peer protocol ([`peer`]) and the tracker client ([`tracker`]).

pub mod bandwidth;
pub mod config;
pub mod engine;
pub mod payload;
pub mod peer;
pub mod storage;
pub mod streams;
pub mod time;
pub mod tracker;
