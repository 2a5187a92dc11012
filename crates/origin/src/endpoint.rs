//! Generated responses under a URL prefix: how a program embedding the origin (the demo) adds
//! a small API beside the files it serves.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::OriginError;

/// One request, as an [`Endpoint`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct EndpointRequest<'a> {
    /// `GET`, `POST`, … (`OPTIONS` never reaches an endpoint: the origin answers CORS
    /// preflights itself).
    pub method: &'a str,
    /// The path components below the endpoint's prefix, percent-decoded.
    pub path: &'a [String],
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
}

/// What an [`Endpoint`] answers. The origin adds `Content-Length` and its CORS headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointReply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl EndpointReply {
    /// `200 OK` with a JSON body.
    #[must_use]
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// A plain-text error: `status` with `message` as the body.
    #[must_use]
    pub fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(format!("{message}\n")),
        }
    }
}

/// Answers requests under a prefix with generated content. It runs on the connection's task,
/// so it must answer at once: start longer work elsewhere and report it in later requests.
pub trait Endpoint: Send + Sync + 'static {
    /// The reply to `request`.
    fn respond(&self, request: &EndpointRequest<'_>) -> EndpointReply;
}

/// An [`Endpoint`] served under a URL prefix.
#[derive(Clone)]
pub struct EndpointMount {
    pub(crate) prefix: Vec<String>,
    pub(crate) endpoint: Arc<dyn Endpoint>,
}

impl EndpointMount {
    /// Serves `endpoint` under `prefix`, for example `/api`.
    ///
    /// # Errors
    /// [`OriginError::BadMountPrefix`] unless `prefix` starts with `/` and names a path.
    pub fn new(prefix: &str, endpoint: Arc<dyn Endpoint>) -> Result<Self, OriginError> {
        Ok(Self {
            prefix: crate::parse_prefix(prefix)?,
            endpoint,
        })
    }
}

impl fmt::Debug for EndpointMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointMount")
            .field("prefix", &format!("/{}", self.prefix.join("/")))
            .finish_non_exhaustive()
    }
}
