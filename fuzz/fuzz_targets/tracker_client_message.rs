//! What a tracker receives from clients: parsing never panics, and a parsed
//! message survives serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pml_proto::tracker::ClientMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(first) = ClientMessage::parse(text) else {
        return;
    };
    // Defaults are filled in on the first pass (numwant, uploaded, ...).
    let second = ClientMessage::parse(&first.to_json()).expect("our own JSON parses");
    assert_eq!(ClientMessage::parse(&second.to_json()).expect("again"), second);
});
