//! `wss://`: the server with a certificate, reached by a real TLS WebSocket client.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use p2pml_proto::identity::InfoHash;
use p2pml_proto::tracker::{ClientMessage, ScrapeRequest, TrackerMessage};
use p2pml_tracker::{Error, Server, ServerConfig, TlsFiles};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `localhost`, written as PEM files in a
/// directory of its own; returns the files and the certificate (DER).
fn self_signed(name: &str) -> (TlsFiles, rustls::pki_types::CertificateDer<'static>) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("p2pml-tracker-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, certified.cert.pem()).unwrap();
    std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
    (files, certified.cert.der().clone())
}

fn config(tls: TlsFiles) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(tls),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn a_tls_client_scrapes_over_wss() {
    let (files, cert) = self_signed("scrape");
    let server = Server::bind(config(files)).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the TLS handshake succeeds with the server's certificate");
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}", addr.port()), tls)
            .await
            .unwrap();
    let scrape = ClientMessage::Scrape(ScrapeRequest {
        info_hashes: vec![InfoHash::from_binary_string("aaaaaaaaaaaaaaaaaaaa").unwrap()],
    });
    ws.send(Message::text(scrape.to_json())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = reply else {
        panic!("a text reply, got {reply:?}");
    };
    assert!(
        matches!(
            TrackerMessage::parse(text.as_str()).unwrap(),
            TrackerMessage::Scrape(_)
        ),
        "{text}"
    );

    // A plain ws:// client on the TLS port gets no WebSocket.
    let plain = tokio_tungstenite::connect_async(format!("ws://{addr}")).await;
    assert!(plain.is_err());

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_or_mismatched_certificate_is_a_clear_error_before_listening() {
    let (files, _) = self_signed("bad");
    let missing = TlsFiles {
        cert: files.cert.with_extension("absent"),
        key: files.key.clone(),
    };
    let Err(Error::Tls(message)) = Server::bind(config(missing)).await else {
        panic!("a TLS error");
    };
    assert!(message.contains("certificate"), "{message}");

    let (other, _) = self_signed("other");
    let mismatched = TlsFiles {
        cert: files.cert.clone(),
        key: other.key,
    };
    let Err(Error::Tls(message)) = Server::bind(config(mismatched)).await else {
        panic!("a TLS error");
    };
    assert!(message.contains("do not match"), "{message}");
}
