//! Errors of the Synapse adapter.
//!
//! Each error names the endpoint and keeps what Synapse said (status, errcode,
//! message). None of them holds the access token: it lives only in request
//! headers, and reqwest's errors carry the URL, never the headers.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::core::doc::neutral;

/// The admin API endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /_synapse/admin/v1/statistics/users/media`
    UsersMedia,
    /// `GET /_synapse/admin/v1/statistics/database/rooms`
    DatabaseRooms,
    /// `GET /_synapse/admin/v1/rooms` (the official room list)
    RoomList,
    /// `GET /_synapse/client/synapse_warden/v1/rooms` (the warden's
    /// Synapse module: room sizes on every Synapse)
    ModuleRooms,
    /// `GET /_synapse/client/synapse_warden/v1/users/media` (the warden's
    /// Synapse module: users' media totals in keyset pages)
    ModuleUsersMedia,
    /// `GET /_synapse/admin/v1/server_version`
    ServerVersion,
    /// `GET /_synapse/admin/v1/users/<user_id>/media`
    UserMedia,
    /// `DELETE /_synapse/admin/v1/media/<server_name>/<media_id>`
    DeleteMedia,
    /// `POST /_synapse/admin/v1/media/quarantine/<server_name>/<media_id>`
    QuarantineMedia,
    /// `POST /_synapse/admin/v1/purge_media_cache`
    PurgeMediaCache,
    /// `PUT /_synapse/admin/v1/send_server_notice/<txn_id>`
    ServerNotice,
    /// `GET /_synapse/admin/v1/rooms/<room_id>`
    RoomDetails,
    /// `DELETE /_synapse/admin/v2/rooms/<room_id>`
    DeleteRoom,
    /// `GET /_synapse/admin/v2/rooms/delete_status/<delete_id>`
    DeleteStatus,
    /// `POST /_synapse/admin/v1/purge_history/<room_id>`
    PurgeHistory,
    /// `GET /_synapse/admin/v1/purge_history_status/<purge_id>`
    PurgeHistoryStatus,
    /// `GET /_synapse/admin/v3/users?deactivated=true`
    DeactivatedUsers,
    /// `GET /_synapse/admin/v2/rooms/<room_id>/delete_status`
    RoomDeleteTasks,
    /// `GET /_matrix/client/v1/auth_metadata` (no auth): answers when the
    /// homeserver delegates authentication (MSC3861, as under MAS)
    AuthMetadata,
    /// `GET /_matrix/client/unstable/org.matrix.msc2965/auth_metadata`, the
    /// same before it was stable
    AuthMetadataUnstable,
}

impl Endpoint {
    /// The path below the admin API base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::UsersMedia => "/_synapse/admin/v1/statistics/users/media",
            Endpoint::DatabaseRooms => "/_synapse/admin/v1/statistics/database/rooms",
            Endpoint::RoomList => "/_synapse/admin/v1/rooms",
            Endpoint::ModuleRooms => "/_synapse/client/synapse_warden/v1/rooms",
            Endpoint::ModuleUsersMedia => "/_synapse/client/synapse_warden/v1/users/media",
            Endpoint::ServerVersion => "/_synapse/admin/v1/server_version",
            Endpoint::UserMedia => "/_synapse/admin/v1/users/<user_id>/media",
            Endpoint::DeleteMedia => "/_synapse/admin/v1/media/<server_name>/<media_id>",
            Endpoint::QuarantineMedia => {
                "/_synapse/admin/v1/media/quarantine/<server_name>/<media_id>"
            }
            Endpoint::PurgeMediaCache => "/_synapse/admin/v1/purge_media_cache",
            Endpoint::ServerNotice => "/_synapse/admin/v1/send_server_notice/<txn_id>",
            Endpoint::RoomDetails => "/_synapse/admin/v1/rooms/<room_id>",
            Endpoint::DeleteRoom => "/_synapse/admin/v2/rooms/<room_id>",
            Endpoint::DeleteStatus => "/_synapse/admin/v2/rooms/delete_status/<delete_id>",
            Endpoint::PurgeHistory => "/_synapse/admin/v1/purge_history/<room_id>",
            Endpoint::PurgeHistoryStatus => "/_synapse/admin/v1/purge_history_status/<purge_id>",
            Endpoint::DeactivatedUsers => "/_synapse/admin/v3/users",
            Endpoint::RoomDeleteTasks => "/_synapse/admin/v2/rooms/<room_id>/delete_status",
            Endpoint::AuthMetadata => "/_matrix/client/v1/auth_metadata",
            Endpoint::AuthMetadataUnstable => {
                "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"
            }
        }
    }

    /// The admin API version of its path (`v1`, `v2`).
    pub fn version(self) -> &'static str {
        match self {
            Endpoint::DeleteRoom | Endpoint::DeleteStatus | Endpoint::RoomDeleteTasks => "v2",
            Endpoint::DeactivatedUsers => "v3",
            _ => "v1",
        }
    }

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::DeleteMedia | Endpoint::DeleteRoom => "DELETE",
            Endpoint::ServerNotice => "PUT",
            Endpoint::QuarantineMedia | Endpoint::PurgeMediaCache | Endpoint::PurgeHistory => {
                "POST"
            }
            _ => "GET",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method(), self.path())
    }
}

