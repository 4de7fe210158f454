//! `rooms`: the largest rooms.

use crate::core::doc::{Doc, Line, Units};
use crate::core::model::RoomSize;

/// No room listed.
pub fn none() -> Doc {
    Doc::paragraph(
        Line::new().text("Synapse lists no room (its estimates need PostgreSQL statistics)."),
    )
}

/// The list's heading.
pub fn heading() -> Line {
    Line::new().text(
        "Largest rooms, estimated by Synapse from PostgreSQL statistics (media not included):",
    )
}

/// `room !abc:hs — 1.0 GiB`, in the default units.
pub fn row(r: &RoomSize) -> Line {
    Line::new()
        .room(r.room_id.as_str())
        .text(" — ")
        .size(r.estimated_size, Units::default())
}

/// Synapse on SQLite.
pub fn sqlite() -> Doc {
    Doc::paragraph(
        Line::new()
            .text("This Synapse runs on SQLite: it can only estimate room sizes on PostgreSQL."),
    )
}

/// Synapse's known 500.
pub fn known_500() -> Doc {
    Doc::paragraph(Line::new().text(
        "Synapse failed (500) to estimate room sizes. This is a known Synapse problem \
         (element-hq/synapse#19561) on servers whose database statistics lack data for \
         some event tables; it is not a problem of this bot.",
    ))
}

/// Any other failure.
pub fn failed(error: &str) -> Doc {
    super::common::failure("Synapse could not list the largest rooms", error)
}
