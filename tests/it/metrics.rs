//! `/metrics` as Prometheus scrapes it: served by the daemon's HTTP
//! endpoints, its samples parsed with a Prometheus text-format parser
//! (`prometheus-parse`), before the first run and after one against the
//! fake Synapse. Checks the names, types and units (the `# TYPE` and `# UNIT`
//! metadata, which that parser skips, are read beside it: base units as
//! suffixes, `_total` only on counters), the build info, and that every
//! declared rule × severity has a series from the first scrape, at 0 while
//! the rule is clean.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_parse::{Scrape, Value};
use synapse_warden::core::policy::Config;
use synapse_warden::daemon::http::{self, Endpoints};
use synapse_warden::daemon::metrics::{COMMIT, Metrics, VERSION};
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::Readiness;
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use tokio_util::sync::CancellationToken;

use crate::daemon::Fixture;
use test_support::fake::{Dataset, Db, FakeSynapse};

const KIB: u64 = 1024;

/// Two rules: `quota` (Alice breaks it), `files` (nobody does).
const RULES: &str = "  user_media:\n    - name: quota\n      max_media_length: 4 KiB\n    - name: files\n      severity: critical\n      max_media_count: 1000\n";

/// One scrape: the samples, and each family's type and unit.
struct Exposition {
    text: String,
    samples: Scrape,
    /// Family name → (type, unit; empty when none).
    families: HashMap<String, (String, String)>,
}

async fn scrape(addr: std::net::SocketAddr) -> Exposition {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let samples = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"));
    let mut families: HashMap<String, (String, String)> = HashMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["#", "TYPE", name, kind] => {
                families.entry((*name).to_owned()).or_default().0 = (*kind).to_owned();
            }
            ["#", "UNIT", name, unit] => {
                families.entry((*name).to_owned()).or_default().1 = (*unit).to_owned();
            }
            _ => {}
        }
    }
    // Every sample belongs to a declared family.
    for sample in &samples.samples {
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|suffix| sample.metric.strip_suffix(suffix))
            .filter(|f| families.contains_key(*f))
            .unwrap_or(&sample.metric);
        assert!(
            families.contains_key(family),
            "{} undeclared",
            sample.metric
        );
    }
    Exposition {
        text,
        samples,
        families,
    }
}

/// The value of the sample `name` whose labels are exactly `labels`.
fn value(metrics: &Exposition, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.samples.samples.iter().find_map(|sample| {
        let matches = sample.metric == name
            && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
            && labels.len() == sample.labels.len();
        matches.then(|| match &sample.value {
            Value::Gauge(n) | Value::Counter(n) | Value::Untyped(n) => *n,
            other => panic!("{name} is not a number: {other:?}"),
        })
    })
}

