//! End to end: what a reload changes in `synapse-warden run`, against a real
//! Synapse (SQLite) with the bot in an admin room, driven as an admin does:
//! by SIGHUP and by `!stats reload`.
//!
//! - The command access and the alert settings (SIGHUP): a new prefix, in
//!   any case, alone answering the help; the old one no longer answered; an allow-listed member
//!   without power level answered; `alerts.max_lines` cuts the check.
//! - The Synapse client (`!warden reload`): a new admin token is read and
//!   used by the commands and the runs; a token of a user who is not a
//!   server admin makes `/ready` 503 with the reason, until a reload with
//!   a good token and a run that succeeds.
//! - What needs a restart (`!warden reload`, then SIGHUP): `matrix.user`
//!   and `http.listen` named in the answer, the room and the log, the bot
//!   still answering as before; once the file is back, nothing is pending.
//! - A bad file (`!warden reload`): every error with its line, nothing
//!   changed, `/ready` 503 saying so until a good reload (SIGHUP).
//! - The schedule (SIGHUP): `every: 1h` becomes `every: 2s`, and runs follow.

use std::time::{Duration, Instant};

use crate::run_e2e::{bodies, free_port, get, logs, signal, start, wait_exit, write_setup};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

/// How many of `messages` contain `text`.
fn count(messages: &[String], text: &str) -> usize {
    messages.iter().filter(|m| m.contains(text)).count()
}

