//! `check`'s report of a run's [`Outcome`]: a table for people (a
//! [`Doc`] of the document model, rendered for the terminal) and JSON for
//! scripts. Pure.
//!
//! # Text
//!
//! One line per violation, in the engine's order, sizes in the units the
//! rule was written in, then a summary and notes (wording in
//! [`crate::core::strings::check`]):
//!
//! ```text
//! SEVERITY  RULE          SUBJECT                     MEASURE      OBSERVED     LIMIT   SHARE  WINDOW  NOTE
//! critical  media-quota   @alice:warden.test (Alice)  media size    5.0 GiB   5.0 GiB  100.1%  -
//! critical  upload-burst  @bob:warden.test            media count        12        10  120.0%  1d
//! warning   media-quota   @bob:warden.test            media size    4.2 GiB   5.0 GiB   83.8%  -       early warning
//! warning   huge-rooms    room !abc:warden.test       room size    12.0 GiB  10.0 GiB  120.0%  -
//!
//! 4 violations: 2 critical, 2 warning (1 early warning among them).
//! Checked 120 users with media, 7 users with uploads in the last 1d, 10 rooms against 3 rules at 2023-11-14 22:13 UTC.
//! note: a note
//! ```
//!
//! Shares are rounded away from the limit: over the limit they are rounded
//! up, so a value one byte over never reads `100.0%`; within it, down.
//!
//! # JSON
//!
//! A stable schema; values are exact (bytes, counts, seconds):
//!
//! ```json
//! {
//!   "violations": [
//!     {"rule": "media-quota", "description": null, "severity": "critical",
//!      "early_warning": false,
//!      "subject": {"kind": "user", "id": "@alice:hs", "displayname": "Alice"},
//!      "measure": "media_length", "observed": 6442450944, "limit": 5368709120,
//!      "percent": 120.0, "window_secs": null}
//!   ],
//!   "summary": {
//!     "checked_at_ms": 1700000000000, "rules": 2,
//!     "violations": 1, "critical": 1, "warning": 0, "early_warnings": 0,
//!     "walks": [{"window_secs": null, "from_ts": null, "users": 120, "bytes": 9876543210}],
//!     "rooms": {"status": "checked", "rooms": 10},
//!     "notes": []
//!   }
//! }
//! ```
//!
//! `subject.kind` is `user` or `room` (rooms have no `displayname`),
//! `measure` is `media_length`, `media_count` or `room_size`, `percent` is
//! rounded to two decimals as above, `rooms.status` is `not_needed`,
//! `checked` (with `rooms`) or `unavailable` (with `reason`).

use serde::Serialize;

use super::doc::format::share_value;
use super::doc::{Block, Doc, Line};
use super::eval::{Outcome, RoomsChecked};
use super::strings::check as s;
use super::violation::{Measure, Severity, Subject, Violation};

/// The report as a document: the table, a blank line, the summary and the
/// notes.
pub fn doc(outcome: &Outcome) -> Doc {
    let mut doc = Doc::new();
    if !outcome.violations.is_empty() {
        doc.push(Block::Table(s::table(&outcome.violations)));
        doc.push(Block::Paragraph(Line::new()));
    }
    let critical = count(outcome, |v| v.severity == Severity::Critical);
    let early = count(outcome, |v| v.early_warning);
    doc.push(Block::Paragraph(s::summary(
        outcome.violations.len(),
        critical,
        early,
    )));
    let rooms = match &outcome.rooms {
        RoomsChecked::Checked { rooms } => Some(*rooms),
        _ => None,
    };
    doc.push(Block::Paragraph(s::checked(
        &outcome.walks,
        rooms,
        outcome.rules,
        outcome.now_ms,
    )));
    for note in &outcome.notes {
        doc.push(Block::Paragraph(s::cli_note(note)));
    }
    doc
}

/// The table, summary and notes for a terminal (`bold`: with ANSI bold),
/// ending with a newline.
pub fn text(outcome: &Outcome, bold: bool) -> String {
    let mut out = doc(outcome).terminal(bold);
    out.push('\n');
    out
}

fn count(outcome: &Outcome, f: impl Fn(&Violation) -> bool) -> usize {
    outcome.violations.iter().filter(|v| f(v)).count()
}

#[derive(Serialize)]
struct JsonReport<'a> {
    violations: Vec<JsonViolation<'a>>,
    summary: JsonSummary<'a>,
}

#[derive(Serialize)]
struct JsonViolation<'a> {
    rule: &'a str,
    description: Option<&'a str>,
    severity: Severity,
    early_warning: bool,
    subject: JsonSubject<'a>,
    measure: Measure,
    observed: u64,
    limit: u64,
    percent: f64,
    window_secs: Option<u64>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum JsonSubject<'a> {
    User {
        id: &'a str,
        displayname: Option<&'a str>,
    },
    Room {
        id: &'a str,
    },
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    checked_at_ms: u64,
    rules: usize,
    violations: usize,
    critical: usize,
    warning: usize,
    early_warnings: usize,
    walks: Vec<JsonWalk>,
    rooms: &'a RoomsChecked,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonWalk {
    window_secs: Option<u64>,
    from_ts: Option<u64>,
    users: u64,
    bytes: u64,
}

