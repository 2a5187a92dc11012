//! Helpers shared by the fixture tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use p2pml_proto::command::{CommandJoiner, Joined, MessageKind, classify};
use serde_json::Value;

/// Reads a committed fixture (copied from `shared/p2pml-v2`, produced by the
/// real p2p-media-loader-core 2.3.1).
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Joins the messages of one command, checking that each is a command part
/// and that exactly the last one completes it.
pub fn join(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut joiner = CommandJoiner::default();
    let mut out = None;
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(classify(m), MessageKind::CommandPart);
        match joiner.push(m).unwrap() {
            Joined::Complete(payload) => {
                assert_eq!(i, messages.len() - 1, "completed before the last part");
                out = Some(payload);
            }
            Joined::Pending => assert!(i < messages.len() - 1, "last part did not complete"),
        }
    }
    out.unwrap()
}

/// The order JS decoders return ids in: grouped by 256-block, blocks in
/// first-appearance order, ids within a block in sending order.
pub fn grouped(ids: &[i64]) -> Vec<i64> {
    let mut bases: Vec<i64> = Vec::new();
    for id in ids {
        if !bases.contains(&(id & !0xff)) {
            bases.push(id & !0xff);
        }
    }
    bases
        .iter()
        .flat_map(|b| ids.iter().copied().filter(move |id| id & !0xff == *b))
        .collect()
}
