//! Every user-facing word of the warden, one file per command or kind of
//! message, as `etkecc/baibot`'s `src/strings/` does: a maintainer changes
//! a wording here and nowhere else.
//!
//! Each function builds a [`Line`] or a [`Doc`] of the document model
//! ([`crate::core::doc`]) from typed parts; what to say (which lines, in
//! which order, where to cut) is decided by the layers below
//! (the run's typed decisions in [`crate::core::alerting`], the answers'
//! data in [`crate::core::commands`]); [`replies`], [`check_report`] and
//! [`summary`] put the words together.

pub mod alerts;
pub mod check;
pub mod check_report;
pub mod cleanup;
pub mod common;
pub mod daemon;
pub mod digest;
pub mod help;
pub mod overrides;
pub mod policies;
pub mod refusals;
pub mod replies;
pub mod room_cleanup;
pub mod rooms;
pub mod server_notices;
pub mod silences;
pub mod status;
pub mod summary;
pub mod top;
pub mod trend;
pub mod user;

use crate::core::doc::{DESCRIPTION_CAP, Line, Units};
use crate::core::model::violation::{Measure, Subject, Violation};

/// A user or a room, the same everywhere: `@alice:hs (Alice)`,
/// `room !abc:hs`. An empty display name is left out.
pub fn subject(s: &Subject) -> Line {
    match s {
        Subject::User {
            user_id,
            displayname,
        } => Line::new().user(user_id.as_str(), displayname.as_deref()),
        Subject::Room { room_id } => Line::new().room(room_id.as_str()),
    }
}

/// A measured value: a size in `units`, `60 media` or `9 state events`.
pub fn amount(measure: Measure, n: u64, units: Units) -> Line {
    match measure {
        Measure::MediaLength | Measure::RoomSize => Line::new().size(n, units),
        Measure::MediaCount => Line::new().count(n, "media", "media"),
        Measure::StateEvents => Line::new().count(n, "state event", "state events"),
    }
}

/// A limit: a size in `units`, or a bare count (`60 media of 50`).
pub fn limit(measure: Measure, n: u64, units: Units) -> Line {
    if measure.is_bytes() {
        Line::new().size(n, units)
    } else {
        Line::new().number(n)
    }
}

/// A rule's name.
pub fn rule(name: &str) -> Line {
    Line::new().code(name, DESCRIPTION_CAP)
}

/// The facts of a violation, as alerts and `check` say them:
/// `media-quota: @alice:hs (Alice): 6.0 GiB of 5.0 GiB in 1d (120.0%, early warning)`.
pub fn violation(v: &Violation) -> Line {
    violation_with(v, false)
}

/// [`violation`], for a violation that is over: `... : was 6.0 GiB of ...`.
pub fn violation_with(v: &Violation, was: bool) -> Line {
    let mut line = rule(&v.rule)
        .text(": ")
        .append(subject(&v.subject))
        .text(if was { ": was " } else { ": " })
        .append(amount(v.measure, v.observed, v.units))
        .text(" of ")
        .append(limit(v.measure, v.limit, v.units));
    if let Some(w) = v.window {
        line = line.text(" in ").window(w);
    }
    line = line.text(" (").share(v.observed, v.limit);
    if v.early_warning {
        line = line.text(", early warning");
    }
    line.text(")")
}

/// A rule's description, after a dash.
pub fn description(d: &str) -> Line {
    Line::new().text(" — ").outside(d, DESCRIPTION_CAP)
}

/// `… and 12 more`.
pub fn and_more(n: usize) -> Line {
    Line::new().text("… and ").number(n as u64).text(" more")
}

#[cfg(test)]
mod tests;
