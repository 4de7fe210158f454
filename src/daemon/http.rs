//! The daemon's HTTP endpoints, for orchestrators and Prometheus:
//!
//! - `GET /health`: 200 while the process runs (liveness).
//! - `GET /ready`: 200 when Synapse answered the last request, the bot has
//!   synced, the last run did not fail for a reason that will not heal by
//!   itself (401, 403, 404: an admin must act) and the policy file in force
//!   is the one on disk (the last reload was not refused); else 503. The JSON
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_ready_and_metrics() {
        let endpoints = Endpoints {
            metrics: Arc::new(Metrics::new()),
            readiness: Arc::new(Readiness::default()),
            module: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, endpoints.clone(), async {
            let _ = stopped.await;
        }));
        let get = |path: &str| {
            let url = format!("http://{addr}{path}");
            async move {
                let r = reqwest::get(url).await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        assert_eq!(get("/health").await, (200, "ok\n".to_owned()));
        let ready = || async {
            let (status, body) = get("/ready").await;
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            (status, body)
        };
        assert_eq!(get("/ready").await.0, 503);
        endpoints.readiness.set_synapse(true);
        assert_eq!(
            ready().await,
            (
                503,
                serde_json::json!({"ready": false, "synapse": true, "matrix": false,
                    "reasons": ["the bot is not synced with its homeserver"]})
            )
        );
        endpoints.readiness.set_matrix(true);
        assert_eq!(
            ready().await,
            (
                200,
                serde_json::json!({"ready": true, "synapse": true, "matrix": true, "reasons": []})
            )
        );
        // A run that failed for good (a revoked token) and a refused reload:
        // not ready, each said, until each is over.
        endpoints
            .readiness
            .set_run_blocked(Some("Synapse refused the access token (401)".into()));
        endpoints
            .readiness
            .set_reload_refused(Some("p.yaml:3:5: rules: unknown key\n".into()));
        let (status, body) = ready().await;
        assert_eq!(status, 503);
        assert_eq!(
            body["reasons"],
            serde_json::json!([
                "the last run failed and will not succeed until an admin acts: Synapse refused the access token (401)",
                "the policy file was changed but could not be reloaded; the previous rules stay in force: p.yaml:3:5: rules: unknown key"
            ])
        );
        endpoints.readiness.set_run_blocked(None);
        assert_eq!(ready().await.0, 503);
        endpoints.readiness.set_reload_refused(None);
        assert_eq!(ready().await.0, 200);
        let (status, text) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(text.contains("synapse_warden_walk_pages_total"));
        assert_eq!(get("/nope").await.0, 404);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
