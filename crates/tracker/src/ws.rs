//! The server side of WebSocket (RFC 6455), as much as a tracker needs: the
//! opening handshake, reading masked client frames (fragmented messages,
//! ping, close), and writing unmasked text frames.
//!
//! Written for memory: an idle connection holds only a 512-byte read buffer.
//! A message is read into a buffer of its exact length that is freed once it
//! is handled, and frames are written from a buffer freed after the write,
//! so tens of thousands of quiet connections do not each keep the largest
//! message they ever saw (a general WebSocket library keeps its buffers
//! grown).

use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest request head accepted in the opening handshake.
const MAX_HEAD: usize = 8 * 1024;
/// Bytes read ahead of the frame being parsed (headers, small frames).
const READ_AHEAD: usize = 512;
/// RFC 6455 §1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// The socket failed or closed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol (or sent a message over the size limit).
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

/// A complete message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    Close,
}

/// Reads the client's upgrade request and answers `101 Switching
/// Protocols`, or `400`/`426` and an error. Bytes the client sent after its
/// request head, if any, are returned (they belong to the first frames).
pub(crate) async fn accept<S>(stream: &mut S, timeout: Duration) -> Result<Vec<u8>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read_head = async {
        let mut head = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = find(&head, b"\r\n\r\n") {
                return Ok((head, end + 4));
            }
            if head.len() >= MAX_HEAD {
                return Err(WsError::Protocol("request head too long"));
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(WsError::Protocol("closed during the handshake"));
            }
            head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    };
    let (head, end) = tokio::time::timeout(timeout, read_head)
        .await
        .map_err(|_| WsError::Protocol("handshake timed out"))??;
    let text = String::from_utf8_lossy(head.get(..end).unwrap_or_default());
    match check_request(&text) {
        Ok(key) => {
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(key)
            );
            stream.write_all(response.as_bytes()).await?;
            stream.flush().await?;
            Ok(head.get(end..).unwrap_or_default().to_vec())
        }
        Err((status, why)) => {
            let extra = if status.starts_with("426") {
                "Sec-WebSocket-Version: 13\r\n"
            } else {
                ""
            };
            let response = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes()).await;
            Err(WsError::Protocol(why))
        }
    }
}

/// The `Sec-WebSocket-Key` of a valid upgrade request, or the status to
/// answer and why.
fn check_request(head: &str) -> Result<&str, (&'static str, &'static str)> {
    const BAD: &str = "400 Bad Request";
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut words = request.split(' ');
    if words.next() != Some("GET") || words.nth(1).is_none_or(|v| v != "HTTP/1.1") {
        return Err((BAD, "not a GET over HTTP/1.1"));
    }
    let (mut upgrade, mut connection, mut version, mut key) = (false, false, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let has_token = |token: &str| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "upgrade" => upgrade |= has_token("websocket"),
            "connection" => connection |= has_token("upgrade"),
            "sec-websocket-version" => version = Some(value),
            "sec-websocket-key" => key = Some(value),
            _ => {}
        }
    }
    if !upgrade || !connection {
        return Err((BAD, "not a WebSocket upgrade"));
    }
    if version != Some("13") {
        return Err(("426 Upgrade Required", "unsupported WebSocket version"));
    }
    let key = key.ok_or((BAD, "no Sec-WebSocket-Key"))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if decoded.map_or(true, |k| k.len() != 16) {
        return Err((BAD, "malformed Sec-WebSocket-Key"));
    }
    Ok(key)
}

