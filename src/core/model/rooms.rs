//! What the official room list (`GET /_synapse/admin/v1/rooms`) says of a
//! room, and where a room ranking came from.
//!
//! Wire type of Synapse's room list (serde derives only; paging lives in
//! [`crate::synapse`]).

use serde::{Deserialize, Serialize};

/// One room of `GET /_synapse/admin/v1/rooms` (Synapse 1.163.2,
/// `synapse/storage/databases/main/room.py`, `get_rooms_paginate`): only the
/// fields the warden uses. Counts Synapse leaves `null` read as zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomListEntry {
    /// The room ID, e.g. `!abc:example.org`.
    pub room_id: String,
    /// The room's name (outside text: neutralise before rendering); `null`
    /// when the room has none.
    #[serde(default)]
    pub name: Option<String>,
    /// `room_stats_current.current_state_events`.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub state_events: u64,
    /// Members joined, local or remote.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub joined_members: u64,
    /// Local members joined (`room_stats_current.local_users_in_room`).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub joined_local_members: u64,
}

impl RoomListEntry {
    /// No local member left: the room is abandoned by this server.
    pub fn is_abandoned(&self) -> bool {
        self.joined_local_members == 0
    }
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

/// Where a ranking of rooms came from, weakest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomSource {
    /// Synapse's own `statistics/database/rooms` (PostgreSQL planner
    /// statistics).
    SynapseEstimate,
    /// The warden's Synapse module, from PostgreSQL planner statistics.
    ModuleEstimate,
    /// The warden's Synapse module, bytes counted exactly (SQLite).
    ModuleExact,
    /// No sizes: rooms ranked by their current state events from the
    /// official room list.
    StateEvents,
}

impl RoomSource {
    /// Whether this source gives sizes in bytes (`max_estimated_size` can be
    /// checked).
    pub fn has_sizes(self) -> bool {
        !matches!(self, RoomSource::StateEvents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_counts_read_as_zero_and_a_room_without_local_members_is_abandoned() {
        let room: RoomListEntry = serde_json::from_str(
            r#"{"room_id":"!a:x","name":null,"state_events":null,"joined_members":3,"joined_local_members":null,"version":"10"}"#,
        )
        .unwrap();
        assert_eq!(room.state_events, 0);
        assert_eq!(room.joined_members, 3);
        assert!(room.is_abandoned());
        let kept: RoomListEntry = serde_json::from_str(
            r#"{"room_id":"!b:x","name":"n","state_events":9,"joined_members":3,"joined_local_members":1}"#,
        )
        .unwrap();
        assert!(!kept.is_abandoned());
        assert!(!RoomSource::StateEvents.has_sizes());
        assert!(RoomSource::ModuleExact.has_sizes());
    }
}
