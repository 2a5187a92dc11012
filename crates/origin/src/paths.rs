//! Turning URL paths into file paths without leaving the served directory.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

/// Splits a `/`-separated path into components, applying `.` and `..`; `None` if `..` would leave
/// the root. Empty components are dropped.
pub(crate) fn normalize(path: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts)
}

/// The components of a request path (percent-decoded), or `None` when it is not a plain path
/// below the root: it contains `..`, a backslash, a NUL or invalid UTF-8 once decoded.
pub(crate) fn request_components(url_path: &str) -> Option<Vec<String>> {
    let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        if part == ".." || part.contains('\\') || part.contains('\0') {
            return None;
        }
        if !part.is_empty() && part != "." {
            parts.push(part.to_owned());
        }
    }
    Some(parts)
}

/// `root` joined with `components`.
pub(crate) fn join(root: &Path, components: &[String]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(components);
    path
}

/// The `Content-Type` for a file name.
pub(crate) fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "vtt" => "text/vtt; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_cannot_escape() {
        assert_eq!(normalize("a/../b/./c"), Some(vec!["b", "c"]));
        assert_eq!(normalize("a/../../b"), None);
        assert_eq!(request_components("/a/%2e%2e/b"), None);
        assert_eq!(request_components("/a/..%2fb"), None);
        assert_eq!(request_components("/a\\b"), None);
        assert_eq!(
            request_components("/hls/%32.ts"),
            Some(vec!["hls".to_owned(), "2.ts".to_owned()])
        );
    }
}
