//! What the official room list (`GET /_synapse/admin/v1/rooms`) says of a
//! room, and where a room ranking came from.
//!
//! Wire type of Synapse's room list (serde derives only; paging lives in
//! [`crate::synapse`]), the room sizes one source gave, and why sizes could
//! not be had.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::coverage::RoomsUnavailable;
use super::usage::RoomSize;

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

/// The largest rooms by size, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSizes {
    /// Where the sizes come from (never [`RoomSource::StateEvents`]).
    pub source: RoomSource,
    /// Largest first, at most `asked`.
    pub rooms: Vec<RoomSize>,
    /// How many rooms the source lists at most: rooms it leaves out are no
    /// larger than the smallest it lists.
    pub asked: usize,
}

/// Why the warden's Synapse module gave no room sizes (or no users' page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleUnavailable {
    /// `http.module_secret` is not set: the warden cannot ask the module.
    NotConfigured,
    /// Synapse answered 404: the module is not loaded (or older than its
    /// rooms endpoint).
    NotInstalled,
    /// The module refused the warden's secret (401/403).
    Refused,
    /// The measurement ran out of its time budget in Synapse.
    TimedOut,
    /// Any other failure, as the client reported it.
    Failed(String),
}

impl fmt::Display for ModuleUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleUnavailable::NotConfigured => f.write_str(
                "the warden's Synapse module, which measures rooms on every Synapse, is not set up \
                 (http.module_secret)",
            ),
            ModuleUnavailable::NotInstalled => f.write_str(
                "the warden's Synapse module, which measures rooms on every Synapse, does not answer \
                 (not installed, or older than its rooms endpoint)",
            ),
            ModuleUnavailable::Refused => f.write_str(
                "the warden's Synapse module refused the warden's secret: http.module_secret and the \
                 module's secret_path must hold the same secret",
            ),
            ModuleUnavailable::TimedOut => {
                f.write_str("the warden's Synapse module ran out of time measuring the rooms")
            }
            ModuleUnavailable::Failed(error) => {
                write!(f, "the warden's Synapse module failed to measure the rooms ({error})")
            }
        }
    }
}

/// Why no source gave room sizes: Synapse's own estimate, then the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizesUnavailable {
    /// Why Synapse's estimate failed.
    pub synapse: RoomsUnavailable,
    /// Why the module gave none; `None` when it was not asked.
    pub module: Option<ModuleUnavailable>,
}

impl fmt::Display for SizesUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.module {
            Some(module) => write!(f, "{}; {module}", self.synapse),
            None => write!(f, "{}", self.synapse),
        }
    }
}

/// As the sentence for people, as `check --format json` writes reasons.
impl Serialize for SizesUnavailable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
