//! The warden's channel into Synapse: the project's Synapse module serves
//! `GET /_synapse/client/synapse_warden/v1/rooms` (contract in
//! `synapse-module/synapse_warden_quota/channel.py`), authenticated with the
//! secret the warden and the module share (`http.module_secret`, the
//! module's `secret_path`). It answers room sizes where Synapse's own
//! estimate fails, and users' media totals in keyset pages
//! (`GET /_synapse/client/synapse_warden/v1/users/media`), read a page at a
//! time through Synapse's index instead of one aggregation of all media
//! per page.

use std::fmt;

use super::*;
use crate::core::model::rooms::{ModuleUnavailable, RoomSizes, RoomSource};
use crate::core::model::usage::TimeRange;

/// Rooms asked of the module per run: it measures every room anyway, so a
/// longer list costs nothing in Synapse and makes "more rooms may be over"
/// rarer than Synapse's ten.
pub const MODULE_ROOMS_ASKED: usize = 100;
/// The measurement's budget inside Synapse (the module's `timeout_ms`).
const MODULE_BUDGET_MS: u64 = 10_000;
/// Users asked of the module per keyset page (it takes 1 to 100 000). A page
/// aggregates only its own users through Synapse's index
/// `users_have_local_media`: 50 000 users cost ~0.1 s of SQL on PostgreSQL
/// (issue 29), ~5 MB of JSON, streamed on both sides.
pub const MODULE_USERS_PAGE: u32 = 50_000;
/// One keyset page's budget inside Synapse (the module's `timeout_ms`).
const MODULE_PAGE_BUDGET_MS: u64 = 30_000;
/// Longest wait honoured when the module is busy with another measurement.
const MODULE_BUSY_WAIT: Duration = Duration::from_secs(5);

/// The secret shared with the warden's Synapse module. Its `Debug` never
/// shows it; it can only reach the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ModuleSecret(String);

impl ModuleSecret {
    /// Wraps a secret; surrounding whitespace is removed (as the module
    /// strips its `secret_path` file).
    pub fn new(secret: impl Into<String>) -> ModuleSecret {
        ModuleSecret(secret.into().trim().to_owned())
    }
}

impl fmt::Debug for ModuleSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ModuleSecret(<redacted>)")
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    source: String,
    rooms: Vec<RoomSize>,
}

impl SynapseClient {
    /// This client, able to ask the warden's Synapse module with `secret`.
    pub fn with_module_secret(mut self, secret: ModuleSecret) -> Self {
        self.module_secret = Some(secret);
        self
    }

    /// This client without the module secret: for the rest of a run whose
    /// walk fell back to the admin API (the module is asked once per run).
    pub fn without_module_secret(&self) -> Self {
        let mut client = self.clone();
        client.module_secret = None;
        client
    }

    /// Whether a module secret is set: the module is worth asking.
    pub fn has_module_secret(&self) -> bool {
        self.module_secret.as_ref().is_some_and(|s| !s.0.is_empty())
    }

    /// Opens one keyset page of users' media totals from the warden's
    /// module (one attempt, no retry): at most `limit` users after `after`
    /// (from the first when empty), counting the uploads of `range`, read in
    /// chunks of at most `chunk` as they arrive.
    pub async fn open_keyset_page(
        &self,
        after: &str,
        limit: u32,
        range: TimeRange,
        chunk: usize,
    ) -> Result<PageReader<KeysetTail>, SynapseError> {
        let endpoint = Endpoint::ModuleUsersMedia;
        let Some(secret) = self.module_secret.as_ref().filter(|s| !s.0.is_empty()) else {
            return Err(SynapseError::Config(
                "http.module_secret is not set: the module cannot be asked".into(),
            ));
        };
        let url = self.url(endpoint)?;
        let mut query = vec![
            ("limit", limit.clamp(1, 100_000).to_string()),
            ("timeout_ms", MODULE_PAGE_BUDGET_MS.to_string()),
            // Each user as an array: half the bytes, a third of Synapse's
            // time to encode them. A module older than `format` answers
            // objects, which the decoder reads as well.
            ("format", "arrays".to_owned()),
        ];
        if !after.is_empty() {
            query.push(("after", after.to_owned()));
        }
        // As Synapse: 0 is no bound, so a bound of 0 is not sent (the
        // module refuses an until_ts that is not after from_ts).
        if let Some(from) = range.from_ms.filter(|&ms| ms > 0) {
            query.push(("from_ts", from.to_string()));
        }
        if let Some(until) = range.until_ms.filter(|&ms| ms > 0) {
            query.push(("until_ts", until.to_string()));
        }
        let budget = Duration::from_millis(MODULE_PAGE_BUDGET_MS);
        let result = self
            .module_send(endpoint, &url, &query, secret, budget)
            .await;
        if let Some(observer) = &self.observer {
            observer.observe(endpoint, result.as_ref().map(|_| ()));
        }
        Ok(PageReader::stream(
            endpoint,
            result?,
            chunk,
            self.timeout,
            |reader, chunk, sink| decode_keyset_page(reader, chunk, sink),
        ))
    }

