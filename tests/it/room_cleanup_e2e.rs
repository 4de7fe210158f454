//! Room clean-up on real Synapse (SQLite and PostgreSQL), and one
//! conformance suite of the endpoints it uses — purge history and its
//! status, room deletion and its status, room details — run on the fake
//! and on both real backends, with Synapse's errors for bad input.
//!
//! End to end, through the same `answer` the bot calls: a room with old
//! and new messages purged to a date (the old ones gone from the admin
//! `/messages` API, the new ones kept); abandoned rooms deleted only after
//! confirmation, never the admin room, and one that gained a local member
//! between preview and confirmation kept; bad input (unknown room, a room
//! of another server, an alias, the admin room, a code confirmed without
//! the action level) answered clearly with nothing deleted.

use std::time::Duration;

use serde_json::{Value, json};
use synapse_warden::app::answer::answer;
use synapse_warden::app::context::{Origin, StatsContext};
use synapse_warden::core::commands::actions::{TaskPolling, TaskStatus};
use synapse_warden::synapse::SynapseClient;
use test_support::fake::{self, Dataset, FakeRoom, FakeSynapse};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

use crate::actions::{client, cmd, code_in, context, now_ms, start};

const DAY: u64 = 86_400_000;

/// A server for the conformance suite: `history` has events before and
/// after `cut_ms`; `doomed` may be deleted.
struct Target {
    label: String,
    base_url: String,
    admin_token: String,
    user_token: String,
    server_name: String,
    history: String,
    cut_ms: u64,
    doomed: String,
}

