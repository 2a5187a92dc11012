//! What a client receives from trackers: parsing never panics, and a parsed
//! message survives serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pml_proto::tracker::TrackerMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(first) = TrackerMessage::parse(text) else {
        return;
    };
    let second = TrackerMessage::parse(&first.to_json()).expect("our own JSON parses");
    assert_eq!(TrackerMessage::parse(&second.to_json()).expect("again"), second);
});
