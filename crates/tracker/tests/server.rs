//! The real server on 127.0.0.1:0 with real WebSocket and HTTP clients.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use p2pml_proto::identity::{InfoHash, OfferId, PeerId};
use p2pml_proto::tracker::{
    AnnounceEvent, AnnounceRequest, AnswerRequest, ClientMessage, Offer, ScrapeRequest, SdpType,
    SessionDescription, TrackerMessage,
};
use p2pml_tracker::{CloseReason, Server, ServerConfig, Stats, TrackerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

struct Running {
    ws: SocketAddr,
    metrics: SocketAddr,
    stats: watch::Receiver<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), p2pml_tracker::Error>>,
}

fn config(tracker: TrackerConfig) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        tracker: TrackerConfig {
            seed: Some(1),
            ..tracker
        },
        ..ServerConfig::default()
    }
}

async fn start(config: ServerConfig) -> Running {
    let server = Server::bind(config).await.unwrap();
    let ws = server.local_addr().unwrap();
    let metrics = server.metrics_addr().unwrap().unwrap();
    let stats = server.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Running {
        ws,
        metrics,
        stats,
        stop: Some(stop),
        task,
    }
}

async fn client(addr: SocketAddr) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, message: &ClientMessage) {
    ws.send(Message::text(message.to_json())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> TrackerMessage {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("connection open")
            .expect("no error");
        if let Message::Text(text) = message {
            return TrackerMessage::parse(text.as_str()).unwrap();
        }
    }
}

async fn failure(ws: &mut Ws) -> String {
    match recv(ws).await {
        TrackerMessage::Failure(f) => f.reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// True once the server has closed the connection (close frame, EOF or reset).
async fn closed(ws: &mut Ws) -> bool {
    let until_closed = async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, until_closed).await.is_ok()
}

fn hash() -> InfoHash {
    InfoHash::from_binary_string("sNS9hkFnoJOLT+X2k7+f").unwrap()
}

fn peer(c: u8) -> PeerId {
    let mut id = *b"-PM0203-5WtNoo3wtVu0";
    id[19] = c;
    PeerId::from(id)
}

fn announce(who: u8, offers: usize) -> ClientMessage {
    let offers = (0..offers)
        .map(|n| Offer {
            offer: SessionDescription {
                kind: SdpType::Offer,
                sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".to_owned(),
            },
            // Binary ids with control and high bytes, as browsers send them.
            offer_id: OfferId::from([
                n as u8, 0x14, 0xff, 0x80, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, who,
            ]),
        })
        .collect();
    let event = Some(AnnounceEvent::Started);
    ClientMessage::Announce(AnnounceRequest::new(hash(), peer(who), event, offers).unwrap())
}

fn scrape(count: usize) -> ClientMessage {
    let info_hashes = (0..count)
        .map(|n| {
            let mut bytes = [b'h'; 20];
            bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
            InfoHash::from(bytes)
        })
        .chain([hash()])
        .collect();
    ClientMessage::Scrape(ScrapeRequest { info_hashes })
}

async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// Waits until the metrics satisfy `f`.
async fn stats_until(stats: &mut watch::Receiver<Stats>, f: impl Fn(&Stats) -> bool) -> Stats {
    *tokio::time::timeout(WAIT, stats.wait_for(|s| f(s)))
        .await
        .expect("metrics in time")
        .unwrap()
}

/// The other client still gets answers: the failure stayed on its connection.
async fn still_works(ws: &mut Ws) {
    send(ws, &scrape(0)).await;
    assert!(matches!(recv(ws).await, TrackerMessage::Scrape(_)));
}

#[tokio::test]
async fn two_clients_exchange_offer_and_answer() {
    let server = start(config(TrackerConfig::default())).await;
    let mut a = client(server.ws).await;
    let mut b = client(server.ws).await;
    send(&mut b, &announce(b'b', 0)).await;
    let TrackerMessage::AnnounceResponse(r) = recv(&mut b).await else {
        panic!()
    };
    assert_eq!((r.interval_secs, r.incomplete), (Some(120.0), Some(1)));

    send(&mut a, &announce(b'a', 2)).await;
    let TrackerMessage::AnnounceResponse(r) = recv(&mut a).await else {
        panic!()
    };
    assert_eq!(r.incomplete, Some(2));
    let TrackerMessage::Offer(offer) = recv(&mut b).await else {
        panic!()
    };
    assert_eq!((offer.peer_id, offer.info_hash), (peer(b'a'), hash()));

    let answer = ClientMessage::Answer(AnswerRequest {
        info_hash: hash(),
        peer_id: peer(b'b'),
        to_peer_id: peer(b'a'),
        answer: SessionDescription {
            kind: SdpType::Answer,
            sdp: "v=0\r\n".to_owned(),
        },
        offer_id: offer.offer_id,
        tracker_id: None,
    });
    send(&mut b, &answer).await;
    let TrackerMessage::Answer(got) = recv(&mut a).await else {
        panic!()
    };
    assert_eq!((got.peer_id, got.offer_id), (peer(b'b'), offer.offer_id));
    assert_eq!(got.answer.sdp, "v=0\r\n");
}

#[tokio::test]
async fn scrape_over_the_socket() {
    let server = start(config(TrackerConfig::default())).await;
    let mut a = client(server.ws).await;
    send(&mut a, &announce(b'a', 0)).await;
    recv(&mut a).await;
    send(&mut a, &scrape(2)).await;
    let TrackerMessage::Scrape(s) = recv(&mut a).await else {
        panic!()
    };
    assert_eq!(s.files.len(), 3);
    assert_eq!(s.files[&hash()].incomplete, 1);
}

#[tokio::test]
async fn malformed_input_fails_on_its_connection_only() {
    let server = start(config(TrackerConfig::default())).await;
    let mut good = client(server.ws).await;
    let mut bad = client(server.ws).await;
    for text in [
        "{not json",
        r#"{"action":"connect","info_hash":"sNS9hkFnoJOLT+X2k7+f"}"#,
        r#"{"action":"announce","info_hash":"sNS9hkFnoJOLT+X2k7+","peer_id":"-PM0203-5WtNoo3wtVui"}"#,
        r#"{"action":"scrape","info_hash":["sNS9hkFnoJOLT+X2k7+f12"]}"#,
    ] {
        bad.send(Message::text(text)).await.unwrap();
        let reason = failure(&mut bad).await;
        assert!(reason.starts_with("invalid message"), "{text}: {reason}");
        still_works(&mut good).await;
    }
    bad.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert!(failure(&mut bad).await.contains("binary frames"));
    still_works(&mut good).await;
    still_works(&mut bad).await;
    let mut stats = server.stats.clone();
    let s = stats_until(&mut stats, |s| s.errors.iter().sum::<u64>() == 5).await;
    assert_eq!(
        s.errors[p2pml_tracker::REFUSAL_KINDS
            .iter()
            .position(|k| *k == "binary")
            .unwrap()],
        1
    );
}

#[tokio::test]
async fn oversized_frame_closes_that_connection() {
    let server = start(config(TrackerConfig::default())).await;
    let mut good = client(server.ws).await;
    let mut bad = client(server.ws).await;
    let huge = format!(r#"{{"action":"scrape","pad":"{}"}}"#, "x".repeat(70 * 1024));
    // The server may close before the whole frame is written.
    let _ = bad.send(Message::text(huge)).await;
    assert!(closed(&mut bad).await);
    still_works(&mut good).await;
    let mut stats = server.stats.clone();
    stats_until(&mut stats, |s| {
        s.closes[CloseReason::Protocol as usize] == 1
    })
    .await;
}

#[tokio::test]
async fn message_rate_limit() {
    let server = start(config(TrackerConfig {
        max_messages_per_sec: 1,
        message_burst: 3,
        ..TrackerConfig::default()
    }))
    .await;
    let mut ws = client(server.ws).await;
    for _ in 0..3 {
        send(&mut ws, &scrape(0)).await;
    }
    send(&mut ws, &scrape(0)).await;
    for _ in 0..3 {
        assert!(matches!(recv(&mut ws).await, TrackerMessage::Scrape(_)));
    }
    assert_eq!(
        failure(&mut ws).await,
        "too many messages: at most 1 per second"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    still_works(&mut ws).await;
}

#[tokio::test]
async fn connection_cap() {
    let server = start(config(TrackerConfig {
        max_connections: 2,
        ..TrackerConfig::default()
    }))
    .await;
    let mut one = client(server.ws).await;
    let _two = client(server.ws).await;
    let mut three = client(server.ws).await;
    assert_eq!(
        failure(&mut three).await,
        "too many connections (2); try again later"
    );
    assert!(closed(&mut three).await);
    still_works(&mut one).await;
    drop(one);
    let mut stats = server.stats.clone();
    stats_until(&mut stats, |s| s.connections == 1).await;
    still_works(&mut client(server.ws).await).await;
}

#[tokio::test]
async fn slow_reader_is_disconnected() {
    let server = start(ServerConfig {
        outbound_queue: 4,
        write_timeout_secs: 60,
        ..config(TrackerConfig {
            max_messages_per_sec: 100_000,
            message_burst: 100_000,
            ..TrackerConfig::default()
        })
    })
    .await;
    let mut good = client(server.ws).await;
    let mut slow = client(server.ws).await;
    // Each scrape answer is about 50 KiB; the slow client never reads, so
    // the socket buffers fill, then its queue, and the server drops it.
    let request = Message::text(scrape(600).to_json());
    let mut stats = server.stats.clone();
    for _ in 0..2000 {
        if slow.send(request.clone()).await.is_err() {
            break;
        }
        if stats.borrow().closes[CloseReason::SlowReader as usize] > 0 {
            break;
        }
    }
    stats_until(&mut stats, |s| {
        s.closes[CloseReason::SlowReader as usize] == 1
    })
    .await;
    assert!(closed(&mut slow).await);
    still_works(&mut good).await;
}

#[tokio::test]
async fn metrics_and_health_over_http() {
    let server = start(config(TrackerConfig::default())).await;
    let mut a = client(server.ws).await;
    send(&mut a, &announce(b'a', 0)).await;
    recv(&mut a).await;
    let mut stats = server.stats.clone();
    stats_until(&mut stats, |s| s.announces == 1).await;
    let (status, body) = http_get(server.metrics, "/health").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    let (status, body) = http_get(server.metrics, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    for line in [
        "p2pml_tracker_connections 1",
        "p2pml_tracker_swarms 1",
        "p2pml_tracker_peers 1",
        "p2pml_tracker_announces_total 1",
        "p2pml_tracker_offers_relayed_total 0",
        "p2pml_tracker_errors_total{kind=\"malformed\"} 0",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
    }
    let (status, _) = http_get(server.metrics, "/nope").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn shutdown_closes_connections_and_returns() {
    let mut server = start(config(TrackerConfig::default())).await;
    let mut a = client(server.ws).await;
    still_works(&mut a).await;
    server.stop.take().unwrap().send(()).unwrap();
    assert!(closed(&mut a).await);
    tokio::time::timeout(WAIT, server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(server.ws).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn a_request_that_is_not_a_websocket_upgrade_gets_400() {
    let server = start(config(TrackerConfig::default())).await;
    let (status, _) = http_get(server.ws, "/announce").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let mut ws = client(server.ws).await;
    still_works(&mut ws).await;
}

#[tokio::test]
async fn pings_get_pongs_and_fragmented_messages_are_whole() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let server = start(config(TrackerConfig::default())).await;
    let mut ws = client(server.ws).await;
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hi".to_vec().into()));
    // A scrape in two fragments.
    let text = scrape(0).to_json();
    let (first, second) = text.split_at(10);
    let fragment = |opcode, is_final, bytes: &str| {
        let header = FrameHeader {
            is_final,
            opcode,
            ..FrameHeader::default()
        };
        Message::Frame(Frame::from_payload(
            header,
            bytes.as_bytes().to_vec().into(),
        ))
    };
    ws.send(fragment(OpCode::Data(Data::Text), false, first))
        .await
        .unwrap();
    ws.send(fragment(OpCode::Data(Data::Continue), true, second))
        .await
        .unwrap();
    assert!(matches!(recv(&mut ws).await, TrackerMessage::Scrape(_)));
}
