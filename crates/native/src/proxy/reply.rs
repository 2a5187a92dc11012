//! Replies to the player: bytes with ranges, text, redirects, and the
//! origin's own responses passed through.

use std::ops::Range;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(super) type Body = BoxBody<Bytes, BoxError>;
pub(super) type Reply = Response<Body>;

pub(super) fn full(status: StatusCode, body: Bytes, content_type: &str) -> Reply {
    let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(super) fn text(status: StatusCode, body: &str) -> Reply {
    full(
        status,
        Bytes::from(body.to_owned()),
        "text/plain; charset=utf-8",
    )
}

/// Sends the player to the origin: what the proxy could not read, the
/// player may still play, over plain HTTP.
pub(super) fn redirect(to: &str, error: &str) -> Reply {
    tracing::warn!(
        url = to,
        error,
        "playlist not usable through the proxy; player redirected to the origin"
    );
    let mut r = text(StatusCode::FOUND, &format!("{error}\n"));
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    let clean: String = error
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&clean) {
        r.headers_mut().insert("x-p2pml-error", v);
    }
    r
}

pub(super) fn hls_reply(body: String) -> Reply {
    let mut r = full(
        StatusCode::OK,
        Bytes::from(body),
        "application/vnd.apple.mpegurl",
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The reply to a range request that matched a segment exactly.
pub(super) fn as_partial(mut reply: Reply, range: Range<u64>) -> Reply {
    *reply.status_mut() = StatusCode::PARTIAL_CONTENT;
    let value = format!("bytes {}-{}/*", range.start, range.end.saturating_sub(1));
    if let Ok(v) = HeaderValue::from_str(&value) {
        reply.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    reply
}

/// `bytes=a-b` or `bytes=a-` (one range).
pub(super) fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((start, end))
}

pub(super) fn bytes_reply(bytes: Bytes, range: Option<&str>) -> Reply {
    let len = bytes.len() as u64;
    if let Some((start, end)) = range.and_then(parse_range) {
        let end = end
            .unwrap_or(len.saturating_sub(1))
            .min(len.saturating_sub(1));
        if start <= end && start < len {
            let (s, e) = (
                usize::try_from(start).unwrap_or(0),
                usize::try_from(end).unwrap_or(0),
            );
            let mut r = full(
                StatusCode::PARTIAL_CONTENT,
                bytes.slice(s..=e),
                "application/octet-stream",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return r;
    }
    let mut r = full(StatusCode::OK, bytes, "application/octet-stream");
    r.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    r
}

/// A request to the origin, answered as the origin answered.
pub(super) async fn pass_through(
    http: &crate::http::HttpClient,
    url: &str,
    range: Option<&str>,
) -> Reply {
    match http.get(url, range).await {
        Ok(response) => relay(response),
        Err(e) => text(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
    }
}

/// The origin's response, status, headers that matter and body streamed.
pub(super) fn relay(response: reqwest::Response) -> Reply {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = Vec::new();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::CACHE_CONTROL,
    ] {
        if let Some(v) = response.headers().get(name.as_str()) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                headers.push((name, v));
            }
        }
    }
    let stream = futures_util::stream::unfold(response, |mut r| async move {
        match r.chunk().await {
            Ok(Some(c)) => Some((Ok(Frame::data(c)), r)),
            Ok(None) => None,
            Err(e) => Some((Err(Box::new(e) as BoxError), r)),
        }
    });
    let mut reply = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *reply.status_mut() = status;
    for (name, value) in headers {
        reply.headers_mut().insert(name, value);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=10-"), Some((10, None)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        let r = bytes_reply(Bytes::from_static(b"0123456789"), Some("bytes=2-4"));
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        let r = bytes_reply(Bytes::from_static(b"0123456789"), Some("bytes=20-"));
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    }
}
