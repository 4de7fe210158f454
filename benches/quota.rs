//! Benchmark of hard quotas at upload: the latency the `synapse_warden_quota` module adds
//! to media uploads, side by side in one run, on real PostgreSQL Synapses:
//!
//! ```text
//! cargo bench --bench quota -- [--uploads 200] [--size 1024]
//! ```
//!
//! Four Synapses from the same virtualenv (the module installed from this
//! checkout), running at once; the uploads go round-robin, one to each in
//! turn, so that other load on the machine weighs on all alike:
//!
//! - **without** the module (no upload limit: Synapse skips the check);
//! - **the same limits in `homeserver.yaml`** (`media_upload_limits`), no
//!   module: what Synapse's own check (a `SUM` over the user's media per
//!   upload) costs, to tell it from the module's share;
//! - **cache hit**: the module with `cache: 60s`, its cache warmed by one
//!   upload, so every measured upload uses the cached limits (and Synapse
//!   then sums the user's media, which is what enforcing costs);
//! - **cache miss**: the module with `cache: 0s`, so every upload asks the
//!   warden over HTTP.
//!
//! The warden side is the daemon's real HTTP router with the module's
//! endpoints (`synapse_warden::daemon::http`), in this process, with a
//! policy whose `enforce: upload` rules are far above what is uploaded. Each
//! configuration gets a few warm-up uploads, then `--uploads` uploads of
//! `--size` bytes by one user; it prints median, p95 and
//! max per configuration, the overheads at the median, and the bar
//! ("overhead under 5 ms at the median on a cache hit: ok|NOT MET").

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::json;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use synapse_warden::daemon::http::{self, Endpoints};
use synapse_warden::daemon::metrics::Metrics;
use synapse_warden::daemon::module_api::{self, ModuleApi, ModuleSecret};
use synapse_warden::daemon::shared::{Readiness, Shared, Status};
use test_support::synapse::{Backend, SynapseHarness, ensure_quota_module};

const BAR_MS: f64 = 5.0;
const WARMUP: usize = 10;

struct Args {
    uploads: usize,
    size: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        uploads: 200,
        size: 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--uploads" => args.uploads = it.next().context("--uploads N")?.parse()?,
            "--size" => args.size = it.next().context("--size BYTES")?.parse()?,
            _ => {}
        }
    }
    ensure!(args.uploads >= 20, "--uploads must be at least 20");
    Ok(args)
}

/// Serves the daemon's router with the module's endpoints; returns its
/// address.
async fn start_warden(secret: &str, stop: CancellationToken) -> Result<std::net::SocketAddr> {
    let policy = r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: UNUSED } }
http: { module_secret: { env: UNUSED } }
rules:
  user_media:
    - name: media-quota
      max_media_length: 100 GiB
      enforce: upload
    - name: upload-burst
      window: 1h
      max_media_length: 50 GiB
      enforce: upload
"#;
    let config = synapse_warden::core::policy::parse("bench.yaml", policy)
        .map_err(|e| anyhow::anyhow!("{}", e.report()))?;
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        status: RwLock::new(Status::default()),
        snapshot: RwLock::new(None),
        silences: RwLock::new(Default::default()),
        checks: Default::default(),
    });
    let metrics = Arc::new(Metrics::new());
    let (refusals, _rx) = module_api::channel();
    let endpoints = Endpoints {
        metrics: metrics.clone(),
        readiness: Arc::new(Readiness::default()),
        module: Some(ModuleApi {
            shared,
            secret: ModuleSecret::new(secret),
            refusals,
            metrics,
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _keep = _rx;
        let _ = http::serve(listener, endpoints, stop.cancelled_owned()).await;
    });
    Ok(addr)
}

/// One Synapse ready to be measured: its uploader and upload URL.
struct Target {
    name: &'static str,
    h: SynapseHarness,
    token: String,
    url: url::Url,
    times: Vec<f64>,
}

