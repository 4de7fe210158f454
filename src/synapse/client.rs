//! [`SynapseClient`]: one typed call per admin API request.
//!
//! Every request carries the admin token as a bearer header, has a timeout,
//! and is retried with bounded exponential backoff and jitter when the
//! failure is transient (connection, timeout, 5xx, 429 — honouring Synapse's
//! `retry_after_ms`). Users pages are decoded as a stream (see
//! [`super::decode`]) so a large page never sits whole in memory.

mod actions;
mod auth;
mod module;
mod page;
mod room_actions;
mod rooms;

pub use module::{MODULE_ROOMS_ASKED, MODULE_USERS_PAGE, ModuleSecret, module_unavailable};
pub use page::PageReader;
pub use rooms::ROOM_LIST_PAGE;

use std::fmt;
use std::ops::ControlFlow;
use std::time::Duration;

use futures::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};
use url::Url;

use super::decode::{DecodeError, KeysetTail, PageTail, decode_keyset_page, decode_users_page};
use super::error::{Endpoint, SynapseError, classify};
use super::query::UsersMediaQuery;
use crate::core::engine::backoff::Backoff;
use crate::core::model::usage::{RoomSize, UserMedia};

/// A Synapse admin access token. Its `Debug` never shows it, and it has no
/// `Display`: it can only reach the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token; surrounding whitespace (a trailing newline in a
    /// secrets file) is removed.
    pub fn new(token: impl Into<String>) -> AdminToken {
        AdminToken(token.into().trim().to_owned())
    }

    /// Whether the token is empty after trimming.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// Where the admin token is read again when Synapse no longer knows the one
/// in use (a rotated or revoked token). The edge provides it (it knows where
/// the policy says the secret is); the client only asks.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The token as it is now, or `None` when it cannot be read (the reason
    /// is the source's to log, never the token).
    fn current(&self) -> Option<AdminToken>;
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// How transient failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of one delay (Synapse's `retry_after_ms` is honoured up
    /// to this bound too).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt per request.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The delays between attempts, before Synapse's `retry_after_ms`.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay)
    }

    /// The delay before retry number `retry` (0-based) after `error`:
    /// exponential with "equal jitter" (between half and all of the step),
    /// at least Synapse's `retry_after_ms`, at most `max_delay`.
    pub fn delay(&self, retry: u32, error: &SynapseError, jitter: f64) -> Duration {
        let jittered = self.backoff().delay(retry, jitter);
        let floor = match error {
            SynapseError::RateLimited {
                retry_after: Some(after),
                ..
            } => *after,
            _ => Duration::ZERO,
        };
        jittered.max(floor).min(self.max_delay)
    }
}

/// Settings of a [`SynapseClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where the admin API is served: Synapse's main process, e.g.
    /// `http://127.0.0.1:8008` (workers do not serve the statistics).
    pub base_url: Url,
    /// A server admin's access token.
    pub token: AdminToken,
    /// Limit for one whole request, answer body included.
    pub timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A config with the default timeout (60 s) and retry policy.
    pub fn new(base_url: Url, token: AdminToken) -> Self {
        ClientConfig {
            base_url,
            token,
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// Whether `error` says Synapse has no `server_notices` configured.
pub fn is_notices_disabled(error: &SynapseError) -> bool {
    matches!(error, SynapseError::InvalidRequest { endpoint: Endpoint::ServerNotice, detail }
        if detail.message.as_deref().is_some_and(|m| m.contains("not enabled")))
}

/// Media per page of a user's media.
const MEDIA_PAGE: u64 = 500;
/// Pages of a user's media read at most (250 000 media).
const MAX_MEDIA_PAGES: u32 = 500;

/// A users page collected whole (for small, ordered queries such as a top-N).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersMediaPage {
    /// The page's users, in Synapse's order.
    pub users: Vec<UserMedia>,
    /// Offset of the next page; absent on the last page.
    pub next_token: Option<u64>,
    /// Number of users matching the filters.
    pub total: u64,
}

/// Retries of one request: call [`Retrier::wait_or_fail`] with each failure.
#[derive(Debug)]
pub struct Retrier<'a> {
    policy: &'a RetryPolicy,
    retries: u32,
}

