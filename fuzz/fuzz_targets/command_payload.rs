//! A joined command payload: decoding never panics, and whatever decodes
//! re-encodes to bytes that decode to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pml_proto::command::{EncodeError, PeerCommand};

fuzz_target!(|data: &[u8]| {
    let Ok(first) = PeerCommand::decode(data) else {
        return;
    };
    // Decoding regroups ids by block, so compare after one normalisation.
    let payload = match first.encode_payload() {
        Ok(p) => p,
        // Lossy UTF-8 repair can lengthen a string past 4095 bytes.
        Err(EncodeError::StringTooLong { .. }) => return,
        Err(e) => panic!("decoded command does not encode: {e}: {first:?}"),
    };
    let second = PeerCommand::decode(&payload).expect("our own encoding decodes");
    assert_eq!(second.encode_payload().expect("re-encodes"), payload);
    for max in [3, 64, 65_535] {
        assert!(!second.encode(max).expect("frames").is_empty());
    }
});