async fn send(method: reqwest::Method, url: &str, token: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

/// A status and a JSON body.
type Answer = (u16, Value);

fn err(status: u16, errcode: &str, message: &str) -> Answer {
    (status, json!({"errcode": errcode, "error": message}))
}

fn enc(id: &str) -> String {
    id.replace('!', "%21")
        .replace('#', "%23")
        .replace(':', "%3A")
}

/// Polls a task to its end (at most about 20 s on a tiny database).
async fn finish(synapse: &SynapseClient, id: &str, delete: bool) -> TaskStatus {
    for _ in 0..400 {
        let status = if delete {
            synapse.delete_status(id).await
        } else {
            synapse.purge_history_status(id).await
        }
        .unwrap();
        if matches!(status, TaskStatus::Complete | TaskStatus::Failed(_)) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {id} never ended");
}

/// Every check; panics with all the differences.
async fn conformance(t: &Target) {
    let v1 = |p: &str| format!("{}/_synapse/admin/v1/{p}", t.base_url);
    let v2 = |p: &str| format!("{}/_synapse/admin/v2/{p}", t.base_url);
    let unknown = format!("!nowhere:{}", t.server_name);
    let alias = format!("#busy:{}", t.server_name);
    let admin = t.admin_token.as_str();
    use reqwest::Method as M;
    let checks: Vec<(&str, Answer, Answer)> = vec![
        (
            "details of an unknown room",
            send(
                M::GET,
                &v1(&format!("rooms/{}", enc(&unknown))),
                admin,
                None,
            )
            .await,
            err(404, "M_NOT_FOUND", "Room not found"),
        ),
        (
            "delete without a body",
            send(
                M::DELETE,
                &v2(&format!("rooms/{}", enc(&t.doomed))),
                admin,
                None,
            )
            .await,
            err(400, "M_NOT_JSON", "Content not JSON."),
        ),
        (
            "delete an alias",
            send(
                M::DELETE,
                &v2(&format!("rooms/{}", enc(&alias))),
                admin,
                Some("{}"),
            )
            .await,
            err(400, "M_UNKNOWN", &format!("{alias} is not a legal room ID")),
        ),
        (
            "delete with a string purge",
            send(
                M::DELETE,
                &v2(&format!("rooms/{}", enc(&t.doomed))),
                admin,
                Some(r#"{"purge":"yes"}"#),
            )
            .await,
            err(
                400,
                "M_BAD_JSON",
                "Param 'purge' must be a boolean, if given",
            ),
        ),
        (
            "delete as a user who is not an admin",
            send(
                M::DELETE,
                &v2(&format!("rooms/{}", enc(&t.doomed))),
                &t.user_token,
                Some("{}"),
            )
            .await,
            err(403, "M_FORBIDDEN", "You are not a server admin"),
        ),
        (
            "delete status of an unknown ID",
            send(M::GET, &v2("rooms/delete_status/nope"), admin, None).await,
            err(404, "M_NOT_FOUND", "delete id 'nope' not found"),
        ),
        (
            "delete status of a room never deleted",
            send(
                M::GET,
                &v2(&format!("rooms/{}/delete_status", enc(&unknown))),
                admin,
                None,
            )
            .await,
            err(
                404,
                "M_NOT_FOUND",
                &format!("No delete task for room_id '{unknown}' found"),
            ),
        ),
        (
            "purge history of an unknown room",
            send(
                M::POST,
                &v1(&format!("purge_history/{}", enc(&unknown))),
                admin,
                Some(&format!(r#"{{"purge_up_to_ts":{}}}"#, t.cut_ms)),
            )
            .await,
            err(404, "M_NOT_FOUND", "there is no event to be purged"),
        ),
        (
            "purge history of an alias",
            send(
                M::POST,
                &v1(&format!("purge_history/{}", enc(&alias))),
                admin,
                Some(&format!(r#"{{"purge_up_to_ts":{}}}"#, t.cut_ms)),
            )
            .await,
            err(404, "M_NOT_FOUND", "there is no event to be purged"),
        ),
        (
            "purge history before the first event",
            send(
                M::POST,
                &v1(&format!("purge_history/{}", enc(&t.history))),
                admin,
                Some(r#"{"purge_up_to_ts":1000}"#),
            )
            .await,
            err(404, "M_NOT_FOUND", "there is no event to be purged"),
        ),
        (
            "purge history without a cut-off",
            send(
                M::POST,
                &v1(&format!("purge_history/{}", enc(&t.history))),
                admin,
                Some("{}"),
            )
            .await,
            err(
                400,
                "M_BAD_JSON",
                "must specify purge_up_to_event_id or purge_up_to_ts",
            ),
        ),
        (
            "purge history with a string cut-off",
            send(
                M::POST,
                &v1(&format!("purge_history/{}", enc(&t.history))),
                admin,
                Some(r#"{"purge_up_to_ts":"1700000000000"}"#),
            )
            .await,
            err(400, "M_BAD_JSON", "purge_up_to_ts must be an int"),
        ),
        (
            "purge status of an unknown ID",
            send(M::GET, &v1("purge_history_status/nope"), admin, None).await,
            err(404, "M_NOT_FOUND", "purge id 'nope' not found"),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, got, want) in &checks {
        if got != want {
            wrong.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}:\n{}", t.label, wrong.join("\n"));

    // Through the client: a purge and a deletion run to completion.
    let synapse = client(&t.base_url, admin);
    let before = synapse.room_details(&t.history).await.unwrap().unwrap();
    let purge = synapse
        .purge_history(&t.history, t.cut_ms, true)
        .await
        .unwrap();
    assert_eq!(
        finish(&synapse, &purge, false).await,
        TaskStatus::Complete,
        "{}",
        t.label
    );
    let after = synapse.room_details(&t.history).await.unwrap().unwrap();
    assert_eq!(after, before, "{}: state is kept", t.label);
    assert!(synapse.delete_status(&purge).await.is_err(), "{}", t.label);

    let delete = synapse.delete_room(&t.doomed, false).await.unwrap();
    assert_eq!(
        finish(&synapse, &delete, true).await,
        TaskStatus::Complete,
        "{}",
        t.label
    );
    assert_eq!(
        synapse.room_details(&t.doomed).await.unwrap(),
        None,
        "{}",
        t.label
    );
    assert!(
        synapse.purge_history_status(&delete).await.is_err(),
        "{}",
        t.label
    );
    assert_eq!(
        synapse.room_delete_tasks(&t.doomed).await.unwrap(),
        [(delete.clone(), TaskStatus::Complete)],
        "{}",
        t.label
    );
    // An unknown but valid room ID: accepted, and the task completes.
    let ghost = synapse.delete_room(&unknown, false).await.unwrap();
    assert_eq!(
        finish(&synapse, &ghost, true).await,
        TaskStatus::Complete,
        "{}",
        t.label
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_task_conformance_fake() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.set_room_list(vec![
        FakeRoom::new("!history:test", 7, 2, 2),
        FakeRoom::new("!doomed:test", 5, 1, 1),
    ]);
    let now = now_ms();
    server.add_room_events("!history:test", &[(now - 2 * DAY, true), (now, true)]);
    conformance(&Target {
        label: "fake".into(),
        base_url: server.base_url(),
        admin_token: fake::ADMIN_TOKEN.into(),
        user_token: fake::USER_TOKEN.into(),
        server_name: server.server_name(),
        history: "!history:test".into(),
        cut_ms: now - DAY,
        doomed: "!doomed:test".into(),
    })
    .await;
}

/// The admin `/messages` of a room: the bodies of its messages, oldest
/// first.
async fn messages(h: &SynapseHarness, admin: &TestUser, room_id: &str) -> Vec<String> {
    let url = format!(
        "{}/_synapse/admin/v1/rooms/{}/messages?dir=b&limit=500",
        h.base_url().as_str().trim_end_matches('/'),
        enc(room_id)
    );
    let (status, body) = send(reqwest::Method::GET, &url, &admin.access_token, None).await;
    assert_eq!(status, 200, "{body}");
    let mut out: Vec<String> = body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    out.reverse();
    out
}

async fn leave(h: &SynapseHarness, user: &TestUser, room_id: &str) {
    let url = format!(
        "{}/_matrix/client/v3/rooms/{}/leave",
        h.base_url().as_str().trim_end_matches('/'),
        enc(room_id)
    );
    let (status, body) = send(reqwest::Method::POST, &url, &user.access_token, Some("{}")).await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until Synapse's statistics say `room_id` has `local` local
/// members (they are updated in the background).
async fn settle(synapse: &SynapseClient, room_id: &str, local: u64) {
    for _ in 0..200 {
        let room = synapse.room_details(room_id).await.unwrap();
        if room.as_ref().map(|r| r.joined_local_members) == Some(local) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{room_id} never had {local} local members");
}

fn in_room(sender: &str, level: i64, room_id: &str) -> Origin {
    Origin::Matrix {
        device_id: "DEVICE".into(),
        sender: sender.into(),
        level: Some(level),
        progress: None,
        room_id: Some(room_id.into()),
    }
}

fn fast(mut ctx: StatsContext) -> StatsContext {
    ctx.task_polling = TaskPolling {
        first: Duration::from_millis(20),
        longest: Duration::from_millis(200),
        ..TaskPolling::default()
    };
    ctx
}

async fn real(backend: Backend) {
    let h = start(backend).await;
    let admin = h
        .register("warden-admin", "admin-pass", true)
        .await
        .unwrap();
    let alice = h.register("alice", "alice-pass", false).await.unwrap();
    let bob = h.register("bob", "bob-pass", false).await.unwrap();
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    let synapse = client(&base, &admin.access_token);

    // A room with 10 old messages, a cut, then 10 new ones.
    let history = h.create_room(&alice, "History", false, &[]).await.unwrap();
    for i in 0..10 {
        h.send_text(&alice, &history, &format!("old {i}"))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..10 {
        h.send_text(&alice, &history, &format!("new {i}"))
            .await
            .unwrap();
    }
    let doomed = h.create_room(&bob, "Doomed", false, &[]).await.unwrap();
    h.send_text(&bob, &doomed, "bye").await.unwrap();

    // The admin room, an abandoned room, a room that will get its local
    // member back, and a room that stays.
    let admin_room = h
        .create_room(&admin, "Admin room", false, &[])
        .await
        .unwrap();
    let abandoned = h
        .create_room(&alice, "Abandoned", false, &[])
        .await
        .unwrap();
    h.send_text(&alice, &abandoned, "anyone?").await.unwrap();
    let comeback = h.create_room(&bob, "Comeback", false, &[]).await.unwrap();
    let stays = h.create_room(&bob, "Stays", false, &[]).await.unwrap();
    leave(&h, &admin, &admin_room).await;
    leave(&h, &alice, &abandoned).await;
    settle(&synapse, &admin_room, 0).await;
    settle(&synapse, &abandoned, 0).await;
    settle(&synapse, &comeback, 1).await;

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let ctx = fast(context(&base, &admin.access_token, &audit, true));
    let boss = in_room("@boss:hs", 100, &admin_room);

    // --- purge-history to a date: the clock is an argument, so "older
    // than 1d" at `cut + 1d` cuts at `cut`.
    let at = cut + DAY;
    let before = messages(&h, &admin, &history).await;
    assert_eq!(before.len(), 20, "{before:?}");
    let preview = answer(
        &cmd(&format!("purge-history {history} older-than 1d")),
        &ctx,
        &boss,
        at,
    )
    .await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(
        text.contains("History") && text.contains("cannot count beforehand"),
        "{text}"
    );
    assert_eq!(
        messages(&h, &admin, &history).await,
        before,
        "a preview purges nothing"
    );
    let code = code_in(&text);
    let weak = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &in_room("@mod:hs", 50, &admin_room),
        at + 1,
    )
    .await;
    assert!(!weak.ok, "{}", weak.message.plain());
    assert_eq!(
        messages(&h, &admin, &history).await,
        before,
        "nothing without the level"
    );
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, at + 2).await;
    assert!(done.ok, "{}", done.message.plain());
    let after = messages(&h, &admin, &history).await;
    let new: Vec<String> = (0..10).map(|i| format!("new {i}")).collect();
    assert_eq!(after, new, "old messages gone, new ones kept");

    // --- delete-room, with block.
    let preview = answer(
        &cmd(&format!("delete-room {doomed} block")),
        &ctx,
        &boss,
        now_ms(),
    )
    .await;
    assert!(preview.ok, "{}", preview.message.plain());
    assert!(
        preview
            .message
            .plain()
            .contains("1 member joined (1 local)"),
        "{}",
        preview.message.plain()
    );
    assert!(synapse.room_details(&doomed).await.unwrap().is_some());
    let code = code_in(&preview.message.plain());
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, now_ms()).await;
    assert!(done.ok, "{}", done.message.plain());
    assert_eq!(synapse.room_details(&doomed).await.unwrap(), None);
    let (_, block) = send(
        reqwest::Method::GET,
        &format!("{base}/_synapse/admin/v1/rooms/{}/block", enc(&doomed)),
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(block["block"], true, "{block}");

    // --- bad input: nothing is deleted.
    let rooms_before = synapse.room_list(100).await.unwrap().len();
    for (words, says) in [
        (
            format!("delete-room !nowhere:{}", h.server_name()),
            "not a room this server knows",
        ),
        (
            "delete-room !theirs:elsewhere.example".to_owned(),
            "not a room this server knows",
        ),
        (
            "purge-history !theirs:elsewhere.example older-than 1d".to_owned(),
            "not a room this server knows",
        ),
        (format!("delete-room {admin_room}"), "admin room"),
        (
            format!("purge-history {admin_room} older-than 1d"),
            "admin room",
        ),
    ] {
        let reply = answer(&cmd(&words), &ctx, &boss, now_ms()).await;
        assert!(!reply.ok, "{words}");
        assert!(
            reply.message.plain().contains(says),
            "{words}: {}",
            reply.message.plain()
        );
    }
    let alias = synapse_warden::core::commands::parse_words(&["delete-room", "#busy:hs"]);
    assert!(alias.unwrap_err().to_string().contains("needs the room ID"));
    assert_eq!(synapse.room_list(100).await.unwrap().len(), rooms_before);

    // --- delete-abandoned. `comeback` is made to look abandoned at the
    // preview by writing Synapse's statistics (a single server cannot
    // rejoin a room it has left, so a local member coming back needs
    // another server); its real state is restored before the confirmation,
    // as if a local user had joined in between.
    h.sql(&format!(
        "UPDATE room_stats_current SET local_users_in_room = 0, joined_members = 0 WHERE room_id = '{comeback}'"
    ))
    .await
    .unwrap();
    let preview = answer(&cmd("delete-abandoned"), &ctx, &boss, now_ms()).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(text.contains("2 rooms without a local member"), "{text}");
    assert!(
        text.contains(abandoned.as_str()) && text.contains(comeback.as_str()),
        "{text}"
    );
    assert!(
        !text.contains(admin_room.as_str()),
        "never the admin room: {text}"
    );
    assert!(!text.contains(stays.as_str()), "{text}");
    assert!(
        synapse.room_details(&abandoned).await.unwrap().is_some(),
        "not before confirmation"
    );
    let code = code_in(&text);
    let weak = answer(
        &cmd(&format!("confirm {code}")),
        &ctx,
        &in_room("@mod:hs", 50, &admin_room),
        now_ms(),
    )
    .await;
    assert!(!weak.ok);
    assert!(
        synapse.room_details(&abandoned).await.unwrap().is_some(),
        "not by a weak member"
    );
    h.sql(&format!(
        "UPDATE room_stats_current SET local_users_in_room = 1, joined_members = 1 WHERE room_id = '{comeback}'"
    ))
    .await
    .unwrap();
    let done = answer(&cmd(&format!("confirm {code}")), &ctx, &boss, now_ms()).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted 1 abandoned room"), "{text}");
    assert!(
        text.contains("Kept") && text.contains(comeback.as_str()),
        "{text}"
    );
    assert_eq!(synapse.room_details(&abandoned).await.unwrap(), None);
    for kept in [&comeback, &stays, &admin_room, &history] {
        assert!(
            synapse.room_details(kept).await.unwrap().is_some(),
            "{kept} kept"
        );
    }
    assert_eq!(messages(&h, &admin, &history).await, new);

    // --- the conformance suite, on this server.
    let again = h
        .create_room(&bob, "Doomed again", false, &[])
        .await
        .unwrap();
    let history2 = h
        .create_room(&alice, "History 2", false, &[])
        .await
        .unwrap();
    h.send_text(&alice, &history2, "early").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut2 = now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.send_text(&alice, &history2, "late").await.unwrap();
    conformance(&Target {
        label: format!("real {backend}"),
        base_url: base.clone(),
        admin_token: admin.access_token.clone(),
        user_token: alice.access_token.clone(),
        server_name: h.server_name().to_owned(),
        history: history2.clone(),
        cut_ms: cut2,
        doomed: again,
    })
    .await;
    assert_eq!(messages(&h, &admin, &history2).await, ["late"]);

    purge_deactivated(&h, &ctx, &boss, &admin, &alice).await;
}

/// `purge-deactivated` on real Synapse: a user deactivated without erasure
/// keeps their media until the warden deletes the old ones, once
/// confirmed; an active user's media stay.
async fn purge_deactivated(
    h: &SynapseHarness,
    ctx: &StatsContext,
    boss: &Origin,
    admin: &TestUser,
    alice: &TestUser,
) {
    let carol = h.register("carol", "carol-pass", false).await.unwrap();
    let now = now_ms();
    let mut ids = Vec::new();
    for (who, bytes, age) in [(&carol, 4_000, 90), (&carol, 5_000, 1), (alice, 6_000, 90)] {
        let mxc = h.upload_media(who, bytes).await.unwrap();
        let id = mxc.rsplit('/').next().unwrap().to_owned();
        h.sql(&format!(
            "UPDATE local_media_repository SET created_ts = {} WHERE media_id = '{id}'",
            now - age * DAY
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    let base = h.base_url().as_str().trim_end_matches('/').to_owned();
    let (status, body) = send(
        reqwest::Method::POST,
        &format!(
            "{base}/_synapse/admin/v1/deactivate/{}",
            enc(&carol.user_id)
        ),
        &admin.access_token,
        Some(r#"{"erase": false}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // v3 lists only deactivated users; v2 with the same parameter lists
    // everyone.
    let (_, v3) = send(
        reqwest::Method::GET,
        &format!("{base}/_synapse/admin/v3/users?deactivated=true"),
        &admin.access_token,
        None,
    )
    .await;
    let names: Vec<&str> = v3["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, [carol.user_id.as_str()], "{v3}");
    let (_, v2) = send(
        reqwest::Method::GET,
        &format!("{base}/_synapse/admin/v2/users?deactivated=true"),
        &admin.access_token,
        None,
    )
    .await;
    assert!(v2["users"].as_array().unwrap().len() > 1, "{v2}");

    let preview = answer(&cmd("purge-deactivated older-than 30d"), ctx, boss, now).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(
        text.contains(&ids[0]) && !text.contains(&ids[1]) && !text.contains(&ids[2]),
        "{text}"
    );
    assert!(text.contains("Of 1 deactivated user"), "{text}");
    assert_eq!(
        crate::actions::download(h, alice, &ids[0]).await,
        200,
        "not before confirmation"
    );
    let code = code_in(&text);
    let done = answer(&cmd(&format!("confirm {code}")), ctx, boss, now + 1).await;
    assert!(done.ok, "{}", done.message.plain());
    assert_eq!(crate::actions::download(h, alice, &ids[0]).await, 404);
    assert_eq!(crate::actions::download(h, alice, &ids[1]).await, 200);
    assert_eq!(crate::actions::download(h, alice, &ids[2]).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_cleanup_on_real_synapse_sqlite() {
    real(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_cleanup_on_real_synapse_postgres() {
    real(Backend::Postgres).await;
}
