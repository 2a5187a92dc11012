//! Helpers shared by the fixture tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

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
