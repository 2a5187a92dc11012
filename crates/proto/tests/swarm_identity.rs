//! Stream short ids, stream swarm ids and info hashes computed by the real
//! p2p-media-loader-core 2.3.1 (`p2pml-swarm-examples.json`).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

mod common;

use p2pml_proto::identity::{
    DEFAULT_PEER_ID_PREFIX, InfoHash, PeerId, StreamDescriptor, StreamType, stream_swarm_id,
    swarm_id_from_manifest_url,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde_json::Value;

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn descriptor(props: &Value) -> StreamDescriptor {
    StreamDescriptor {
        bitrate: props["bitrate"].as_f64(),
        codecs: text(&props["codecs"]),
        width: props["width"].as_u64().map(|w| u32::try_from(w).unwrap()),
        height: props["height"].as_u64().map(|h| u32::try_from(h).unwrap()),
        language: text(&props["language"]),
        channels: text(&props["channels"]),
        name: text(&props["name"]),
        frame_rate: text(&props["frameRate"]),
        video_range: text(&props["videoRange"]),
    }
}

#[test]
fn every_example_matches() {
    let f = common::fixture("p2pml-swarm-examples.json");
    let swarm = swarm_id_from_manifest_url(f["manifestUrl"].as_str().unwrap());
    assert_eq!(swarm, f["swarmIdFromManifest"]);
    let examples = f["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 6);
    for e in examples {
        let d = descriptor(&e["props"]);
        assert_eq!(d.preimage(), e["preimage"], "{}", e["label"]);
        assert_eq!(d.short_id(), e["index"], "{}", e["label"]);
        let kind: StreamType = e["type"].as_str().unwrap().parse().unwrap();
        let id = stream_swarm_id(swarm, kind, &d.short_id());
        assert_eq!(id, e["streamSwarmId"]);
        let hash = InfoHash::from_stream_swarm_id(&id);
        assert_eq!(hash.to_string(), e["infoHash"]);
        assert_eq!(hex::encode(hash.as_bytes()), e["infoHashHex"]);
    }
}

#[test]
fn custom_swarm_id() {
    let f = common::fixture("p2pml-swarm-examples.json");
    let c = &f["customSwarmIdExample"];
    let id = stream_swarm_id(
        c["swarmId"].as_str().unwrap(),
        StreamType::Main,
        c["stream"]["index"].as_str().unwrap(),
    );
    assert_eq!(id, c["streamSwarmId"]);
    assert_eq!(
        InfoHash::from_stream_swarm_id(&id).to_string(),
        c["infoHash"]
    );
}

#[test]
fn legacy_2_2_info_hash() {
    let f = common::fixture("p2pml-swarm-examples.json");
    let l = &f["legacy_2_2_x"];
    let hash = InfoHash::legacy_2_2_from_stream_swarm_id(l["streamSwarmId"].as_str().unwrap());
    assert_eq!(hash.to_string(), l["infoHash"]);
}

#[test]
fn tracker_capture_info_hash() {
    let f = common::fixture("p2pml-tracker-capture.json");
    let id = stream_swarm_id(f["swarmId"].as_str().unwrap(), StreamType::Main, "v2idx");
    assert_eq!(id, f["streamSwarmId"]);
    assert_eq!(
        InfoHash::from_stream_swarm_id(&id).to_string(),
        f["infoHash"]
    );
}

#[test]
fn peer_ids_look_like_p2pml_and_are_seeded() {
    let f = common::fixture("p2pml-swarm-examples.json");
    let sample = f["samplePeerId"].as_str().unwrap();
    assert!(sample.starts_with(f["trackerClientVersionPrefix"].as_str().unwrap()));
    let a = PeerId::generate(DEFAULT_PEER_ID_PREFIX, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let b = PeerId::generate(DEFAULT_PEER_ID_PREFIX, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let c = PeerId::generate(DEFAULT_PEER_ID_PREFIX, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let s = a.to_string();
    assert_eq!(s.len(), sample.len());
    assert!(s.starts_with("-PM0203-"));
    assert!(s[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
    let custom =
        PeerId::generate("-XY0001-abcdefghijkl", &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert_eq!(custom.to_string(), "-XY0001-abcdefghijkl");
    assert!(
        PeerId::generate(
            "-this-prefix-is-too-long-",
            &mut ChaCha8Rng::seed_from_u64(1)
        )
        .is_err()
    );
}
