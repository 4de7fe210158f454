//! `check`'s report of a run's [`RunOutcome`]: a table for people (a
//! [`Doc`] of the document model, rendered for the terminal) and JSON for
//! scripts. Pure.
//!
//! # Text
//!
//! One line per violation, in the engine's order, sizes in the units the
//! rule was written in, then a summary and notes (wording in
//! [`crate::core::text::check`]):
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
//!     "walks": [{"window_secs": null, "from_ts": null, "users": 120, "bytes": 9876543210,
//!                "source": "module", "module_error": null}],
//!     "rooms": {"status": "checked", "rooms": 10},
//!     "notes": []
//!   }
//! }
//! ```
//!
//! `subject.kind` is `user` or `room` (rooms have no `displayname`),
//! `measure` is `media_length`, `media_count` or `room_size`, `percent` is
//! rounded to two decimals as above, `rooms.status` is `not_needed`,
//! `checked` (with `rooms`) or `unavailable` (with `reason`). A walk's
//! `source` is `admin_api` (no module secret), `module` (the warden's
//! Synapse module, keyset pages) or `fallback` (the module failed, said in
//! `module_error`, and the admin API was read instead).

use serde::Serialize;

use crate::core::doc::format::share_value;
use crate::core::doc::{Block, Doc, Line, StreamedTable};
use crate::core::engine::eval::{RoomsChecked, RunOutcome};
use crate::core::model::violation::{Measure, Severity, Subject, Violation};
use crate::core::text::check as s;

/// The report as a document: the table, a blank line, the summary and the
/// notes.
pub fn doc(outcome: &RunOutcome) -> Doc {
    let mut doc = Doc::new();
    if !outcome.violations.is_empty() {
        doc.push(Block::Table(s::table(&outcome.violations)));
    }
    for block in tail(outcome).blocks() {
        doc.push(block.clone());
    }
    doc
}

/// What follows the table: a blank line after it, the summary and the
/// notes.
fn tail(outcome: &RunOutcome) -> Doc {
    let mut doc = Doc::new();
    if !outcome.violations.is_empty() {
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
        RoomsChecked::Checked { rooms, .. } => Some(*rooms),
        _ => None,
    };
    doc.push(Block::Paragraph(s::checked(
        &outcome.walks,
        rooms,
        outcome.rules,
        outcome.now_ms,
    )));
    if !outcome.walks.is_empty() {
        doc.push(Block::Paragraph(s::users_source(&outcome.users_source())));
    }
    for note in &outcome.notes {
        doc.push(Block::Paragraph(s::cli_note(note)));
    }
    doc
}

/// The table, summary and notes for a terminal (`bold`: with ANSI bold),
/// ending with a newline.
pub fn text(outcome: &RunOutcome, bold: bool) -> String {
    text_chunks(outcome, bold).collect()
}

/// [`text`] in pieces, for `check` to write as they come: each line of the
/// table (with its newline), then the rest. Only one row is rendered at a
/// time (the table is made twice, see [`StreamedTable`]): the report of
/// tens of thousands of violations is never held whole.
pub fn text_chunks(outcome: &RunOutcome, bold: bool) -> impl Iterator<Item = String> + '_ {
    let table = (!outcome.violations.is_empty()).then(|| {
        StreamedTable::new(s::TABLE_COLUMNS, || {
            outcome.violations.iter().map(s::table_row)
        })
    });
    let rest = std::iter::once_with(move || {
        let mut rest = tail(outcome).terminal(bold);
        rest.push('\n');
        rest
    });
    table
        .into_iter()
        .flat_map(StreamedTable::text_lines)
        .map(|mut line| {
            line.push('\n');
            line
        })
        .chain(rest)
}

fn count(outcome: &RunOutcome, f: impl Fn(&Violation) -> bool) -> usize {
    outcome.violations.iter().filter(|v| f(v)).count()
}

#[derive(Serialize)]
struct JsonReport<'a> {
    violations: JsonViolations<'a>,
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
    source: &'static str,
    module_error: Option<String>,
}

/// The violations, serialized one at a time as the writer takes them.
struct JsonViolations<'a>(&'a [Violation]);

impl Serialize for JsonViolations<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(json_violation))
    }
}

fn json_violation(v: &Violation) -> JsonViolation<'_> {
    JsonViolation {
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
    }
}

/// The JSON document, to be written by serde_json's pretty printer
/// (`check` streams it to standard output, then a newline): the violations
/// are turned into JSON one at a time, never all held at once.
pub fn json_document(outcome: &RunOutcome) -> impl Serialize + '_ {
    let critical = count(outcome, |v| v.severity == Severity::Critical);
    JsonReport {
        violations: JsonViolations(&outcome.violations),
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
                    source: w.source.label(),
                    module_error: w
                        .source
                        .module_error()
                        .map(crate::core::text::daemon::module_walk_reason),
                })
                .collect(),
            rooms: &outcome.rooms,
            notes: &outcome.notes,
        },
    }
}

