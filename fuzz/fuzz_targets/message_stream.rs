//! A stream of data-channel messages through one connection's receive path:
//! never panics, and the joiner never holds more than its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2pml_proto::command::{Incoming, PeerMessageReader};

const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut reader = PeerMessageReader::new(CAP);
    // The first byte of each record is its length; the rest is the message.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (message, tail) = tail.split_at(len);
        rest = tail;
        // Frame every other record so that command parts are common.
        let framed;
        let message = if len % 2 == 0 {
            let head: &[u8] = if len % 4 == 0 { b"cstr" } else { b"dstr" };
            let end: &[u8] = if len % 3 == 0 { b"cend" } else { b"dend" };
            framed = [head, message, end].concat();
            &framed[..]
        } else {
            message
        };
        if let Ok(Incoming::SegmentData(d)) = reader.read(message) {
            assert_eq!(d.len(), message.len());
        }
    }
});
