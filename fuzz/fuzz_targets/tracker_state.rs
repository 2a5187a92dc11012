//! The tracker's message handling: any sequence of connections, frames and
//! time steps never panics, only ever addresses open connections, and leaves
//! nothing behind once every connection has closed.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use p2pml_tracker::{CloseReason, ConnId, Tracker, TrackerConfig};

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(TrackerConfig {
        seed: Some(0),
        max_connections: 4,
        max_peers_per_swarm: 3,
        max_swarms: 3,
        max_pending_offers_per_peer: 4,
        ..TrackerConfig::default()
    });
    let mut now = Instant::now();
    let mut open = HashSet::new();
    // Records: a control byte, then (for frames) text up to the next 0xFF.
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let conn = ConnId(u64::from(op & 0x07));
        let (frame, after) = match tail.iter().position(|&b| b == 0xff) {
            Some(i) => (&tail[..i], &tail[i + 1..]),
            None => (tail, &[][..]),
        };
        rest = tail;
        let out = match op >> 3 {
            0 => {
                if tracker.connect(now, conn).is_ok() {
                    open.insert(conn);
                }
                Vec::new()
            }
            1 => {
                tracker.disconnect(now, conn, CloseReason::Client);
                open.remove(&conn);
                Vec::new()
            }
            2 => {
                now += Duration::from_secs(u64::from(frame.first().copied().unwrap_or(1)));
                tracker.expire(now);
                rest = after;
                Vec::new()
            }
            3 => tracker.receive_binary(now, conn),
            _ => {
                rest = after;
                match std::str::from_utf8(frame) {
                    Ok(text) => tracker.receive_text(now, conn, text),
                    Err(_) => Vec::new(),
                }
            }
        };
        for (to, message) in &out {
            let to_open = open.contains(to);
            assert!(to_open || to == &conn, "message to a closed connection");
            let _ = message.to_json();
        }
    }
    for conn in open.drain() {
        tracker.disconnect(now, conn, CloseReason::Client);
    }
    let stats = tracker.stats();
    assert_eq!((stats.connections, stats.swarms, stats.peers, stats.seeders), (0, 0, 0, 0));
});
