//! The admin API calls of room clean-up: one room's details, deleting a
//! room (`DELETE /_synapse/admin/v2/rooms/<room_id>`) and purging its
//! history (`POST /_synapse/admin/v1/purge_history/<room_id>`), and the
//! status of those background tasks.

use super::*;
use crate::core::commands::actions::TaskStatus;
use crate::core::model::rooms::RoomListEntry;

#[derive(serde::Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    error: Option<String>,
}

impl SynapseClient {
    /// What Synapse says of one room now (`GET
    /// /_synapse/admin/v1/rooms/<room_id>`); `None` when it does not know it
    /// (404 "Room not found").
    pub async fn room_details(&self, room_id: &str) -> Result<Option<RoomListEntry>, SynapseError> {
        let endpoint = Endpoint::RoomDetails;
        match self.call(endpoint, &["rooms", room_id], &[]).await {
            Ok((status, body)) => serde_json::from_slice::<RoomListEntry>(&body)
                .map(Some)
                .map_err(|e| malformed(endpoint, status, e)),
            Err(SynapseError::UnexpectedStatus { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts deleting `room_id` with `purge: true` (and `block`): the
    /// `delete_id` of the background task. Synapse answers 200 even for a
    /// room it never knew, and 400 "Purge already in progress" while one
    /// runs.
    pub async fn delete_room(&self, room_id: &str, block: bool) -> Result<String, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Started {
            delete_id: String,
        }
        let endpoint = Endpoint::DeleteRoom;
        let body = serde_json::json!({"purge": true, "block": block});
        let (status, answer) = self
            .call_with(endpoint, &["rooms", room_id], &[], Some(&body))
            .await?;
        serde_json::from_slice::<Started>(&answer)
            .map(|s| s.delete_id)
            .map_err(|e| malformed(endpoint, status, e))
    }

    /// The status of a room deletion (`GET
    /// /_synapse/admin/v2/rooms/delete_status/<delete_id>`): Synapse's raw
    /// task status, without a reason when it failed.
    pub async fn delete_status(&self, delete_id: &str) -> Result<TaskStatus, SynapseError> {
        let endpoint = Endpoint::DeleteStatus;
        let (status, body) = self
            .call(endpoint, &["rooms", "delete_status", delete_id], &[])
            .await?;
        serde_json::from_slice::<Status>(&body)
            .map(|s| TaskStatus::from_word(&s.status, s.error))
            .map_err(|e| malformed(endpoint, status, e))
    }

    /// The deletion tasks of `room_id`, oldest first (`GET
    /// /_synapse/admin/v2/rooms/<room_id>/delete_status`): (delete ID,
    /// status). None (Synapse's 404 "No delete task for room_id") is empty.
    pub async fn room_delete_tasks(
        &self,
        room_id: &str,
    ) -> Result<Vec<(String, TaskStatus)>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Task {
            delete_id: String,
            status: String,
        }
        #[derive(serde::Deserialize)]
        struct Tasks {
            results: Vec<Task>,
        }
        let endpoint = Endpoint::RoomDeleteTasks;
        match self
            .call(endpoint, &["rooms", room_id, "delete_status"], &[])
            .await
        {
            Ok((status, body)) => serde_json::from_slice::<Tasks>(&body)
                .map(|t| {
                    t.results
                        .into_iter()
                        .map(|t| (t.delete_id, TaskStatus::from_word(&t.status, None)))
                        .collect()
                })
                .map_err(|e| malformed(endpoint, status, e)),
            Err(SynapseError::UnexpectedStatus { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Starts purging `room_id`'s history before `before_ms` (a JSON
    /// integer; `delete_local_events` a JSON boolean, since Synapse reads any
    /// non-empty string as true): the `purge_id` of the task. 404 "there is
    /// no event to be purged" for an unknown room or a cut-off before its
    /// first event.
    pub async fn purge_history(
        &self,
        room_id: &str,
        before_ms: u64,
        delete_local_events: bool,
    ) -> Result<String, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Started {
            purge_id: String,
        }
        let endpoint = Endpoint::PurgeHistory;
        let body = serde_json::json!({
            "purge_up_to_ts": before_ms,
            "delete_local_events": delete_local_events,
        });
        let (status, answer) = self
            .call_with(endpoint, &["purge_history", room_id], &[], Some(&body))
            .await?;
        serde_json::from_slice::<Started>(&answer)
            .map(|s| s.purge_id)
            .map_err(|e| malformed(endpoint, status, e))
    }

    /// The status of a history purge (`GET
    /// /_synapse/admin/v1/purge_history_status/<purge_id>`): `active`,
    /// `complete` or `failed` with Synapse's `error`.
    pub async fn purge_history_status(&self, purge_id: &str) -> Result<TaskStatus, SynapseError> {
        let endpoint = Endpoint::PurgeHistoryStatus;
        let (status, body) = self
            .call(endpoint, &["purge_history_status", purge_id], &[])
            .await?;
        serde_json::from_slice::<Status>(&body)
            .map(|s| TaskStatus::from_word(&s.status, s.error))
            .map_err(|e| malformed(endpoint, status, e))
    }
}
