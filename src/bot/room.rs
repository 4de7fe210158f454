//! The admin room: joining it, and accepting invites to it and to nothing
//! else.
//!
//! The configured room may be an alias (resolved once at start) or an ID.
//! The bot joins it at start (it must be invited to a private room). While
//! running, an invite to the admin room (after a kick, say) is accepted;
//! invites to any other room are ignored — not rejected, and no room is
//! ever left.

use std::time::Duration;

use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::{OwnedRoomId, OwnedServerName, RoomOrAliasId};
use matrix_sdk::{Client, Room, RoomState};

use super::BotError;

/// The room ID of `room` (an alias or an ID), resolving an alias with the
/// homeserver; also the servers to join through.
pub async fn resolve(
    client: &Client,
    room: &str,
) -> Result<(OwnedRoomId, Vec<OwnedServerName>), BotError> {
    let join_error = |reason: String| BotError::Join {
        room: room.to_owned(),
        reason,
    };
    let parsed = RoomOrAliasId::parse(room).map_err(|e| join_error(e.to_string()))?;
    match OwnedRoomId::try_from(parsed.clone()) {
        Ok(id) => Ok((id, Vec::new())),
        Err(alias) => {
            let answer = client
                .resolve_room_alias(&alias)
                .await
                .map_err(|e| join_error(format!("cannot resolve the alias: {e}")))?;
            Ok((answer.room_id, answer.servers))
        }
    }
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