impl Retrier<'_> {
    /// Sleeps before the next attempt when `error` is transient and the
    /// budget allows; otherwise gives the error back.
    pub async fn wait_or_fail(&mut self, error: SynapseError) -> Result<(), SynapseError> {
        if !error.is_transient() || self.retries + 1 >= self.policy.max_attempts {
            return Err(error);
        }
        let delay = self
            .policy
            .delay(self.retries, &error, rand::random::<f64>());
        tracing::warn!(%error, retry = self.retries + 1, delay_ms = delay.as_millis() as u64, "transient Synapse error, retrying");
        tokio::time::sleep(delay).await;
        self.retries += 1;
        Ok(())
    }
}

/// Sees the outcome of every request a [`SynapseClient`] sends (for the
/// daemon's metrics): `Ok` for a success answer, else the error.
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// One request to `endpoint` answered (or failed).
    fn observe(&self, endpoint: Endpoint, outcome: Result<(), &SynapseError>);
}

/// The client for Synapse's statistics admin API.
#[derive(Debug, Clone)]
pub struct SynapseClient {
    http: reqwest::Client,
    base_url: Url,
    token: std::sync::Arc<std::sync::RwLock<AdminToken>>,
    token_source: Option<std::sync::Arc<dyn TokenSource>>,
    timeout: Duration,
    retry: RetryPolicy,
    observer: Option<std::sync::Arc<dyn RequestObserver>>,
    module_secret: Option<ModuleSecret>,
}

