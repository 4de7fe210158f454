//! The endpoints over real HTTP: the probes, the metrics, and the
//! module's routes beside them.

use tokio::sync::RwLock;

use super::*;
use crate::daemon::module_api::{LIMITS_PATH, ModuleSecret};
use crate::daemon::shared::{Shared, Status};

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

/// The module's routes are merged beside the probes and the metrics: its
/// secret guards them only.
#[tokio::test]
async fn the_module_secret_leaves_the_probes_and_metrics_open() {
    let config = crate::core::policy::parse(
        "p.yaml",
        r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
http: { module_secret: { env: WARDEN_MODULE_SECRET } }
rules:
  user_media:
    - name: media-quota
      max_media_length: 5 MiB
      enforce: upload
"#,
    )
    .unwrap();
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        status: RwLock::new(Status::default()),
        snapshot: RwLock::new(None),
        silences: RwLock::new(Default::default()),
        checks: Default::default(),
    });
    let metrics = Arc::new(Metrics::new());
    let (refusals, _waiting) = module_api::channel();
    let endpoints = Endpoints {
        metrics: metrics.clone(),
        readiness: Arc::new(Readiness::default()),
        module: Some(ModuleApi {
            shared,
            secret: ModuleSecret::new("s3cret-module-key"),
            refusals,
            metrics,
        }),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, endpoints, async {
        let _ = stopped.await;
    }));
    let limits = format!("http://{addr}{LIMITS_PATH}?user_id=@bob:hs");
    let r = reqwest::get(&limits).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = reqwest::Client::new()
        .get(&limits)
        .bearer_auth("s3cret-module-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for path in ["/metrics", "/health"] {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
