//! `check`: the bot's reply, and the command line's report.

use crate::core::doc::{Align, ERROR_CAP, Line, Table};
use crate::core::engine::eval::WalkReport;
use crate::core::model::rooms::SizesUnavailable;
use crate::core::model::users_source::UsersSource;
use crate::core::model::violation::{Measure, Violation};

/// `3 violations (1 critical):` or `No violation of the 2 rules.`
pub fn heading(violations: usize, critical: usize, rules: usize) -> Line {
    if violations == 0 {
        return Line::new()
            .text("No violation of ")
            .count(rules as u64, "rule", "rules")
            .text(".");
    }
    Line::new()
        .count(violations as u64, "violation", "violations")
        .text(" (")
        .number(critical as u64)
        .text(" critical):")
}

/// `critical media-quota: @alice:hs (Alice): 6.0 GiB of 5.0 GiB (120.0%)`.
pub fn row(v: &Violation) -> Line {
    Line::new()
        .text(v.severity.as_str())
        .text(" ")
        .append(super::violation(v))
}

/// What the reply left out.
pub fn more(n: usize) -> Line {
    super::and_more(n)
        .text(" (run ")
        .command(Line::new().text("synapse-warden check"))
        .text(" for all of them)")
}

/// Room size limits not checked, and why.
pub fn rooms_unchecked(reason: &SizesUnavailable) -> Line {
    Line::new()
        .text("Room sizes not checked: ")
        .append(super::rooms::sizes_reason(reason))
}

/// A note of the run.
pub fn note(note: &str) -> Line {
    Line::new().text("Note: ").outside(note, ERROR_CAP)
}

/// The columns of the command line's table of violations.
pub const TABLE_COLUMNS: &[(&str, Align)] = &[
    ("SEVERITY", Align::Left),
    ("RULE", Align::Left),
    ("SUBJECT", Align::Left),
    ("MEASURE", Align::Left),
    ("OBSERVED", Align::Right),
    ("LIMIT", Align::Right),
    ("SHARE", Align::Right),
    ("WINDOW", Align::Left),
    ("NOTE", Align::Left),
];

/// The command line's table of violations.
pub fn table(violations: &[Violation]) -> Table {
    let mut t = Table::new(TABLE_COLUMNS);
    for v in violations {
        t.row(table_row(v));
    }
    t
}

/// One violation's row of the command line's table ([`TABLE_COLUMNS`]).
pub fn table_row(v: &Violation) -> Vec<Line> {
    let measure = match v.measure {
        Measure::MediaLength => "media size",
        Measure::MediaCount => "media count",
        Measure::RoomSize => "room size",
        Measure::StateEvents => "state events",
    };
    let amount = |n| {
        if v.measure.is_bytes() {
            Line::new().size(n, v.units)
        } else {
            Line::new().number(n)
        }
    };
    vec![
        Line::new().text(v.severity.as_str()),
        super::rule(&v.rule),
        super::subject(&v.subject),
        Line::new().text(measure),
        amount(v.observed),
        amount(v.limit),
        Line::new().share(v.observed, v.limit),
        v.window
            .map_or_else(|| Line::new().text("-"), |w| Line::new().window(w)),
        if v.early_warning {
            Line::new().text("early warning")
        } else {
            Line::new()
        },
    ]
}

/// `4 violations: 2 critical, 2 warning (1 early warning among them).`
pub fn summary(violations: usize, critical: usize, early: usize) -> Line {
    if violations == 0 {
        return Line::new().text("No violations.");
    }
    let mut line = Line::new()
        .count(violations as u64, "violation", "violations")
        .text(": ")
        .number(critical as u64)
        .text(" critical, ")
        .number((violations - critical) as u64)
        .text(" warning");
    if early > 0 {
        line = line
            .text(" (")
            .count(early as u64, "early warning", "early warnings")
            .text(" among them)");
    }
    line.text(".")
}

/// `Checked 120 users with media, 10 rooms against 3 rules at 2026-11-23 08:07 UTC.`
pub fn checked(walks: &[WalkReport], rooms: Option<usize>, rules: usize, now_ms: u64) -> Line {
    let mut parts: Vec<Line> = walks
        .iter()
        .map(|w| {
            let line = Line::new().count(w.users, "user", "users");
            match w.window {
                None => line.text(" with media"),
                Some(d) => line.text(" with uploads in the last ").window(d),
            }
        })
        .collect();
    if let Some(n) = rooms {
        parts.push(Line::new().count(n as u64, "room", "rooms"));
    }
    let what = if parts.is_empty() {
        Line::new().text("nothing")
    } else {
        Line::join(parts, ", ")
    };
    Line::new()
        .text("Checked ")
        .append(what)
        .text(" against ")
        .count(rules as u64, "rule", "rules")
        .text(" at ")
        .time(now_ms)
        .text(".")
}

/// Where the run read the users' media totals.
pub fn users_source(source: &UsersSource) -> Line {
    match source {
        UsersSource::AdminApi => {
            Line::new().text("Users' media read through Synapse's admin API.")
        }
        UsersSource::Module => Line::new()
            .text("Users' media read through the warden's Synapse module (keyset pages)."),
        UsersSource::Fallback(why) => Line::new()
            .text("Users' media read through Synapse's admin API: the warden's Synapse module failed (")
            .outside(super::daemon::module_walk_reason(why), ERROR_CAP)
            .text(")."),
    }
}

/// A note of the run, on the command line.
pub fn cli_note(note: &str) -> Line {
    Line::new().text("note: ").outside(note, ERROR_CAP)
}

/// A rule broken by too many users: `` `media-quota` matches 37.0% of users
/// with media (740 of 2 000): is 30 MB meant?``
pub fn too_broad(b: &crate::core::engine::too_broad::BroadRule) -> Line {
    Line::new()
        .append(super::rule(&b.rule))
        .text(" matches ")
        .share(b.matched, b.users)
        .text(" of users with media (")
        .number(b.matched)
        .text(" of ")
        .number(b.users)
        .text("): is ")
        .append(super::amount(b.measure, b.limit, b.units))
        .text(" meant?")
}