impl SynapseClient {
    /// Builds a client; fails only on an unusable base URL or TLS setup.
    pub fn new(config: ClientConfig) -> Result<Self, SynapseError> {
        if config.base_url.cannot_be_a_base()
            || !matches!(config.base_url.scheme(), "http" | "https")
        {
            return Err(SynapseError::Config(format!(
                "the admin API base URL must be an http(s) URL, not {:?}",
                config.base_url.as_str()
            )));
        }
        if config.token.is_empty() {
            return Err(SynapseError::Config(
                "the admin access token is empty".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("synapse-warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                // reqwest says only "builder error"; its causes say why (e.g.
                // no CA certificates on the system, needed even for http://).
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    reason.push_str(": ");
                    reason.push_str(&cause.to_string());
                    source = cause.source();
                }
                SynapseError::Config(format!("cannot build the HTTP client: {reason}"))
            })?;
        Ok(SynapseClient {
            http,
            base_url: config.base_url,
            token: std::sync::Arc::new(std::sync::RwLock::new(config.token)),
            token_source: None,
            timeout: config.timeout,
            retry: config.retry,
            observer: None,
            module_secret: None,
        })
    }

    /// This client, reading the token again from `source` when Synapse
    /// answers 401 `M_UNKNOWN_TOKEN`: a changed token is kept and the request
    /// sent once more with it; an unchanged one leaves the error as it is.
    pub fn with_token_source(mut self, source: std::sync::Arc<dyn TokenSource>) -> Self {
        self.token_source = Some(source);
        self
    }

    /// The token in use now.
    fn token(&self) -> AdminToken {
        self.token
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After `error` from a request sent with `used`: whether the token
    /// source now holds another token (then kept for every later request),
    /// so the request is worth sending once more.
    fn reread_token(&self, error: &SynapseError, used: &AdminToken) -> bool {
        let SynapseError::Unauthorized { detail, .. } = error else {
            return false;
        };
        if detail.errcode.as_deref() != Some("M_UNKNOWN_TOKEN") {
            return false;
        }
        let Some(source) = &self.token_source else {
            return false;
        };
        let Some(fresh) = source.current() else {
            return false;
        };
        if fresh.is_empty() || &fresh == used {
            return false;
        }
        tracing::info!(
            "Synapse no longer knows the admin token; using the new one from its source"
        );
        *self
            .token
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        true
    }

    /// This client, reporting every request's outcome to `observer`.
    pub fn with_observer(mut self, observer: std::sync::Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The admin API base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `GET /_synapse/admin/v1/server_version` (no auth): Synapse's version,
    /// used as a cheap health probe. Not retried.
    pub async fn server_version(&self) -> Result<String, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Version {
            server_version: String,
        }
        self.get_json::<Version>(Endpoint::ServerVersion, false)
            .await
            .map(|v| v.server_version)
    }

    /// The ten largest rooms by Synapse's estimate, largest first. Fails with
    /// [`SynapseError::RequiresPostgres`] on SQLite.
    pub async fn largest_rooms(&self) -> Result<Vec<RoomSize>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Rooms {
            rooms: Vec<RoomSize>,
        }
        let endpoint = Endpoint::DatabaseRooms;
        let mut retrier = self.retrier();
        loop {
            match self.get_json::<Rooms>(endpoint, true).await {
                Ok(Rooms { rooms }) => return Ok(rooms),
                Err(error) => retrier.wait_or_fail(error).await?,
            }
        }
    }

    /// One users page, collected whole, with retries.
    pub async fn users_media(
        &self,
        query: &UsersMediaQuery,
    ) -> Result<UsersMediaPage, SynapseError> {
        let mut retrier = self.retrier();
        loop {
            let attempt = async {
                let mut page = self.open_users_page(query, 4096).await?;
                let mut users = Vec::new();
                while let Some(chunk) = page.next_chunk().await {
                    users.extend(chunk);
                }
                let tail = page.finish().await?;
                Ok(UsersMediaPage {
                    users,
                    next_token: tail.next_token,
                    total: tail.total,
                })
            };
            match attempt.await {
                Ok(page) => return Ok(page),
                Err(error) => retrier.wait_or_fail(error).await?,
            }
        }
    }

    /// Opens one users page (one attempt, no retry) whose users are read in
    /// chunks of at most `chunk` as they arrive; decoding runs on a blocking
    /// thread, so a page of any size takes bounded memory.
    pub async fn open_users_page(
        &self,
        query: &UsersMediaQuery,
        chunk: usize,
    ) -> Result<PageReader, SynapseError> {
        let endpoint = Endpoint::UsersMedia;
        let response = self.send(endpoint, &query.to_pairs(), true).await?;
        Ok(PageReader::stream(
            endpoint,
            response,
            chunk,
            self.timeout,
            |reader, chunk, sink| decode_users_page(reader, chunk, sink),
        ))
    }

    /// One authenticated request to `/_synapse/admin/<version>/<segments...>` (each
    /// segment percent-encoded) with `endpoint`'s method and an empty JSON
    /// body for POSTs, retried when transient; the status and body of a
    /// success.
    async fn call(
        &self,
        endpoint: Endpoint,
        segments: &[&str],
        query: &[(&'static str, String)],
    ) -> Result<(u16, bytes::Bytes), SynapseError> {
        self.call_with(endpoint, segments, query, None).await
    }

    /// [`Self::call`] with a JSON body (default: `{}` for POST and PUT).
    async fn call_with(
        &self,
        endpoint: Endpoint,
        segments: &[&str],
        query: &[(&'static str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, bytes::Bytes), SynapseError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| SynapseError::Config(format!("cannot build the URL of {endpoint}")))?
            .pop_if_empty()
            .extend(["_synapse", "admin", endpoint.version()])
            .extend(segments);
        let method = match endpoint.method() {
            "DELETE" => reqwest::Method::DELETE,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            _ => reqwest::Method::GET,
        };
        let empty = serde_json::json!({});
        let mut retrier = self.retrier();
        let mut reread = false;
        loop {
            let token = self.token();
            let attempt = async {
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .query(query)
                    .header(reqwest::header::AUTHORIZATION, token.bearer());
                if method == reqwest::Method::POST || method == reqwest::Method::PUT {
                    request = request.json(body.unwrap_or(&empty));
                } else if let Some(body) = body {
                    request = request.json(body);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| self.transport(endpoint, &e))?;
                let status = response.status();
                let body = self.read_body(endpoint, response).await?;
                if status.is_success() {
                    Ok((status.as_u16(), body))
                } else {
                    Err(classify(endpoint, status.as_u16(), &body))
                }
            };
            match attempt.await {
                Ok(answer) => return Ok(answer),
                Err(error) if !reread && self.reread_token(&error, &token) => reread = true,
                Err(error) => retrier.wait_or_fail(error).await?,
            }
        }
    }

    /// A fresh retry budget for one request, following this client's policy.
    pub fn retrier(&self) -> Retrier<'_> {
        Retrier {
            policy: &self.retry,
            retries: 0,
        }
    }

    /// Sends one GET and turns any non-success answer into an error.
    async fn send(
        &self,
        endpoint: Endpoint,
        query: &[(&'static str, String)],
        auth: bool,
    ) -> Result<reqwest::Response, SynapseError> {
        let token = self.token();
        let mut result = self
            .send_once(endpoint, query, auth.then_some(&token))
            .await;
        if let Err(error) = &result
            && auth
            && self.reread_token(error, &token)
        {
            let token = self.token();
            result = self.send_once(endpoint, query, Some(&token)).await;
        }
        if let Some(observer) = &self.observer {
            observer.observe(endpoint, result.as_ref().map(|_| ()));
        }
        result
    }

    /// Sends one GET without a query and decodes its JSON answer.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        auth: bool,
    ) -> Result<T, SynapseError> {
        let response = self.send(endpoint, &[], auth).await?;
        let status = response.status().as_u16();
        let body = self.read_body(endpoint, response).await?;
        serde_json::from_slice::<T>(&body).map_err(|e| malformed(endpoint, status, e))
    }

    async fn send_once(
        &self,
        endpoint: Endpoint,
        query: &[(&'static str, String)],
        token: Option<&AdminToken>,
    ) -> Result<reqwest::Response, SynapseError> {
        let url = self.url(endpoint)?;
        let mut request = self.http.get(url).query(query);
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token.bearer());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport(endpoint, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = self.read_body(endpoint, response).await.unwrap_or_default();
        Err(classify(endpoint, status.as_u16(), &body))
    }

    async fn read_body(
        &self,
        endpoint: Endpoint,
        response: reqwest::Response,
    ) -> Result<bytes::Bytes, SynapseError> {
        response
            .bytes()
            .await
            .map_err(|e| self.transport(endpoint, &e))
    }

    fn url(&self, endpoint: Endpoint) -> Result<Url, SynapseError> {
        // Keep any path prefix of the base URL (a reverse proxy may mount
        // Synapse below one).
        let base = self.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{}", endpoint.path()))
            .map_err(|e| SynapseError::Config(format!("cannot build the URL of {endpoint}: {e}")))
    }

    fn transport(&self, endpoint: Endpoint, error: &reqwest::Error) -> SynapseError {
        if error.is_timeout() {
            SynapseError::Timeout {
                endpoint,
                timeout: self.timeout,
            }
        } else {
            SynapseError::Connect {
                endpoint,
                reason: describe_transport(error),
            }
        }
    }
}

/// The cause chain of a transport error, without the URL (which may carry
/// credentials in its userinfo) and never any header.
fn describe_transport(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        if error.is_connect() {
            "connection failed".into()
        } else if error.is_body() || error.is_decode() {
            "the answer broke off".into()
        } else {
            "request failed".into()
        }
    } else {
        parts.join(": ")
    }
}

fn malformed(endpoint: Endpoint, status: u16, error: serde_json::Error) -> SynapseError {
    SynapseError::Malformed {
        endpoint,
        status,
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted() {
        let token = AdminToken::new("syt_secret_token\n");
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
        let config = ClientConfig::new(Url::parse("http://127.0.0.1:1").unwrap(), token);
        let client = SynapseClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("syt_secret"));
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        let err = SynapseError::Server {
            endpoint: Endpoint::UsersMedia,
            status: 502,
            detail: Default::default(),
        };
        assert_eq!(policy.delay(0, &err, 1.0), Duration::from_millis(500));
        assert_eq!(policy.delay(0, &err, 0.0), Duration::from_millis(250));
        assert_eq!(policy.delay(40, &err, 1.0), policy.max_delay);
        let limited = SynapseError::RateLimited {
            endpoint: Endpoint::UsersMedia,
            retry_after: Some(Duration::from_secs(4)),
            detail: Default::default(),
        };
        assert_eq!(policy.delay(0, &limited, 0.0), Duration::from_secs(4));
        let huge = SynapseError::RateLimited {
            endpoint: Endpoint::UsersMedia,
            retry_after: Some(Duration::from_secs(3600)),
            detail: Default::default(),
        };
        assert_eq!(policy.delay(0, &huge, 0.0), policy.max_delay);
    }

    #[test]
    fn rejects_unusable_settings() {
        let bad = ClientConfig::new(Url::parse("mailto:a@b").unwrap(), AdminToken::new("t"));
        assert!(SynapseClient::new(bad).is_err());
        let empty = ClientConfig::new(
            Url::parse("http://localhost").unwrap(),
            AdminToken::new(" \n"),
        );
        assert!(SynapseClient::new(empty).is_err());
    }
}
