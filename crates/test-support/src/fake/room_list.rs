//! `GET /_synapse/admin/v1/rooms`: the official room list, as
//! `ListRoomRestServlet` and `get_rooms_paginate` answer it (Synapse
//! 1.163.2, `synapse/rest/admin/rooms.py`,
//! `synapse/storage/databases/main/room.py`).
//!
//! Reproduced: `from` (default 0) and `limit` (default 100) as offsets,
//! `order_by=state_events` most first (the column sorts descending unless
//! `dir=b`), any other order by name ascending, ties by room ID in the same
//! direction; the body `rooms`, `offset`, `total_rooms`, then `next_batch`
//! iff `from + limit < total_rooms` and `prev_batch` when `from > 0`. Not
//! reproduced: the other orders' columns, `search_term`, `public_rooms`,
//! `empty_rooms`, and every field but the five the warden reads.

use super::*;

/// One room of the fake's room list ([`FakeSynapse::set_room_list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRoom {
    pub room_id: String,
    pub name: Option<String>,
    pub state_events: u64,
    pub joined_members: u64,
    pub joined_local_members: u64,
}

impl FakeRoom {
    /// A room with `state_events` current state events, `joined` members of
    /// whom `local` are local, and no name.
    pub fn new(room_id: &str, state_events: u64, joined: u64, local: u64) -> FakeRoom {
        FakeRoom {
            room_id: room_id.to_owned(),
            name: None,
            state_events,
            joined_members: joined,
            joined_local_members: local,
        }
    }
}

impl FakeSynapse {
    /// Replaces the rooms the room list serves.
    pub fn set_room_list(&self, rooms: Vec<FakeRoom>) {
        lock(&self.app.data).room_list = rooms;
    }
}

pub(crate) fn room_list(app: &App, args: &Args) -> Response {
    let params = (|| {
        let from = parse_integer(args, "from")?;
        let limit = parse_integer(args, "limit")?;
        let order_by = parse_string(args, "order_by", None)?;
        let dir = parse_string(args, "dir", Some(&["b", "f"]))?;
        Ok::<_, Refusal>((from, limit, order_by, dir))
    })();
    let (from, limit, order_by, dir) = match params {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let (Some(start), Some(limit)) = (
        from.map_or(Some(0), |v| v.to_i128()),
        limit.map_or(Some(100), |v| v.to_i128()),
    ) else {
        return internal_error().into_response();
    };
    let mut rooms = lock(&app.data).room_list.clone();
    let by_state = order_by.as_deref() == Some("state_events");
    rooms.sort_by(|a, b| {
        let ascending = if by_state {
            a.state_events
                .cmp(&b.state_events)
                .then_with(|| a.room_id.cmp(&b.room_id))
                .reverse()
        } else {
            a.name.cmp(&b.name).then_with(|| a.room_id.cmp(&b.room_id))
        };
        if dir.as_deref() == Some("b") {
            ascending.reverse()
        } else {
            ascending
        }
    });
    let total = rooms.len() as i128;
    let shown: Vec<&FakeRoom> = rooms
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let mut body = String::from("{\"rooms\":[");
    for (n, room) in shown.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str("{\"room_id\":");
        push_json_str(&mut body, &room.room_id);
        body.push_str(",\"name\":");
        match &room.name {
            Some(name) => push_json_str(&mut body, name),
            None => body.push_str("null"),
        }
        let _ = write!(
            body,
            ",\"joined_members\":{},\"joined_local_members\":{},\"state_events\":{}}}",
            room.joined_members, room.joined_local_members, room.state_events
        );
    }
    let _ = write!(body, "],\"offset\":{start},\"total_rooms\":{total}");
    if start + limit < total {
        let _ = write!(body, ",\"next_batch\":{}", start + limit);
    }
    if start > 0 {
        let _ = write!(body, ",\"prev_batch\":{}", (start - limit).max(0));
    }
    body.push('}');
    json_response(StatusCode::OK, body)
}