    /// The `limit` largest rooms as the warden's Synapse module measures
    /// them, largest first; why not, typed, when it gives none. Waits once
    /// when the module is busy measuring for another request.
    pub async fn module_rooms(&self, limit: usize) -> Result<RoomSizes, ModuleUnavailable> {
        let endpoint = Endpoint::ModuleRooms;
        let Some(secret) = self.module_secret.as_ref().filter(|s| !s.0.is_empty()) else {
            return Err(ModuleUnavailable::NotConfigured);
        };
        let url = self
            .url(endpoint)
            .map_err(|e| ModuleUnavailable::Failed(e.to_string()))?;
        let limit = limit.clamp(1, 10_000);
        let query = [
            ("limit", limit.to_string()),
            ("timeout_ms", MODULE_BUDGET_MS.to_string()),
        ];
        let mut waited = false;
        loop {
            let result = self.module_once(endpoint, &url, &query, secret).await;
            if let Some(observer) = &self.observer {
                observer.observe(endpoint, result.as_ref().map(|_| ()));
            }
            let error = match result {
                Ok((status, body)) => {
                    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
                        ModuleUnavailable::Failed(malformed(endpoint, status, e).to_string())
                    })?;
                    let source = match answer.source.as_str() {
                        "exact" => RoomSource::ModuleExact,
                        _ => RoomSource::ModuleEstimate,
                    };
                    let mut rooms = answer.rooms;
                    rooms.sort_by(|a, b| {
                        b.estimated_size
                            .cmp(&a.estimated_size)
                            .then_with(|| a.room_id.cmp(&b.room_id))
                    });
                    rooms.truncate(limit);
                    return Ok(RoomSizes {
                        source,
                        rooms,
                        asked: limit,
                    });
                }
                Err(error) => error,
            };
            match error {
                SynapseError::RateLimited { retry_after, .. } if !waited => {
                    waited = true;
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(1))
                        .min(MODULE_BUSY_WAIT);
                    tokio::time::sleep(wait).await;
                }
                other => return Err(module_unavailable(&other)),
            }
        }
    }

    async fn module_once(
        &self,
        endpoint: Endpoint,
        url: &Url,
        query: &[(&'static str, String)],
        secret: &ModuleSecret,
    ) -> Result<(u16, bytes::Bytes), SynapseError> {
        let budget = Duration::from_millis(MODULE_BUDGET_MS);
        let response = self
            .module_send(endpoint, url, query, secret, budget)
            .await?;
        let status = response.status().as_u16();
        Ok((status, self.read_body(endpoint, response).await?))
    }

    /// One GET to the module; a success's response, or the typed error
    /// (the module's 503 `"timeout": true` is a [`SynapseError::Timeout`]
    /// of `budget`).
    async fn module_send(
        &self,
        endpoint: Endpoint,
        url: &Url,
        query: &[(&'static str, String)],
        secret: &ModuleSecret,
        budget: Duration,
    ) -> Result<reqwest::Response, SynapseError> {
        let response = self
            .http
            .get(url.clone())
            .query(query)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", secret.0),
            )
            .send()
            .await
            .map_err(|e| self.transport(endpoint, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = self.read_body(endpoint, response).await?;
        if status.as_u16() == 503 && is_budget_timeout(&body) {
            Err(SynapseError::Timeout {
                endpoint,
                timeout: budget,
            })
        } else {
            Err(classify(endpoint, status.as_u16(), &body))
        }
    }
}

/// The module's 503 says `"timeout": true` when its budget ran out.
fn is_budget_timeout(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("timeout").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// What a failed request to the module means for the warden.
pub fn module_unavailable(error: &SynapseError) -> ModuleUnavailable {
    match error {
        SynapseError::UnexpectedStatus {
            status: 404 | 405, ..
        } => ModuleUnavailable::NotInstalled,
        SynapseError::Unauthorized { .. } | SynapseError::NotAdmin { .. } => {
            ModuleUnavailable::Refused
        }
        SynapseError::Timeout { .. } => ModuleUnavailable::TimedOut,
        SynapseError::Server { status, detail, .. } => {
            ModuleUnavailable::Failed(format!("HTTP {status}: {detail}"))
        }
        SynapseError::RateLimited { .. } => {
            ModuleUnavailable::Failed("it was busy measuring for another request".to_owned())
        }
        SynapseError::InvalidRequest { detail, .. } => {
            ModuleUnavailable::Failed(format!("HTTP 400: {detail}"))
        }
        SynapseError::Connect { reason, .. } => ModuleUnavailable::Failed(reason.clone()),
        other => ModuleUnavailable::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_redacted_and_trimmed() {
        let secret = ModuleSecret::new(" s3cret-value\n");
        assert_eq!(format!("{secret:?}"), "ModuleSecret(<redacted>)");
        assert_eq!(secret.0, "s3cret-value");
    }

    #[test]
    fn errors_are_typed_for_the_admin() {
        let e = Endpoint::ModuleRooms;
        assert_eq!(
            module_unavailable(&classify(e, 404, br#"{"errcode":"M_UNRECOGNIZED"}"#)),
            ModuleUnavailable::NotInstalled
        );
        assert_eq!(
            module_unavailable(&classify(e, 403, br#"{"errcode":"M_FORBIDDEN"}"#)),
            ModuleUnavailable::Refused
        );
        assert_eq!(
            module_unavailable(&classify(e, 401, b"")),
            ModuleUnavailable::Refused
        );
        assert!(matches!(
            module_unavailable(&classify(e, 500, br#"{"errcode":"M_UNKNOWN","error":"boom"}"#)),
            ModuleUnavailable::Failed(m) if m.contains("boom")
        ));
        assert!(is_budget_timeout(
            br#"{"errcode":"M_UNKNOWN","timeout":true}"#
        ));
        assert!(!is_budget_timeout(b"<html>503</html>"));
    }
}
