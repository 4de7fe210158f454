//! The module's endpoints over real HTTP: authentication, the limits the
//! core decides, refusals counted and posted in batches.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::RwLock;

use super::*;
use crate::core::doc::Message;
use crate::daemon::shared::{NotifyError, Status};

const POLICY: &str = r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
alerts: { refusals_every: 2s }
http: { module_secret: { env: WARDEN_MODULE_SECRET } }
rules:
  user_media:
    - name: media-quota
      max_media_length: 5 MiB
      exempt: "@exempt:hs"
      enforce: upload
      info_uri: https://example.org/quota
      can_upgrade: true
    - name: burst
      window: 1h
      max_media_length: 1 MiB
      enforce: upload
    - name: alerts-only
      max_media_length: 1 KiB
overrides:
  - users: "@big:hs"
    rule: media-quota
    max_media_length: 50 MiB
    reason: agreed
"#;

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Message)>>, std::sync::atomic::AtomicBool);

#[async_trait]
impl Notifier for Recorder {
    async fn send(&self, txn_id: &str, message: &Message) -> Result<String, NotifyError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(NotifyError("homeserver down".into()));
        }
        self.0
            .lock()
            .unwrap()
            .push((txn_id.to_owned(), message.clone()));
        Ok(format!("${txn_id}"))
    }

    async fn send_image(
        &self,
        txn_id: &str,
        _png: &crate::chart::Png,
    ) -> Result<String, NotifyError> {
        Err(NotifyError(format!(
            "this test posts no image (transaction {txn_id})"
        )))
    }
}

struct Server {
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
}

async fn start() -> Server {
    let config = crate::core::policy::parse("p.yaml", POLICY).unwrap();
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        status: RwLock::new(Status::default()),
        snapshot: RwLock::new(None),
        silences: RwLock::new(Default::default()),
        checks: Default::default(),
    });
    let metrics = Arc::new(Metrics::new());
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let (tx, rx) = channel();
    tokio::spawn(post_refusals(
        rx,
        recorder.clone(),
        shared.clone(),
        stop.clone(),
    ));
    let api = ModuleApi {
        shared,
        secret: ModuleSecret::new("s3cret-module-key\n"),
        refusals: tx,
        metrics: metrics.clone(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served =
        axum::serve(listener, router(api)).with_graceful_shutdown(stop.clone().cancelled_owned());
    tokio::spawn(async move { served.await });
    Server {
        addr,
        metrics,
        recorder,
        stop,
    }
}

async fn limits(server: &Server, user: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .get(format!("http://{}{LIMITS_PATH}", server.addr))
        .query(&[("user_id", user)]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

const SECRET: Option<&str> = Some("s3cret-module-key");

#[tokio::test]
async fn only_the_module_secret_opens_the_module_endpoints() {
    let server = start().await;
    let (status, body) = limits(&server, "@bob:hs", None).await;
    assert_eq!(status, 401);
    assert!(!body.to_string().contains("s3cret"));
    assert_eq!(
        limits(&server, "@bob:hs", Some("s3cret-module-kex"))
            .await
            .0,
        401
    );
    assert_eq!(limits(&server, "@bob:hs", Some("s3cret")).await.0, 401);
    assert_eq!(limits(&server, "@bob:hs", Some("")).await.0, 401);
    let post = reqwest::Client::new()
        .post(format!("http://{}{REFUSALS_PATH}", server.addr))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 401);
    server.stop.cancel();
}

#[tokio::test]
async fn answers_the_limits_the_core_decides() {
    let server = start().await;
    let (status, body) = limits(&server, "@bob:hs", SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({
            "user_id": "@bob:hs",
            "limits": [
                {"rule": "media-quota", "max_bytes": 5 << 20, "time_period_ms": crate::core::engine::limits::WHOLE_USAGE_PERIOD_MS,
                 "info_uri": "https://example.org/quota", "can_upgrade": true},
                {"rule": "burst", "max_bytes": 1 << 20, "time_period_ms": 3_600_000,
                 "info_uri": null, "can_upgrade": false},
            ]
        })
    );
    let (_, body) = limits(&server, "@big:hs", SECRET).await;
    assert_eq!(body["limits"][0]["max_bytes"], 50 << 20);
    assert_eq!(body["limits"][1]["max_bytes"], 1 << 20);
    let (_, body) = limits(&server, "@exempt:hs", SECRET).await;
    assert_eq!(body["limits"].as_array().unwrap().len(), 1, "{body}");
    for bad in ["bob", "@bob", "@:hs", "@bo\nb:hs"] {
        let (status, body) = limits(&server, bad, SECRET).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].as_str().unwrap().contains("Matrix user ID"));
    }
    let r = reqwest::Client::new()
        .get(format!("http://{}{LIMITS_PATH}", server.addr))
        .bearer_auth("s3cret-module-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    server.stop.cancel();
}

async fn report(server: &Server, body: serde_json::Value) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{}{REFUSALS_PATH}", server.addr))
        .bearer_auth("s3cret-module-key")
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refusals_are_counted_and_posted_in_one_batch() {
    let server = start().await;
    let refusal = |user: &str, max: u64, period: u64| {
        serde_json::json!({"user_id": user, "max_bytes": max, "time_period_ms": period,
            "sent_bytes": (5u64 << 20) - 10, "attempted_bytes": 2u64 << 20})
    };
    let whole = crate::core::engine::limits::WHOLE_USAGE_PERIOD_MS;
    assert_eq!(
        report(&server, refusal("@bob:hs", 5 << 20, whole)).await,
        202
    );
    assert_eq!(
        report(&server, refusal("@carol:hs", 5 << 20, whole)).await,
        202
    );
    assert_eq!(report(&server, refusal("@dan:hs", 7, 7)).await, 202);
    assert_eq!(
        report(&server, serde_json::json!({"user_id": "@x:hs"})).await,
        400
    );
    assert_eq!(report(&server, refusal("not-a-user", 1, 1)).await, 400);
    let text = server.metrics.encode();
    assert!(
        text.contains("synapse_warden_uploads_refused_total{rule=\"media-quota\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("synapse_warden_uploads_refused_total{rule=\"unknown\"} 1"),
        "{text}"
    );
    let mut posted = Vec::new();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        posted = server.recorder.0.lock().unwrap().clone();
        if !posted.is_empty() {
            break;
        }
    }
    assert_eq!(posted.len(), 1, "{posted:?}");
    let plain = &posted[0].1.plain;
    assert!(plain.contains("3 uploads refused by Synapse"), "{plain}");
    assert!(
        plain.contains("@bob:hs — 2.0 MiB over media-quota (5.0 MiB)"),
        "{plain}"
    );
    assert!(plain.contains("@dan:hs"), "{plain}");

    // Matrix down: the batch waits and is posted once it is back.
    server
        .recorder
        .1
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        report(&server, refusal("@erin:hs", 5 << 20, whole)).await,
        202
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(server.recorder.0.lock().unwrap().len(), 1);
    server
        .recorder
        .1
        .store(false, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.recorder.0.lock().unwrap().len() == 2 {
            break;
        }
    }
    let posted = server.recorder.0.lock().unwrap().clone();
    assert_eq!(posted.len(), 2);
    assert!(
        posted[1].1.plain.contains("1 upload refused"),
        "{}",
        posted[1].1.plain
    );
    server.stop.cancel();
}