/// What Synapse said in a standard Matrix error body
/// (`{"errcode": "...", "error": "..."}`), when it said anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatrixError {
    /// e.g. `M_INVALID_PARAM`; `None` when the body was not a Matrix error.
    pub errcode: Option<String>,
    /// Synapse's human message, or a short excerpt of a non-JSON body.
    pub message: Option<String>,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.errcode, &self.message) {
            (Some(code), Some(msg)) => write!(f, "{code}: {msg}"),
            (Some(code), None) => f.write_str(code),
            (None, Some(msg)) => write!(f, "{msg}"),
            (None, None) => f.write_str("no error body"),
        }
    }
}

/// Everything that can go wrong talking to Synapse's admin API.
#[derive(Debug, Clone, Error)]
pub enum SynapseError {
    /// 401: no token, or a token Synapse does not know.
    #[error(
        "{endpoint}: Synapse refused the access token (401 {detail}); check the admin token setting"
    )]
    Unauthorized {
        /// Where the request went.
        endpoint: Endpoint,
        /// What Synapse said.
        detail: MatrixError,
    },
    /// 403: a valid token of a user who is not a server admin.
    #[error("{endpoint}: the access token's user is not a server admin (403 {detail})")]
    NotAdmin {
        /// Where the request went.
        endpoint: Endpoint,
        /// What Synapse said.
        detail: MatrixError,
    },
    /// 400 "Endpoint requires using PostgreSQL": the largest-rooms statistics
    /// exist only on PostgreSQL.
    #[error("{endpoint}: this Synapse uses SQLite, and room size statistics require PostgreSQL")]
    RequiresPostgres {
        /// Where the request went.
        endpoint: Endpoint,
    },
    /// Any other 400: Synapse refused a parameter.
    #[error("{endpoint}: Synapse refused the request (400 {detail})")]
    InvalidRequest {
        /// Where the request went.
        endpoint: Endpoint,
        /// What Synapse said.
        detail: MatrixError,
    },
    /// 429: rate limited; `retry_after` is Synapse's `retry_after_ms`.
    #[error("{endpoint}: Synapse is rate limiting us (429 {detail}){}", retry_hint(.retry_after))]
    RateLimited {
        /// Where the request went.
        endpoint: Endpoint,
        /// When Synapse asked us to come back, if it said.
        retry_after: Option<Duration>,
        /// What Synapse said.
        detail: MatrixError,
    },
    /// 5xx: Synapse (or a proxy in front of it) failed.
    #[error("{endpoint}: Synapse failed ({status} {detail})")]
    Server {
        /// Where the request went.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// What Synapse said.
        detail: MatrixError,
    },
    /// Any other non-success status (e.g. 404 when the base URL points at a
    /// worker or a proxy that does not route the admin API).
    #[error("{endpoint}: unexpected HTTP {status} ({detail}){}", status_hint(*.endpoint, *.status))]
    UnexpectedStatus {
        /// Where the request went.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// What the body said.
        detail: MatrixError,
    },
    /// The request or the response took longer than the configured timeout.
    #[error("{endpoint}: no complete answer from Synapse within {timeout:?}")]
    Timeout {
        /// Where the request went.
        endpoint: Endpoint,
        /// The configured timeout.
        timeout: Duration,
    },
    /// No connection could be made, or it broke before an answer arrived.
    #[error("{endpoint}: cannot reach Synapse: {reason}")]
    Connect {
        /// Where the request went.
        endpoint: Endpoint,
        /// The transport's explanation (no secrets: URL and cause only).
        reason: String,
    },
    /// A 200 whose body is not what Synapse sends.
    #[error("{endpoint}: malformed answer from Synapse (HTTP {status}): {reason}")]
    Malformed {
        /// Where the request went.
        endpoint: Endpoint,
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// A figure in a 200 that cannot be right: a negative or absurd
    /// (beyond 2^53) `media_length` or `media_count`. The run stops with it
    /// rather than alert on it.
    #[error(
        "{endpoint}: Synapse reported {field} {value} for {user_id}, which cannot be right (negative, or beyond 2^53); the run stops rather than alert on it"
    )]
    Implausible {
        /// Where the request went.
        endpoint: Endpoint,
        /// The user it was reported for (neutralised).
        user_id: String,
        /// `media_length` or `media_count`.
        field: &'static str,
        /// The value as sent.
        value: String,
    },
    /// The caller stopped reading the answer before it was complete.
    #[error("{endpoint}: request cancelled")]
    Cancelled {
        /// Where the request went.
        endpoint: Endpoint,
    },
    /// The client could not be set up (bad base URL, TLS backend...).
    #[error("invalid Synapse client setting: {0}")]
    Config(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; retry after {} ms", d.as_millis()),
        None => String::new(),
    }
}

