//! Room clean-up (`delete-room`, `purge-history`, `delete-abandoned`) on the
//! fake: previews that ask Synapse nothing destructive, confirmations that
//! act on exactly the previewed rooms, task statuses (slow, failed, never
//! finishing), every page of the room list, re-checks of abandoned rooms,
//! bad input, the audit log and the command line. The same on real
//! Synapse is in `room_cleanup_e2e`.

use std::time::Duration;

use synapse_warden::app::answer::{answer, answer_words};
use synapse_warden::app::context::{Origin, StatsContext};
use synapse_warden::core::commands::actions::TaskPolling;
use test_support::fake::{self, Dataset, FakeRoom, FakeSynapse, TaskScript};

use crate::actions::{ADMIN_ROOM, cmd, code_in, context, room};

const DAY: u64 = 86_400_000;
const NOW: u64 = fake::GENERATED_NOW_MS;

/// Polls without waiting long: a test never depends on time.
fn fast(mut ctx: StatsContext) -> StatsContext {
    ctx.task_polling = TaskPolling {
        first: Duration::from_millis(1),
        longest: Duration::from_millis(2),
        max_polls: 40,
        note_every: 2,
    };
    ctx
}

struct Rig {
    server: FakeSynapse,
    ctx: StatsContext,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn rig(rooms: Vec<FakeRoom>) -> Rig {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Postgres).await;
    server.set_room_list(rooms);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let ctx = fast(context(&server.base_url(), fake::ADMIN_TOKEN, &audit, true));
    Rig {
        server,
        ctx,
        audit,
        _dir: dir,
    }
}

impl Rig {
    /// The (method, path) of every request but reads.
    fn writes(&self) -> Vec<(String, String)> {
        self.server
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| (r.method, r.path))
            .collect()
    }

    /// The room IDs of the room list, sorted.
    async fn rooms(&self) -> Vec<String> {
        let mut out: Vec<String> =
            crate::actions::client(&self.server.base_url(), fake::ADMIN_TOKEN)
                .room_list(100)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.room_id)
                .collect();
        out.sort();
        out
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(&self.audit).unwrap_or_default()
    }
}

