//! deploy/monitoring/: the Grafana dashboard and the Prometheus alerting
//! rules parse (JSON; YAML with serde-saphyr), every PromQL expression in
//! them parses with a PromQL parser (`promql-parser`, GreptimeDB's), and
//! every metric they select is one a running daemon serves at `/metrics`
//! (after a complete run, a silence, a failed run and an answered
//! command, so that the labelled families have their series). Prometheus's own `up` is the
//! one name the warden does not export. The dashboard also shows every
//! family the daemon served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use promql_parser::parser::{self, Expr};
use serde::Deserialize;
use synapse_warden::app::context::StatsContext;
use synapse_warden::bot::commands::{Asker, Responder};
use synapse_warden::core::commands::{Command, parse_words};
use synapse_warden::core::policy::Config;
use synapse_warden::daemon::http::{self, Endpoints};
use synapse_warden::daemon::metrics::Metrics;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::{Control, Readiness};
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use test_support::fake::{Dataset, Db, FakeSynapse, Fault};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::daemon::{Fixture, QUOTA};

const DASHBOARD: &str = include_str!("../../deploy/monitoring/grafana-dashboard.json");
const ALERTS: &str = include_str!("../../deploy/monitoring/prometheus-alerts.yaml");
/// Series Prometheus makes itself, not the warden.
const PROMETHEUS_OWN: &[&str] = &["up"];

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// The metric names `expr` selects (by name or by a `__name__` matcher).
fn selected(expr: &Expr, names: &mut BTreeSet<String>) {
    let mut selector = |vs: &promql_parser::parser::VectorSelector| {
        names.extend(vs.name.clone());
        names.extend(
            vs.matchers
                .matchers
                .iter()
                .chain(vs.matchers.or_matchers.iter().flatten())
                .filter(|m| m.name == "__name__")
                .map(|m| m.value.clone()),
        );
    };
    match expr {
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => selector(&ms.vs),
        Expr::Aggregate(a) => {
            selected(&a.expr, names);
            if let Some(p) = &a.param {
                selected(p, names);
            }
        }
        Expr::Unary(u) => selected(&u.expr, names),
        Expr::Binary(b) => {
            selected(&b.lhs, names);
            selected(&b.rhs, names);
        }
        Expr::Paren(p) => selected(&p.expr, names),
        Expr::Subquery(s) => selected(&s.expr, names),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selected(a, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => panic!("no extension in PromQL"),
    }
}

fn names_of(expr: &str) -> BTreeSet<String> {
    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}"));
    let mut names = BTreeSet::new();
    selected(&parsed, &mut names);
    assert!(!names.is_empty(), "{expr:?} selects no metric");
    names
}

