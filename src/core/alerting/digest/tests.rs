use super::*;
use crate::core::alerting::lifecycle::Announced;
use crate::core::history::UserTotal;
use crate::core::model::violation::Violation;
use crate::core::model::violation::fixture::{self, user};

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
/// Monday 2026-11-23 00:00 UTC.
const MONDAY: u64 = 1_795_392_000_000;

fn weekly() -> CronSchedule {
    crate::core::policy::crontab::parse("0 9 * * 1").unwrap()
}

#[test]
fn monday_is_a_monday() {
    assert_eq!(crate::core::doc::format::date(MONDAY), "2026-11-23");
    assert_eq!(utc(MONDAY).format("%a").to_string(), "Mon");
}

#[test]
fn nothing_is_due_before_the_digest_starts_then_each_due_time_once() {
    let cron = weekly();
    // Configured on a Wednesday: last Monday's is not posted.
    assert_eq!(due(&cron, None, MONDAY + 2 * DAY), Due::Start);
    let settled = MONDAY + 2 * DAY;
    let next_monday = MONDAY + 7 * DAY + 9 * HOUR;
    assert_eq!(
        due(&cron, Some(settled), MONDAY + 3 * DAY),
        Due::Wait(next_monday)
    );
    assert_eq!(
        due(&cron, Some(settled), next_monday - 1),
        Due::Wait(next_monday)
    );
    assert_eq!(
        due(&cron, Some(settled), next_monday),
        Due::Now(next_monday)
    );
    // Down over the due time, back an hour later: posted then.
    assert_eq!(
        due(&cron, Some(settled), next_monday + HOUR),
        Due::Now(next_monday)
    );
    // Once queued (settled at its due time), not again until the next.
    assert_eq!(
        due(&cron, Some(next_monday), next_monday + HOUR),
        Due::Wait(next_monday + 7 * DAY)
    );
}

#[test]
fn three_missed_due_times_make_one_digest_for_the_latest() {
    let cron = weekly();
    let first = MONDAY + 9 * HOUR;
    assert_eq!(
        due(&cron, Some(first - DAY), first + 21 * DAY + MIN),
        Due::Now(first + 21 * DAY)
    );
}

fn violation(rule: &str, id: &str) -> Violation {
    Violation {
        observed: 10,
        limit: 5,
        ..fixture::violation(rule, user(id))
    }
}

fn plan(lines: &[(Change, &str, &str)]) -> AlertPlan {
    AlertPlan {
        lines: lines
            .iter()
            .map(|(change, rule, user)| Announced {
                change: *change,
                violation: violation(rule, user),
                since_ms: 0,
            })
            .collect(),
        ..AlertPlan::default()
    }
}

#[test]
fn opened_and_closed_are_counted_by_rule_only_once_started_and_reset_when_queued() {
    let mut state = DigestState::default();
    let p = plan(&[
        (Change::New, "quota", "@a:hs"),
        (Change::New, "quota", "@b:hs"),
        (Change::Reminder, "quota", "@c:hs"),
        (Change::Escalated, "burst", "@a:hs"),
        (Change::Resolved, "burst", "@d:hs"),
    ]);
    state.count(&p);
    assert!(
        state.tally.is_empty(),
        "no digest configured: nothing counted"
    );
    state.settled_ms = Some(MONDAY);
    state.count(&p);
    state.count(&plan(&[(Change::Resolved, "quota", "@a:hs")]));
    assert_eq!(
        state.tally,
        BTreeMap::from([
            (
                "burst".to_owned(),
                RuleTally {
                    opened: 0,
                    closed: 1
                }
            ),
            (
                "quota".to_owned(),
                RuleTally {
                    opened: 2,
                    closed: 1
                }
            ),
        ])
    );
    state.queued(MONDAY + 7 * DAY);
    assert_eq!(state.settled_ms, Some(MONDAY + 7 * DAY));
    assert!(state.tally.is_empty());
}

fn run(at: u64, users: &[(&str, u64)]) -> RunUsers {
    RunUsers {
        started_ms: at,
        floor_bytes: 0,
        users: users
            .iter()
            .map(|(id, bytes)| UserTotal {
                user_id: (*id).into(),
                bytes: *bytes,
                media: 1,
            })
            .collect(),
    }
}

