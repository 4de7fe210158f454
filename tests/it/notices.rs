//! Server notices to users over a rule (`notify_user`), with the daemon
//! against real Synapse: the user reads the notice in their server-notices
//! room, once per lifecycle event, also when a crash came between sending
//! it and saving that it was sent; without `server_notices` in Synapse the
//! admins are told once and alerts go on.

use serde_json::{Value, json};

use crate::daemon::{Fixture, count};
use crate::support::synapse::{Backend, SynapseHarness, TestUser};

const RULES: &str = "  user_media:\n    - name: quota\n      max_media_length: 4 KiB\n      notify_user:\n        on: [new, escalation]\n        message: \"You use {usage} of your {limit} media quota ({percent}). <b>Please</b> delete old uploads.\"\n";

async fn get(h: &SynapseHarness, user: &TestUser, path: &str) -> Value {
    h.get_json(user, path).await.unwrap().1
}

/// The bodies of the server notices `user` has, joining the notices room.
async fn notices_of(h: &SynapseHarness, user: &TestUser) -> Vec<String> {
    let sync = get(h, user, "/_matrix/client/v3/sync?timeout=0").await;
    let mut rooms: Vec<String> = Vec::new();
    for kind in ["invite", "join"] {
        if let Some(map) = sync["rooms"][kind].as_object() {
            rooms.extend(map.keys().cloned());
        }
    }
    let mut bodies = Vec::new();
    for room in rooms {
        let _ = h.join_room(user, &room).await;
        let messages = get(
            h,
            user,
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
        )
        .await;
        for e in messages["chunk"].as_array().into_iter().flatten() {
            if e["type"] == "m.room.message"
                && e["sender"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("@notices:"))
            {
                bodies.push(e["content"]["body"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_user_once_per_event_even_across_a_crash() {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "server_notices".into(),
        json!({"system_mxid_localpart": "notices", "room_name": "Server Notices"}),
    );
    let h = SynapseHarness::start_with(Backend::Sqlite, extra)
        .await
        .unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, RULES);

    let mut daemon = f.daemon(config.clone());
    daemon.tick().await.unwrap().unwrap();
    let room = f.room.plain();
    assert_eq!(
        count(
            &room,
            "notified 1 user with a server notice: @alice:warden.test"
        ),
        1,
        "{room:#?}"
    );
    let got = notices_of(&h, &alice).await;
    assert_eq!(
        got,
        ["You use 5.0 KiB of your 4.0 KiB media quota (125.0%). <b>Please</b> delete old uploads."],
        "{got:#?}"
    );

    // A crash after Synapse took the notice, before the state said so: the
    // restarted daemon sends it again with the same transaction ID, and
    // Synapse does not repeat it.
    let state = std::fs::read_to_string(f.state_path()).unwrap();
    let mut value: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(value["notices"]["outbox"], json!([]));
    drop(daemon);
    // Rebuild the queued notice exactly as it was queued.
    let queued = value["notices"].clone();
    let last_ms = queued["last_sent"]["@alice:warden.test"].as_u64().unwrap();
    let n = queued["next_txn"].as_u64().unwrap();
    let plain = got[0].clone();
    value["notices"]["outbox"] = json!([{
        "txn_id": format!("warden-notice-{last_ms}-{n}"),
        "user_id": "@alice:warden.test",
        "rule": "quota",
        "plain": plain,
        "html": "ignored on a repeat",
        "queued_ms": last_ms,
    }]);
    std::fs::write(f.state_path(), value.to_string()).unwrap();
    let mut daemon = f.daemon(config.clone());
    daemon.tick().await.unwrap().unwrap();
    assert_eq!(notices_of(&h, &alice).await.len(), 1, "not repeated");

    // Quiet runs notify nobody.
    daemon.tick().await.unwrap().unwrap();
    assert_eq!(notices_of(&h, &alice).await.len(), 1);
    drop(daemon);

    // `check --notify` shows who would be notified, and sends nothing.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .args(["--config"])
        .arg(&f.policy)
        .args(["check", "--notify"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Server notices this run would send (none was sent): 1 user.\n• @alice:warden.test (quota): You use 5.0 KiB of your 4.0 KiB media quota (125.0%)."),
        "{stdout}"
    );
    assert_eq!(notices_of(&h, &alice).await.len(), 1, "check sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_server_notices_the_admins_are_told_once_and_alerts_go_on() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bob = h.register("bob", "bob-password", false).await.unwrap();
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, RULES);
    let mut daemon = f.daemon(config.clone());
    daemon.tick().await.unwrap().unwrap();
    h.upload_media(&bob, 5 * 1024).await.unwrap();
    daemon.tick().await.unwrap().unwrap();
    let room = f.room.plain();
    assert_eq!(count(&room, "NEW warning quota: @alice"), 1, "{room:#?}");
    assert_eq!(count(&room, "NEW warning quota: @bob"), 1, "{room:#?}");
    assert_eq!(
        count(&room, "Synapse does not send server notices"),
        1,
        "{room:#?}"
    );
    assert_eq!(
        count(&room, "system_mxid_localpart: notices"),
        1,
        "{room:#?}"
    );
    assert_eq!(count(&room, "notified"), 0, "{room:#?}");
}

/// `PUT /_synapse/admin/v1/send_server_notice/<txn>`, the same checks on
/// the fake and on real Synapse: `enabled` says whether `server_notices` is
/// configured.
async fn notice_conformance(
    base: &str,
    admin_token: &str,
    user_token: &str,
    user: &str,
    server_name: &str,
    enabled: bool,
) {
    let put = |txn: &str, token: &str, body: Value| {
        let url = format!("{base}/_synapse/admin/v1/send_server_notice/{txn}");
        let token = token.to_owned();
        async move {
            let response = reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let content = json!({"msgtype": "m.text", "body": "hello"});
    let err = |status: u16, code: &str, msg: &str| (status, json!({"errcode": code, "error": msg}));
    assert_eq!(
        put(
            "t0",
            user_token,
            json!({"user_id": user, "content": content})
        )
        .await,
        err(403, "M_FORBIDDEN", "You are not a server admin")
    );
    let first = put(
        "t1",
        admin_token,
        json!({"user_id": user, "content": content}),
    )
    .await;
    if !enabled {
        assert_eq!(
            first,
            err(
                400,
                "M_UNKNOWN",
                "Server notices are not enabled on this server"
            )
        );
        let client = synapse_warden::synapse::SynapseClient::new(
            synapse_warden::synapse::ClientConfig::new(
                base.parse().unwrap(),
                synapse_warden::synapse::AdminToken::new(admin_token),
            ),
        )
        .unwrap();
        let e = client
            .send_server_notice("t9", user, "x", "x")
            .await
            .unwrap_err();
        assert!(
            synapse_warden::synapse::client::is_notices_disabled(&e),
            "{e}"
        );
        return;
    }
    assert_eq!(first.0, 200, "{first:?}");
    assert!(
        first.1["event_id"]
            .as_str()
            .is_some_and(|e| e.starts_with('$'))
    );
    let again = put(
        "t1",
        admin_token,
        json!({"user_id": user, "content": content}),
    )
    .await;
    assert_eq!(again, first, "the same transaction answers the same event");
    assert_eq!(
        put("t2", admin_token, json!({"content": content})).await,
        err(400, "M_MISSING_PARAM", "Missing params: ['user_id']")
    );
    assert_eq!(
        put(
            "t3",
            admin_token,
            json!({"user_id": "@x:elsewhere.example", "content": content})
        )
        .await,
        err(
            400,
            "M_UNKNOWN",
            "Server notices can only be sent to local users"
        )
    );
    assert_eq!(
        put(
            "t4",
            admin_token,
            json!({"user_id": format!("@nobody:{server_name}"), "content": content})
        )
        .await,
        err(404, "M_NOT_FOUND", "User not found")
    );
}

#[tokio::test]
async fn notice_conformance_fake() {
    use crate::support::fake::{self, Dataset, FakeSynapse};
    let server = FakeSynapse::start(
        Dataset::new().user("@alice:test", None, &[(1, Some(10))]),
        fake::Db::Sqlite,
    )
    .await;
    let base = server.base_url();
    notice_conformance(
        &base,
        fake::ADMIN_TOKEN,
        fake::USER_TOKEN,
        "@alice:test",
        "test",
        false,
    )
    .await;
    server.enable_server_notices();
    notice_conformance(
        &base,
        fake::ADMIN_TOKEN,
        fake::USER_TOKEN,
        "@alice:test",
        "test",
        true,
    )
    .await;
    assert_eq!(
        server.server_notices(),
        [("@alice:test".to_owned(), "hello".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_conformance_real() {
    for enabled in [false, true] {
        let mut extra = serde_json::Map::new();
        if enabled {
            extra.insert(
                "server_notices".into(),
                json!({"system_mxid_localpart": "notices"}),
            );
        }
        let h = SynapseHarness::start_with(Backend::Postgres, extra)
            .await
            .unwrap();
        let admin = h.register("admin", "admin-password", true).await.unwrap();
        let alice = h.register("alice", "alice-password", false).await.unwrap();
        let base = h.base_url().as_str().trim_end_matches('/').to_owned();
        notice_conformance(
            &base,
            &admin.access_token,
            &alice.access_token,
            &alice.user_id,
            h.server_name(),
            enabled,
        )
        .await;
        if enabled {
            assert_eq!(notices_of(&h, &alice).await, ["hello"]);
        }
    }
}
