//! Stream identity from arbitrary attribute strings (what a hostile or broken
//! playlist can contain): never panics, always well-formed ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pml_proto::identity::{InfoHash, StreamDescriptor, StreamType, stream_swarm_id};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}').map(|s| Some(s.to_owned()));
    let mut next = || parts.next().flatten();
    let d = StreamDescriptor {
        bitrate: next().and_then(|s| s.parse().ok()),
        codecs: next(),
        width: None,
        height: None,
        language: next(),
        channels: next(),
        name: next(),
        frame_rate: next(),
        video_range: next(),
    };
    let index = d.short_id();
    assert_eq!(index.len(), 28);
    let swarm = next().unwrap_or_default();
    let hash = InfoHash::from_stream_swarm_id(&stream_swarm_id(&swarm, StreamType::Secondary, &index));
    assert_eq!(hash.to_string().len(), 20);
});
