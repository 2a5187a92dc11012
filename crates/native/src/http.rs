//! HTTP with reqwest and rustls: the engine's segment fetches (byte ranges,
//! body streamed chunk by chunk, one attempt each: retrying is the
//! engine's decision), and the host's own requests for manifests and
//! pass-through, which are retried on network errors and 5xx.

use std::time::Duration;

use bytes::Bytes;
use p2pml_core::engine::{FetchId, HttpRange, Input};

use crate::config::HttpConfig;
use crate::host::IoSender;

/// HTTP failures.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built (TLS setup).
    #[error("building the HTTP client: {0}")]
    Build(String),
    /// No response: DNS, connect, TLS, timeout or a broken body.
    #[error("{url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body exceeds the configured limit.
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
}

impl HttpError {
    fn network(url: &str, e: &reqwest::Error) -> Self {
        // reqwest's Display hides the cause; the chain says what failed.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        Self::Network {
            url: url.to_owned(),
            message,
        }
    }
}

/// A text document fetched over HTTP (a manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextResponse {
    /// The URL after redirects.
    pub final_url: String,
    /// The body.
    pub text: String,
}

/// An HTTP client with the configured timeouts and retries.
///
/// ```no_run
/// # async fn example() -> Result<(), p2pml_native::http::HttpError> {
/// use p2pml_native::config::HttpConfig;
/// use p2pml_native::http::HttpClient;
///
/// let client = HttpClient::new(&HttpConfig::default())?;
/// let manifest = client.get_text("http://127.0.0.1:8080/hls-ts/master.m3u8").await?;
/// println!("{} bytes from {}", manifest.text.len(), manifest.final_url);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
}

impl HttpClient {
    /// A client with `config`'s timeouts.
    ///
    /// # Errors
    /// [`HttpError::Build`] if TLS cannot be set up.
    pub fn new(config: &HttpConfig) -> Result<Self, HttpError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|e| HttpError::Build(e.to_string()))?;
        Ok(Self {
            client,
            config: config.clone(),
        })
    }

    /// A GET with an optional `Range` header value, retried on network
    /// errors and 5xx. The last response is returned whatever its status,
    /// so that a pass-through can hand the origin's error on as it came.
    ///
    /// # Errors
    /// [`HttpError::Network`] when every attempt failed without a response.
    pub async fn get(
        &self,
        url: &str,
        range: Option<&str>,
    ) -> Result<reqwest::Response, HttpError> {
        let mut backoff = self.config.retry_backoff;
        let attempts = self.config.attempts.max(1);
        let mut attempt = 1;
        loop {
            let mut request = self.client.get(url);
            if let Some(r) = range {
                request = request.header(reqwest::header::RANGE, r);
            }
            let last = attempt >= attempts;
            match request.send().await {
                Ok(response) if !response.status().is_server_error() || last => {
                    return Ok(response);
                }
                Ok(response) => {
                    tracing::debug!(url, status = %response.status(), attempt, "retrying");
                }
                Err(e) if last => return Err(HttpError::network(url, &e)),
                Err(e) => tracing::debug!(url, error = %e, attempt, "retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(10));
            attempt += 1;
        }
    }

    /// A whole text document (a manifest), with retries; a non-2xx final
    /// status is an error.
    ///
    /// # Errors
    /// [`HttpError`] for network errors, error statuses and bodies over
    /// the configured limit.
    pub async fn get_text(&self, url: &str) -> Result<TextResponse, HttpError> {
        let response = self.get(url, None).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(HttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let final_url = response.url().to_string();
        let text = self.read_text(url, response).await?;
        Ok(TextResponse { final_url, text })
    }

    /// Reads a response body as text, up to the manifest size limit.
    ///
    /// # Errors
    /// [`HttpError`] for a broken body or one over the limit.
    pub async fn read_text(
        &self,
        url: &str,
        mut response: reqwest::Response,
    ) -> Result<String, HttpError> {
        let limit = self.config.max_manifest_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpError::network(url, &e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// One attempt, no retry: the engine's fetches.
    async fn get_once(
        &self,
        url: &str,
        range: Option<HttpRange>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self.client.get(url);
        if let Some(r) = range {
            request = request.header(reqwest::header::RANGE, range_header(r));
        }
        request.send().await
    }
}

/// The `Range` header value for an engine range (end exclusive).
///
/// ```
/// use p2pml_core::engine::HttpRange;
/// use p2pml_native::http::range_header;
/// assert_eq!(range_header(HttpRange { start: 100, end: Some(200) }), "bytes=100-199");
/// assert_eq!(range_header(HttpRange { start: 5, end: None }), "bytes=5-");
/// ```
pub fn range_header(r: HttpRange) -> String {
    match r.end {
        Some(end) => format!("bytes={}-{}", r.start, end.saturating_sub(1)),
        None => format!("bytes={}-", r.start),
    }
}

/// An engine fetch: headers, then the body chunk by chunk, then the end or
/// the failure, each reported as an input.
pub(crate) async fn fetch(
    client: HttpClient,
    fetch: FetchId,
    url: String,
    range: Option<HttpRange>,
    io: IoSender,
) {
    let mut response = match client.get_once(&url, range).await {
        Ok(r) => r,
        Err(e) => {
            let reason = HttpError::network(&url, &e).to_string();
            io.send(Input::HttpFailed { fetch, reason }).await;
            return;
        }
    };
    let headers = Input::HttpHeaders {
        fetch,
        status: response.status().as_u16(),
        content_length: response.content_length(),
    };
    if !io.send(headers).await {
        return;
    }
    loop {
        match response.chunk().await {
            Ok(Some(data)) => {
                let data: Bytes = data;
                if !io.send(Input::HttpData { fetch, data }).await {
                    return;
                }
            }
            Ok(None) => {
                io.send(Input::HttpEnd { fetch }).await;
                return;
            }
            Err(e) => {
                let reason = HttpError::network(&url, &e).to_string();
                io.send(Input::HttpFailed { fetch, reason }).await;
                return;
            }
        }
    }
}