/// RFC 6455 §4.2.2: base64 of the SHA-1 of the key and the GUID.
fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads client frames and reassembles messages of at most `max` bytes.
pub(crate) struct Reader<R> {
    io: R,
    ahead: [u8; READ_AHEAD],
    start: usize,
    end: usize,
    max: usize,
    /// A fragmented message being reassembled: its opcode and bytes so far.
    partial: Option<(u8, Vec<u8>)>,
}

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader of messages up to `max` bytes; `early` are bytes the
    /// handshake read past the request (at most 512 are accepted).
    pub(crate) fn new(io: R, max: usize, early: &[u8]) -> Result<Self, WsError> {
        let mut ahead = [0u8; READ_AHEAD];
        let Some(slot) = ahead.get_mut(..early.len()) else {
            return Err(WsError::Protocol(
                "too much data before the handshake ended",
            ));
        };
        slot.copy_from_slice(early);
        Ok(Self {
            io,
            ahead,
            start: 0,
            end: early.len(),
            max,
            partial: None,
        })
    }

    /// The next message or control frame; `None` when the socket closed
    /// between frames.
    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>, WsError> {
        loop {
            if !self.have(2).await? {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(WsError::Protocol("closed inside a frame"))
                };
            }
            let header = self.header().await?;
            match header.opcode {
                CLOSE..=PONG => {
                    if !header.fin || header.len > 125 {
                        return Err(WsError::Protocol("malformed control frame"));
                    }
                    let payload = self.payload(&header).await?;
                    return Ok(Some(match header.opcode {
                        0x8 => Incoming::Close,
                        0x9 => Incoming::Ping(payload),
                        _ => Incoming::Pong,
                    }));
                }
                0x0..=0x2 => {
                    if let Some(message) = self.data(header).await? {
                        return Ok(Some(message));
                    }
                }
                _ => return Err(WsError::Protocol("unknown opcode")),
            }
        }
    }

    /// A data frame: a whole message, or a fragment of one.
    async fn data(&mut self, header: Header) -> Result<Option<Incoming>, WsError> {
        let so_far = self.partial.as_ref().map_or(0, |(_, p)| p.len());
        if so_far.saturating_add(header.len) > self.max {
            return Err(WsError::Protocol("message over the size limit"));
        }
        let (opcode, bytes) = match (header.opcode, self.partial.take()) {
            (0x0, None) => return Err(WsError::Protocol("continuation without a message")),
            (0x0, Some((opcode, mut bytes))) => {
                bytes.extend_from_slice(&self.payload(&header).await?);
                (opcode, bytes)
            }
            (_, Some(_)) => return Err(WsError::Protocol("new message inside a fragmented one")),
            (opcode, None) => (opcode, self.payload(&header).await?),
        };
        if !header.fin {
            self.partial = Some((opcode, bytes));
            return Ok(None);
        }
        Ok(Some(if opcode == 0x1 {
            let text =
                String::from_utf8(bytes).map_err(|_| WsError::Protocol("text is not UTF-8"))?;
            Incoming::Text(text)
        } else {
            Incoming::Binary
        }))
    }

    /// Parses the header at `start` (at least two bytes are there).
    async fn header(&mut self) -> Result<Header, WsError> {
        let [b0, b1] = [self.byte(0), self.byte(1)];
        if b0 & 0x70 != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(WsError::Protocol("client frame not masked"));
        }
        let extra = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if !self.have(2 + extra + 4).await? {
            return Err(WsError::Protocol("closed inside a frame header"));
        }
        let len = match extra {
            0 => u64::from(b1 & 0x7f),
            n => (0..n).fold(0u64, |acc, i| (acc << 8) | u64::from(self.byte(2 + i))),
        };
        let mask = [0, 1, 2, 3].map(|i| self.byte(2 + extra + i));
        self.start += 2 + extra + 4;
        Ok(Header {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            mask,
            // Over the limit anyway if it does not fit a usize.
            len: usize::try_from(len).unwrap_or(usize::MAX),
        })
    }

    /// The unmasked payload, in a buffer of its exact length.
    async fn payload(&mut self, header: &Header) -> Result<Vec<u8>, WsError> {
        let mut payload = Vec::with_capacity(header.len);
        let buffered = (self.end - self.start).min(header.len);
        payload.extend_from_slice(
            self.ahead
                .get(self.start..self.start + buffered)
                .unwrap_or_default(),
        );
        self.start += buffered;
        // The rest straight from the socket into the spare capacity (not
        // zeroed first: a large message is read once, written once).
        while payload.len() < header.len {
            let mut rest = (&mut self.io).take((header.len - payload.len()) as u64);
            if rest.read_buf(&mut payload).await? == 0 {
                return Err(WsError::Protocol("closed inside a frame"));
            }
        }
        unmask(&mut payload, header.mask);
        Ok(payload)
    }

    fn byte(&self, at: usize) -> u8 {
        self.ahead.get(self.start + at).copied().unwrap_or_default()
    }

    /// Makes sure `n` bytes (at most [`READ_AHEAD`]) are buffered; false if
    /// the socket closed first.
    async fn have(&mut self, n: usize) -> Result<bool, WsError> {
        while self.end - self.start < n {
            if self.start > 0 {
                self.ahead.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let Some(free) = self.ahead.get_mut(self.end..) else {
                return Ok(false);
            };
            let read = self.io.read(free).await?;
            if read == 0 {
                return Ok(false);
            }
            self.end += read;
        }
        Ok(true)
    }
}