fn status_hint(endpoint: Endpoint, status: u16) -> &'static str {
    match status {
        404 if matches!(
            endpoint,
            Endpoint::UserMedia
                | Endpoint::DeleteMedia
                | Endpoint::RoomDetails
                | Endpoint::DeleteStatus
                | Endpoint::PurgeHistory
                | Endpoint::PurgeHistoryStatus
                | Endpoint::RoomDeleteTasks
        ) =>
        {
            ""
        }
        404 | 405 => {
            "; is the admin API base URL the Synapse main process? Workers do not serve the statistics endpoints"
        }
        _ => "",
    }
}

impl SynapseError {
    /// Whether retrying the same request may succeed: connection failures,
    /// timeouts, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SynapseError::Connect { .. }
                | SynapseError::Timeout { .. }
                | SynapseError::Server { .. }
                | SynapseError::RateLimited { .. }
        )
    }

    /// Whether the failure will last until an admin acts: a refused token
    /// (401), a user who is not a server admin (403), an address that does
    /// not serve the admin API (404, 405), a refused parameter (400) or an
    /// unusable client setting. Retrying does not heal these.
    pub fn needs_admin(&self) -> bool {
        match self {
            SynapseError::Unauthorized { .. }
            | SynapseError::NotAdmin { .. }
            | SynapseError::InvalidRequest { .. }
            | SynapseError::Config(_) => true,
            SynapseError::UnexpectedStatus { status, .. } => matches!(status, 404 | 405),
            _ => false,
        }
    }

    /// The endpoint the failed request went to, if any.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            SynapseError::Unauthorized { endpoint, .. }
            | SynapseError::NotAdmin { endpoint, .. }
            | SynapseError::RequiresPostgres { endpoint }
            | SynapseError::InvalidRequest { endpoint, .. }
            | SynapseError::RateLimited { endpoint, .. }
            | SynapseError::Server { endpoint, .. }
            | SynapseError::UnexpectedStatus { endpoint, .. }
            | SynapseError::Timeout { endpoint, .. }
            | SynapseError::Connect { endpoint, .. }
            | SynapseError::Malformed { endpoint, .. }
            | SynapseError::Implausible { endpoint, .. }
            | SynapseError::Cancelled { endpoint } => Some(*endpoint),
            SynapseError::Config(_) => None,
        }
    }

    /// A short, stable label for metrics (`api_errors_total{kind=...}`).
    pub fn kind(&self) -> &'static str {
        match self {
            SynapseError::Unauthorized { .. } => "unauthorized",
            SynapseError::NotAdmin { .. } => "not_admin",
            SynapseError::RequiresPostgres { .. } => "requires_postgres",
            SynapseError::InvalidRequest { .. } => "invalid_request",
            SynapseError::RateLimited { .. } => "rate_limited",
            SynapseError::Server { .. } => "server",
            SynapseError::UnexpectedStatus { .. } => "unexpected_status",
            SynapseError::Timeout { .. } => "timeout",
            SynapseError::Connect { .. } => "connect",
            SynapseError::Malformed { .. } => "malformed",
            SynapseError::Implausible { .. } => "implausible",
            SynapseError::Cancelled { .. } => "cancelled",
            SynapseError::Config(_) => "config",
        }
    }
}

/// Turns a non-success answer into an error, from its status and body.
pub(crate) fn classify(endpoint: Endpoint, status: u16, body: &[u8]) -> SynapseError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("error").or_else(|| excerpt(body));
    let requires_postgres = message.as_deref() == Some("Endpoint requires using PostgreSQL");
    // Outside text, captured once here: every display of the error (the
    // room, `/ready`, the logs, the command line) gets it capped and
    // neutralised.
    let detail = MatrixError {
        errcode: field("errcode").map(|c| {
            let head: String = c.chars().take(ERRCODE_CAP + 1).collect();
            neutral(&head, ERRCODE_CAP)
        }),
        message: message.map(|m| {
            let head: String = m.chars().take(MESSAGE_CAP + 1).collect();
            neutral(&head, MESSAGE_CAP)
        }),
    };
    match status {
        401 => SynapseError::Unauthorized { endpoint, detail },
        403 => SynapseError::NotAdmin { endpoint, detail },
        400 if requires_postgres => SynapseError::RequiresPostgres { endpoint },
        400 => SynapseError::InvalidRequest { endpoint, detail },
        429 => {
            let retry_after = parsed
                .as_ref()
                .and_then(|v| v.get("retry_after_ms"))
                .and_then(|v| v.as_u64())
                .map(Duration::from_millis);
            SynapseError::RateLimited {
                endpoint,
                retry_after,
                detail,
            }
        }
        500..=599 => SynapseError::Server {
            endpoint,
            status,
            detail,
        },
        _ => SynapseError::UnexpectedStatus {
            endpoint,
            status,
            detail,
        },
    }
}

