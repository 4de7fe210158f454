//! The endpoints of the Synapse module `synapse_warden_quota`, on
//! `http.listen` beside `/health`, `/ready` and `/metrics`, when
//! `http.module_secret` is set:
//!
//! - `GET /_synapse_warden/module/v1/limits?user_id=@bob:example.org`:
//!   the user's hard upload limits, decided by the core
//!   ([`crate::core::engine::limits::upload_limits`]) from the rules in force:
//!   `{"user_id": "...", "limits": [{"rule", "max_bytes",
//!   "time_period_ms", "info_uri", "can_upgrade"}]}`; an empty list means
//!   no limit.
//! - `POST /_synapse_warden/module/v1/refusals` with `{"user_id",
//!   "max_bytes", "time_period_ms", "sent_bytes", "attempted_bytes"}`: an
//!   upload Synapse refused. Counted in `/metrics` at once, posted in the
//!   admin room in batches (`alerts.refusals_every`).
//!
//! Both need `Authorization: Bearer <module_secret>`, compared in constant
//! time; a missing or wrong secret gets 401 and nothing else. Errors never
//! echo the secret.

use std::fmt;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, RefusalLabels};
use super::shared::{Notifier, Shared};
use crate::clock::now_ms;
use crate::core::alerting::refusals::{self, UploadRefusal};
use crate::core::engine::limits;

/// Path of the limits endpoint.
pub const LIMITS_PATH: &str = "/_synapse_warden/module/v1/limits";
/// Path of the refusals endpoint.
pub const REFUSALS_PATH: &str = "/_synapse_warden/module/v1/refusals";
/// Refusals waiting for the admin room at most; more are counted in
/// `/metrics` but not listed.
const QUEUE: usize = 1000;

/// The shared secret of the module. Clones share it: a reload that reads
/// a new `http.module_secret` puts it in force for the endpoints with
/// [`ModuleSecret::replace`].
#[derive(Clone)]
pub struct ModuleSecret(Arc<std::sync::RwLock<Arc<str>>>);

impl ModuleSecret {
    /// Wraps the secret (already read from its source).
    pub fn new(secret: &str) -> ModuleSecret {
        ModuleSecret(Arc::new(std::sync::RwLock::new(Arc::from(secret.trim()))))
    }

    /// Puts `secret` in force instead (a reload).
    pub fn replace(&self, secret: &str) {
        let mut current = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::from(secret.trim());
    }

    /// Whether `given` is the secret, in constant time (for equal lengths).
    fn accepts(&self, given: &str) -> bool {
        let current = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        bool::from(current.as_bytes().ct_eq(given.as_bytes()))
    }
}

impl fmt::Debug for ModuleSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ModuleSecret(<redacted>)")
    }
}

/// State of the module's endpoints.
#[derive(Debug, Clone)]
pub struct ModuleApi {
    /// The rules in force (reloads included).
    pub shared: Arc<Shared>,
    /// The shared secret.
    pub secret: ModuleSecret,
    /// Refusals on their way to the admin room.
    pub refusals: mpsc::Sender<UploadRefusal>,
    /// Where refusals are counted.
    pub metrics: Arc<Metrics>,
}

