//! Room sizes on every Synapse: Synapse's own estimate first, else the
//! warden's Synapse module, else none (state events still rank and check
//! the rooms). On the fake, every source and failure; on real Synapse
//! (SQLite and a fresh PostgreSQL, as installed: nothing written into
//! Synapse's tables), `check` and `stats rooms` with and without the module.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use synapse_warden::core::model::coverage::RoomsUnavailable;
use synapse_warden::core::model::rooms::{ModuleUnavailable, RoomSource};
use synapse_warden::synapse::client::ModuleSecret;
use synapse_warden::synapse::evaluate::{SizesError, room_sizes};
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use test_support::fake::{self, Dataset, FakeModule, FakeSynapse, ModuleRooms, RoomsMode};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, ensure_quota_module, warden_module_config};

const SECRET: &str = "a-module-secret-for-tests";

fn client(base_url: &str, token: &str, secret: Option<&str>) -> SynapseClient {
    let mut config = ClientConfig::new(base_url.parse().unwrap(), AdminToken::new(token));
    config.retry = RetryPolicy::none();
    let client = SynapseClient::new(config).unwrap();
    match secret {
        Some(s) => client.with_module_secret(ModuleSecret::new(s)),
        None => client,
    }
}

fn module(rooms: ModuleRooms) -> Option<FakeModule> {
    Some(FakeModule {
        users: Default::default(),
        secret: SECRET.into(),
        rooms,
    })
}

fn measured(source: &'static str) -> ModuleRooms {
    ModuleRooms::Ok {
        source,
        rooms: vec![("!small:hs".into(), 10), ("!big:hs".into(), 9000)],
    }
}

async fn unavailable(
    server: &FakeSynapse,
    secret: Option<&str>,
) -> (RoomsUnavailable, Option<ModuleUnavailable>) {
    let c = client(&server.base_url(), server.admin_token(), secret);
    match room_sizes(&c, 100).await {
        Err(SizesError::Unavailable { why, .. }) => (why.synapse, why.module),
        other => panic!("expected no sizes, got {other:?}"),
    }
}

#[tokio::test]
async fn sizes_come_from_synapse_first_then_the_module() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Postgres).await;
    server.set_module(module(measured("estimate")));

    // An old PostgreSQL server: Synapse's own estimate, the module not asked.
    server.set_rooms(RoomsMode::Ok(vec![("!a:hs".into(), 5)]));
    let c = client(&server.base_url(), server.admin_token(), Some(SECRET));
    let sizes = room_sizes(&c, 100).await.unwrap();
    assert_eq!(sizes.source, RoomSource::SynapseEstimate);
    assert_eq!(sizes.asked, 10);
    assert!(server.module_requests().is_empty());

    // Synapse's known 500: the module's estimate, largest first, asked for
    // the number of rooms wanted with a bounded budget.
    server.set_rooms(RoomsMode::InternalError);
    let sizes = room_sizes(&c, 100).await.unwrap();
    assert_eq!(sizes.source, RoomSource::ModuleEstimate);
    assert_eq!(sizes.asked, 100);
    let ids: Vec<_> = sizes.rooms.iter().map(|r| r.room_id.as_str()).collect();
    assert_eq!(ids, ["!big:hs", "!small:hs"]);
    let (path, query) = server.module_requests().pop().unwrap();
    assert_eq!(path, "/_synapse/client/synapse_warden/v1/rooms");
    assert_eq!(query, "limit=100&timeout_ms=10000");

    // SQLite: the module's exact count.
    server.set_rooms(RoomsMode::Sqlite);
    server.set_module(module(measured("exact")));
    let sizes = room_sizes(&c, 1).await.unwrap();
    assert_eq!(sizes.source, RoomSource::ModuleExact);
    assert_eq!(sizes.rooms.len(), 1, "at most the rooms asked for");
}

