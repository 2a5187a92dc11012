//! The sans-IO P2P Media Loader engine: one per player. It decides, segment
//! by segment, whether to fetch from the CDN over HTTP or from peers, speaks
//! the P2P Media Loader 2.3.x peer protocol, keeps a bounded segment store,
//! and runs the WebTorrent tracker client. It never reads a clock, touches a
//! socket or draws entropy: time comes in with every input, randomness from
//! a generator seeded by the configuration, and every effect goes out as an
//! [`engine::Output`] for the host to perform.
//!
//! # The host's run loop
//!
//! ```text
//! loop {
//!     wait for the next event or until engine.poll_timeout();
//!     let now = clock();
//!     match event {
//!         Some(input) => engine.handle_input(now, input),   // player, HTTP, tracker, WebRTC
//!         None => engine.handle_timeout(now),
//!     }
//!     while let Some(output) = engine.poll_output() {
//!         perform(output);   // fetch, send, create an offer, answer the player…
//!     }
//! }
//! ```
//!
//! Outputs that start asynchronous work carry an id ([`engine::FetchId`],
//! [`tracker::ConnId`], [`engine::PlayerRequestId`]) that the answering
//! input returns. Hosts make no decisions: the browser host (wasm) and the
//! native host (tokio) only translate between these types and their I/O.
//! The simulator (`p2pml-sim`) is a host too, with virtual time.
//!
//! The payload type is generic: real hosts use [`bytes::Bytes`], the
//! simulator [`payload::VirtualPayload`].
//!
//! # Parts
//!
//! - [`engine`]: streams, swarms, downloads and the scheduler.
//! - [`peer`]: one peer connection's protocol (downloader and uploader).
//! - [`tracker`]: announcing one swarm on one tracker.
//! - [`storage`]: the segment store interface and its in-memory default.
//! - [`bandwidth`]: throughput estimation.
//! - [`config`]: every setting, with P2P Media Loader's defaults and why ours differ.

pub mod bandwidth;
pub mod config;
pub mod engine;
pub mod payload;
pub mod peer;
pub mod storage;
pub mod streams;
pub mod time;
pub mod tracker;