/// Every string under an `expr` key, anywhere in `value`.
fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The series names of an exposition (`_total`, `_bucket`... included).
fn served_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// `/metrics` of a daemon after a complete run, a silence, a failed run
/// and an answered command.
async fn served() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let dataset = Dataset::builder().user("@alice:test", None, &[(t, Some(5 * 1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        Endpoints {
            metrics: metrics.clone(),
            readiness: Arc::new(Readiness::default()),
            module: None,
        },
        stop.clone().cancelled_owned(),
    ));
    let observer = metrics.clone();
    let token = fake.admin_token().to_owned();
    let client = move |config: &Config| {
        let mut c = ClientConfig::new(config.synapse.url.clone(), AdminToken::new(token.clone()));
        c.retry = RetryPolicy::none();
        SynapseClient::new(c)
            .map(|client| client.with_observer(observer.clone()))
            .map_err(|e| e.to_string())
    };
    let mut stats = StatsContext::new(client(&config).unwrap(), "!stats");
    stats.metrics = Some(metrics.clone());
    let (daemon, _shared) = Daemon::new(
        config,
        f.policy.clone(),
        Box::new(client),
        f.room.clone(),
        f.state_path(),
        metrics.clone(),
        Arc::new(Readiness::default()),
    )
    .unwrap();
    // Through the daemon's loop, as the bot drives it: a run, a silence
    // of alice's violation and a run that holds it back, a failed run.
    let (control, requests) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.run(requests, shutdown.clone()));
    let run_now = || async {
        let (reply, answer) = oneshot::channel();
        control.send(Control::RunNow(reply)).await.unwrap();
        answer.await.unwrap()
    };
    run_now().await.unwrap();
    let Ok(Command::Silence(request)) = parse_words(&["silence", "quota", "@alice:test", "1d"])
    else {
        panic!("a silence");
    };
    let (reply, answer) = oneshot::channel();
    control
        .send(Control::Silence {
            request,
            author: "@admin:test".into(),
            reply,
        })
        .await
        .unwrap();
    answer.await.unwrap().unwrap();
    run_now().await.unwrap();
    fake.push_faults([Fault::Status500]);
    assert!(run_now().await.is_err(), "the run fails");
    let asker = Asker {
        user_id: "@admin:test".into(),
        level: Some(100),
        progress: None,
        room_id: None,
    };
    stats.respond(&Command::Policies, "DEVICE", asker).await;

    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    shutdown.cancel();
    running.await.unwrap().unwrap();
    stop.cancel();
    server.await.unwrap().unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_use_only_metrics_the_daemon_serves() {
    let text = served().await;
    let served = served_names(&text);
    for family in [
        "synapse_warden_api_errors_total",
        "synapse_warden_commands_total",
        "synapse_warden_command_latency_seconds_bucket",
        "synapse_warden_violations_silenced",
    ] {
        assert!(served.contains(family), "{family} not served:\n{text}");
    }
    let known = |name: &str| served.contains(name) || PROMETHEUS_OWN.contains(&name);

    // The alerting rules.
    let file: RuleFile = serde_saphyr::from_str(ALERTS).unwrap_or_else(|e| panic!("{e}"));
    let rules: Vec<&Rule> = file.groups.iter().flat_map(|g| &g.rules).collect();
    assert_eq!(file.groups[0].name, "synapse-warden");
    let mut alerting = BTreeSet::new();
    for rule in &rules {
        for name in names_of(&rule.expr) {
            assert!(known(&name), "alert {}: {name} is not served", rule.alert);
            alerting.insert(name);
        }
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{}: severity {severity:?}",
            rule.alert
        );
        assert!(rule.annotations.contains_key("summary"), "{}", rule.alert);
        if let Some(d) = &rule.for_ {
            assert!(
                humantime::parse_duration(d).is_ok(),
                "{}: for {d}",
                rule.alert
            );
        }
    }
    let names: BTreeSet<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    assert_eq!(names.len(), rules.len(), "alert names are unique");
    // The four: warden down, runs failing, walk incomplete,
    // violations by severity.
    for (alert, metric) in [
        ("SynapseWardenDown", "up"),
        (
            "SynapseWardenRunsFailing",
            "synapse_warden_api_errors_total",
        ),
        (
            "SynapseWardenWalkIncomplete",
            "synapse_warden_last_run_complete",
        ),
        (
            "SynapseWardenCriticalViolations",
            "synapse_warden_violations",
        ),
        (
            "SynapseWardenWarningViolations",
            "synapse_warden_violations",
        ),
    ] {
        let rule = rules
            .iter()
            .find(|r| r.alert == alert)
            .unwrap_or_else(|| panic!("{alert}"));
        assert!(
            names_of(&rule.expr).contains(metric),
            "{alert}: {}",
            rule.expr
        );
    }

    // The dashboard.
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(dashboard["uid"], "synapse-warden");
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel IDs are unique");
    for p in panels {
        for key in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][key].is_u64(), "{}: gridPos.{key}", p["title"]);
        }
        assert!(
            p["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "{}",
            p["title"]
        );
    }
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= panels.len());
    let mut shown = BTreeSet::new();
    for expr in &all {
        for name in names_of(expr) {
            assert!(known(&name), "dashboard: {name} is not served ({expr})");
            shown.insert(name);
        }
    }
    // Its `job` variable lists the jobs of a served metric.
    let job = &dashboard["templating"]["list"][1];
    let query = job["query"].as_str().unwrap();
    let metric = query
        .strip_prefix("label_values(")
        .and_then(|q| q.split(',').next())
        .unwrap();
    assert!(served.contains(metric), "{query}");
    // Every family served is on the dashboard (as one of its series).
    for name in &served {
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            shown.iter().any(|s| s.starts_with(family)),
            "{name} is served but not on the dashboard"
        );
    }
}