/// One upload; its latency in ms.
async fn upload(t: &Target, body: &[u8]) -> Result<f64> {
    let started = Instant::now();
    let r =
        t.h.http()
            .post(t.url.clone())
            .bearer_auth(&t.token)
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .await?;
    let status = r.status();
    let _ = r.bytes().await?;
    let took = started.elapsed();
    ensure!(status.is_success(), "{}: upload failed: {status}", t.name);
    Ok(took.as_secs_f64() * 1000.0)
}

fn stats(times: &[f64]) -> (f64, f64, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let at = |q: f64| t[((t.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), t[t.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/quota.rs: not run under `cargo test`; use `cargo bench --bench quota`");
        return Ok(());
    }
    let args = parse_args()?;
    ensure_quota_module().await?;
    let dir = tempfile::tempdir()?;
    let secret = "bench-module-secret";
    let secret_path = dir.path().join("secret");
    std::fs::write(&secret_path, secret)?;
    let stop = CancellationToken::new();
    let warden = start_warden(secret, stop.clone()).await?;

    let module = |cache: &str| {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "modules".into(),
            json!([{
                "module": "synapse_warden_quota.WardenQuota",
                "config": {
                    "warden_url": format!("http://{warden}"),
                    "secret_path": secret_path.display().to_string(),
                    "timeout": "2s",
                    "cache": cache,
                },
            }]),
        );
        extra
    };
    // The same limits as the warden answers, set in homeserver.yaml: what
    // Synapse's own check costs, without the module.
    let mut static_limits = serde_json::Map::new();
    static_limits.insert(
        "media_upload_limits".into(),
        json!([
            {"max_size": "100G", "time_period": "36500d"},
            {"max_size": "50G", "time_period": "1h"},
        ]),
    );
    let configurations = [
        ("without the module", serde_json::Map::new()),
        ("same limits in homeserver.yaml", static_limits),
        ("module, cache hit (cache: 60s)", module("60s")),
        ("module, cache miss (cache: 0s)", module("0s")),
    ];
    // All Synapses run at once and the uploads go round-robin, one to each
    // in turn: whatever else loads the machine weighs on every
    // configuration alike.
    let mut targets = Vec::new();
    for (name, extra) in configurations {
        eprintln!("starting a PostgreSQL Synapse: {name}...");
        let h = SynapseHarness::start_with(Backend::Postgres, extra).await?;
        let user = h
            .register("bench-uploader", "bench-password", false)
            .await?;
        let url = h
            .base_url()
            .join("_matrix/media/v3/upload?filename=b.bin")?;
        targets.push(Target {
            name,
            h,
            token: user.access_token.clone(),
            url,
            times: Vec::with_capacity(args.uploads),
        });
    }
    let body = vec![42u8; args.size];
    for i in 0..WARMUP + args.uploads {
        for t in targets.iter_mut() {
            let ms = upload(t, &body).await?;
            if i >= WARMUP {
                t.times.push(ms);
            }
        }
    }
    let mut rows = Vec::new();
    for t in &targets {
        if t.name.contains("module") {
            let log = std::fs::read_to_string(t.h.log_path())?;
            ensure!(
                !log.contains("failing open"),
                "the module failed open during the benchmark:\n{}",
                t.h.log_tail(30)
            );
        }
        rows.push((t.name, stats(&t.times)));
    }
    stop.cancel();

    println!(
        "\nUpload latency, {} uploads of {} bytes each, one user, PostgreSQL Synapse (client's wall clock, ms)",
        args.uploads, args.size
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>18}",
        "configuration", "median", "p95", "max", "median overhead"
    );
    let base = rows[0].1.0;
    for (name, (median, p95, max)) in &rows {
        println!(
            "{name:<34} {median:>8.2} {p95:>8.2} {max:>8.2} {:>+18.2}",
            median - base
        );
    }
    let hit = rows[2].1.0 - base;
    println!(
        "the module's own share on a cache hit (vs the same limits in homeserver.yaml): {:+.2} ms at the median",
        rows[2].1.0 - rows[1].1.0
    );
    println!(
        "overhead under {BAR_MS} ms at the median on a cache hit: {hit:+.2} ms ... {}",
        if hit < BAR_MS { "ok" } else { "NOT MET" }
    );
    Ok(())
}
