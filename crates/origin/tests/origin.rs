#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::type_complexity,
    missing_docs
)]
//! Black-box tests: a real origin on 127.0.0.1:0 serving the repository's `media/`, asked by a
//! real HTTP/1.1 client (hyper's).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use p2pml_origin::{Mount, Origin, OriginConfig};

fn media_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media")
}

/// Starts an origin whose live clock reads `millis`.
async fn start(config: OriginConfig, millis: Arc<AtomicU64>) -> SocketAddr {
    let clock = move || Duration::from_millis(millis.load(Ordering::SeqCst));
    let origin = Origin::bind_with_clock("127.0.0.1:0", config, Arc::new(clock))
        .await
        .unwrap();
    let addr = origin.local_addr();
    tokio::spawn(origin.run(std::future::pending()));
    addr
}

async fn start_media() -> SocketAddr {
    start(OriginConfig::new(media_dir()), Arc::default()).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

async fn request(addr: SocketAddr, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, Method::GET, path, &[]).await
}

#[tokio::test]
async fn serves_files_with_types_length_and_cors() {
    let addr = start_media().await;
    let on_disk = std::fs::read(media_dir().join("hls-ts/240p/seg-003.ts")).unwrap();
    let r = get(addr, "/hls-ts/240p/seg-003.ts").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, on_disk);
    assert_eq!(r.header("content-type"), "video/mp2t");
    assert_eq!(r.header("content-length"), on_disk.len().to_string());
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert_eq!(
        r.header("access-control-expose-headers"),
        "Content-Length, Content-Range"
    );

    for (path, ty) in [
        ("/hls-ts/master.m3u8", "application/vnd.apple.mpegurl"),
        ("/dash/manifest.mpd", "application/dash+xml"),
        ("/dash/seg-0-001.m4s", "video/iso.segment"),
        ("/dash/init-0.mp4", "video/mp4"),
    ] {
        let r = get(addr, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), ty, "{path}");
    }
    assert_eq!(get(addr, "/nope.ts").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(addr, "/hls-ts").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ranges_give_206_or_416() {
    let addr = start_media().await;
    let on_disk = std::fs::read(media_dir().join("dash/seg-1-002.m4s")).unwrap();
    let len = on_disk.len();
    let path = "/dash/seg-1-002.m4s";

    let r = request(addr, Method::GET, path, &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, on_disk[100..200]);
    assert_eq!(r.header("content-range"), format!("bytes 100-199/{len}"));
    assert_eq!(r.header("content-length"), "100");

    let r = request(addr, Method::GET, path, &[("range", "bytes=1000-")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, on_disk[1000..]);

    let r = request(addr, Method::GET, path, &[("range", "bytes=-10")]).await;
    assert_eq!(r.body, on_disk[len - 10..]);
    assert_eq!(
        r.header("content-range"),
        format!("bytes {}-{}/{len}", len - 10, len - 1)
    );

    let past = format!("bytes={len}-");
    let r = request(addr, Method::GET, path, &[("range", &past)]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), format!("bytes */{len}"));
    assert!(r.body.is_empty());

    // Several ranges are answered whole, as RFC 9110 allows.
    let r = request(addr, Method::GET, path, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), len);
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let addr = start_media().await;
    let len = std::fs::metadata(media_dir().join("hls-ts/480p/seg-000.ts"))
        .unwrap()
        .len();
    let r = request(addr, Method::HEAD, "/hls-ts/480p/seg-000.ts", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), len.to_string());
    assert_eq!(r.header("content-type"), "video/mp2t");
    assert!(r.body.is_empty());

    let r = request(
        addr,
        Method::HEAD,
        "/hls-ts/480p/seg-000.ts",
        &[("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-length"), "10");
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn preflight_and_other_methods() {
    let addr = start_media().await;
    let r = request(
        addr,
        Method::OPTIONS,
        "/hls-ts/master.m3u8",
        &[
            ("origin", "http://example.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "range"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(r.header("access-control-allow-methods").contains("GET"));
    let r = request(addr, Method::POST, "/hls-ts/master.m3u8", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn paths_outside_the_served_directories_are_refused() {
    let dir = media_dir();
    let mut config = OriginConfig::new(dir.join("hls-ts"));
    config
        .mounts
        .push(Mount::new("/web", dir.join("hls-fmp4")).unwrap());
    let addr = start(config, Arc::default()).await;
    // The target exists (media/README.md), one level above each served directory.
    for path in [
        "/../README.md",
        "/240p/../../README.md",
        "/%2e%2e/README.md",
        "/240p/%2E%2E%2F%2E%2E%2FREADME.md",
        "/web/../README.md",
        "/web/%2e%2e/README.md",
        "/live/6/../../README.md",
        "/live/6/pass-0/%2e%2e/README.md",
        "/240p/..%5c..%5cREADME.md",
    ] {
        let r = get(addr, path).await;
        assert!(
            r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            r.status
        );
        assert!(!r.text().contains("Test media"), "{path} leaked the file");
    }
    // The mount and the media root still serve what is inside them.
    assert_eq!(get(addr, "/web/master.m3u8").await.status, StatusCode::OK);
    assert_eq!(get(addr, "/240p/index.m3u8").await.status, StatusCode::OK);
}

fn tag(playlist: &str, name: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{playlist}"))
}

fn uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn live_window_slides_with_the_clock_and_wraps_with_a_discontinuity() {
    let millis = Arc::new(AtomicU64::new(0));
    let addr = start(OriginConfig::new(media_dir()), Arc::clone(&millis)).await;
    let vod = get(addr, "/hls-ts/240p/index.m3u8").await;
    let n = uris(vod.text()).len() as u64;
    assert_eq!(n, 30);

    for window in [6_u64, 20] {
        let path = format!("/live/{window}/hls-ts/240p/index.m3u8");
        millis.store(0, Ordering::SeqCst);
        let r = get(addr, &path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "application/vnd.apple.mpegurl");
        assert_eq!(r.header("cache-control"), "no-store");
        let p = r.text();
        assert!(!p.contains("#EXT-X-ENDLIST"));
        assert_eq!(tag(p, "#EXT-X-MEDIA-SEQUENCE"), 0);
        assert_eq!(uris(p).len() as u64, window);

        // Every segment listed is served, with the VOD bytes.
        let first = &uris(p)[0];
        assert_eq!(
            first,
            &format!("/live/{window}/pass-0/hls-ts/240p/seg-000.ts")
        );
        let seg = get(addr, first).await;
        assert_eq!(seg.status, StatusCode::OK);
        assert_eq!(seg.header("content-type"), "video/mp2t");
        assert_eq!(seg.body, get(addr, "/hls-ts/240p/seg-000.ts").await.body);

        // One target duration (2 s) later the window moved by one.
        millis.store(2_000, Ordering::SeqCst);
        let p = get(addr, &path).await;
        assert_eq!(tag(p.text(), "#EXT-X-MEDIA-SEQUENCE"), 1);

        // The window crosses the end of the VOD: a discontinuity, new URIs.
        let first_seq = n - window / 2;
        millis.store(first_seq * 2_000, Ordering::SeqCst);
        let p = get(addr, &path).await;
        let p = p.text();
        assert_eq!(tag(p, "#EXT-X-MEDIA-SEQUENCE"), first_seq);
        assert_eq!(tag(p, "#EXT-X-DISCONTINUITY-SEQUENCE"), 0);
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        let listed = uris(p);
        assert_eq!(
            listed[(window / 2) as usize],
            format!("/live/{window}/pass-1/hls-ts/240p/seg-000.ts")
        );
        let seg = get(addr, &listed[(window / 2) as usize]).await;
        assert_eq!(seg.status, StatusCode::OK);

        // Once the wrap has left the window, the discontinuity is counted in the sequence.
        millis.store((n + 1) * 2_000, Ordering::SeqCst);
        let p = get(addr, &path).await;
        assert_eq!(tag(p.text(), "#EXT-X-MEDIA-SEQUENCE"), n + 1);
        assert_eq!(tag(p.text(), "#EXT-X-DISCONTINUITY-SEQUENCE"), 1);
        assert!(uris(p.text())[0].contains("/pass-1/hls-ts/240p/seg-001.ts"));
    }
}

#[tokio::test]
async fn live_master_points_at_live_media_playlists() {
    let addr = start_media().await;
    let r = get(addr, "/live/20/hls-ts/master.m3u8").await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = uris(r.text());
    assert_eq!(listed.len(), 3);
    for uri in &listed {
        assert!(uri.starts_with("/live/20/hls-ts/"), "{uri}");
        let media = get(addr, uri).await;
        assert_eq!(media.status, StatusCode::OK);
        assert_eq!(tag(media.text(), "#EXT-X-MEDIA-SEQUENCE"), 0);
    }
    // The VOD master's BANDWIDTH/CODECS lines (the swarm identity) are unchanged.
    let vod = get(addr, "/hls-ts/master.m3u8").await;
    let infs = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(infs(r.text()), infs(vod.text()));

    // fMP4: the audio rendition and the init segments follow.
    let r = get(addr, "/live/6/hls-fmp4/master.m3u8").await;
    assert!(r.text().contains("URI=\"/live/6/hls-fmp4/media_3.m3u8\""));
    let audio = get(addr, "/live/6/hls-fmp4/media_3.m3u8").await;
    assert!(audio.text().contains("#EXT-X-MAP:URI=\"/dash/init-3.mp4\""));
    let first = &uris(audio.text())[0];
    assert_eq!(first, "/live/6/pass-0/dash/seg-3-001.m4s");
    assert_eq!(get(addr, first).await.status, StatusCode::OK);
    assert_eq!(get(addr, "/dash/init-3.mp4").await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_live_windows_are_not_found() {
    let addr = start_media().await;
    for path in [
        "/live/0/hls-ts/master.m3u8",
        "/live/1001/hls-ts/master.m3u8",
        "/live/x/hls-ts/master.m3u8",
        "/live",
        "/live/6/hls-ts/nope.m3u8",
    ] {
        assert_eq!(
            get(addr, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn response_delay_is_applied_to_media_only() {
    let dir = media_dir();
    let mut config = OriginConfig::new(&dir);
    config.response_delay = Duration::from_millis(300);
    config
        .mounts
        .push(Mount::new("/web", dir.join("hls-fmp4")).unwrap());
    let addr = start(config, Arc::default()).await;
    let t = std::time::Instant::now();
    get(addr, "/web/master.m3u8").await;
    assert!(t.elapsed() < Duration::from_millis(300));
    let t = std::time::Instant::now();
    get(addr, "/hls-ts/master.m3u8").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
}

/// Echoes what it was asked, so the test sees exactly what the origin passed.
struct Echo;

impl p2pml_origin::Endpoint for Echo {
    fn respond(&self, request: &p2pml_origin::EndpointRequest<'_>) -> p2pml_origin::EndpointReply {
        if request.path.first().is_some_and(|p| p == "missing") {
            return p2pml_origin::EndpointReply::error(404, "no such thing");
        }
        p2pml_origin::EndpointReply::json(format!(
            "{{\"method\":\"{}\",\"path\":\"{}\",\"query\":\"{}\"}}",
            request.method,
            request.path.join("/"),
            request.query.unwrap_or("")
        ))
    }
}

#[tokio::test]
async fn endpoints_answer_under_their_prefix_and_index_redirects() {
    let mut config = OriginConfig::new(media_dir());
    config
        .endpoints
        .push(p2pml_origin::EndpointMount::new("/api", Arc::new(Echo)).unwrap());
    config.index = Some("/hls-ts/master.m3u8".into());
    let addr = start(config, Arc::default()).await;

    let r = request(addr, Method::POST, "/api/watch/a%20b?url=x%2Fy", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(
        r.text(),
        r#"{"method":"POST","path":"watch/a b","query":"url=x%2Fy"}"#
    );
    let r = get(addr, "/api/missing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text(), "no such thing\n");
    // Outside the prefix, files as before; POST there is still refused.
    assert_eq!(get(addr, "/apiary").await.status, StatusCode::NOT_FOUND);
    let r = request(addr, Method::POST, "/hls-ts/master.m3u8", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    let r = get(addr, "/").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "/hls-ts/master.m3u8");
    let r = get(addr, "/?player=shaka&stream=vod%2Fdash").await;
    assert_eq!(
        r.header("location"),
        "/hls-ts/master.m3u8?player=shaka&stream=vod%2Fdash"
    );
    assert!(
        p2pml_origin::EndpointMount::new("api", Arc::new(Echo)).is_err(),
        "a prefix must start with /"
    );
}

fn mpd_attr<'a>(mpd: &'a str, tag: &str, name: &str) -> Vec<&'a str> {
    mpd.match_indices(&format!("<{tag} "))
        .filter_map(|(at, _)| {
            let open = &mpd[at..at + mpd[at..].find('>').unwrap()];
            let key = format!(" {name}=\"");
            let v = &open[open.find(&key)? + key.len()..];
            Some(&v[..v.find('"').unwrap()])
        })
        .collect()
}

#[tokio::test]
async fn live_dash_is_a_dynamic_mpd_with_a_period_per_pass_over_the_vod_files() {
    let millis = Arc::new(AtomicU64::new(0));
    let addr = start(OriginConfig::new(media_dir()), Arc::clone(&millis)).await;
    let r = get(addr, "/live/20/dash/manifest.mpd").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/dash+xml");
    assert_eq!(r.header("cache-control"), "no-store");
    let mpd = r.text();
    assert_eq!(mpd_attr(mpd, "MPD", "type"), ["dynamic"]);
    assert_eq!(mpd_attr(mpd, "MPD", "timeShiftBufferDepth"), ["PT40.000S"]);
    assert_eq!(mpd_attr(mpd, "Period", "id"), ["pass-0"]);
    // The VOD representations (and so the swarm identity) are unchanged.
    let vod = get(addr, "/dash/manifest.mpd").await;
    let reps = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("<Representation "))
            .map(|l| l.trim().to_owned())
            .collect()
    };
    assert_eq!(reps(mpd), reps(vod.text()));

    // availabilityStartTime is 40 s (20 segments) before the origin's clock read zero, which
    // was at most a few seconds ago.
    let ast = mpd_attr(mpd, "MPD", "availabilityStartTime")[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let recent = (0..10)
        .map(|s| p2pml_origin::live_dash::iso_datetime(now - 40_000 - s * 1000))
        .any(|t| t[..19] == ast[..19]);
    assert!(recent, "{ast} is not 40 s before the last 10 s");

    // Segments and init segments of any pass are the VOD files.
    for (live, file) in [
        ("/live/20/dash/pass-0/init-0.mp4", "/dash/init-0.mp4"),
        ("/live/20/dash/pass-3/seg-2-017.m4s", "/dash/seg-2-017.m4s"),
        ("/live/6/dash/pass-1/seg-3-030.m4s", "/dash/seg-3-030.m4s"),
    ] {
        let (a, b) = (get(addr, live).await, get(addr, file).await);
        assert_eq!(a.status, StatusCode::OK, "{live}");
        assert_eq!(a.body, b.body, "{live}");
    }

    // 30 s later pass 1 has begun and pass 0 is still in the buffer.
    millis.store(30_000, Ordering::SeqCst);
    let mpd = get(addr, "/live/20/dash/manifest.mpd").await;
    assert_eq!(mpd_attr(mpd.text(), "Period", "id"), ["pass-0", "pass-1"]);
    assert_eq!(
        mpd_attr(mpd.text(), "MPD", "availabilityStartTime"),
        [ast],
        "the AST stays put"
    );
}
