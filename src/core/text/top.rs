//! `top`: the users with the most media.

use std::time::Duration;

use crate::core::commands::answers::TopSource;
use crate::core::doc::{Doc, Line, Units};
use crate::core::model::usage::{MediaMetric, UserMedia};

fn metric(m: MediaMetric) -> &'static str {
    match m {
        MediaMetric::MediaLength => "media size",
        MediaMetric::MediaCount => "media count",
    }
}

/// `uploads of the last 7d` or `all uploads`.
pub fn uploads(window: Option<Duration>) -> Line {
    match window {
        Some(w) => Line::new().text("uploads of the last ").window(w),
        None => Line::new().text("all uploads"),
    }
}

/// `Top 10 users by media size (all uploads), from the last walk, 5s ago:`.
pub fn heading(n: u32, m: MediaMetric, window: Option<Duration>, source: TopSource) -> Line {
    let line = Line::new()
        .text("Top ")
        .count(u64::from(n), "user", "users")
        .text(" by ")
        .text(metric(m))
        .text(" (")
        .append(uploads(window))
        .text("), ");
    match source {
        TopSource::LastWalk { age } => line.text("from the last walk, ").age(age).text(" ago:"),
        TopSource::Live => line.text("asked Synapse just now:"),
    }
}

/// A user's media size, or why it is unknown. Sizes not tied to a rule
/// are in the default units.
pub fn size(u: &UserMedia) -> Line {
    match u.media_length {
        Some(b) => Line::new().size(b, Units::default()),
        None => Line::new().text("unknown size (pending upload)"),
    }
}

/// `@alice:hs (Alice) — 6.0 MiB, 3 media`.
pub fn row(u: &UserMedia) -> Line {
    Line::new()
        .user(u.user_id.as_str(), u.displayname.as_deref())
        .text(" — ")
        .append(size(u))
        .text(", ")
        .count(u.media_count, "media", "media")
}

/// `4 users have media.` or `12 users have media; 2 more not shown.`
pub fn footer(total: u64, shown: u64) -> Line {
    let line = Line::new().count(total.max(shown), "user has media", "users have media");
    if total > shown {
        line.text("; ")
            .number(total - shown)
            .text(" more not shown.")
    } else {
        line.text(".")
    }
}

/// No user has media.
pub fn nobody(window: Option<Duration>) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("No user has media (")
            .append(uploads(window))
            .text("); Synapse lists only users with at least one local upload."),
    )
}

/// `top` with an N out of range.
pub fn bad_n() -> Doc {
    Doc::paragraph(Line::new().text("N must be between 1 and 100."))
}

/// A window Synapse's query cannot take.
pub fn bad_window(error: &str) -> Doc {
    super::common::failure("Bad window", error)
}

/// Synapse failed to list.
pub fn failed(error: &str) -> Doc {
    super::common::failure("Synapse could not list its users' media", error)
}