#[test]
fn the_digest_covers_the_span_since_the_previous_one_with_the_forecast_and_growers() {
    let now = MONDAY + 7 * DAY + 9 * HOUR;
    let since = MONDAY + 9 * HOUR;
    let mut state = DigestState {
        settled_ms: Some(since),
        ..DigestState::default()
    };
    state.tally.insert(
        "quota".into(),
        RuleTally {
            opened: 3,
            closed: 1,
        },
    );
    state.tally.insert("idle".into(), RuleTally::default());
    // Daily runs for 40 days, 1 GB a day.
    let points: Vec<Point> = (0..40u64)
        .map(|d| Point {
            at_ms: now - (39 - d) * DAY,
            bytes: 100_000_000_000 + d * 1_000_000_000,
        })
        .collect();
    let history = DigestHistory {
        points,
        start: Some(run(since, &[("@a:hs", 10), ("@b:hs", 50)])),
        end: Some(run(now, &[("@a:hs", 40), ("@b:hs", 45), ("@c:hs", 20)])),
    };
    let d = digest(
        now,
        &state,
        history,
        4,
        Some(200_000_000_000),
        Units::Decimal,
        now,
    );
    assert_eq!(d.since_ms, since);
    assert_eq!(d.trend.window, Duration::from_millis(7 * DAY));
    let t = d.trend.trend.unwrap();
    assert_eq!(t.first.at_ms, since);
    assert_eq!(t.change(), 7_000_000_000);
    assert!((t.per_day - 1e9).abs() < 1.0, "{}", t.per_day);
    // 200 GB - 139 GB at 1 GB a day (the last 30 days): 61 days.
    match d.trend.forecast {
        Some((_, crate::core::history::trend::Forecast::InDays { days, .. })) => {
            assert!((days - 61.0).abs() < 1e-6, "{days}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.growth
            .users
            .iter()
            .map(|g| (g.user_id.as_str(), g.grew))
            .collect::<Vec<_>>(),
        [("@a:hs", 30), ("@c:hs", 20)]
    );
    assert_eq!(
        d.tally,
        vec![(
            "quota".to_owned(),
            RuleTally {
                opened: 3,
                closed: 1
            }
        )]
    );
    assert_eq!(
        d.totals(),
        RuleTally {
            opened: 3,
            closed: 1
        }
    );
    assert_eq!(d.open_now, 4);

    let text = crate::core::text::digest::digest(&d).message().plain;
    for expected in [
        "synapse-warden summary, 2026-11-23 09:00 UTC to 2026-11-30 09:00 UTC",
        "media store: 139.0 GB, +7.0 GB (+5.3%) since 2026-11-23 09:00 UTC",
        "growth: +1.0 GB a day",
        "crosses 200.0 GB (history.capacity) in 61 days",
        "violations: 3 opened, 1 closed, 4 open now",
        "quota: 3 opened, 1 closed",
        " 1. @a:hs — +30 B, 10 B → 40 B",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert!(!text.contains("idle"), "{text}");
}

#[test]
fn a_digest_without_history_says_so() {
    let state = DigestState {
        settled_ms: Some(MONDAY),
        ..DigestState::default()
    };
    let d = digest(
        MONDAY + 7 * DAY,
        &state,
        DigestHistory::default(),
        0,
        None,
        Units::Binary,
        MONDAY + 7 * DAY,
    );
    assert_eq!(d.trend.trend, None);
    let text = crate::core::text::digest::digest(&d).message().plain;
    assert!(
        text.contains("not enough history in this span (0 complete runs"),
        "{text}"
    );
    assert!(
        text.contains("violations: 0 opened, 0 closed, 0 open now"),
        "{text}"
    );
    assert!(
        text.contains("Top growers: not enough history yet"),
        "{text}"
    );
}

#[test]
fn the_digest_section_is_validated_with_positions() {
    use crate::core::policy::parse;
    let base = "synapse:\n  url: http://127.0.0.1:8008\n  token: {env: TOKEN}\n\
                rules:\n  user_media:\n    - name: quota\n      max_media_length: 1 GiB\n";
    let config = parse("p.yaml", base).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.digest.is_none());
    let set = format!("{base}digest:\n  cron: \"0 9 * * 1\"\n");
    let config = parse("p.yaml", &set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.digest.unwrap().cron.written, "0 9 * * 1");

    let errs = |text: &str| -> Vec<String> {
        parse("p.yaml", text)
            .unwrap_err()
            .diagnostics()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let bad = errs(&format!(
        "{base}digest:\n  cron: \"0 25 * * 1\"\n  crom: x\n"
    ));
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(bad[0].starts_with("p.yaml:9:9: digest.cron"), "{bad:#?}");
    assert!(bad[1].starts_with("p.yaml:10:3: digest.crom"), "{bad:#?}");
    assert!(bad[1].contains("unknown key"), "{bad:#?}");
    let missing = errs(&format!("{base}digest: {{}}\n"));
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert!(missing[0].starts_with("p.yaml:8:"), "{missing:#?}");
    assert!(missing[0].contains("cron"), "{missing:#?}");
}