/// The JSON document (pretty-printed, ending with a newline).
pub fn json(outcome: &RunOutcome) -> String {
    let mut text = serde_json::to_string_pretty(&json_document(outcome))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Units;
    use crate::core::engine::eval::WalkReport;
    use crate::core::model::usage::TimeRange;
    use crate::core::model::violation::fixture::violation;
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn outcome() -> RunOutcome {
        let v =
            |rule: &str, severity, subject, measure, observed, limit, window, early| Violation {
                description: Some(format!("{rule} description").into()),
                severity,
                measure,
                observed,
                limit,
                window,
                early_warning: early,
                ..violation(rule, subject)
            };
        let alice = Subject::User {
            user_id: "@alice:warden.test".into(),
            displayname: Some("Alice".into()),
        };
        let bob = Subject::User {
            user_id: "@bob:warden.test".into(),
            displayname: None,
        };
        RunOutcome {
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
                    source: crate::core::model::users_source::UsersSource::Module,
                    range: TimeRange::ALL,
                    window: None,
                    users: 120,
                    bytes: 9_876_543_210,
                    media: 4_321,
                    cut_short: None,
                },
                WalkReport {
                    source: Default::default(),
                    range: TimeRange::last(Duration::from_secs(86_400), NOW),
                    window: Some(Duration::from_secs(86_400)),
                    users: 7,
                    bytes: 1_234_567,
                    media: 12,
                    cut_short: None,
                },
            ],
            rooms: RoomsChecked::Checked {
                rooms: 10,
                source: crate::core::model::rooms::RoomSource::SynapseEstimate,
                sizes_unavailable: None,
            },
            rules: 3,
            notes: vec!["a note".into()],
            coverage: crate::core::model::coverage::Coverage::complete(),
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

    /// `n` violations of every kind, deterministic: users and rooms, bytes
    /// and counts, both unit families, windows, early warnings, and hostile
    /// or wide display names that change the columns' widths.
    fn many(n: u64) -> RunOutcome {
        let names = [
            None,
            Some("Alice"),
            Some("Zoë 日本語の名前"),
            Some("\u{202e}evil\nname @room"),
            Some(""),
            Some("a very long display name that goes on and on and on"),
        ];
        let violations = (0..n)
            .map(|i| {
                let room = i % 11 == 0;
                let measure = if room {
                    Measure::RoomSize
                } else if i % 3 == 0 {
                    Measure::MediaCount
                } else {
                    Measure::MediaLength
                };
                let limit = if measure.is_bytes() {
                    (i % 7 + 1) * 1_000_003_000
                } else {
                    10 + i % 90
                };
                let early = i % 5 == 0;
                let observed = if early {
                    limit - limit / 10
                } else {
                    limit + i * 7919
                };
                Violation {
                    rule: ["media-quota", "many-files", "upload-burst", "huge-rooms"]
                        [(i % 4) as usize]
                        .into(),
                    description: (i % 2 == 0).then(|| format!("description {}", i % 3).into()),
                    severity: if early || i % 4 == 1 {
                        Severity::Warning
                    } else {
                        Severity::Critical
                    },
                    subject: if room {
                        Subject::Room {
                            room_id: format!("!room{i}:warden.test"),
                        }
                    } else {
                        Subject::User {
                            user_id: format!("@user{i:06}:warden.test"),
                            displayname: names[(i % 6) as usize].map(str::to_owned),
                        }
                    },
                    measure,
                    observed,
                    limit,
                    window: (i % 4 == 2).then(|| Duration::from_secs(3600 * (1 + i % 48))),
                    early_warning: early,
                    units: if i % 2 == 0 {
                        Units::Binary
                    } else {
                        Units::Decimal
                    },
                }
            })
            .collect();
        RunOutcome {
            violations,
            ..outcome()
        }
    }

    /// `check` writes what the report was before it was streamed, byte for
    /// byte: 150 violations of every kind against files the collected
    /// report wrote (regenerate with `UPDATE_GOLDEN=1` only on purpose).
    #[test]
    fn golden_many() {
        golden("many.txt", &text(&many(150), false));
        golden("many.json", &json(&many(150)));
    }

    /// The streamed text is the collected document's, byte for byte, with
    /// tens of thousands of violations; and the JSON written to a writer as
    /// it is serialized is the JSON of the whole.
    #[test]
    fn streamed_equals_collected() {
        let big = many(20_000);
        let mut collected = doc(&big).terminal(false);
        collected.push('\n');
        let streamed: Vec<String> = text_chunks(&big, false).collect();
        assert_eq!(
            streamed.len(),
            20_000 + 2,
            "one chunk per table line, then the rest"
        );
        assert_eq!(streamed.concat(), collected);
        let mut written = Vec::new();
        serde_json::to_writer_pretty(&mut written, &json_document(&big)).unwrap();
        written.push(b'\n');
        let written = String::from_utf8(written).unwrap();
        assert_eq!(written, json(&big));
        let value: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["violations"].as_array().unwrap().len(), 20_000);
        assert_eq!(
            value["violations"][19_999]["subject"]["id"],
            "@user019999:warden.test"
        );
        assert_eq!(value["summary"]["violations"], 20_000);
    }

    #[test]
    fn a_clean_run() {
        let mut clean = outcome();
        clean.violations.clear();
        clean.notes.clear();
        clean.rooms = RoomsChecked::Unavailable {
            reason: crate::core::model::rooms::SizesUnavailable {
                synapse: crate::core::model::coverage::RoomsUnavailable::Sqlite,
                module: Some(crate::core::model::rooms::ModuleUnavailable::NotInstalled),
            },
        };
        assert_eq!(
            text(&clean, false),
            "No violations.\nChecked 120 users with media, 7 users with uploads in the last 1d \
             against 3 rules at 2023-11-14 22:13 UTC.\nUsers' media read through the warden's \
             Synapse module (keyset pages).\n"
        );
        let value: serde_json::Value = serde_json::from_str(&json(&clean)).unwrap();
        assert_eq!(value["violations"], serde_json::json!([]));
        assert_eq!(
            value["summary"]["rooms"],
            serde_json::json!({"status": "unavailable", "reason": "this Synapse uses SQLite, and \
                Synapse estimates room sizes only on PostgreSQL; the warden's Synapse module, \
                which measures rooms on every Synapse, does not answer (not installed, or older \
                than its rooms endpoint)"})
        );
    }
}
