//! The summary the daemon posts after a run: a headline, then one line per
//! new, escalated, reminded or resolved violation.

use crate::core::alerting::lifecycle::{Announced, Change};
use crate::core::doc::Line;
use crate::core::model::violation::Severity;

/// How many lines of each change a summary holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// New violations.
    pub new: u64,
    /// Escalated ones.
    pub escalated: u64,
    /// Reminders.
    pub reminded: u64,
    /// Resolved ones.
    pub resolved: u64,
    /// Critical ones among those not resolved.
    pub critical: u64,
}

/// `synapse-warden: 2 new, 1 resolved violations, 1 critical (2026-11-23 08:07 UTC)`.
pub fn headline(c: &Counts, now_ms: u64) -> Line {
    let parts = [
        (c.new, " new"),
        (c.escalated, " escalated"),
        (c.reminded, " still open"),
        (c.resolved, " resolved"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| Line::new().number(n).text(word));
    let total = c.new + c.escalated + c.reminded + c.resolved;
    let mut line = Line::new()
        .strong(Line::new().text("synapse-warden"))
        .text(": ")
        .append(Line::join(parts, ", "))
        .text(if total == 1 {
            " violation"
        } else {
            " violations"
        });
    if c.critical > 0 {
        line = line.text(", ").number(c.critical).text(" critical");
    }
    line.text(" ")
        .em(Line::new().text("(").time(now_ms).text(")"))
}

/// One announced violation:
/// `🔴 NEW critical media-quota: @alice:hs (Alice): 6.0 GiB of 5.0 GiB (120.0%) — Users may keep 5 GiB.`
pub fn line(a: &Announced) -> Line {
    let v = &a.violation;
    let marker = match (a.change, v.severity) {
        (Change::Resolved, _) => "✅",
        (_, Severity::Critical) => "🔴",
        (_, Severity::Warning) => "🟠",
    };
    let change = match a.change {
        Change::New => "NEW",
        Change::Escalated => "ESCALATED",
        Change::Reminder => "STILL OPEN",
        Change::Resolved => "RESOLVED",
    };
    let mut line = Line::new()
        .text(marker)
        .text(" ")
        .strong(Line::new().text(change).text(" ").text(v.severity.as_str()))
        .text(" ")
        .append(super::violation_with(v, a.change == Change::Resolved));
    if matches!(a.change, Change::Reminder | Change::Escalated) {
        line = line.text(", open since ").date(a.since_ms);
    }
    if let Some(d) = &v.description {
        line = line.append(super::description(d));
    }
    line
}

/// `… and 20 more (see `!stats check`)`.
pub fn more(n: usize) -> Line {
    super::and_more(n)
        .text(" (see ")
        .command(Line::new().text("!stats check"))
        .text(")")
}
