//! The room clean-up commands: `delete-room`, `purge-history` and
//! `delete-abandoned` (their decisions are in [`super::actions`]).

use super::*;

/// `delete-room`.
pub(super) const DELETE_ROOM: Spec = Spec {
    name: "delete-room",
    aliases: &[],
    args: "!room:server [block]",
    summary: "preview deleting a room and purging it from the database; confirm with the code",
    details: "Nothing is deleted yet: the answer shows the room, its members and state \
              events, and a one-time code. `confirm CODE` then makes every local member \
              leave and purges the room's events, state and local aliases; with block, \
              nobody on this server can join it again. The admin room is refused. A room \
              ID is needed (not an alias).",
    examples: &[
        "delete-room !abc:example.org",
        "delete-room !abc:example.org block",
    ],
    max_args: 2,
    parse: |args| parse_room_action("delete-room", args),
    is: |c| matches!(c, Command::Preview(ActionKind::DeleteRoom { .. })),
};

/// `purge-history`.
pub(super) const PURGE_HISTORY: Spec = Spec {
    name: "purge-history",
    aliases: &[],
    args: "!room:server older-than D [local-too]",
    summary: "preview purging a room's history older than D; confirm with the code",
    details: "Events sent more than D ago are purged (the cut-off is fixed by the \
              preview). Without local-too, Synapse deletes only remote users' events and \
              hides local users' ones without freeing space; with local-too it deletes \
              them too. State events are kept. Synapse cannot say beforehand how many \
              events go.",
    examples: &[
        "purge-history !abc:example.org older-than 180d",
        "purge-history !abc:example.org older-than 365d local-too",
    ],
    max_args: 4,
    parse: |args| parse_room_action("purge-history", args),
    is: |c| matches!(c, Command::Preview(ActionKind::PurgeHistory { .. })),
};

/// `delete-abandoned`.
pub(super) const DELETE_ABANDONED: Spec = Spec {
    name: "delete-abandoned",
    aliases: &[],
    args: "",
    summary: "preview deleting every room no local user is in; confirm with the code",
    details: "The preview lists every room of Synapse's room list with no local member \
              left (never the admin room). `confirm CODE` deletes exactly those rooms, \
              each checked again first: one a local user joined since is kept and named \
              in the report.",
    examples: &["delete-abandoned"],
    max_args: 0,
    parse: |_| Ok(Command::Preview(ActionKind::DeleteAbandoned)),
    is: |c| matches!(c, Command::Preview(ActionKind::DeleteAbandoned)),
};

/// `delete-room`, `purge-history`: a room ID, then options in any order.
pub(super) fn parse_room_action(
    command: &'static str,
    args: &[&str],
) -> Result<Command, UsageError> {
    let expected = match command {
        "delete-room" => "block",
        _ => "older-than D, local-too",
    };
    let (room_id, mut rest) = match args.split_first() {
        Some((id, _)) if id.starts_with('#') => return Err(UsageError::RoomAlias(echo(id))),
        Some((id, more)) if id.starts_with('!') => {
            if !is_room_id(id) {
                return Err(UsageError::BadRoomId(echo(id)));
            }
            ((*id).to_owned(), more)
        }
        Some((id, _)) => return Err(UsageError::BadRoomId(echo(id))),
        None => {
            return Err(UsageError::Missing {
                command,
                what: "a room ID (!abc:example.org)",
            });
        }
    };
    let bad = |w: &str| UsageError::BadActionArgument {
        command,
        word: echo(w),
        expected,
        closest: words::closest(w, &["block", "older-than", "local-too"]),
    };
    let mut block = false;
    let mut local_too = false;
    let mut older_than = None;
    while let Some((opt, more)) = rest.split_first() {
        rest = more;
        match (command, opt.to_ascii_lowercase().as_str()) {
            ("delete-room", "block") => block = true,
            ("purge-history", "local-too") => local_too = true,
            ("purge-history", "older-than") => {
                let (w, more) = rest
                    .split_first()
                    .ok_or(UsageError::BadAge(String::new()))?;
                rest = more;
                older_than = Some(
                    window_of(w)
                        .filter(|d| *d <= MAX_WINDOW)
                        .ok_or_else(|| UsageError::BadAge(echo(w)))?,
                );
            }
            _ => return Err(bad(opt)),
        }
    }
    Ok(Command::Preview(match command {
        "delete-room" => ActionKind::DeleteRoom { room_id, block },
        _ => ActionKind::PurgeHistory {
            room_id,
            older_than: older_than.ok_or(UsageError::Missing {
                command: "purge-history",
                what: "`older-than D` (e.g. older-than 180d)",
            })?,
            local_too,
        },
    }))
}
