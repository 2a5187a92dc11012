//! Wire formats of P2P Media Loader 2.3.x, byte-compatible with the JavaScript
//! library (`p2p-media-loader-core`), so Rust and browser peers share swarms.
//!
//! - [`command`]: the six peer commands exchanged over WebRTC data channels,
//!   their framing and splitting, and the receive path.
//! - [`tracker`]: WebTorrent tracker JSON messages, tolerant of the dialects
//!   of bittorrent-tracker, aquatic_ws and wt-tracker.
//! - [`identity`]: stream short ids, stream swarm ids, info hashes and peer ids.
//!
//! This crate is pure: no I/O, no clock, and randomness only from a generator
//! the caller passes in.

pub mod command;
pub mod identity;
mod js;
pub mod tracker;
