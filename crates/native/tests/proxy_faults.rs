#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! The proxy with bad input, against our origin on 127.0.0.1: a playlist it
//! cannot read sends the player to the origin with the error (playback goes
//! on over plain HTTP), and origin errors reach the player as they came.

use std::path::PathBuf;
use std::time::Duration;

use p2pml_native::proxy::{Proxy, ProxyConfig, manifest_url};
use p2pml_origin::{Mount, Origin, OriginConfig};

fn media() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../media"))
}

/// A directory of bad playlists, served at `/bad/`: one per test, since the
/// tests run at once and rewriting a shared file empties it for a moment
/// (a concurrent read once got an empty playlist).
fn bad_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("p2pml-proxy-faults-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("garbage.m3u8"), "<html>502 Bad Gateway</html>\n").unwrap();
    std::fs::write(
        dir.join("master.m3u8"),
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nbroken.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=200000\nmedia.m3u8\n",
    )
    .unwrap();
    // A range without offset that follows nothing: no byte is addressable.
    std::fs::write(
        dir.join("broken.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:500\nseg.ts\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("media.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n/hls-ts/240p/seg-000.ts\n\
         #EXTINF:2,\ngone.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    dir
}

struct Setup {
    origin: String,
    proxy: String,
    client: reqwest::Client,
}

impl Setup {
    /// GET `url` as a player would, without following redirects.
    async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// Opens `manifest` through the proxy's public `/manifest?url=` path.
    async fn open(&self, manifest: &str) -> reqwest::Response {
        self.get(&manifest_url(&self.proxy, manifest)).await
    }
}

async fn setup() -> Setup {
    setup_with(ProxyConfig::default()).await
}

async fn setup_with(mut proxy_config: ProxyConfig) -> Setup {
    let mut config = OriginConfig::new(media());
    config.mounts.push(Mount::new("/bad", bad_dir()).unwrap());
    let origin = Origin::bind("127.0.0.1:0", config).await.unwrap();
    let origin_url = format!("http://{}", origin.local_addr());
    tokio::spawn(origin.run(std::future::pending()));
    proxy_config.native.rtc.udp_addrs = vec!["127.0.0.1:0".into()];
    // No tracker: these tests are about HTTP.
    let proxy = Proxy::bind("127.0.0.1:0", proxy_config).await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    tokio::spawn(proxy.run(std::future::pending()));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Setup {
        origin: origin_url,
        proxy: proxy_url,
        client,
    }
}

#[tokio::test]
async fn an_unreadable_manifest_sends_the_player_to_the_origin_with_the_error() {
    let s = setup().await;
    let manifest = format!("{}/bad/garbage.m3u8", s.origin);
    let r = s.open(&manifest).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], manifest.as_str());
    let error = r.headers()["x-p2pml-error"].to_str().unwrap().to_owned();
    assert!(error.contains("no #EXTM3U header"), "{error}");
}

#[tokio::test]
async fn origin_errors_reach_the_player_as_they_came() {
    let s = setup().await;
    let manifest = format!("{}/bad/missing.m3u8", s.origin);
    let direct = s.get(&manifest).await;
    let (status, body) = (direct.status(), direct.text().await.unwrap());
    let r = s.open(&manifest).await;
    assert_eq!(r.status(), status);
    assert_eq!(status, 404);
    assert_eq!(r.text().await.unwrap(), body);
}

#[tokio::test]
async fn a_broken_rendition_plays_from_the_origin_and_the_others_through_the_engine() {
    let s = setup().await;
    let manifest = format!("{}/bad/master.m3u8", s.origin);
    let master = s.open(&manifest).await;
    assert_eq!(master.status(), 200);
    let master = master.text().await.unwrap();
    let playlists: Vec<&str> = master.lines().filter(|l| l.starts_with("http")).collect();
    assert_eq!(playlists.len(), 2, "{master}");

    // The broken media playlist: the player is sent to the origin's copy.
    let broken = s.get(playlists[0]).await;
    assert_eq!(broken.status(), 302);
    assert_eq!(
        broken.headers()["location"],
        format!("{}/bad/broken.m3u8", s.origin).as_str()
    );
    assert!(broken.headers().contains_key("x-p2pml-error"));

    // The good one is rewritten; its first segment comes through the engine.
    let playlist = s.get(playlists[1]).await.text().await.unwrap();
    let segments: Vec<&str> = playlist.lines().filter(|l| l.starts_with("http")).collect();
    assert_eq!(segments.len(), 2, "{playlist}");
    let got = s.get(segments[0]).await;
    assert_eq!(got.status(), 200);
    let want = std::fs::read(media().join("hls-ts/240p/seg-000.ts")).unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), want.as_slice());
    let stats: String = s
        .get(&format!("{}/stats", s.proxy))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        stats.contains(&format!("\"http_bytes\":{}", want.len())),
        "{stats}"
    );

    // A segment the origin does not have: the engine gives up after its
    // retries, and the player gets the origin's own answer.
    let started = std::time::Instant::now();
    let gone = tokio::time::timeout(Duration::from_secs(60), s.client.get(segments[1]).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.status(), 404);
    eprintln!(
        "a missing segment was answered 404 after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn presentations_are_bounded_and_idle_ones_make_room() {
    let s = setup_with(ProxyConfig {
        max_presentations: 1,
        idle_eviction: Duration::from_millis(300),
        ..ProxyConfig::default()
    })
    .await;
    let first = manifest_url(&s.proxy, &format!("{}/hls-ts/master.m3u8", s.origin));
    let second = manifest_url(&s.proxy, &format!("{}/hls-fmp4/master.m3u8", s.origin));
    assert_eq!(s.get(&first).await.status(), 200);
    // The first is still in use: no room.
    assert_eq!(s.get(&second).await.status(), 503);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = s.get(&second).await;
    assert_eq!(r.status(), 200);
    // The second presentation's playlists have a new id; the first's are gone.
    let body = r.text().await.unwrap();
    assert!(body.contains("/p/1/"), "{body}");
    let gone = s.get(&format!("{}/p/0/1.m3u8", s.proxy)).await;
    assert_eq!(gone.status(), 404);
}
