//! `silence`, `silences`, `unsilence`, acknowledgements by reaction, and
//! the lines silences add to summaries, `check` and `status`.

use std::time::Duration;

use crate::core::alerting::lifecycle::ExpiredSilence;
use crate::core::alerting::silences::{Matcher, RulePattern, Silence};
use crate::core::doc::{Block, DESCRIPTION_CAP, Doc, ERROR_CAP, ID_CAP, Line, TERM_CAP};
use crate::core::model::violation::Violation;

/// `media-quota @bob:hs` or `every rule @*:hs`.
fn matcher(m: &Matcher) -> Line {
    let rule = match &m.rule {
        RulePattern::Any => Line::new().text("every rule"),
        RulePattern::Named(name) => super::rule(name),
    };
    rule.text(" ").code(m.subject.as_str(), ID_CAP)
}

/// ` — moving to a new server`, when there is a reason.
fn reason(s: &Silence) -> Line {
    if s.reason.is_empty() {
        Line::new()
    } else {
        Line::new()
            .text(" — ")
            .outside(s.reason.as_str(), DESCRIPTION_CAP)
    }
}

/// `2026-12-14 08:00 UTC (in 14d)`.
fn ends(s: &Silence, now_ms: u64) -> Line {
    Line::new()
        .time(s.ends_ms)
        .text(" (in ")
        .age(Duration::from_millis(s.ends_ms.saturating_sub(now_ms)))
        .text(")")
}

fn matching(n: usize) -> Line {
    Line::new()
        .text("It matches ")
        .count(n as u64, "active violation", "active violations")
        .text(" now.")
}

/// `silence` done.
pub fn created(s: &Silence, matches: usize, now_ms: u64) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("🔕 Silence ")
            .strong(Line::new().number(s.id))
            .text(" set by ")
            .user(s.author.as_str(), None)
            .text(": ")
            .append(matcher(&s.matcher))
            .text(" until ")
            .append(ends(s, now_ms))
            .append(reason(s))
            .text("."),
    )
    .with(Block::Paragraph(matching(matches)))
}

/// A silence of every user or every room asked by a sender below the
/// power level to act: refused, saying what it takes.
pub fn everyone_not_allowed(needed: i64) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Refused: this silence matches every user or every room, as much as turning the rule off. It needs power level ")
            .number(u64::try_from(needed).unwrap_or(0))
            .text(" or more in this room (")
            .command(Line::new().text("matrix.action_power_level"))
            .text("); a silence of a user, a room or a server (")
            .code("@*:example.org", ID_CAP)
            .text(") needs only the power level to command. Nothing was silenced."),
    )
}

/// `silence` or `unsilence` refused, and why.
pub fn refused(error: &str) -> Doc {
    super::common::failure("Refused", error)
}

/// `silences`.
pub fn list(active: &[&Silence], now_ms: u64) -> Doc {
    if active.is_empty() {
        return Doc::paragraph(Line::new().text("No active silence."));
    }
    Doc::paragraph(
        Line::new()
            .count(active.len() as u64, "active silence", "active silences")
            .text(":"),
    )
    .with(Block::Bullets(
        active
            .iter()
            .map(|s| {
                Line::new()
                    .strong(Line::new().number(s.id))
                    .text(": ")
                    .append(matcher(&s.matcher))
                    .text(", by ")
                    .user(s.author.as_str(), None)
                    .text(", ends ")
                    .append(ends(s, now_ms))
                    .append(reason(s))
            })
            .collect(),
    ))
}

/// `unsilence` done: `still` violations it silenced are announced again.
pub fn ended(s: &Silence, by: &str, still: usize) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("🔔 Silence ")
            .strong(Line::new().number(s.id))
            .text(" (")
            .append(matcher(&s.matcher))
            .text(") ended by ")
            .user(by, None)
            .text("."),
    )
    .with(Block::Paragraph(
        Line::new()
            .count(still as u64, "active violation", "active violations")
            .text(" no longer silenced; the next run announces what was never announced."),
    ))
}

/// The headline of a summary that only says silences expired.
pub fn expired_headline(now_ms: u64) -> Line {
    Line::new()
        .strong(Line::new().text("synapse-warden"))
        .text(": silences ended ")
        .em(Line::new().text("(").time(now_ms).text(")"))
}

/// The summary's line for a silence that expired with violations left.
pub fn expired(e: &ExpiredSilence) -> Line {
    let s = &e.silence;
    Line::new()
        .text("🔔 Silence ")
        .strong(Line::new().number(s.id))
        .text(" (")
        .append(matcher(&s.matcher))
        .text(", by ")
        .user(s.author.as_str(), None)
        .append(reason(s))
        .text(") has expired; ")
        .count(
            e.still as u64,
            "violation it silenced is",
            "violations it silenced are",
        )
        .text(" still there.")
}

/// Under `check`'s list: how many of them are silenced.
pub fn in_check(prefix: &str, n: usize) -> Line {
    Line::new()
        .count(n as u64, "violation is", "violations are")
        .text(" silenced (see ")
        .command(Line::new().outside(prefix, TERM_CAP).text(" silences"))
        .text(").")
}

/// The threaded reply to a ✅ or 👀 reaction to an alert.
pub fn acknowledged(by: &str, violations: &[Violation], max_lines: usize) -> Doc {
    if violations.is_empty() {
        return Doc::paragraph(
            Line::new()
                .user(by, None)
                .text(": nothing left to acknowledge; the violations of this alert are over."),
        );
    }
    let max_lines = max_lines.max(1);
    let mut doc = Doc::paragraph(
        Line::new()
            .text("👀 ")
            .user(by, None)
            .text(" acknowledged ")
            .count(violations.len() as u64, "violation", "violations")
            .text(": no reminders until they change."),
    )
    .with(Block::Bullets(
        violations
            .iter()
            .take(max_lines)
            .map(super::violation)
            .collect(),
    ));
    let left_out = violations.len().saturating_sub(max_lines);
    if left_out > 0 {
        doc.push(Block::Paragraph(super::and_more(left_out)));
    }
    doc
}

/// Acknowledging failed (the state could not be saved...).
pub fn not_acknowledged(error: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .strong(Line::new().text("Not acknowledged"))
            .text(": ")
            .outside(error, ERROR_CAP),
    )
}