/// The JSON document (pretty-printed, ending with a newline).
pub fn json(outcome: &Outcome) -> String {
    let violations = outcome
        .violations
        .iter()
        .map(|v| JsonViolation {
            rule: &v.rule,
            description: v.description.as_deref(),
            severity: v.severity,
            early_warning: v.early_warning,
            subject: match &v.subject {
                Subject::User {
                    user_id,
                    displayname,
                } => JsonSubject::User {
                    id: user_id,
                    displayname: displayname.as_deref(),
                },
                Subject::Room { room_id } => JsonSubject::Room { id: room_id },
            },
            measure: v.measure,
            observed: v.observed,
            limit: v.limit,
            percent: share_value(v.observed, v.limit, 2).unwrap_or(0.0),
            window_secs: v.window.map(|d| d.as_secs()),
        })
        .collect();
    let critical = count(outcome, |v| v.severity == Severity::Critical);
    let report = JsonReport {
        violations,
        summary: JsonSummary {
            checked_at_ms: outcome.now_ms,
            rules: outcome.rules,
            violations: outcome.violations.len(),
            critical,
            warning: outcome.violations.len() - critical,
            early_warnings: count(outcome, |v| v.early_warning),
            walks: outcome
                .walks
                .iter()
                .map(|w| JsonWalk {
                    window_secs: w.window.map(|d| d.as_secs()),
                    from_ts: w.range.from_ms,
                    users: w.users,
                    bytes: w.bytes,
                })
                .collect(),
            rooms: &outcome.rooms,
            notes: &outcome.notes,
        },
    };
    let mut text =
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Units;
    use crate::core::eval::WalkReport;
    use crate::core::model::TimeRange;
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn outcome() -> Outcome {
        let v =
            |rule: &str, severity, subject, measure, observed, limit, window, early| Violation {
                rule: String::from(rule),
                description: Some(format!("{rule} description")),
                severity,
                subject,
                measure,
                observed,
                limit,
                window,
                early_warning: early,
                units: Units::Binary,
            };
        let alice = Subject::User {
            user_id: "@alice:warden.test".into(),
            displayname: Some("Alice".into()),
        };
        let bob = Subject::User {
            user_id: "@bob:warden.test".into(),
            displayname: None,
        };
        Outcome {
            now_ms: NOW,
            violations: vec![
                v(
                    "media-quota",
                    Severity::Critical,
                    alice.clone(),
                    Measure::MediaLength,
                    (5 << 30) + 1,
                    5 << 30,
                    None,
                    false,
                ),
                v(
                    "upload-burst",
                    Severity::Critical,
                    bob.clone(),
                    Measure::MediaCount,
                    12,
                    10,
                    Some(Duration::from_secs(86_400)),
                    false,
                ),
                v(
                    "media-quota",
                    Severity::Warning,
                    bob,
                    Measure::MediaLength,
                    4_500_000_000,
                    5 << 30,
                    None,
                    true,
                ),
                v(
                    "huge-rooms",
                    Severity::Warning,
                    Subject::Room {
                        room_id: "!abc:warden.test".into(),
                    },
                    Measure::RoomSize,
                    12 << 30,
                    10 << 30,
                    None,
                    false,
                ),
            ],
            walks: vec![
                WalkReport {
                    range: TimeRange::ALL,
                    window: None,
                    users: 120,
                    bytes: 9_876_543_210,
                    media: 4_321,
                    cut_short: None,
                },
                WalkReport {
                    range: TimeRange::last(Duration::from_secs(86_400), NOW),
                    window: Some(Duration::from_secs(86_400)),
                    users: 7,
                    bytes: 1_234_567,
                    media: 12,
                    cut_short: None,
                },
            ],
            rooms: RoomsChecked::Checked { rooms: 10 },
            rules: 3,
            notes: vec!["a note".into()],
            coverage: crate::core::coverage::Coverage::complete(),
        }
    }

    /// Golden test of the table. Regenerate with
    /// `UPDATE_GOLDEN=1 cargo test --lib report`.
    #[test]
    fn golden_text() {
        golden("report.txt", &text(&outcome(), false));
    }

    /// Golden test of the JSON document.
    #[test]
    fn golden_json() {
        let json_text = json(&outcome());
        golden("report.json", &json_text);
        let value: serde_json::Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(value["violations"][0]["observed"], (5u64 << 30) + 1);
        assert_eq!(value["violations"][0]["percent"], 100.01);
        assert_eq!(value["summary"]["early_warnings"], 1);
    }

    fn golden(name: &str, actual: &str) {
        let path = format!("{}/tests/golden/report/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}; regenerate with UPDATE_GOLDEN=1"));
        assert_eq!(
            actual, expected,
            "{name} changed; if on purpose, regenerate with UPDATE_GOLDEN=1"
        );
    }

    #[test]
    fn a_clean_run() {
        let mut clean = outcome();
        clean.violations.clear();
        clean.notes.clear();
        clean.rooms = RoomsChecked::Unavailable {
            reason: crate::core::coverage::RoomsUnavailable::Sqlite,
        };
        assert_eq!(
            text(&clean, false),
            "No violations.\nChecked 120 users with media, 7 users with uploads in the last 1d \
             against 3 rules at 2023-11-14 22:13 UTC.\n"
        );
        let value: serde_json::Value = serde_json::from_str(&json(&clean)).unwrap();
        assert_eq!(value["violations"], serde_json::json!([]));
        assert_eq!(
            value["summary"]["rooms"],
            serde_json::json!({"status": "unavailable", "reason": "this Synapse uses SQLite, and Synapse estimates room sizes only on PostgreSQL"})
        );
    }
}