/// XORs `payload` with the repeated 4-byte `mask`, eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the mask starts over.
    for (byte, m) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= m;
    }
}

/// Appends one unmasked frame (FIN set) of `opcode` to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(u8::try_from(n).unwrap_or(125)),
        n @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Opcode of a text frame.
pub(crate) const TEXT: u8 = 0x1;
/// Opcode of a close frame.
pub(crate) const CLOSE: u8 = 0x8;
/// Opcode of a pong frame.
pub(crate) const PONG: u8 = 0xA;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn reads_whole_fragmented_and_control_frames() {
        let long = "x".repeat(3000);
        let mut wire = masked(TEXT, true, b"hello");
        wire.extend(masked(TEXT, false, b"frag"));
        wire.extend(masked(0x9, true, b"p"));
        wire.extend(masked(0x0, true, b"ment"));
        wire.extend(masked(TEXT, true, long.as_bytes()));
        wire.extend(masked(0x2, true, &[0, 1]));
        wire.extend(masked(CLOSE, true, &[]));
        let (early, rest) = wire.split_at(3);
        let mut reader = Reader::new(rest, 4096, early).unwrap();
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Incoming::Text("hello".into()))
        );
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Incoming::Ping(b"p".to_vec()))
        );
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Incoming::Text("fragment".into()))
        );
        assert_eq!(reader.next().await.unwrap(), Some(Incoming::Text(long)));
        assert_eq!(reader.next().await.unwrap(), Some(Incoming::Binary));
        assert_eq!(reader.next().await.unwrap(), Some(Incoming::Close));
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn refuses_what_the_protocol_forbids() {
        for (wire, why) in [
            (masked(TEXT, true, &[0xff, 0xfe]), "text is not UTF-8"),
            (
                masked(TEXT, true, &[b'a'; 200]),
                "message over the size limit",
            ),
            (masked(0x0, true, b"x"), "continuation without a message"),
            (masked(0x3, true, b"x"), "unknown opcode"),
            (vec![0x81, 0x01, b'a'], "client frame not masked"),
            (vec![0xC1, 0x81, 0, 0, 0, 0, b'a'], "reserved bits set"),
        ] {
            let mut reader = Reader::new(&wire[..], 100, &[]).unwrap();
            match reader.next().await {
                Err(WsError::Protocol(got)) => assert_eq!(got, why),
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn frames_use_the_shortest_length() {
        for (len, header) in [(5usize, 2usize), (126, 4), (70_000, 10)] {
            let mut out = Vec::new();
            frame(&mut out, TEXT, &vec![b'a'; len]);
            assert_eq!(out.len(), header + len);
            assert_eq!(out[0], 0x81);
        }
    }

    #[test]
    fn upgrade_requests_are_checked() {
        let ok = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(check_request(ok), Ok("dGhlIHNhbXBsZSBub25jZQ=="));
        let v12 = ok.replace("Version: 13", "Version: 12");
        assert_eq!(check_request(&v12).unwrap_err().0, "426 Upgrade Required");
        let plain = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(check_request(plain).unwrap_err().0, "400 Bad Request");
        let bad_key = ok.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert!(check_request(&bad_key).is_err());
    }
}
