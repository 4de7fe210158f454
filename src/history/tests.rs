use super::*;

const DAY: u64 = 86_400_000;
const KEEP: Duration = Duration::from_secs(400 * 86_400);
const THIN: Duration = Duration::from_secs(30 * 86_400);

fn record(started_ms: u64, bytes: u64, users: &[(&str, u64)]) -> RunRecord {
    RunRecord {
        started_ms,
        partial: None,
        users: users.len() as u64,
        bytes,
        media: 7,
        rules: vec![RuleCount {
            rule: "quota".into(),
            warning: 1,
            critical: 2,
        }],
        users_recorded: users
            .iter()
            .map(|(id, b)| UserTotal {
                user_id: (*id).into(),
                bytes: *b,
                media: 1,
            })
            .collect(),
        floor_bytes: 10,
    }
}

#[test]
fn runs_are_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let now = 1000 * DAY;
    {
        let mut store = HistoryStore::open(&path).unwrap();
        store
            .write(
                &record(now - 2 * DAY, 100, &[("@a:hs", 60)]),
                now,
                KEEP,
                THIN,
            )
            .unwrap();
        let mut partial = record(now - DAY, 50, &[("@a:hs", 1)]);
        partial.partial = Some("Synapse's next_token stopped advancing".into());
        store.write(&partial, now, KEEP, THIN).unwrap();
        store
            .write(
                &record(now, 300, &[("@a:hs", 70), ("@b:hs", 230)]),
                now,
                KEEP,
                THIN,
            )
            .unwrap();
    }
    let store = HistoryStore::open_existing(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs.iter().map(|r| r.complete).collect::<Vec<_>>(),
        [true, false, true]
    );
    // Trends see complete runs only.
    assert_eq!(
        store.server_points(0).unwrap(),
        vec![
            Point {
                at_ms: now - 2 * DAY,
                bytes: 100
            },
            Point {
                at_ms: now,
                bytes: 300
            }
        ]
    );
    assert_eq!(
        store.user_points("@a:hs", 0).unwrap(),
        vec![
            Point {
                at_ms: now - 2 * DAY,
                bytes: 60
            },
            Point {
                at_ms: now,
                bytes: 70
            }
        ]
    );
    assert!(store.user_points("@nobody:hs", 0).unwrap().is_empty());
    let last = store.complete_run_at_or_before(now).unwrap().unwrap();
    assert_eq!((last.bytes, last.floor_bytes), (300, 10));
    let mut users = store.users_at(last.id).unwrap();
    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(users.len(), 2);
    assert_eq!((users[1].user_id.as_str(), users[1].bytes), ("@b:hs", 230));
    assert_eq!(
        store.rules_at(last.id).unwrap(),
        vec![RuleCount {
            rule: "quota".into(),
            warning: 1,
            critical: 2
        }]
    );
    assert_eq!(
        store
            .complete_run_at_or_before(now - DAY)
            .unwrap()
            .unwrap()
            .bytes,
        100
    );
    assert_eq!(
        store.complete_run_at_or_before(now - 3 * DAY).unwrap(),
        None
    );
}

#[test]
fn an_old_schema_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    {
        // A file as the first release wrote it: schema version 1.
        let conn = Connection::open(&path).unwrap();
        let mut old = HistoryStore {
            conn,
            path: path.clone(),
        };
        old.migrate_to(1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        old.write(
            &record(5 * DAY, 42, &[("@old:hs", 42)]),
            5 * DAY,
            KEEP,
            THIN,
        )
        .unwrap();
    }
    let store = HistoryStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    let index: i64 = store
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'user_totals_by_user'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    assert_eq!(store.user_points("@old:hs", 0).unwrap()[0].bytes, 42);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = HistoryStore::open(&path).unwrap_err();
    assert!(
        matches!(err, HistoryError::TooNew { found: 99, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer than this warden's 2"),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
    assert!(matches!(
        HistoryStore::open_existing(&dir.path().join("none")),
        Err(HistoryError::Missing(_))
    ));
}

#[test]
fn thinning_in_the_file_keeps_one_run_a_day_and_forgets_unused_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let mut store = HistoryStore::open(&path).unwrap();
    let now = 500 * DAY;
    // Four runs a day over 60 days, each with a user of its own day.
    let mut deleted = 0;
    for day in 0..60u64 {
        for q in 0..4u64 {
            let t = now - (60 - day) * DAY + q * 6 * 3_600_000;
            let who = format!("@day{day}q{q}:hs");
            deleted += store
                .write(&record(t, day * 10 + q, &[(&who, 1)]), t, KEEP, THIN)
                .unwrap();
        }
    }
    // As time passes, the days older than 30 are thinned to their last run.
    deleted += store.thin(now, KEEP, THIN).unwrap();
    let runs = store.runs().unwrap();
    let old: Vec<&StoredRun> = runs
        .iter()
        .filter(|r| r.started_ms < now - 30 * DAY)
        .collect();
    assert_eq!(old.len(), 30);
    assert!(old.iter().all(|r| r.bytes % 10 == 3), "the day's last run");
    assert_eq!(runs.len(), 30 + 30 * 4);
    assert_eq!(deleted, 90);
    let users: i64 = store
        .conn
        .query_row("SELECT count(*) FROM user_ids", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 150, "users of deleted runs are forgotten");
    // Retention: a year later nothing is left of those.
    store.thin(now + 500 * DAY, KEEP, THIN).unwrap();
    assert!(store.runs().unwrap().is_empty());
}

#[tokio::test]
async fn a_locked_file_is_an_error_and_the_next_write_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let history = History::new(path.clone());
    history
        .with(|s| s.write(&record(DAY, 1, &[]), DAY, KEEP, THIN))
        .await
        .unwrap();
    // Another process holds the write lock.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let err = history
        .with(|s| s.write(&record(2 * DAY, 2, &[]), 2 * DAY, KEEP, THIN))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    blocker.execute_batch("ROLLBACK;").unwrap();
    history
        .with(|s| s.write(&record(3 * DAY, 3, &[]), 3 * DAY, KEEP, THIN))
        .await
        .unwrap();
    let runs = history.with(|s| s.runs()).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.bytes).collect::<Vec<_>>(), [1, 3]);
}