#[tokio::test]
async fn without_sizes_the_reasons_are_typed() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.set_rooms(RoomsMode::Sqlite);

    // No secret configured: the module is not even asked.
    assert_eq!(
        unavailable(&server, None).await,
        (
            RoomsUnavailable::Sqlite,
            Some(ModuleUnavailable::NotConfigured)
        )
    );
    assert!(server.module_requests().is_empty());
    // No module in Synapse: 404.
    assert_eq!(
        unavailable(&server, Some(SECRET)).await.1,
        Some(ModuleUnavailable::NotInstalled)
    );
    // A module with another secret: refused, and said so.
    server.set_module(module(measured("exact")));
    assert_eq!(
        unavailable(&server, Some("another-secret")).await.1,
        Some(ModuleUnavailable::Refused)
    );
    // Its budget ran out: not retried (it would only run out again).
    server.set_module(module(ModuleRooms::TimedOut));
    let before = server.module_requests().len();
    assert_eq!(
        unavailable(&server, Some(SECRET)).await.1,
        Some(ModuleUnavailable::TimedOut)
    );
    assert_eq!(server.module_requests().len(), before + 1);
    // Busy with another measurement: asked once more after its wait, then
    // given up.
    server.set_module(module(ModuleRooms::Busy));
    let before = server.module_requests().len();
    assert!(matches!(
        unavailable(&server, Some(SECRET)).await.1,
        Some(ModuleUnavailable::Failed(m)) if m.contains("busy")
    ));
    assert_eq!(server.module_requests().len(), before + 2);
    server.set_module(module(ModuleRooms::Failed(
        "relation \"x\" does not exist".into(),
    )));
    assert!(matches!(
        unavailable(&server, Some(SECRET)).await.1,
        Some(ModuleUnavailable::Failed(m)) if m.contains("does not exist")
    ));

    // Any other failure of Synapse's endpoint fails (the token, here): the
    // module is not a way around the admin API's authentication.
    let c = client(&server.base_url(), "syt_unknown", Some(SECRET));
    assert!(matches!(
        room_sizes(&c, 10).await,
        Err(SizesError::Failed(_))
    ));
}

