//! `user`: one user's usage, or a search.

use crate::core::doc::{Doc, ID_CAP, Line, TERM_CAP};
use crate::core::model::usage::UserMedia;

/// `@alice:hs (Alice): 2.0 KiB in 2 media (all uploads).`
pub fn found(u: &UserMedia) -> Line {
    Line::new()
        .user(u.user_id.as_str(), u.displayname.as_deref())
        .text(": ")
        .strong(super::top::size(u))
        .text(" in ")
        .count(u.media_count, "media", "media")
        .text(" (all uploads).")
}

/// The user Synapse does not list.
pub fn not_found(id: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .code(id, ID_CAP)
            .text(" has no local media (or is not a user of this server)."),
    )
}

fn term(t: &str) -> Line {
    Line::new().command(Line::new().outside(t, TERM_CAP))
}

/// A search without result.
pub fn no_match(t: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("No user with media matches ")
            .append(term(t))
            .text("."),
    )
}

/// `Users with media matching `al`:`.
pub fn matching(t: &str) -> Line {
    Line::new()
        .text("Users with media matching ")
        .append(term(t))
        .text(":")
}

/// A search's line: `@alice:hs (Alice) — 2.0 KiB, 2 media`.
pub fn row(u: &UserMedia) -> Line {
    super::top::row(u)
}

/// What a search left out.
pub fn more(left_out: usize, unread: bool) -> Line {
    match (left_out, unread) {
        (0, _) => Line::new().text("… and others not read; narrow the search."),
        (n, false) => super::and_more(n).text("; narrow the search."),
        (n, true) => super::and_more(n).text(", and others not read; narrow the search."),
    }
}

/// A term Synapse cannot search.
pub fn unsearchable() -> Doc {
    Doc::paragraph(Line::new().text("Synapse only searches non-empty ASCII terms."))
}

/// Synapse failed to look the user up.
pub fn lookup_failed(error: &str) -> Doc {
    super::common::failure("Synapse could not look the user up", error)
}

/// Synapse failed to search.
pub fn search_failed(error: &str) -> Doc {
    super::common::failure("Synapse could not search users", error)
}
