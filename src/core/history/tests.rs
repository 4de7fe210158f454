use super::*;
use crate::core::doc::Units;
use crate::core::engine::eval::{RoomsChecked, WalkReport};
use crate::core::model::coverage::{Coverage, CutCause, CutShort};
use crate::core::model::usage::TimeRange;
use crate::core::model::violation::Violation;
use crate::core::model::violation::fixture;
use proptest::prelude::*;

fn user(id: &str, bytes: u64, media: u64) -> UserMedia {
    UserMedia {
        user_id: id.into(),
        displayname: None,
        media_count: media,
        media_length: Some(bytes),
    }
}

fn walk(window: Option<Duration>, users: u64, bytes: u64, cut: bool) -> WalkReport {
    WalkReport {
        source: Default::default(),
        range: TimeRange::ALL,
        window,
        users,
        bytes,
        media: users,
        cut_short: cut.then_some(CutShort {
            cause: CutCause::TokenStuck,
            seen: users,
            total: users + 10,
        }),
    }
}

fn violation(rule: &str, id: &str, severity: Severity) -> Violation {
    Violation {
        severity,
        observed: 10,
        limit: 5,
        ..fixture::violation(rule, fixture::user(id))
    }
}

fn outcome(walks: Vec<WalkReport>, violations: Vec<Violation>) -> RunOutcome {
    RunOutcome {
        now_ms: 1_000,
        violations,
        walks,
        rooms: RoomsChecked::NotNeeded,
        rules: 1,
        notes: Vec::new(),
        coverage: Coverage::complete(),
    }
}

#[test]
fn a_run_records_totals_rule_counts_violators_and_the_largest() {
    let mut c = Collector::new();
    let users: Vec<UserMedia> = (0..(TOP_USERS as u64 + 5))
        .map(|i| user(&format!("@u{i:05}:hs"), 1_000 + i, 1))
        .collect();
    c.record(None, &users[..500]);
    c.record(None, &users[500..]);
    // A windowed walk does not count.
    c.record(
        Some(Duration::from_secs(3600)),
        &[user("@w:hs", 1 << 40, 1)],
    );
    let record = c
        .finish(&outcome(
            vec![
                walk(None, users.len() as u64, 123_456, false),
                walk(Some(Duration::from_secs(3600)), 1, 1 << 40, false),
            ],
            vec![
                // The smallest user is a violator: recorded too.
                violation("burst", "@u00000:hs", Severity::Warning),
                violation("burst", "@u00001:hs", Severity::Critical),
                violation("quota", "@u01004:hs", Severity::Critical),
            ],
        ))
        .unwrap();
    assert!(record.is_complete());
    assert_eq!(record.started_ms, 1_000);
    assert_eq!(record.users, users.len() as u64);
    assert_eq!(record.bytes, 123_456);
    assert_eq!(
        record.rules,
        vec![
            RuleCount {
                rule: "burst".into(),
                warning: 1,
                critical: 1
            },
            RuleCount {
                rule: "quota".into(),
                warning: 0,
                critical: 1
            },
        ]
    );
    // The 1000 largest (1005..=2004 bytes), plus the two small violators.
    assert_eq!(record.users_recorded.len(), TOP_USERS + 2);
    assert_eq!(record.floor_bytes, 1_005);
    let ids: Vec<&str> = record
        .users_recorded
        .iter()
        .map(|u| u.user_id.as_str())
        .collect();
    assert!(ids.contains(&"@u00000:hs") && ids.contains(&"@u00001:hs"));
    assert!(!ids.contains(&"@u00002:hs") && !ids.contains(&"@w:hs"));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by ID");
}

#[test]
fn a_cut_walk_is_partial_and_no_walk_of_all_media_is_no_record() {
    let mut c = Collector::new();
    c.record(None, &[user("@a:hs", 5, 1)]);
    let record = c
        .finish(&outcome(vec![walk(None, 1, 5, true)], Vec::new()))
        .unwrap();
    assert!(!record.is_complete());
    assert!(
        record.partial.as_deref().unwrap().contains("next_token"),
        "{:?}",
        record.partial
    );
    assert_eq!(record.floor_bytes, 0, "every user was recorded");

    let windowed = Collector::new().finish(&outcome(
        vec![walk(Some(Duration::from_secs(60)), 1, 5, false)],
        Vec::new(),
    ));
    assert_eq!(windowed, None);
}

proptest! {
    #[test]
    fn the_largest_are_kept_and_the_floor_bounds_the_rest(
        sizes in proptest::collection::vec(0u64..10_000, 0..300),
        n in 0usize..50,
    ) {
        let all: HashMap<String, (u64, u64)> = sizes
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("@{i}:hs"), (*b, 1)))
            .collect();
        let (top, floor) = top_by_bytes(&all, n);
        prop_assert_eq!(top.len(), n.min(all.len()));
        let kept: std::collections::HashSet<&str> = top.iter().map(|t| t.0).collect();
        for (id, (bytes, _)) in &all {
            if !kept.contains(id.as_str()) {
                prop_assert!(*bytes <= floor);
                prop_assert!(top.iter().all(|t| t.1.0 >= *bytes));
            }
        }
        if all.len() <= n {
            prop_assert_eq!(floor, 0);
        }
    }
}

#[test]
fn the_history_section_is_validated_with_positions() {
    use crate::core::policy::parse;
    let base = "synapse:\n  url: http://127.0.0.1:8008\n  token: {env: TOKEN}\n\
                matrix:\n  homeserver: http://127.0.0.1:8008\n  user: \"@w:hs\"\n  password: {env: P}\n  room: \"!r:hs\"\n  data_dir: /var/lib/w\n  store_passphrase: {env: S}\n\
                rules:\n  user_media:\n    - name: quota\n      max_media_length: 1 GiB\n";
    let config = parse("p.yaml", base).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.history,
        crate::core::policy::history::HistorySettings::default()
    );
    assert_eq!(
        config.history_file(),
        Some(std::path::PathBuf::from("/var/lib/w/history.sqlite3"))
    );
    let set = format!(
        "{base}history:\n  file: /tmp/h.sqlite3\n  keep: 90d\n  thin_after: 7d\n  capacity: 2 TB\n"
    );
    let config = parse("p.yaml", &set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.history.keep, Duration::from_secs(90 * 86_400));
    assert_eq!(config.history.thin_after, Duration::from_secs(7 * 86_400));
    assert_eq!(
        config.history.capacity,
        Some((2_000_000_000_000, Units::Decimal))
    );
    assert_eq!(
        config.history_file(),
        Some(std::path::PathBuf::from("/tmp/h.sqlite3"))
    );
    let off = format!("{base}history:\n  enabled: false\n");
    assert_eq!(parse("p.yaml", &off).unwrap().history_file(), None);

    let bad =
        format!("{base}history:\n  keep: 1h\n  thin_after: soon\n  capacity: 0 B\n  kept: 3d\n");
    let errs: Vec<String> = parse("p.yaml", &bad)
        .unwrap_err()
        .diagnostics()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let has = |start: &str, words: &str| {
        errs.iter()
            .any(|e| e.starts_with(start) && e.contains(words))
    };
    assert!(has("p.yaml:16:9: history.keep", "at least 1d"), "{errs:#?}");
    assert!(has("p.yaml:17:15: history.thin_after", "soon"), "{errs:#?}");
    assert!(
        has("p.yaml:18:13: history.capacity", "more than 0"),
        "{errs:#?}"
    );
    assert!(has("p.yaml:19:3: history.kept", "unknown key"), "{errs:#?}");
}