#[tokio::test]
async fn the_fake_module_checks_its_secret_and_parameters_first() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.set_module(module(measured("exact")));
    let http = reqwest::Client::new();
    let url = format!(
        "{}/_synapse/client/synapse_warden/v1/rooms",
        server.base_url().trim_end_matches('/')
    );
    let get = |query: &'static str, auth: Option<&'static str>| {
        let mut r = http.get(format!("{url}{query}"));
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        async move {
            let answer = r.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(get("", None).await.0, 401);
    assert_eq!(
        get("?limit=0", Some("wrong")).await.0,
        403,
        "the secret before the parameters"
    );
    assert_eq!(get("?limit=0", Some(SECRET)).await.0, 400);
    assert_eq!(get("?timeout_ms=50", Some(SECRET)).await.0, 400);
    let (status, body) = get("?limit=1", Some(SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(body["source"], "exact");
    assert_eq!(
        body["rooms"],
        json!([{"room_id": "!big:hs", "estimated_size": 9000}])
    );
    server.set_module(None);
    assert_eq!(get("", Some(SECRET)).await.0, 404);
}

// ---------------------------------------------------------------------------
// Real Synapse, as installed.

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

async fn warden(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("SYNAPSE_WARDEN_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running synapse-warden")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn policy(
    dir: &Path,
    name: &str,
    h: &SynapseHarness,
    token: &Path,
    module: Option<&Path>,
    rules: &str,
) -> String {
    let path = dir.join(name);
    let mut p = Policy::new(h.base_url().as_str(), SecretAt::File(token.to_owned()))
        .set("synapse.timeout", "30s");
    if let Some(secret) = module {
        p = p.set(
            "http.module_secret",
            json!({"file": secret.display().to_string()}),
        );
    }
    p.rules(rules).write(&path).unwrap();
    path.display().to_string()
}

/// On a fresh Synapse (SQLite, or a new PostgreSQL database), as an admin
/// installs it: Synapse's own estimate fails; with the module loaded,
/// `check` judges sizes and state events and `stats rooms` lists the busy
/// rooms with sizes; without its secret, rooms are ranked by state events
/// and only the state event limits are checked.
async fn rooms_on_a_fresh_synapse(backend: Backend) {
    ensure_quota_module().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("module-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    // The module's upload half talks to a warden that is not there: it
    // fails open, and its rooms half needs nothing of it.
    let extra = warden_module_config(&secret).unwrap();
    let h = SynapseHarness::start_with(backend, extra).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, &admin.access_token).unwrap();

    // Three rooms, busiest first.
    let mut rooms = Vec::new();
    for (name, messages) in [
        ("Busy <b>room</b>", 60),
        ("Quiet room", 20),
        ("Idle room", 2),
    ] {
        let room = h
            .create_room(&admin, name, false, &[&alice.user_id])
            .await
            .unwrap();
        h.join_room(&alice, &room).await.unwrap();
        for i in 0..messages {
            h.send_text(&alice, &room, &format!("message {i} to @admin in {name}"))
                .await
                .unwrap();
        }
        rooms.push(room);
    }

    // Synapse's own estimate fails on this server, as the issue says.
    let own = h
        .http()
        .get(format!(
            "{}_synapse/admin/v1/statistics/database/rooms",
            h.base_url()
        ))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(own, if backend == Backend::Sqlite { 400 } else { 500 });

    let rules = "  rooms:\n    - name: big-rooms\n      max_estimated_size: 1 B\n      max_state_events: 100000\n    - name: state-heavy\n      max_state_events: 3\n";
    let with = policy(dir.path(), "with.yaml", &h, &token, Some(&secret), rules);
    let out = warden(&["check", "--config", &with, "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let source = if backend == Backend::Sqlite {
        "module_exact"
    } else {
        "module_estimate"
    };
    assert_eq!(doc["summary"]["rooms"]["status"], "checked", "{doc}");
    assert_eq!(doc["summary"]["rooms"]["source"], source, "{doc}");
    let violations = doc["violations"].as_array().unwrap();
    let of = |rule: &str| -> Vec<(String, String)> {
        violations
            .iter()
            .filter(|v| v["rule"] == rule)
            .map(|v| {
                (
                    v["subject"]["id"].as_str().unwrap().to_owned(),
                    v["measure"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // Every room with events has a size over 1 B: the busiest first.
    let big = of("big-rooms");
    assert!(big.iter().all(|(_, m)| m == "room_size"), "{big:?}");
    assert_eq!(
        big.first().map(|(id, _)| id.as_str()),
        Some(rooms[0].as_str()),
        "{doc}"
    );
    for room in &rooms {
        assert!(
            big.iter().any(|(id, _)| id == room),
            "{room} missing: {big:?}"
        );
    }
    let heavy = of("state-heavy");
    assert!(
        heavy.len() >= 3 && heavy.iter().all(|(_, m)| m == "state_events"),
        "{heavy:?}"
    );

    let out = warden(&["--config", &with, "stats", "rooms"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let heading = if backend == Backend::Sqlite {
        "counted by the warden's Synapse module"
    } else {
        "estimated by the warden's Synapse module"
    };
    assert!(shown.contains(heading), "{shown}");
    let first = shown
        .lines()
        .find(|l| l.contains(" 1. "))
        .unwrap_or_default();
    assert!(
        first.contains(rooms[0].as_str()) && first.contains("state events"),
        "{shown}"
    );
    assert!(
        shown.contains("Busy <b>room</b>") || shown.contains("Busy"),
        "{shown}"
    );

    // Without the module's secret: ranked by state events, sizes not
    // checked (said), state events still checked.
    let without = policy(dir.path(), "without.yaml", &h, &token, None, rules);
    let out = warden(&["check", "--config", &without, "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["rooms"]["source"], "state_events", "{doc}");
    let reason = doc["summary"]["rooms"]["sizes_unavailable"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("http.module_secret"), "{doc}");
    assert!(
        doc["violations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["measure"] == "state_events"),
        "{doc}"
    );
    let out = warden(&["--config", &without, "stats", "rooms"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("Rooms with the most current state events"),
        "{shown}"
    );
    assert!(shown.contains("No room sizes"), "{shown}");

    // A wrong secret: said precisely.
    let wrong = dir.path().join("wrong-secret");
    std::fs::write(&wrong, "not-the-module-secret").unwrap();
    let refused = policy(dir.path(), "refused.yaml", &h, &token, Some(&wrong), rules);
    let out = warden(&["--config", &refused, "stats", "rooms"]).await;
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("refused the warden's secret"),
        "{}",
        describe(&out)
    );
    assert!(!shown.contains("not-the-module-secret") && !shown.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_on_a_fresh_sqlite_synapse() {
    rooms_on_a_fresh_synapse(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_on_a_fresh_postgres_synapse() {
    rooms_on_a_fresh_synapse(Backend::Postgres).await;
}
