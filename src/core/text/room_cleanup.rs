//! `delete-room`, `purge-history`, `delete-abandoned`: previews, the
//! answers that refuse a room, progress and reports. The shared parts
//! (codes, confirmations) are in [`super::cleanup`].

use crate::core::commands::actions::{ActionKind, ActionOutcome, PREVIEW_ROOMS, Preview};
use crate::core::doc::{Block, Doc, ID_CAP, Line, NAME_CAP};
use crate::core::model::rooms::RoomListEntry;

/// `Room name (!id)`, or the ID alone.
fn room(r: &RoomListEntry) -> Line {
    match r.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => Line::new()
            .outside(name, NAME_CAP)
            .text(" (")
            .room(r.room_id.as_str())
            .text(")"),
        None => Line::new().room(r.room_id.as_str()),
    }
}

/// `2 members joined (1 local), 9 state events`.
fn members(r: &RoomListEntry) -> Line {
    Line::new()
        .count(r.joined_members, "member", "members")
        .text(" joined (")
        .number(r.joined_local_members)
        .text(" local), ")
        .count(r.state_events, "state event", "state events")
}

/// What a room command does, in a few words (after "Preview: ").
pub(super) fn what(kind: &ActionKind) -> Line {
    match kind {
        ActionKind::DeleteRoom { room_id, block } => {
            let line = Line::new().text("delete ").room(room_id.as_str());
            if *block {
                line.text(" and block it")
            } else {
                line
            }
        }
        ActionKind::PurgeHistory {
            room_id,
            older_than,
            local_too,
        } => {
            let line = Line::new()
                .text("purge the history of ")
                .room(room_id.as_str())
                .text(" older than ")
                .window(*older_than);
            if *local_too {
                line.text(", local users' events too")
            } else {
                line
            }
        }
        ActionKind::DeleteAbandoned => {
            Line::new().text("delete every room no local user is in any more")
        }
        _ => Line::new(),
    }
}

/// The preview body of a room command.
pub(super) fn preview_body(p: &Preview) -> Doc {
    let mut doc = Doc::new().with(Block::Heading(
        Line::new()
            .text("Preview: ")
            .append(what(&p.kind))
            .text("."),
    ));
    match &p.kind {
        ActionKind::DeleteRoom { block, .. } => {
            for r in &p.rooms {
                doc.push(Block::Paragraph(
                    room(r).text(": ").append(members(r)).text("."),
                ));
            }
            doc.push(Block::Paragraph(Line::new().text(
                "Every local member would be made to leave, and the room's events, state and \
                 local aliases deleted from the database. Members get no explanation, and \
                 their clients show the room until they sign in again. This cannot be undone.",
            )));
            if *block {
                doc.push(Block::Paragraph(Line::new().text(
                    "The room would also be blocked: nobody on this server can join it again \
                     until an admin unblocks it.",
                )));
            }
        }
        ActionKind::PurgeHistory { local_too, .. } => {
            for r in &p.rooms {
                doc.push(Block::Paragraph(
                    room(r).text(": ").append(members(r)).text("."),
                ));
            }
            let mut line = Line::new().text("Events sent before ");
            if let Some(before) = p.before_ms {
                line = line.time(before);
            }
            line = line.text(if *local_too {
                " would be deleted, local users' events included."
            } else {
                " would be purged: remote users' events are deleted; local users' events \
                 are only hidden (from everyone) and stay on disk. Add local-too to delete \
                 them as well."
            });
            doc.push(Block::Paragraph(line));
            doc.push(Block::Paragraph(Line::new().text(
                "State events (name, members, power levels) are kept. Synapse cannot count \
                 beforehand how many events this removes.",
            )));
        }
        ActionKind::DeleteAbandoned => {
            doc.push(Block::Paragraph(
                Line::new()
                    .strong(Line::new().count(p.rooms.len() as u64, "room", "rooms"))
                    .text(" without a local member:"),
            ));
            let mut lines: Vec<Line> = p
                .rooms
                .iter()
                .take(PREVIEW_ROOMS)
                .map(|r| room(r).text(": ").append(members(r)))
                .collect();
            if p.rooms.len() > PREVIEW_ROOMS {
                lines.push(super::and_more(p.rooms.len() - PREVIEW_ROOMS));
            }
            doc.push(Block::Numbered(lines));
            doc.push(Block::Paragraph(Line::new().text(
                "Each would be checked again just before it is deleted; one a local user \
                 joined since is kept.",
            )));
        }
        _ => {}
    }
    doc
}