/// Characters of Synapse's `error` (or of a non-JSON body) kept, escapes
/// included, before `…`.
pub const MESSAGE_CAP: usize = 200;
/// Characters of Synapse's `errcode` kept.
const ERRCODE_CAP: usize = 64;

/// The first line of a non-JSON body, for error messages (capped and
/// neutralised by the caller).
fn excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(MESSAGE_CAP + 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synapse's error text is capped and neutralised where it is
    /// captured: JSON `error`, `errcode` and a non-JSON body alike.
    #[test]
    fn synapse_text_is_capped_and_neutralised() {
        let line = format!("\u{1b}[31mred\u{202e}txt {}", "x".repeat(10_000));
        let json = serde_json::json!({
            "errcode": format!("M_\n{}", "Y".repeat(500)),
            "error": format!("boom\n{line}"),
        });
        let plain = format!("{line}\nsecond line");
        for body in [json.to_string(), plain] {
            let e = classify(Endpoint::UsersMedia, 500, body.as_bytes());
            let SynapseError::Server { detail, .. } = &e else {
                panic!("{e:?}")
            };
            let message = detail.message.as_deref().unwrap();
            assert!(message.chars().count() <= MESSAGE_CAP, "{message}");
            assert!(message.ends_with('…'), "{message}");
            assert!(crate::core::doc::is_neutralised(message), "{message:?}");
            let shown = e.to_string();
            assert!(shown.chars().count() < 400, "{shown}");
            assert!(!shown.contains(['\n', '\u{1b}', '\u{202e}']), "{shown:?}");
            assert!(shown.contains("\\u{1b}[31mred\\u{202e}txt"), "{shown}");
        }
    }

    #[test]
    fn classifies_synapse_errors() {
        let e = classify(
            Endpoint::DatabaseRooms,
            400,
            br#"{"errcode":"M_UNKNOWN","error":"Endpoint requires using PostgreSQL"}"#,
        );
        assert!(matches!(e, SynapseError::RequiresPostgres { .. }));

        let e = classify(
            Endpoint::UsersMedia,
            429,
            br#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":1500}"#,
        );
        match e {
            SynapseError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_millis(1500)))
            }
            other => panic!("{other:?}"),
        }

        let e = classify(Endpoint::UsersMedia, 502, b"<html>\n<h1>Bad Gateway</h1>");
        assert_eq!(
            e.to_string(),
            "GET /_synapse/admin/v1/statistics/users/media: Synapse failed (502 <html>)"
        );
        assert!(e.is_transient());

        let e = classify(
            Endpoint::UsersMedia,
            403,
            br#"{"errcode":"M_FORBIDDEN","error":"You are not a server admin"}"#,
        );
        assert_eq!(
            e.to_string(),
            "GET /_synapse/admin/v1/statistics/users/media: the access token's user is not a server admin (403 M_FORBIDDEN: You are not a server admin)"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn what_needs_an_admin() {
        let at = |status: u16, body: &[u8]| classify(Endpoint::UsersMedia, status, body);
        for (status, body) in [
            (
                401,
                &br#"{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}"#[..],
            ),
            (
                403,
                br#"{"errcode":"M_FORBIDDEN","error":"You are not a server admin"}"#,
            ),
            (404, b"<html>Not Found</html>"),
            (405, b""),
            (
                400,
                br#"{"errcode":"M_INVALID_PARAM","error":"bad order_by"}"#,
            ),
        ] {
            let e = at(status, body);
            assert!(e.needs_admin() && !e.is_transient(), "{status}: {e}");
        }
        for (status, body) in [
            (429, &br#"{"errcode":"M_LIMIT_EXCEEDED"}"#[..]),
            (500, b""),
            (502, b""),
            (418, b""),
        ] {
            assert!(!at(status, body).needs_admin(), "{status}");
        }
        let postgres = classify(
            Endpoint::DatabaseRooms,
            400,
            br#"{"errcode":"M_UNKNOWN","error":"Endpoint requires using PostgreSQL"}"#,
        );
        assert!(!postgres.needs_admin(), "SQLite is a note, not a failure");
    }
}