/// The module's routes, to merge into the HTTP router.
pub fn router(api: ModuleApi) -> Router {
    Router::new()
        .route(LIMITS_PATH, get(limits_for_user))
        .route(REFUSALS_PATH, post(refused))
        .with_state(api)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `None` when authorized, else the 401 to answer.
fn unauthorized(api: &ModuleApi, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if api.secret.accepts(token) => None,
        Some(_) => Some(error(StatusCode::UNAUTHORIZED, "wrong module secret")),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <module secret>`",
        )),
    }
}

/// Whether `id` looks like a Matrix user ID (`@local:server`, at most 255
/// bytes, no control characters).
fn valid_user_id(id: &str) -> bool {
    id.len() <= 255
        && !id.chars().any(char::is_control)
        && id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
}

#[derive(Deserialize)]
struct LimitsQuery {
    user_id: Option<String>,
}

async fn limits_for_user(
    State(api): State<ModuleApi>,
    headers: HeaderMap,
    query: Result<Query<LimitsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(denied) = unauthorized(&api, &headers) {
        return denied;
    }
    let Some(user_id) = query
        .ok()
        .and_then(|q| q.0.user_id)
        .filter(|u| valid_user_id(u))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "`user_id` must be a Matrix user ID such as `@bob:example.org`",
        );
    };
    let config = api.shared.config.read().await.clone();
    let limits = limits::upload_limits(&config.rules, &user_id, now_ms());
    Json(serde_json::json!({ "user_id": user_id, "limits": limits })).into_response()
}

#[derive(Deserialize)]
struct RefusalReport {
    user_id: String,
    max_bytes: u64,
    time_period_ms: u64,
    sent_bytes: u64,
    attempted_bytes: u64,
}

async fn refused(
    State(api): State<ModuleApi>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = unauthorized(&api, &headers) {
        return denied;
    }
    let report: RefusalReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a refusal report: {e}"),
            );
        }
    };
    if !valid_user_id(&report.user_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "`user_id` must be a Matrix user ID such as `@bob:example.org`",
        );
    }
    let config = api.shared.config.read().await.clone();
    let refusal = refusals::refusal(
        &config.rules,
        &report.user_id,
        report.max_bytes,
        report.time_period_ms,
        report.sent_bytes,
        report.attempted_bytes,
        now_ms(),
    );
    api.metrics
        .uploads_refused
        .get_or_create(&RefusalLabels {
            rule: refusal.rule.clone().unwrap_or_else(|| "unknown".to_owned()),
        })
        .inc();
    tracing::info!(rule = ?refusal.rule, attempted_bytes = report.attempted_bytes, "Synapse refused an upload");
    if api.refusals.try_send(refusal).is_err() {
        tracing::warn!(
            "too many refused uploads waiting for the admin room; this one is only counted"
        );
    }
    // A JSON body: Synapse's HTTP client decodes every answer.
    (StatusCode::ACCEPTED, Json(serde_json::json!({}))).into_response()
}

/// A channel for refusals, of a bounded size.
pub fn channel() -> (mpsc::Sender<UploadRefusal>, mpsc::Receiver<UploadRefusal>) {
    mpsc::channel(QUEUE)
}

/// Posts refusals in the admin room: after the first one arrives, waits
/// `every()` collecting more, then posts them in one message; on failure
/// (Matrix unreachable) keeps them and tries again after another period.
pub async fn post_refusals(
    mut rx: mpsc::Receiver<UploadRefusal>,
    notifier: Arc<dyn Notifier>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<UploadRefusal> = Vec::new();
    loop {
        if batch.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = rx.recv() => match got {
                    Some(r) => batch.push(r),
                    None => return,
                },
            }
        }
        let (every, max_lines) = {
            let config = shared.config.read().await;
            (config.alerts.refusals_every, config.alerts.max_lines.get())
        };
        let deadline = tokio::time::Instant::now() + every;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(deadline) => break,
                got = rx.recv() => match got {
                    Some(r) if batch.len() < QUEUE => batch.push(r),
                    Some(_) => {}
                    None => break,
                },
            }
        }
        let Some(message) = crate::core::text::refusals::message(&batch, max_lines) else {
            continue;
        };
        let txn_id = format!(
            "warden-refusals-{}-{}",
            batch.first().map_or(0, |r| r.at_ms),
            batch.len()
        );
        match notifier.send(&txn_id, &message).await {
            Ok(_) => batch.clear(),
            Err(e) => {
                tracing::warn!(error = %e, refusals = batch.len(), "cannot post refused uploads yet; retrying after another period");
            }
        }
    }
}

#[cfg(test)]
mod tests;
