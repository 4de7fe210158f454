//! The daemon's HTTP endpoints, for orchestrators and Prometheus:
//!
//! - `GET /health`: 200 while the process runs (liveness).
//! - `GET /ready`: 200 when Synapse answered the last request, the bot has
//!   synced, the last run did not fail for a reason that will not heal by
//!   itself (401, 403, 404: an admin must act) and the policy file in force
//!   is the one on disk (the last reload was not refused) and the last save
//!   of `state.json` worked; else 503. The JSON
//!   body says which: `{"ready":false,"synapse":true,"matrix":true,
//!   "reasons":["..."]}`.
//! - `GET /metrics`: Prometheus text exposition.
//!
//! Nothing here reveals statistics or secrets: readiness says which
//! dependency is down, and why a run or a reload failed (Synapse's errors
//! and the policy file's never hold a secret).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::Metrics;
use super::module_api::{self, ModuleApi};
use super::shared::Readiness;

/// Shared state of the endpoints.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub readiness: Arc<Readiness>,
    /// The quota module's endpoints, when `http.module_secret` is set.
    pub module: Option<ModuleApi>,
}

/// The router, for serving or for tests.
pub fn router(endpoints: Endpoints) -> Router {
    let module = endpoints.module.clone();
    let router = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(endpoints);
    match module {
        Some(api) => router.merge(module_api::router(api)),
        None => router,
    }
}

/// Serves the endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(endpoints))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn ready(State(state): State<Endpoints>) -> impl IntoResponse {
    let readiness = &state.readiness;
    let reasons = readiness.reasons();
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "synapse": readiness.synapse(),
        "matrix": readiness.matrix(),
        "reasons": reasons,
    })
    .to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

async fn metrics(State(state): State<Endpoints>) -> impl IntoResponse {
    // The health gauges follow readiness, read at scrape time.
    let metrics = &state.metrics;
    metrics.synapse_up.set(i64::from(state.readiness.synapse()));
    metrics
        .matrix_connected
        .set(i64::from(state.readiness.matrix()));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

#[cfg(test)]
mod tests;
