//! `rooms`: the largest rooms.

use crate::core::doc::{Doc, ERROR_CAP, Line, Units};
use crate::core::model::coverage::RoomsUnavailable;
use crate::core::model::usage::RoomSize;

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

/// Why room sizes are unavailable.
pub fn reason(r: &RoomsUnavailable) -> Line {
    match r {
        RoomsUnavailable::Sqlite => Line::new()
            .text("this Synapse uses SQLite, and Synapse estimates room sizes only on PostgreSQL"),
        RoomsUnavailable::Server(error) => Line::new()
            .text("Synapse could not estimate room sizes (")
            .outside(error.as_str(), ERROR_CAP)
            .text(
                "); on PostgreSQL this happens until its planner statistics cover the event tables",
            ),
        RoomsUnavailable::NotAsked => Line::new().text("the largest rooms were not asked for"),
    }
}

/// The answer to `rooms` when Synapse cannot estimate room sizes;
/// `known_500` adds that it is Synapse's known problem.
pub fn unavailable(r: &RoomsUnavailable, known_500: bool) -> Doc {
    let mut line = Line::new()
        .text("Room sizes are unavailable: ")
        .append(reason(r))
        .text(".");
    if known_500 {
        line = line.text(
            " This is a known Synapse problem (element-hq/synapse#19561); it is not a problem \
             of this bot.",
        );
    }
    Doc::paragraph(line)
}

/// Any other failure.
pub fn failed(error: &str) -> Doc {
    super::common::failure("Synapse could not list the largest rooms", error)
}
