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

/// A file as an earlier release wrote it: schema version `version`, with
/// `@both:hs` in two runs, `@one:hs` in one, and a user ID no run refers to.
fn old_file(path: &Path, version: usize) {
    let conn = Connection::open(path).unwrap();
    let mut old = HistoryStore {
        conn,
        path: path.to_owned(),
    };
    old.migrate_to(version).unwrap();
    assert_eq!(old.schema_version().unwrap(), version as i64);
    // As those releases wrote a run (the columns they had).
    for (run, at, users) in [
        (1, 5 * DAY, &[("@both:hs", 40), ("@one:hs", 7)][..]),
        (2, 6 * DAY, &[("@both:hs", 42)][..]),
    ] {
        old.conn
            .execute(
                "INSERT INTO runs (id, started_ms, complete, users, bytes, media, floor_bytes)
                 VALUES (?1, ?2, 1, 2, 49, 2, 0)",
                params![run, at as i64],
            )
            .unwrap();
        for (who, bytes) in users {
            old.conn
                .execute(
                    "INSERT OR IGNORE INTO user_ids (user_id) VALUES (?1)",
                    [who],
                )
                .unwrap();
            old.conn
                .execute(
                    "INSERT INTO user_totals (run_id, user, bytes, media)
                     SELECT ?1, id, ?2, 1 FROM user_ids WHERE user_id = ?3",
                    params![run, bytes, who],
                )
                .unwrap();
        }
    }
    old.conn
        .execute("INSERT INTO user_ids (user_id) VALUES ('@orphan:hs')", [])
        .unwrap();
}

/// Each user ID's count of runs, by user ID, and whether every count is
/// the number of rows that refer to it (and every row's user exists).
fn user_counts(store: &HistoryStore) -> (Vec<(String, i64)>, bool) {
    let mut q = store
        .conn
        .prepare("SELECT user_id, runs FROM user_ids ORDER BY user_id")
        .unwrap();
    let counts = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let consistent: bool = store
        .conn
        .query_row(
            "SELECT NOT EXISTS (
                 SELECT 1 FROM user_ids
                 WHERE runs != (SELECT count(*) FROM user_totals WHERE user = user_ids.id)
                    OR runs <= 0)
             AND NOT EXISTS (
                 SELECT 1 FROM user_totals
                 WHERE NOT EXISTS (SELECT 1 FROM user_ids WHERE id = user_totals.user))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (counts, consistent)
}

#[test]
fn an_old_schema_is_migrated_with_its_data() {
    for version in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        old_file(&path, version);
        let mut store = HistoryStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3, "from version {version}");
        let index: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'user_totals_by_user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0, "from version {version}");
        assert_eq!(
            user_counts(&store),
            (vec![("@both:hs".into(), 2), ("@one:hs".into(), 1)], true),
            "from version {version}: counted, and the orphan forgotten"
        );
        let points: Vec<u64> = store
            .user_points("@both:hs", 0)
            .unwrap()
            .iter()
            .map(|p| p.bytes)
            .collect();
        assert_eq!(points, [40, 42], "from version {version}");
        // The migrated file goes on: a new run, then the first run aged out.
        store
            .write(
                &record(7 * DAY, 1, &[("@both:hs", 45)]),
                7 * DAY,
                KEEP,
                THIN,
            )
            .unwrap();
        store
            .thin(5 * DAY + KEEP.as_millis() as u64 + 1, KEEP, THIN)
            .unwrap();
        assert_eq!(
            user_counts(&store),
            (vec![("@both:hs".into(), 2)], true),
            "from version {version}"
        );
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever runs are written and thinned, every user ID counts exactly
    /// the runs that still record it, and none is kept that no run records.
    #[test]
    fn user_counts_follow_the_rows_through_writes_and_thinning(
        runs in proptest::collection::vec(
            (1u64..30 * 24, proptest::collection::btree_set(0u8..6, 0..4), proptest::bool::ANY),
            1..40,
        ),
        keep_days in 1u64..20,
        thin_days in 0u64..10,
        later in 0u64..30 * 24,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = HistoryStore::open(&dir.path().join("h.sqlite3")).unwrap();
        let (keep, thin_after) = (
            Duration::from_secs(keep_days * 86_400),
            Duration::from_secs(thin_days * 86_400),
        );
        let mut at = 100 * DAY;
        for (hours, users, partial) in &runs {
            at += hours * 3_600_000;
            let names: Vec<String> = users.iter().map(|u| format!("@u{u}:hs")).collect();
            let ids: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
            let mut r = record(at, 1, &ids);
            if *partial {
                r.partial = Some("cut short".into());
            }
            store.write(&r, at, keep, thin_after).unwrap();
            proptest::prop_assert!(user_counts(&store).1);
        }
        store.thin(at + later * 3_600_000, keep, thin_after).unwrap();
        let (counts, consistent) = user_counts(&store);
        proptest::prop_assert!(consistent);
        // Exactly the users of the runs that are left.
        let mut left = std::collections::BTreeSet::new();
        for run in store.runs().unwrap() {
            for u in store.users_at(run.id).unwrap() {
                left.insert(u.user_id);
            }
        }
        let known: std::collections::BTreeSet<String> = counts.into_iter().map(|c| c.0).collect();
        proptest::prop_assert_eq!(known, left);
    }
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
        err.to_string().contains("newer than this warden's 3"),
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

/// The history and its WAL files are `0600` from their creation, whatever
/// the umask lets through.
#[test]
fn the_history_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let now = 1000 * DAY;
    let mut store = HistoryStore::open(&path).unwrap();
    store
        .write(&record(now, 100, &[("@a:hs", 60)]), now, KEEP, THIN)
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = dir.path().join(format!("history.sqlite3{suffix}"));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
}
