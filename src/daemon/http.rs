//! The daemon's HTTP endpoints, for orchestrators and Prometheus:
//!
//! - `GET /health`: 200 while the process runs (liveness).
//! - `GET /ready`: 200 when Synapse answered the last request and the bot has
//!   synced, else 503 naming what is missing (readiness).
//! - `GET /metrics`: Prometheus text exposition.
//!
//! Nothing here reveals statistics or secrets: readiness says only which
//! dependency is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// What readiness depends on, updated by the daemon as things happen.
#[derive(Debug, Default)]
pub struct Readiness {
    synapse: AtomicBool,
    matrix: AtomicBool,
}

impl Readiness {
    /// Records whether the last Synapse request got an answer.
    pub fn set_synapse(&self, up: bool) {
        self.synapse.store(up, Ordering::Relaxed);
    }

    /// Records whether the bot is synced with its homeserver.
    pub fn set_matrix(&self, up: bool) {
        self.matrix.store(up, Ordering::Relaxed);
    }

    /// Whether Synapse answered the last request.
    pub fn synapse(&self) -> bool {
        self.synapse.load(Ordering::Relaxed)
    }

    /// Whether the bot is synced.
    pub fn matrix(&self) -> bool {
        self.matrix.load(Ordering::Relaxed)
    }
}

/// Shared state of the endpoints.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub readiness: Arc<Readiness>,
}

/// The router, for serving or for tests.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(endpoints)
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
    let synapse = state.readiness.synapse();
    let matrix = state.readiness.matrix();
    let status = if synapse && matrix {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "synapse": synapse, "matrix": matrix }).to_string();
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
        assert_eq!(get("/ready").await.0, 503);
        endpoints.readiness.set_synapse(true);
        assert_eq!(
            get("/ready").await,
            (503, r#"{"matrix":false,"synapse":true}"#.to_owned())
        );
        endpoints.readiness.set_matrix(true);
        assert_eq!(get("/ready").await.0, 200);
        let (status, text) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(text.contains("synapse_warden_walk_pages_total"));
        assert_eq!(get("/nope").await.0, 404);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
