//! `rooms`: the largest rooms.

use crate::core::doc::{Doc, ERROR_CAP, Line, NAME_CAP, Units};
use crate::core::engine::rooms::RoomRow;
use crate::core::model::coverage::RoomsUnavailable;
use crate::core::model::rooms::{ModuleUnavailable, RoomSource, SizesUnavailable};

/// No room on the server.
pub fn no_room() -> Line {
    Line::new().text("This server has no room.")
}

/// The list's heading, saying where the ranking comes from.
pub fn heading(source: RoomSource) -> Line {
    Line::new().text(match source {
        RoomSource::SynapseEstimate => {
            "Largest rooms, by Synapse's estimate from PostgreSQL statistics (media not included):"
        }
        RoomSource::ModuleEstimate => {
            "Largest rooms, estimated by the warden's Synapse module from PostgreSQL statistics \
             (media not included):"
        }
        RoomSource::ModuleExact => {
            "Largest rooms, by the bytes of their events counted by the warden's Synapse module \
             (SQLite; indexes and media not included):"
        }
        RoomSource::StateEvents => "Rooms with the most current state events:",
    })
}

/// `room !abc:hs "Name" — 1.0 GiB, 340 state events, 12 members (3 local)`.
pub fn row(r: &RoomRow, units: Units) -> Line {
    let mut line = Line::new().room(r.room_id.as_str());
    if let Some(name) = r.name.as_deref().filter(|n| !n.trim().is_empty()) {
        line = line.text(" “").outside(name, NAME_CAP).text("”");
    }
    let mut facts = Vec::new();
    if let Some(size) = r.estimated_size {
        facts.push(Line::new().size(size, units));
    }
    if let Some(states) = r.state_events {
        facts.push(Line::new().count(states, "state event", "state events"));
    }
    if let (Some(joined), Some(local)) = (r.joined_members, r.joined_local_members) {
        facts.push(
            Line::new()
                .count(joined, "member", "members")
                .text(" (")
                .number(local)
                .text(" local)"),
        );
    }
    if facts.is_empty() {
        return line;
    }
    line.text(" — ").append(Line::join(facts, ", "))
}

/// `3 rooms on the server, 1 without a local member (rooms abandoned).`
pub fn totals(rooms: usize, abandoned: usize) -> Line {
    let line = Line::new()
        .count(rooms as u64, "room", "rooms")
        .text(" on the server, ")
        .number(abandoned as u64)
        .text(" without a local member");
    if abandoned == 0 {
        return line.text(".");
    }
    line.text(" (")
        .command(Line::new().text("rooms abandoned"))
        .text(").")
}

/// Why the ranking has no sizes, and how to get them.
pub fn no_sizes(why: &SizesUnavailable) -> Line {
    Line::new()
        .text("No room sizes: ")
        .append(sizes_reason(why))
        .text(".")
}

/// The heading of `rooms abandoned`.
pub fn abandoned_heading(n: usize) -> Line {
    Line::new()
        .count(n as u64, "room has", "rooms have")
        .text(" no local member left (most state events first):")
}

/// `rooms abandoned` when every room has a local member.
pub fn none_abandoned() -> Doc {
    Doc::paragraph(Line::new().text("Every room has a local member."))
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

/// Why no source gave room sizes: Synapse's reason, then the module's.
pub fn sizes_reason(r: &SizesUnavailable) -> Line {
    let line = reason(&r.synapse);
    match &r.module {
        None => line,
        Some(m) => line.text("; ").append(module_reason(m)),
    }
}

/// Why the warden's module gave no sizes: its reason's sentence (which
/// may carry the database's words, hence outside text).
pub fn module_reason(m: &ModuleUnavailable) -> Line {
    Line::new().outside(m.to_string(), ERROR_CAP)
}

/// Any other failure.
pub fn failed(error: &str) -> Doc {
    super::common::failure("Synapse could not list the rooms", error)
}
