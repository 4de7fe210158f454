//! End to end on a real Synapse (SQLite): users with hostile display names
//! go over a quota; the daemon's alert and the bot's `!stats user` replies,
//! read as a Matrix client reads them, forge no line, carry the names'
//! HTML escaped, and mention no one (`"m.mentions": {}`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run_e2e::{events, logs, signal, start, wait_exit, write_setup};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

/// A hostile display name: a forged alert line, HTML, `@room` and a
/// right-to-left override.
const HOSTILE_NAME: &str =
    "Mal\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\n<b>x</b> @room \u{202e}gnp.exe";
/// Its tail, short enough not to be cut at 64 characters.
const SHORT_NAME: &str = "<b>x</b> @room \u{202e}gnp.exe\u{1b}[2J";

async fn wait_event(
    h: &SynapseHarness,
    reader: &TestUser,
    room_id: &str,
    bot: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let all = events(h, reader, room_id, bot).await;
        if let Some(e) = all.iter().find(|e| ok(e)) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the bot said {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What every message of the bot must be, whatever the names.
fn assert_safe(event: &Value) {
    let content = &event["content"];
    assert_eq!(
        content["m.mentions"],
        serde_json::json!({}),
        "m.mentions must be present and empty: {content:#}"
    );
    let body = content["body"].as_str().unwrap();
    let html = content["formatted_body"].as_str().unwrap();
    assert_eq!(content["format"], "org.matrix.custom.html");
    for text in [body, html] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character: {text:?}"
        );
        assert!(!text.contains('\u{202e}'), "a bidi override: {text:?}");
        assert!(!text.contains("@room"), "an @room: {text:?}");
    }
    assert!(!html.contains("<b>x"), "raw HTML from a name: {html:?}");
    // The forged alert line is not a line of its own.
    for line in body.lines() {
        assert!(
            !line.starts_with("🔴 NEW critical media-quota: @ceo"),
            "a forged line: {body}"
        );
    }
    for tag in ["<b>", "<table", "<tr", "<td"] {
        assert!(!html.contains(tag), "{tag} in {html}");
    }
}

fn in_reply_to(event: &Value) -> &str {
    event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_display_names_forge_nothing_in_alerts_and_replies() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let mal = h.register("mal", "mal-password", false).await.unwrap();
    let eve = h.register("eve", "eve-password", false).await.unwrap();
    h.set_displayname(&mal, Some(HOSTILE_NAME)).await.unwrap();
    h.set_displayname(&eve, Some(SHORT_NAME)).await.unwrap();
    h.upload_media(&mal, 5 * 1024).await.unwrap();
    h.upload_media(&eve, 6 * 1024).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let setup = write_setup(&h, &admin, &room_id);
    let mut child = start(&setup);

    let alert = wait_event(&h, &admin, &room_id, &bot.user_id, "the alert", |e| {
        e["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("NEW critical quota"))
    })
    .await;
    assert_safe(&alert);
    let body = alert["content"]["body"].as_str().unwrap();
    let html = alert["content"]["formatted_body"].as_str().unwrap();
    assert_eq!(
        body.lines().filter(|l| l.contains("NEW critical")).count(),
        2,
        "one line per user: {body}"
    );
    assert!(
        body.contains(&format!(
            "• 🔴 NEW critical quota: {} (Mal\\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\\n<b>x<…): 5.0 KiB of 4.0 KiB (125.0%)",
            mal.user_id
        )),
        "{body}"
    );
    assert!(
        body.contains("(<b>x</b> \\u{40}room \\u{202e}gnp.exe\\u{1b}[2J): 6.0 KiB of 4.0 KiB"),
        "{body}"
    );
    assert!(
        html.contains("(&lt;b&gt;x&lt;/b&gt; \\u{40}room \\u{202e}gnp.exe\\u{1b}[2J)"),
        "{html}"
    );
    assert!(html.contains("<ul>") && html.contains("<li>"), "{html}");

    for (user, expected) in [
        (
            &mal,
            "(Mal\\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\\n<b>x<…): 5.0 KiB in 1 media (all uploads).",
        ),
        (
            &eve,
            "(<b>x</b> \\u{40}room \\u{202e}gnp.exe\\u{1b}[2J): 6.0 KiB in 1 media (all uploads).",
        ),
    ] {
        let asked = h
            .send_text(&admin, &room_id, &format!("!stats user {}", user.user_id))
            .await
            .unwrap();
        let reply = wait_event(&h, &admin, &room_id, &bot.user_id, "the user reply", |e| {
            in_reply_to(e) == asked
        })
        .await;
        assert_safe(&reply);
        let body = reply["content"]["body"].as_str().unwrap();
        let mut lines = body.lines();
        assert_eq!(
            lines.next().unwrap_or_default(),
            format!("{} {expected}", user.user_id),
            "the reply: {reply:#}"
        );
        // Then the user's limits, from the template only.
        assert_eq!(
            lines.collect::<Vec<_>>(),
            ["Effective limits:", "• quota: 4.0 KiB by the rule"],
            "the reply: {reply:#}"
        );
    }

    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        logs(setup.dir.path())
    );
}
