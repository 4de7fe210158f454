//! The official room list (`GET /_synapse/admin/v1/rooms`), every page,
//! rooms with the most current state events first: the ranking that works
//! on every database, and the one that knows each room's members.

use super::*;
use crate::core::model::rooms::RoomListEntry;

/// Rooms asked per page of the room list.
pub const ROOM_LIST_PAGE: u64 = 500;
/// Pages read at most (a bound on a list that keeps growing while read).
const MAX_ROOM_LIST_PAGES: u32 = 20_000;

impl SynapseClient {
    /// Every room of the server, most current state events first (ties by
    /// room ID, as Synapse orders them), with `page` rooms per request.
    ///
    /// `order_by=state_events` alone is already "most first" in Synapse
    /// (`get_rooms_paginate` sets that column descending; `dir=b` would
    /// reverse it to fewest first). Pages are offsets over that unique order;
    /// a room seen twice because the list changed while being read is kept
    /// once.
    pub async fn room_list(&self, page: u64) -> Result<Vec<RoomListEntry>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Page {
            rooms: Vec<RoomListEntry>,
            next_batch: Option<u64>,
        }
        let endpoint = Endpoint::RoomList;
        let page = page.max(1);
        let mut rooms: Vec<RoomListEntry> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut from = 0u64;
        for _ in 0..MAX_ROOM_LIST_PAGES {
            let query = [
                ("from", from.to_string()),
                ("limit", page.to_string()),
                ("order_by", "state_events".to_owned()),
            ];
            let (status, body) = self.call(endpoint, &["rooms"], &query).await?;
            let answer: Page =
                serde_json::from_slice(&body).map_err(|e| malformed(endpoint, status, e))?;
            let read = answer.rooms.len() as u64;
            for room in answer.rooms {
                if seen.insert(room.room_id.clone()) {
                    rooms.push(room);
                }
            }
            match answer.next_batch {
                Some(next) if next > from && read > 0 => from = next,
                _ => break,
            }
        }
        // Pages are each in order, but a list that changed between pages
        // may not be: the ranking is the warden's promise, so sort once.
        rooms.sort_by(|a, b| {
            b.state_events
                .cmp(&a.state_events)
                .then_with(|| b.room_id.cmp(&a.room_id))
        });
        Ok(rooms)
    }
}