/// How much of a confirmation's scope the "to act on" sentence names.
pub(super) fn scope(p: &Preview) -> Line {
    match p.kind {
        ActionKind::DeleteAbandoned => Line::new()
            .text("To delete exactly the ")
            .count(p.rooms.len() as u64, "room", "rooms")
            .text(" listed"),
        _ => Line::new().text("To carry it out"),
    }
}

/// The heading of a report.
pub(super) fn done(kind: &ActionKind, o: &ActionOutcome) -> Line {
    match kind {
        ActionKind::DeleteRoom { room_id, block } => {
            let line = if o.done > 0 {
                Line::new().text("deleted ").room(room_id.as_str())
            } else {
                Line::new()
                    .text("nothing: ")
                    .room(room_id.as_str())
                    .text(" was not deleted")
            };
            if *block && o.done > 0 {
                line.text(", blocked")
            } else {
                line
            }
        }
        ActionKind::PurgeHistory { room_id, .. } => {
            if o.done > 0 {
                Line::new()
                    .text("purged the history of ")
                    .room(room_id.as_str())
            } else {
                Line::new()
                    .text("nothing: the history of ")
                    .room(room_id.as_str())
                    .text(" was not purged")
            }
        }
        _ => Line::new().text("deleted ").strong(Line::new().count(
            o.done,
            "abandoned room",
            "abandoned rooms",
        )),
    }
}

/// The rooms a report names as kept.
pub(super) fn kept(o: &ActionOutcome, max_lines: usize) -> Option<Block> {
    if o.kept.is_empty() {
        return None;
    }
    let mut lines: Vec<Line> = o
        .kept
        .iter()
        .take(max_lines)
        .map(|id| Line::new().room(id.as_str()))
        .collect();
    if o.kept.len() > max_lines {
        lines.push(super::and_more(o.kept.len() - max_lines));
    }
    Some(Block::Bullets(lines))
}

/// The sentence before the kept rooms.
pub(super) fn kept_heading(o: &ActionOutcome) -> Line {
    Line::new()
        .text("Kept, because a local user is in it again since the preview: ")
        .count(o.kept.len() as u64, "room", "rooms")
        .text(".")
}

/// Progress of a room command: `done` of `total` rooms.
pub fn progress(done: usize, total: usize) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Working: ")
            .number(done as u64)
            .text(" of ")
            .count(total as u64, "room", "rooms")
            .text(" done…"),
    )
}

/// A Synapse task still running after `polls` status polls.
pub fn still_running(room_id: &str, status: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Synapse is still working on ")
            .room(room_id)
            .text(" (task ")
            .code(status, ID_CAP)
            .text(")…"),
    )
}

/// Synapse does not know the room.
pub fn unknown_room(room_id: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .room(room_id)
            .text(" is not a room this server knows (Synapse: room not found). Nothing was done."),
    )
}

/// The admin room is never cleaned up by the warden.
pub fn admin_room(room_id: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .room(room_id)
            .text(" is the admin room the warden answers in: it is never deleted or purged. Nothing was done."),
    )
}

/// The warden stopped waiting for a Synapse task.
pub fn gave_up(id: &str) -> String {
    format!("still running when the warden stopped waiting (Synapse carries on; task {id})")
}