/// Names, types and units every scrape has.
fn check_conventions(metrics: &Exposition) {
    let expect = [
        ("synapse_warden_build_info", "gauge", ""),
        ("synapse_warden_synapse_up", "gauge", ""),
        ("synapse_warden_matrix_connected", "gauge", ""),
        (
            "synapse_warden_last_run_timestamp_seconds",
            "gauge",
            "seconds",
        ),
        (
            "synapse_warden_last_complete_run_timestamp_seconds",
            "gauge",
            "seconds",
        ),
        ("synapse_warden_local_media_bytes", "gauge", "bytes"),
        ("synapse_warden_local_media_files", "gauge", ""),
        ("synapse_warden_last_run_complete", "gauge", ""),
        ("synapse_warden_api_requests", "counter", ""),
        ("synapse_warden_violations", "gauge", ""),
        (
            "synapse_warden_walk_duration_seconds",
            "histogram",
            "seconds",
        ),
        ("synapse_warden_walk_pages", "counter", ""),
        ("synapse_warden_walk_users", "gauge", ""),
        ("synapse_warden_history_write_errors", "counter", ""),
    ];
    // Families with labels appear with their first series; these once used.
    let when_used = [
        ("synapse_warden_api_errors", "counter", ""),
        (
            "synapse_warden_command_latency_seconds",
            "histogram",
            "seconds",
        ),
        ("synapse_warden_commands", "counter", ""),
    ];
    for (name, kind, unit) in when_used {
        if let Some((k, u)) = metrics.families.get(name) {
            assert_eq!((k.as_str(), u.as_str()), (kind, unit), "{name}");
        }
    }
    for (name, kind, unit) in expect {
        let (k, u) = metrics
            .families
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{}", metrics.text));
        assert_eq!((k.as_str(), u.as_str()), (kind, unit), "{name}");
        assert!(
            metrics.samples.docs.contains_key(name),
            "{name} has no HELP"
        );
    }
    for (name, (kind, unit)) in &metrics.families {
        assert!(name.starts_with("synapse_warden_"), "{name}");
        // `_total` only on counters' samples, never in a family name.
        assert!(!name.ends_with("_total"), "{name}");
        if !unit.is_empty() {
            assert!(name.ends_with(&format!("_{unit}")), "{name}");
        }
        // Base units only.
        for bad in [
            "_milliseconds",
            "_ms",
            "_kilobytes",
            "_mebibytes",
            "_minutes",
        ] {
            assert!(!name.contains(bad), "{name}");
        }
        let _ = kind;
    }
    for sample in &metrics.samples.samples {
        let counter = sample
            .metric
            .strip_suffix("_total")
            .and_then(|f| metrics.families.get(f))
            .is_some_and(|(kind, _)| kind == "counter");
        assert_eq!(
            sample.metric.ends_with("_total"),
            counter,
            "{}: `_total` is for counters only",
            sample.metric
        );
    }
    assert_eq!(
        value(
            metrics,
            "synapse_warden_build_info",
            &[("version", VERSION), ("commit", COMMIT)]
        ),
        Some(1.0)
    );
    assert!(!COMMIT.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_clean_rules_are_present_at_zero_from_the_first_scrape() {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let dataset = Dataset::builder()
        .user(
            "@alice:test",
            Some("Alice"),
            &[(t, Some(5 * KIB)), (t, Some(KIB))],
        )
        .user("@bob:test", Some("Bob"), &[(t, Some(KIB))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), RULES);

    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        Endpoints {
            metrics: metrics.clone(),
            readiness: readiness.clone(),
            module: None,
        },
        stop.clone().cancelled_owned(),
    ));

    let token_file = f.dir.path().join("token");
    let observer = metrics.clone();
    let make_client = Box::new(move |config: &Config| {
        let token = std::fs::read_to_string(&token_file).map_err(|e| e.to_string())?;
        let mut c = ClientConfig::new(config.synapse.url.clone(), AdminToken::new(token));
        c.retry = RetryPolicy::none();
        SynapseClient::new(c)
            .map(|client| client.with_observer(observer.clone()))
            .map_err(|e| e.to_string())
    });
    let (mut daemon, _shared) = Daemon::new(
        config,
        f.policy.clone(),
        make_client,
        f.room.clone(),
        f.state_path(),
        metrics.clone(),
        readiness.clone(),
    )
    .unwrap();

    // The first scrape, before any run: every rule × severity at 0.
    let first = scrape(addr).await;
    let text = &first.text;
    check_conventions(&first);
    for rule in ["quota", "files"] {
        for severity in ["warning", "critical"] {
            assert_eq!(
                value(
                    &first,
                    "synapse_warden_violations",
                    &[("rule", rule), ("severity", severity)]
                ),
                Some(0.0),
                "{rule}/{severity} in:\n{text}"
            );
        }
    }
    assert_eq!(value(&first, "synapse_warden_synapse_up", &[]), Some(0.0));
    assert_eq!(
        value(&first, "synapse_warden_matrix_connected", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &first,
            "synapse_warden_last_complete_run_timestamp_seconds",
            &[]
        ),
        Some(0.0)
    );

    // One run: Alice breaks `quota`; `files` stays clean, at 0.
    daemon.run_once().await.unwrap().unwrap();
    let after = scrape(addr).await;
    let text = &after.text;
    check_conventions(&after);
    let violations = |rule, severity| {
        value(
            &after,
            "synapse_warden_violations",
            &[("rule", rule), ("severity", severity)],
        )
    };
    assert_eq!(violations("quota", "warning"), Some(1.0), "{text}");
    assert_eq!(violations("quota", "critical"), Some(0.0), "{text}");
    assert_eq!(violations("files", "warning"), Some(0.0), "{text}");
    assert_eq!(violations("files", "critical"), Some(0.0), "{text}");
    assert_eq!(value(&after, "synapse_warden_synapse_up", &[]), Some(1.0));
    assert_eq!(
        value(&after, "synapse_warden_local_media_bytes", &[]),
        Some((7 * KIB) as f64)
    );
    assert_eq!(
        value(&after, "synapse_warden_local_media_files", &[]),
        Some(3.0)
    );
    let ok_requests = value(
        &after,
        "synapse_warden_api_requests_total",
        &[("endpoint", "users_media"), ("outcome", "ok")],
    )
    .unwrap_or(0.0);
    assert!(ok_requests >= 1.0, "{text}");
    let last = value(&after, "synapse_warden_last_run_timestamp_seconds", &[]).unwrap();
    let complete = value(
        &after,
        "synapse_warden_last_complete_run_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(last > 1.7e9 && complete == last, "{last} {complete}");
    assert!(!text.contains("alice"), "metrics must not name users");

    // A failed request is counted with its outcome: errors have a
    // denominator.
    drop(fake);
    let _ = daemon.run_once().await.unwrap();
    let failed = scrape(addr).await;
    let text = &failed.text;
    let errors: f64 = failed
        .samples
        .samples
        .iter()
        .filter(|s| s.metric == "synapse_warden_api_requests_total")
        .filter(|s| s.labels.get("outcome") != Some("ok"))
        .map(|s| match s.value {
            Value::Counter(n) | Value::Untyped(n) => n,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert!(errors >= 1.0, "{text}");
    assert_eq!(
        value(
            &failed,
            "synapse_warden_last_complete_run_timestamp_seconds",
            &[]
        ),
        Some(complete),
        "a failed run is not complete"
    );

    stop.cancel();
    server.await.unwrap().unwrap();
}
