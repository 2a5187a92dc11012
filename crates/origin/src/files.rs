//! Reading a file for a response, with single byte ranges.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// What a `Range` header asks of a body of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable range: the whole body, 200. Multiple ranges and malformed headers end here
    /// too, which RFC 9110 §14.2 allows (a server may ignore `Range`).
    Whole,
    /// Bytes `start..=end`, 206.
    Part { start: u64, end: u64 },
    /// A valid range that selects nothing in this body, 416.
    Unsatisfiable,
}

pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (number(first), first.trim().is_empty(), number(last)) {
        // bytes=-N: the last N bytes.
        (None, true, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        (Some(start), _, last_pos) => {
            if last.trim().is_empty() || last_pos.is_some_and(|l| l >= start) {
                if start >= len {
                    RangeRequest::Unsatisfiable
                } else {
                    let end = last_pos.map_or(len - 1, |l| l.min(len - 1));
                    RangeRequest::Part { start, end }
                }
            } else {
                RangeRequest::Whole
            }
        }
        _ => RangeRequest::Whole,
    }
}

/// Why a file could not be served.
#[derive(Debug)]
pub(crate) enum ReadError {
    NotFound,
    TooLarge,
    Io(std::io::Error),
}

/// Reads `path` whole; a directory means its `index.html`. Returns the path actually read.
pub(crate) async fn read(path: &Path, max_size: u64) -> Result<(PathBuf, Vec<u8>), ReadError> {
    let mut path = path.to_path_buf();
    let mut meta = tokio::fs::metadata(&path).await.map_err(not_found)?;
    if meta.is_dir() {
        path.push("index.html");
        meta = tokio::fs::metadata(&path).await.map_err(not_found)?;
    }
    if !meta.is_file() {
        return Err(ReadError::NotFound);
    }
    if meta.len() > max_size {
        return Err(ReadError::TooLarge);
    }
    let bytes = tokio::fs::read(&path).await.map_err(not_found)?;
    Ok((path, bytes))
}

fn not_found(e: std::io::Error) -> ReadError {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::PermissionDenied => {
            ReadError::NotFound
        }
        _ => ReadError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::{Part, Unsatisfiable, Whole};
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            Part { start: 0, end: 3 }
        );
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part { start: 5, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=-30"), 10),
            Part { start: 0, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-3"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=a-b"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=+1-2"), 10), Whole);
    }
}
