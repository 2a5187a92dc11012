//! What the proxy does with each kind of request: manifests and playlists
//! fetched and rewritten, segments through the engine.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use p2pml_core::streams::{SegmentInfo, StreamId};
use p2pml_proto::identity::{StreamDescriptor, StreamType};
use url::Url;

use super::presentation::{DashRefresh, Presentation};
use super::reply::{
    Reply, as_partial, bytes_reply, full, hls_reply, parse_range, pass_through, redirect, relay,
    text,
};
use super::{Shared, encode};
use crate::manifest::{Rendition, dash, hls};
use crate::{LoadError, http::range_header};

pub(super) fn raw_uri(base: &str, pid: u32, url: &str) -> String {
    format!("{base}/r/{pid}?u={}", encode(url))
}

/// Fetches a manifest or playlist: the text and the URL after redirects,
/// or the reply to give the player (the origin's error as it came).
pub(super) async fn fetch_text(p: &Presentation, url: &str) -> Result<(String, Url), Box<Reply>> {
    let http = p.engine.http();
    let response = match http.get(url, None).await {
        Ok(r) => r,
        Err(e) => return Err(Box::new(text(StatusCode::BAD_GATEWAY, &format!("{e}\n")))),
    };
    if !response.status().is_success() {
        return Err(Box::new(relay(response)));
    }
    let final_url = response.url().clone();
    match http.read_text(url, response).await {
        Ok(t) => Ok((t, final_url)),
        Err(e) => Err(Box::new(text(StatusCode::BAD_GATEWAY, &format!("{e}\n")))),
    }
}

pub(super) fn looks_like_dash(text: &str, url: &Url) -> bool {
    url.path().ends_with(".mpd") || text.trim_start().starts_with("<?xml") || text.contains("<MPD")
}

