//! Session descriptions shaped like a browser's data-channel offer and
//! answer (non-trickle: every candidate inside), grown to a target size with
//! more host candidates, as a machine with several interfaces sends.

use std::fmt::Write;

/// An SDP of about `size` bytes (at least the fixed part, about 500 bytes).
/// `setup` is `actpass` for an offer and `active` for an answer; `seed`
/// varies the session id, ICE credentials and fingerprint.
pub(crate) fn session(setup: &str, size: usize, seed: u64) -> String {
    let hex = |n: u64| format!("{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let fingerprint: Vec<String> = (0..32)
        .map(|i| format!("{:02X}", (seed.wrapping_mul(31).wrapping_add(i * 7)) & 0xff))
        .collect();
    let mut sdp = String::with_capacity(size + 128);
    // Writing to a String cannot fail.
    let _ = write!(
        sdp,
        "v=0\r\n\
         o=- {session} 2 IN IP4 127.0.0.1\r\n\
         s=-\r\n\
         t=0 0\r\n\
         a=group:BUNDLE 0\r\n\
         a=extmap-allow-mixed\r\n\
         a=msid-semantic: WMS\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
         c=IN IP4 0.0.0.0\r\n",
        session = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 1,
    );
    let tail = format!(
        "a=ice-ufrag:{ufrag}\r\n\
         a=ice-pwd:{pwd}\r\n\
         a=ice-options:trickle\r\n\
         a=fingerprint:sha-256 {fingerprint}\r\n\
         a=setup:{setup}\r\n\
         a=mid:0\r\n\
         a=sctp-port:5000\r\n\
         a=max-message-size:262144\r\n",
        ufrag = hex(seed).get(..4).unwrap_or_default(),
        pwd = format!("{}{}", hex(seed + 1), hex(seed + 2))
            .get(..24)
            .unwrap_or_default(),
        fingerprint = fingerprint.join(":"),
    );
    let mut n = 0u64;
    while sdp.len() + tail.len() < size {
        let id = hex(seed ^ (n << 32));
        let _ = write!(
            sdp,
            "a=candidate:{foundation} 1 udp 2113937151 {a}-{b}-{c}.local {port} typ host generation 0 network-cost 999\r\n",
            foundation = 1_000_000_000 + n * 7_919,
            a = id.get(..8).unwrap_or_default(),
            b = id.get(8..12).unwrap_or_default(),
            c = id.get(12..).unwrap_or_default(),
            port = 50_000 + n * 17,
        );
        n += 1;
    }
    sdp.push_str(&tail);
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_the_size_asked_and_looks_like_sdp() {
        let sdp = session("actpass", 1500, 42);
        assert!((1500..1700).contains(&sdp.len()), "{}", sdp.len());
        assert!(sdp.starts_with("v=0\r\n") && sdp.ends_with("\r\n"));
        assert!(sdp.contains("a=setup:actpass") && sdp.contains("typ host"));
        assert_ne!(session("actpass", 1500, 1), session("actpass", 1500, 2));
    }
}