/// Waits until the room holds `n` messages of the bot containing `text`;
/// returns the last of them.
async fn nth(
    h: &SynapseHarness,
    admin: &TestUser,
    room: &str,
    bot: &str,
    text: &str,
    n: usize,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let b = bodies(h, admin, room, bot).await;
        if count(&b, text) >= n {
            return b.iter().rev().find(|m| m.contains(text)).unwrap().clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for message {n} containing {text:?}; the room has {b:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `/ready`'s status and body, once its status is `want` (or after 60 s).
async fn ready_becomes(url: &str, want: u16) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(url).await;
        if status == want || Instant::now() > deadline {
            return (status, serde_json::from_str(&body).unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The number of runs so far, from `/metrics`.
async fn runs(metrics: &str) -> u64 {
    let (_, text) = get(metrics).await;
    text.lines()
        .find_map(|l| l.strip_prefix("synapse_warden_walk_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_what_it_can_and_names_what_needs_a_restart() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bob = h.register("bob", "bob-password", false).await.unwrap();
    h.upload_media(&bob, 6 * 1024).await.unwrap();
    let carol = h.register("carol", "carol-password", false).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room = h
        .create_room(
            &admin,
            "Synapse admins",
            false,
            &[&bot.user_id, &carol.user_id],
        )
        .await
        .unwrap();
    h.join_room(&carol, &room).await.unwrap();
    let setup = write_setup(&h, &admin, &room);
    let policy = setup.policy.clone();
    let good = std::fs::read_to_string(&policy).unwrap();
    let ready = format!("http://{}/ready", setup.listen);
    let metrics = format!("http://{}/metrics", setup.listen);
    let b = bot.user_id.as_str();
    let say = |user: &TestUser, body: &str| {
        let (user, body) = (user.clone(), body.to_owned());
        let (h, room) = (&h, room.clone());
        async move { h.send_text(&user, &room, &body).await.unwrap() }
    };

    let mut child = start(&setup);
    nth(&h, &admin, &room, b, "NEW critical quota", 1).await;
    let (status, body) = ready_becomes(&ready, 200).await;
    assert_eq!(status, 200, "{body}\n{}", logs(setup.dir.path()));

    // 1. SIGHUP: a new prefix, an allow-list, a rate limit, max_lines.
    let access = good
        .replace(
            "schedule:\n  every: 1h\n",
            "schedule:\n  every: 1h\nalerts:\n  max_lines: 1\n",
        )
        .replace(
            "  data_dir:",
            "  command_prefix: \"!warden\"\n  allowed_senders: \"@carol:*\"\n  command_rate_limit: 20 per 1m\n  data_dir:",
        );
    assert_ne!(access, good);
    std::fs::write(&policy, &access).unwrap();
    signal(&child, libc::SIGHUP);
    let reloaded = nth(&h, &admin, &room, b, "reloaded", 1).await;
    assert!(
        reloaded.contains("1 rule in force.") && !reloaded.contains("restart"),
        "{reloaded}"
    );
    say(&admin, "!stats help").await;
    // Carol has power level 0 but is allow-listed now; the prefix is
    // matched whatever its case.
    say(&carol, "!Warden check").await;
    let check = nth(&h, &admin, &room, b, "2 violations (2 critical)", 1).await;
    assert_eq!(
        check
            .lines()
            .filter(|l| l.starts_with("• critical quota:"))
            .count(),
        1,
        "alerts.max_lines: 1 is in force: {check}"
    );
    // The prefix alone, in capitals: the help, with the new prefix.
    say(&admin, "!WARDEN").await;
    nth(&h, &admin, &room, b, "!warden top 10 media_length", 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = bodies(&h, &admin, &room, b).await;
    assert_eq!(
        count(&all, "!stats top 10 media_length"),
        0,
        "the old prefix is still answered: {all:#?}"
    );

    // 2. `!warden reload`: a new admin token, read again; it belongs to a
    //    user who is not a server admin.
    let token = setup.dir.path().join("admin-token");
    std::fs::write(&token, &alice.access_token).unwrap();
    say(&admin, "!warden reload").await;
    nth(&h, &admin, &room, b, "reloaded", 3).await; // notice and reply
    say(&admin, "!warden top 5 media_count 7d").await;
    let top = nth(&h, &admin, &room, b, "not a server admin", 1).await;
    assert!(top.contains("403"), "{top}");
    say(&admin, "!warden check").await;
    nth(&h, &admin, &room, b, "The check failed", 1).await;
    let (status, body) = ready_becomes(&ready, 503).await;
    assert_eq!(status, 503, "{body}");
    let reasons = body["reasons"].to_string();
    assert!(
        reasons.contains("will not succeed until an admin acts") && reasons.contains("403"),
        "{body}"
    );
    assert!(
        !reasons.contains(&alice.access_token),
        "a token in /ready: {body}"
    );
    // The admin's token back, by SIGHUP; the next run clears /ready.
    std::fs::write(&token, &admin.access_token).unwrap();
    signal(&child, libc::SIGHUP);
    nth(&h, &admin, &room, b, "reloaded", 4).await;
    say(&admin, "!warden check").await;
    nth(&h, &admin, &room, b, "2 violations (2 critical)", 2).await;
    let (status, body) = ready_becomes(&ready, 200).await;
    assert_eq!(status, 200, "{body}");

    // 3. `!warden reload`: what needs a restart is named; the bot answers
    //    as before, /ready is served where it was.
    let server = h.server_name().to_owned();
    let restart = access
        .replace(&format!("@warden:{server}"), &format!("@other:{server}"))
        .replace(&setup.listen, &format!("127.0.0.1:{}", free_port()));
    assert_ne!(restart, access);
    std::fs::write(&policy, &restart).unwrap();
    say(&admin, "!warden reload").await;
    let answer = nth(&h, &admin, &room, b, "need a restart", 2).await;
    assert!(
        answer.contains("`matrix.user` and `http.listen` changed and need a restart"),
        "{answer}"
    );
    say(&admin, "!warden policies").await;
    nth(&h, &admin, &room, b, "quota (critical): at most", 1).await;
    assert_eq!(get(&ready).await.0, 200);
    // The same by SIGHUP: said in the room and in the log.
    signal(&child, libc::SIGHUP);
    nth(&h, &admin, &room, b, "need a restart", 3).await;
    let logged = |log: &str| {
        log.lines().any(|l| {
            l.contains("SIGHUP: reloaded")
                && l.contains("`matrix.user` and `http.listen` changed and need a restart")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logged(&logs(setup.dir.path())) {
        assert!(
            Instant::now() < deadline,
            "SIGHUP's answer is not logged:\n{}",
            logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Back as it runs, by SIGHUP: nothing needs a restart any more.
    std::fs::write(&policy, &access).unwrap();
    signal(&child, libc::SIGHUP);
    let back = nth(&h, &admin, &room, b, "reloaded", 8).await;
    assert!(!back.contains("restart"), "{back}");

    // 4. `!warden reload` of a bad file: its errors with their lines,
    //    nothing changed, /ready says so until a good reload.
    std::fs::write(
        &policy,
        access.replace("max_media_length: 4 KiB", "max_media_lenght: 4 KiB"),
    )
    .unwrap();
    say(&admin, "!warden reload").await;
    let refused = nth(&h, &admin, &room, b, "was not reloaded", 1).await;
    assert!(
        refused.contains("policies.yaml:") && refused.contains("did you mean `max_media_length`?"),
        "{refused}"
    );
    let (status, body) = ready_becomes(&ready, 503).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reasons"]
            .to_string()
            .contains("could not be reloaded"),
        "{body}"
    );
    say(&admin, "!warden check").await;
    nth(&h, &admin, &room, b, "2 violations (2 critical)", 3).await;

    // 5. SIGHUP: a good file with a faster schedule; /ready is back, runs
    //    follow the new schedule.
    std::fs::write(&policy, access.replace("every: 1h", "every: 2s")).unwrap();
    signal(&child, libc::SIGHUP);
    let (status, body) = ready_becomes(&ready, 200).await;
    assert_eq!(status, 200, "{body}");
    let before = runs(&metrics).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs(&metrics).await < before + 2 {
        assert!(
            Instant::now() < deadline,
            "the new schedule is not followed: {before} runs, then {}\n{}",
            runs(&metrics).await,
            logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    let log = logs(setup.dir.path());
    assert!(
        log.contains("needs_restart") && log.contains("matrix.user, http.listen"),
        "the log names what needs a restart:\n{log}"
    );
    assert!(
        !log.contains(&admin.access_token)
            && !log.contains(&alice.access_token)
            && !log.contains("bot-password")
            && !log.contains("a store passphrase"),
        "a secret in the logs"
    );
}
