//! The admin room: joining it, and accepting invites to it and to nothing
//! else.
//!
//! The configured room may be an alias or an ID. An alias is resolved once
//! and the room ID kept in the data directory (`admin_room.json`, 0600):
//! whoever can re-point the alias afterwards does not choose the room the
//! bot obeys. At each start the alias is resolved again only to compare:
//! when it points elsewhere the bot keeps its room, logs a warning and says
//! so once in that room
//! ([`crate::core::alerting::admin_room::choose`]). Another alias in the policy file is
//! resolved anew.
//! The bot joins it at start (it must be invited to a private room). While
//! running, an invite to the admin room (after a kick, say) is accepted;
//! invites to any other room are ignored — not rejected, and no room is
//! ever left.

use std::path::Path;
use std::time::Duration;

use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::{OwnedRoomId, OwnedServerName, RoomOrAliasId};
use matrix_sdk::{Client, Room, RoomState};

use super::BotError;
use crate::core::alerting::admin_room::{Pin, choose};

/// The file in the data directory keeping the room an alias was resolved to.
pub const PIN_FILE: &str = "admin_room.json";

fn read_pin(data_dir: &Path) -> Option<Pin> {
    let bytes = std::fs::read(data_dir.join(PIN_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_pin(data_dir: &Path, pin: &Pin) -> std::io::Result<()> {
    use std::io::Write as _;
    let json = serde_json::to_vec(pin).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(data_dir)?;
    tmp.write_all(&json)?;
    tmp.as_file().sync_all()?;
    // NamedTempFile is created 0600.
    tmp.persist(data_dir.join(PIN_FILE)).map_err(|e| e.error)?;
    Ok(())
}

/// The room ID of `room` (an alias or an ID), an alias as kept in
/// `data_dir` once resolved (see the [module docs](self)); also the
/// servers to join through, and where the alias points now when that is
/// elsewhere and was not said yet.
pub async fn resolve(
    client: &Client,
    room: &str,
    data_dir: &Path,
) -> Result<(OwnedRoomId, Vec<OwnedServerName>, Option<String>), BotError> {
    let join_error = |reason: String| BotError::Join {
        room: room.to_owned(),
        reason,
    };
    let parsed = RoomOrAliasId::parse(room).map_err(|e| join_error(e.to_string()))?;
    let alias = match OwnedRoomId::try_from(parsed.clone()) {
        Ok(id) => return Ok((id, Vec::new(), None)),
        Err(alias) => alias,
    };
    let (now, servers, error) = match client.resolve_room_alias(&alias).await {
        Ok(answer) => (Some(answer.room_id.to_string()), answer.servers, None),
        Err(e) => (None, Vec::new(), Some(e.to_string())),
    };
    let pin = read_pin(data_dir);
    let choice = choose(room, pin.as_ref(), now.as_deref());
    let Some(room_id) = choice.room_id else {
        return Err(join_error(format!(
            "cannot resolve the alias: {}",
            error.unwrap_or_default()
        )));
    };
    if let Some(error) = &error {
        tracing::warn!(alias = room, room = %room_id, %error, "cannot resolve the admin room's alias; the room it was first resolved to is used");
    }
    if let Some(pin) = &choice.save
        && let Err(e) = write_pin(data_dir, pin)
    {
        tracing::warn!(error = %e, "cannot keep the admin room's ID in the data directory");
    }
    if let Some(moved) = &choice.moved_to {
        tracing::warn!(alias = room, room = %room_id, now = %moved, "the admin room's alias now points to another room; the bot keeps obeying the room it was first resolved to (remove admin_room.json from the data directory, or configure the room ID, to change it)");
    }
    let room_id = OwnedRoomId::try_from(room_id.as_str())
        .map_err(|e| join_error(format!("the kept room ID: {e}")))?;
    // The servers of the resolution are for the room it gave.
    let servers = if now.as_deref() == Some(room_id.as_str()) {
        servers
    } else {
        Vec::new()
    };
    Ok((room_id, servers, choice.moved_to))
}

/// Joins the admin room unless the bot is in it already.
pub async fn join(
    client: &Client,
    room: &str,
    room_id: &OwnedRoomId,
    servers: &[OwnedServerName],
) -> Result<Room, BotError> {
    if let Some(r) = client.get_room(room_id)
        && r.state() == RoomState::Joined
    {
        return Ok(r);
    }
    let id: &matrix_sdk::ruma::RoomId = room_id;
    let target: &RoomOrAliasId = id.into();
    client
        .join_room_by_id_or_alias(target, servers)
        .await
        .map_err(|e| BotError::Join {
            room: room.to_owned(),
            reason: format!("{e} (is the bot invited?)"),
        })
}

/// Event handler: accepts an invite of the bot to `admin_room` only.
pub async fn on_invite(
    event: StrippedRoomMemberEvent,
    room: Room,
    client: Client,
    admin_room: OwnedRoomId,
) {
    let Some(own) = client.user_id() else { return };
    if event.state_key != own || event.content.membership != MembershipState::Invite {
        return;
    }
    if room.room_id() != admin_room {
        tracing::info!(room = %room.room_id(), inviter = %event.sender, "ignoring an invite to a room that is not the admin room");
        return;
    }
    // The invite may be processed before the server is ready for the join;
    // retry a few times with backoff.
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=5 {
        match room.join().await {
            Ok(()) => {
                tracing::info!(room = %room.room_id(), inviter = %event.sender, "joined the admin room on invite");
                return;
            }
            Err(e) => {
                tracing::warn!(room = %room.room_id(), attempt, error = %e, "cannot join the admin room yet");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(room: &str) -> Pin {
        Pin {
            alias: "#admins:hs".into(),
            room_id: room.into(),
            warned_for: None,
        }
    }

    #[test]
    fn the_pin_is_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        write_pin(dir.path(), &pin("!a:hs")).unwrap();
        assert_eq!(read_pin(dir.path()), Some(pin("!a:hs")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(PIN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