pub(super) async fn manifest(shared: &Shared, url: &str, base: &str) -> Reply {
    let p = match shared.presentation(url) {
        Ok(p) => p,
        Err(reply) => return *reply,
    };
    let (text, final_url) = match fetch_text(&p, url).await {
        Ok(t) => t,
        Err(reply) => return *reply,
    };
    if looks_like_dash(&text, &final_url) {
        return dash_manifest(&p, &text, &final_url, base).await;
    }
    match hls::parse(&text, &final_url) {
        Ok(hls::HlsPlaylist::Master(master)) => {
            p.add_renditions(&final_url, &master.renditions).await;
            let pid = p.id;
            match hls::rewrite_master(
                &master,
                &final_url,
                |i| format!("{base}/p/{pid}/{}.m3u8", i + 1),
                |u| raw_uri(base, pid, u),
            ) {
                Ok(body) => hls_reply(body),
                Err(e) => redirect(final_url.as_str(), &e.to_string()),
            }
        }
        Ok(hls::HlsPlaylist::Media(media)) => {
            // A media playlist given directly: one main stream, described
            // as hls.js describes a level it knows nothing about.
            let rendition = Rendition {
                stream_type: StreamType::Main,
                descriptor: StreamDescriptor::default(),
                uri: final_url.to_string(),
            };
            p.add_renditions(&final_url, &[rendition]).await;
            serve_media(&p, 1, &media, &final_url, base).await
        }
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

pub(super) async fn media_playlist(p: &Presentation, stream: StreamId, base: &str) -> Reply {
    let Some(uri) = p.stream_uri(stream) else {
        return text(StatusCode::NOT_FOUND, "unknown stream\n");
    };
    let (text, final_url) = match fetch_text(p, &uri).await {
        Ok(t) => t,
        Err(reply) => return *reply,
    };
    match hls::parse(&text, &final_url) {
        Ok(hls::HlsPlaylist::Media(media)) => {
            serve_media(p, stream, &media, &final_url, base).await
        }
        Ok(hls::HlsPlaylist::Master(_)) => redirect(
            final_url.as_str(),
            "a master playlist where a media playlist was expected",
        ),
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

pub(super) async fn serve_media(
    p: &Presentation,
    stream: StreamId,
    media: &m3u8_rs::MediaPlaylist,
    final_url: &Url,
    base: &str,
) -> Reply {
    let segments = match p.with_timeline(stream, |tl| hls::segments(media, final_url, tl)) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return redirect(final_url.as_str(), &e.to_string()),
        None => return text(StatusCode::NOT_FOUND, "unknown stream\n"),
    };
    let update = p.diff(stream, &segments);
    p.update_engine(stream, update, hls::is_live(media)).await;
    let pid = p.id;
    let rewritten = hls::rewrite_media(
        media,
        &segments,
        final_url,
        |s| {
            let name = s.info.url.rsplit('/').next().unwrap_or("segment");
            let name = name.split('?').next().unwrap_or(name);
            format!("{base}/h/{pid}/{stream}/{}/{}", s.info.id, encode(name))
        },
        |u| raw_uri(base, pid, u),
    );
    match rewritten {
        Ok(body) => hls_reply(body),
        Err(e) => redirect(final_url.as_str(), &e.to_string()),
    }
}

pub(super) async fn dash_manifest(
    p: &Presentation,
    text: &str,
    final_url: &Url,
    base: &str,
) -> Reply {
    if let Err(e) = apply_mpd(p, text, final_url).await {
        return redirect(final_url.as_str(), &e);
    }
    let mut reply = full(
        StatusCode::OK,
        Bytes::from(dash::rewrite_base(text, &format!("{base}/d/{}/", p.id))),
        "application/dash+xml",
    );
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

/// Parses an MPD and brings the engine's streams in line with it; a
/// dynamic MPD is then read again by [`refresh_dash`] as the player asks for
/// segments.
async fn apply_mpd(p: &Presentation, text: &str, final_url: &Url) -> Result<(), String> {
    let now = unix_now();
    let mpd = dash::parse(text, final_url, now).map_err(|e| e.to_string())?;
    let renditions: Vec<Rendition> = mpd.renditions.iter().map(|r| r.rendition.clone()).collect();
    p.add_renditions(final_url, &renditions).await;
    {
        let mut state = p.lock();
        state.dash_base = Some(mpd.base.clone());
        state.dash_refresh = mpd.dynamic.then(|| DashRefresh {
            url: final_url.clone(),
            every: mpd
                .minimum_update_period
                .unwrap_or(std::time::Duration::from_secs(2))
                .max(std::time::Duration::from_millis(500)),
            last: tokio::time::Instant::now(),
        });
    }
    for (i, r) in mpd.renditions.iter().enumerate() {
        let stream = StreamId::try_from(i + 1).unwrap_or(StreamId::MAX);
        let mut segments = r.segments.clone();
        if let Some(index) = &r.index {
            if p.lock()
                .streams
                .get(&stream)
                .is_some_and(|s| !s.known.is_empty())
            {
                continue; // a SegmentBase index does not change
            }
            match read_index(p, index).await {
                Ok(s) => segments = s,
                Err(e) => {
                    tracing::warn!(url = %index.url, error = %e, "segment index unreadable; that representation plays over HTTP");
                    continue;
                }
            }
        }
        let update = p.diff(stream, &segments);
        p.update_engine(stream, update, mpd.dynamic).await;
    }
    Ok(())
}

/// Reads a dynamic MPD again once its `minimumUpdatePeriod` has passed, so
/// that the engine knows the segments that became available: players such as
/// ffmpeg compute live segment numbers from the clock and never fetch the
/// MPD again. A failed read keeps the segments known so far.
async fn refresh_dash(p: &Presentation) {
    let url = {
        let mut state = p.lock();
        let Some(refresh) = state.dash_refresh.as_mut() else {
            return;
        };
        if refresh.last.elapsed() < refresh.every {
            return;
        }
        // Claimed before the fetch, so that concurrent requests do not all read it.
        refresh.last = tokio::time::Instant::now();
        refresh.url.clone()
    };
    let read = match fetch_text(p, url.as_str()).await {
        Ok((text, final_url)) => apply_mpd(p, &text, &final_url).await,
        Err(reply) => Err(format!("HTTP {}", reply.status())),
    };
    if let Err(e) = read {
        tracing::warn!(%url, error = %e, "dynamic MPD could not be read again");
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds since 1970 fit in 2^53"
)]
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

pub(super) async fn read_index(
    p: &Presentation,
    index: &dash::IndexRef,
) -> Result<Vec<crate::manifest::Segment>, String> {
    let range = p2pml_core::engine::HttpRange {
        start: index.range.start,
        end: Some(index.range.end),
    };
    let response = p
        .engine
        .http()
        .get(&index.url, Some(&range_header(range)))
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    dash::segments_from_sidx(&body, index).map_err(|e| e.to_string())
}

pub(super) async fn dash_resource(p: &Presentation, rest: &str, range: Option<&str>) -> Reply {
    refresh_dash(p).await;
    let Some(dash_base) = p.lock().dash_base.clone() else {
        return text(StatusCode::NOT_FOUND, "no MPD loaded\n");
    };
    let Ok(url) = dash_base.join(rest) else {
        return text(StatusCode::BAD_REQUEST, "bad path\n");
    };
    let wanted = range.and_then(parse_range);
    let lookup = match &wanted {
        Some((start, Some(end))) => p.segment_by_url(url.as_str(), Some(*start..end + 1)),
        // `bytes=0-` (ffmpeg sends it on every request) is the whole resource.
        Some((0, None)) | None => p.segment_by_url(url.as_str(), None),
        Some((_, None)) => None,
    };
    match lookup {
        Some((stream, info)) => {
            let whole = info.byte_range.is_some();
            let reply = segment(p, stream, &info, if whole { None } else { range }).await;
            if whole && reply.status() == StatusCode::OK {
                return as_partial(reply, info.byte_range.unwrap_or(0..0));
            }
            reply
        }
        None => pass_through(p.engine.http(), url.as_str(), range).await,
    }
}

/// A backstop only: the engine answers every request itself (its HTTP
/// timeouts and retries are shorter), but a player must never hang on it.
pub(super) const SEGMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A segment through the engine; on failure, straight from the origin.
pub(super) async fn segment(
    p: &Presentation,
    stream: StreamId,
    info: &SegmentInfo,
    range: Option<&str>,
) -> Reply {
    p.playing(info).await;
    let load = tokio::time::timeout(SEGMENT_TIMEOUT, p.engine.load_segment(stream, info.id));
    let loaded = load.await.unwrap_or_else(|_| {
        Err(LoadError::Failed(
            "no answer from the engine in time".into(),
        ))
    });
    match loaded {
        Ok(bytes) => bytes_reply(bytes, range),
        Err(e) => {
            tracing::info!(url = %info.url, error = %e, "engine could not deliver; fetching from the origin");
            let seg_range = info.byte_range.clone().map(|r| {
                range_header(p2pml_core::engine::HttpRange {
                    start: r.start,
                    end: Some(r.end),
                })
            });
            pass_through(p.engine.http(), &info.url, seg_range.as_deref().or(range)).await
        }
    }
}