fn named(id: &str, name: &str, state: u64, joined: u64, local: u64) -> FakeRoom {
    let mut r = FakeRoom::new(id, state, joined, local);
    r.name = Some(name.to_owned());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_room_previews_then_deletes_exactly_that_room_once_confirmed() {
    let r = rig(vec![
        named("!big:test", "Big room", 12, 3, 1),
        FakeRoom::new("!other:test", 5, 1, 1),
    ])
    .await;
    r.server.set_task_script(TaskScript {
        polls: 5,
        outcome: None,
    });
    let boss = room("@boss:test", 100);
    let preview = answer(&cmd("delete-room !big:test block"), &r.ctx, &boss, NOW).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    for part in [
        "Big room",
        "!big:test",
        "3 members joined (1 local), 12 state events",
        "blocked",
        "confirm ",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(
        r.writes().is_empty(),
        "a preview changes nothing: {:?}",
        r.writes()
    );
    let code = code_in(&text);

    // A member without the action level: refused, nothing deleted, and the
    // code still waits for someone who has it.
    let weak = answer(
        &cmd(&format!("confirm {code}")),
        &r.ctx,
        &room("@mod:test", 50),
        NOW + 1,
    )
    .await;
    assert!(!weak.ok);
    assert!(
        weak.message.plain().contains("power level 100"),
        "{}",
        weak.message.plain()
    );
    assert!(r.writes().is_empty(), "{:?}", r.writes());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let origin = Origin::Matrix {
        device_id: "D".into(),
        sender: "@other-admin:test".into(),
        level: Some(100),
        progress: Some(tx),
        room_id: Some(ADMIN_ROOM.into()),
    };
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &origin, NOW + 2).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted room !big:test, blocked"), "{text}");
    assert_eq!(
        r.writes(),
        [(
            "DELETE".to_owned(),
            "/_synapse/admin/v2/rooms/!big:test".to_owned()
        )]
    );
    assert_eq!(r.rooms().await, ["!other:test"]);
    assert_eq!(r.server.blocked_rooms(), ["!big:test"]);
    let mut notes = Vec::new();
    while let Ok(note) = rx.try_recv() {
        notes.push(note.plain);
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("still working on room !big:test")),
        "{notes:?}"
    );
    let audit = r.audit();
    for event in ["\"preview\"", "\"refused\"", "\"confirmed\"", "\"done\""] {
        assert!(audit.contains(event), "{event} in {audit}");
    }
    assert!(audit.contains("\"delete_rooms\""), "{audit}");

    // The code is used: confirming again does nothing.
    let again = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 3).await;
    assert!(!again.ok);
    assert_eq!(r.writes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rooms_get_a_clear_answer_and_nothing_is_deleted() {
    let r = rig(vec![
        FakeRoom::new("!known:test", 5, 1, 1),
        FakeRoom::new(ADMIN_ROOM, 9, 2, 2),
    ])
    .await;
    let boss = room("@boss:test", 100);
    let reply = answer(&cmd("delete-room !nope:test"), &r.ctx, &boss, NOW).await;
    assert!(!reply.ok);
    assert!(
        reply
            .message
            .plain()
            .contains("not a room this server knows"),
        "{}",
        reply.message.plain()
    );
    // A room of another server this one is not in: unknown as well.
    let reply = answer(
        &cmd("purge-history !theirs:elsewhere.org older-than 1d"),
        &r.ctx,
        &boss,
        NOW,
    )
    .await;
    assert!(!reply.ok);
    assert!(
        reply
            .message
            .plain()
            .contains("not a room this server knows"),
        "{}",
        reply.message.plain()
    );
    for words in [
        format!("delete-room {ADMIN_ROOM}"),
        format!("purge-history {ADMIN_ROOM} older-than 1d local-too"),
    ] {
        let reply = answer(&cmd(&words), &r.ctx, &boss, NOW).await;
        assert!(!reply.ok, "{words}");
        assert!(
            reply.message.plain().contains("admin room"),
            "{}",
            reply.message.plain()
        );
    }
    // The command line: the same answer.
    let (text, ok) = answer_words(
        &r.ctx,
        &["delete-room".into(), "!nope:test".into(), "--yes".into()],
    )
    .await;
    assert!(!ok && text.plain().contains("not a room this server knows"));
    // An alias: the grammar asks for the room ID.
    let (text, ok) = answer_words(
        &r.ctx,
        &["delete-room".into(), "#known:test".into(), "--yes".into()],
    )
    .await;
    assert!(!ok);
    assert!(
        text.plain().contains("needs the room ID"),
        "{}",
        text.plain()
    );
    // Without the level, nothing is even read.
    let before = r.server.request_count();
    let reply = answer(
        &cmd("delete-room !known:test"),
        &r.ctx,
        &room("@mod:test", 0),
        NOW,
    )
    .await;
    assert!(!reply.ok);
    assert_eq!(r.server.request_count(), before);
    assert!(r.writes().is_empty(), "{:?}", r.writes());
    assert_eq!(r.rooms().await, [ADMIN_ROOM, "!known:test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_endless_tasks_are_reported_not_waited_for_forever() {
    let r = rig(vec![
        FakeRoom::new("!a:test", 5, 1, 1),
        FakeRoom::new("!b:test", 5, 1, 1),
    ])
    .await;
    let boss = room("@boss:test", 100);
    r.server.set_task_script(TaskScript {
        polls: 2,
        outcome: Some("topological_ordering is greater than forward extremities".into()),
    });
    r.server
        .add_room_events("!a:test", &[(NOW - 10 * DAY, false), (NOW, false)]);
    let preview = answer(
        &cmd("purge-history !a:test older-than 5d"),
        &r.ctx,
        &boss,
        NOW,
    )
    .await;
    let code = code_in(&preview.message.plain());
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW).await;
    let text = done.message.plain();
    assert!(!done.ok, "{text}");
    assert!(text.contains("was not purged"), "{text}");
    assert!(text.contains("topological_ordering"), "{text}");
    assert_eq!(r.server.visible_events("!a:test").len(), 2);

    r.server.set_task_script(TaskScript {
        polls: 1_000,
        outcome: None,
    });
    let preview = answer(&cmd("delete-room !b:test"), &r.ctx, &boss, NOW).await;
    let code = code_in(&preview.message.plain());
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW).await;
    let text = done.message.plain();
    assert!(!done.ok, "{text}");
    assert!(text.contains("stopped waiting"), "{text}");
    let polls = r
        .server
        .request_log()
        .iter()
        .filter(|q| q.path.contains("delete_status"))
        .count();
    assert_eq!(polls, 40, "bounded by max_polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_history_sends_the_previews_cut_off_and_a_json_boolean() {
    let r = rig(vec![named("!hist:test", "History", 7, 2, 1)]).await;
    let boss = room("@boss:test", 100);
    // The command line reads the clock: so does this test.
    let now = crate::actions::now_ms();
    let events: Vec<(u64, bool)> = (0..10)
        .map(|i| (now - (200 - i) * DAY, i % 2 == 0))
        .chain((0..10).map(|i| (now - (10 - i) * DAY, i % 2 == 0)))
        .collect();
    r.server.add_room_events("!hist:test", &events);
    let preview = answer(
        &cmd("purge-history !hist:test older-than 180d"),
        &r.ctx,
        &boss,
        now,
    )
    .await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(text.contains("cannot count beforehand"), "{text}");
    assert!(text.contains("only hidden"), "{text}");
    assert!(r.writes().is_empty());
    let code = code_in(&text);
    // Confirmed minutes later: the cut-off is still the preview's.
    let done = answer(
        &cmd(&format!("confirm {code}")),
        &r.ctx,
        &boss,
        now + 4 * 60_000,
    )
    .await;
    assert!(done.ok, "{}", done.message.plain());
    assert!(
        done.message
            .plain()
            .contains("purged the history of room !hist:test")
    );
    let visible = r.server.visible_events("!hist:test");
    assert_eq!(visible.len(), 10, "{visible:?}");
    assert!(visible.iter().all(|&ts| ts >= now - 180 * DAY));
    assert_eq!(
        r.server.stored_events("!hist:test"),
        15,
        "local events are only hidden"
    );
    let audit = r.audit();
    assert!(
        audit.contains(&format!("\"purge_up_to_ts\":{}", now - 180 * DAY)),
        "{audit}"
    );
    assert!(audit.contains("\"delete_local_events\":false"), "{audit}");

    // local-too deletes them, from the command line at once.
    let words: Vec<String> = "purge-history !hist:test older-than 180d local-too --yes"
        .split(' ')
        .map(str::to_owned)
        .collect();
    let (text, ok) = answer_words(&r.ctx, &words).await;
    assert!(ok, "{}", text.plain());
    assert_eq!(r.server.stored_events("!hist:test"), 10);

    // A cut-off before the room's first event: Synapse's 404, reported.
    let (text, ok) = answer_words(
        &r.ctx,
        &"purge-history !hist:test older-than 3000d --yes"
            .split(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(!ok);
    assert!(
        text.plain().contains("there is no event to be purged"),
        "{}",
        text.plain()
    );
    assert_eq!(r.server.stored_events("!hist:test"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_abandoned_reads_every_page_and_deletes_only_the_previewed_rooms() {
    // 1 203 rooms: three pages of the room list; every 100th abandoned,
    // and the admin room abandoned too (it must never be listed).
    let mut rooms: Vec<FakeRoom> = (0..1202)
        .map(|i| {
            let local = u64::from(i % 100 != 7);
            FakeRoom::new(&format!("!r{i:04}:test"), 3 + (i % 13), 2, local)
        })
        .collect();
    rooms.push(FakeRoom::new(ADMIN_ROOM, 40, 0, 0));
    let abandoned: Vec<String> = rooms
        .iter()
        .filter(|r| r.joined_local_members == 0 && r.room_id != ADMIN_ROOM)
        .map(|r| r.room_id.clone())
        .collect();
    assert_eq!(abandoned.len(), 12);
    let r = rig(rooms).await;
    let boss = room("@boss:test", 100);
    let preview = answer(&cmd("delete-abandoned"), &r.ctx, &boss, NOW).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(text.contains("12 rooms without a local member"), "{text}");
    assert!(!text.contains(ADMIN_ROOM), "{text}");
    let pages = r
        .server
        .request_log()
        .iter()
        .filter(|q| q.path == "/_synapse/admin/v1/rooms")
        .count();
    assert_eq!(pages, 3, "every page of the room list");
    assert!(r.writes().is_empty());
    let code = code_in(&text);

    // Since the preview: a local user joined one; another room was
    // abandoned (not previewed: kept as is).
    r.server.set_local_members(&abandoned[3], 1);
    r.server.set_local_members("!r0000:test", 0);

    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 1).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted 11 abandoned rooms"), "{text}");
    assert!(
        text.contains("Kept, because a local user is in it again"),
        "{text}"
    );
    assert!(text.contains(abandoned[3].as_str()), "{text}");
    let deleted: Vec<String> = r
        .writes()
        .into_iter()
        .map(|(m, p)| {
            assert_eq!(m, "DELETE");
            p.trim_start_matches("/_synapse/admin/v2/rooms/").to_owned()
        })
        .collect();
    let mut expected = abandoned.clone();
    expected.remove(3);
    let mut sorted = deleted.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let left = r.rooms().await;
    assert!(left.contains(&abandoned[3]));
    assert!(left.contains(&"!r0000:test".to_owned()));
    assert!(left.contains(&ADMIN_ROOM.to_owned()));
    assert_eq!(left.len(), 1203 - 11);
    assert!(
        r.audit()
            .contains(&format!("\"kept\":[\"{}\"]", abandoned[3])),
        "{}",
        r.audit()
    );

    // Nothing abandoned but the admin room and the new one: the new one
    // is offered by a new preview, never by the old code.
    let again = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 2).await;
    assert!(!again.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deactivated_reads_every_page_and_deletes_only_the_previewed_media() {
    let r = rig(Vec::new()).await;
    // 1 001 deactivated users: three pages of Synapse's list; three have
    // old media, one also a recent upload; an active user's media stay.
    for i in 0..=1000 {
        r.server.deactivate(&format!("@d{i:04}:test"));
    }
    r.server
        .upload("@d0003:test", "old3", NOW - 90 * DAY, 3_000);
    r.server.upload("@d0003:test", "new3", NOW - DAY, 30);
    r.server
        .upload("@d0777:test", "old777", NOW - 40 * DAY, 7_000);
    r.server
        .upload("@d1000:test", "old1000", NOW - 400 * DAY, 10_000);
    r.server
        .upload("@active:test", "mine", NOW - 400 * DAY, 99_000);
    let boss = room("@boss:test", 100);
    let preview = answer(&cmd("purge-deactivated older-than 30d"), &r.ctx, &boss, NOW).await;
    let text = preview.message.plain();
    assert!(preview.ok, "{text}");
    assert!(text.contains("3 media, 19.5 KiB"), "{text}");
    assert!(text.contains("Of 3 deactivated users"), "{text}");
    for (id, shown) in [
        ("old3", true),
        ("old777", true),
        ("old1000", true),
        ("new3", false),
        ("mine", false),
    ] {
        assert_eq!(text.contains(id), shown, "{id} in {text}");
    }
    let pages = r
        .server
        .request_log()
        .iter()
        .filter(|q| q.path == "/_synapse/admin/v3/users")
        .count();
    assert_eq!(pages, 3, "every page of the deactivated users");
    assert!(r.writes().is_empty());
    let code = code_in(&text);
    // Uploaded (and dated old) after the preview: not in it, kept.
    r.server.upload("@d0777:test", "late", NOW - 100 * DAY, 5);
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 1).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(
        text.contains("deleted 3 media, 19.5 KiB of deactivated users"),
        "{text}"
    );
    let mut left: Vec<String> = r.server.media().into_iter().map(|m| m.media_id).collect();
    left.sort();
    assert_eq!(left, ["late", "mine", "new3"]);
    assert!(r.audit().contains("\"delete_media\""), "{}", r.audit());

    // Nothing left to purge: no code.
    let again = answer(
        &cmd("purge-deactivated older-than 200d"),
        &r.ctx,
        &boss,
        NOW,
    )
    .await;
    assert!(again.ok);
    assert!(
        again.message.plain().contains("Nothing to do"),
        "{}",
        again.message.plain()
    );
}

/// The command line: `stats delete-room ... --yes` and `stats
/// delete-abandoned --yes` act at once, audited; without `--yes` they only
/// preview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_previews_and_acts_with_yes() {
    let r = rig(vec![
        FakeRoom::new("!one:test", 5, 1, 1),
        FakeRoom::new("!empty:test", 5, 0, 0),
        FakeRoom::new("!keep:test", 5, 2, 2),
    ])
    .await;
    let words = |w: &str| w.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let (text, ok) = answer_words(&r.ctx, &words("delete-room !one:test")).await;
    assert!(ok, "{}", text.plain());
    assert!(text.plain().contains("--yes"), "{}", text.plain());
    assert!(r.writes().is_empty());
    let (text, ok) = answer_words(&r.ctx, &words("delete-room !one:test --yes")).await;
    assert!(ok, "{}", text.plain());
    let (text, ok) = answer_words(&r.ctx, &words("delete-abandoned --yes")).await;
    assert!(ok, "{}", text.plain());
    assert!(
        text.plain().contains("deleted 1 abandoned room"),
        "{}",
        text.plain()
    );
    assert_eq!(r.rooms().await, ["!keep:test"]);
    let audit = r.audit();
    assert_eq!(
        audit.matches("\"by\":\"command line\"").count(),
        2,
        "{audit}"
    );
    let (text, ok) = answer_words(&r.ctx, &words("confirm ABCDEF")).await;
    assert!(!ok, "{}", text.plain());
}

/// A deletion of the room already runs when the confirmed one starts (a
/// retried request whose first answer was lost, or a second admin): Synapse
/// refuses the second with 400 "Purge already in progress", and the warden
/// waits for the running one instead of reporting a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_already_running_is_waited_for() {
    let r = rig(vec![FakeRoom::new("!busy:test", 5, 1, 1)]).await;
    let boss = room("@boss:test", 100);
    let preview = answer(&cmd("delete-room !busy:test"), &r.ctx, &boss, NOW).await;
    let code = code_in(&preview.message.plain());
    r.server.set_task_script(TaskScript {
        polls: 3,
        outcome: None,
    });
    let synapse = crate::actions::client(&r.server.base_url(), fake::ADMIN_TOKEN);
    let first = synapse.delete_room("!busy:test", false).await.unwrap();
    let refused = synapse.delete_room("!busy:test", false).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Purge already in progress for !busy:test"),
        "{refused}"
    );
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 1).await;
    let text = done.message.plain();
    assert!(done.ok, "{text}");
    assert!(text.contains("deleted room !busy:test"), "{text}");
    assert!(r.rooms().await.is_empty());
    let waited: Vec<String> = r
        .server
        .request_log()
        .into_iter()
        .filter(|q| q.path.contains("delete_status"))
        .map(|q| q.path)
        .collect();
    assert!(
        waited.contains(&format!("/_synapse/admin/v2/rooms/delete_status/{first}")),
        "{waited:?}"
    );
    let tasks = synapse.room_delete_tasks("!busy:test").await.unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(
        synapse
            .room_delete_tasks("!never:test")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Synapse failing while a task runs (a 500, a proxy's 502) is looked at
/// again, not reported as a failed deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_failures_while_polling_are_polled_through() {
    let r = rig(vec![FakeRoom::new("!a:test", 5, 1, 1)]).await;
    let boss = room("@boss:test", 100);
    r.server.set_task_script(TaskScript {
        polls: 2,
        outcome: None,
    });
    let preview = answer(&cmd("delete-room !a:test"), &r.ctx, &boss, NOW).await;
    let code = code_in(&preview.message.plain());
    r.server.push_faults([
        fake::Fault::Status500,
        fake::Fault::BadGateway,
        fake::Fault::Status500,
    ]);
    let done = answer(&cmd(&format!("confirm {code}")), &r.ctx, &boss, NOW + 1).await;
    assert!(done.ok, "{}", done.message.plain());
    assert!(r.rooms().await.is_empty());
    let statuses: Vec<Option<u16>> = r
        .server
        .request_log()
        .into_iter()
        .filter(|q| q.path.contains("delete_status"))
        .map(|q| q.status)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(500),
            Some(502),
            Some(500),
            Some(200),
            Some(200),
            Some(200)
        ]
    );
}
