//! What `rooms` shows: the room sizes of the first source that answered,
//! joined with the official room list (names, state events, members), or,
//! without sizes, the room list ranked by current state events; and the
//! rooms no local user is in any more.

use std::collections::HashMap;

use crate::core::model::rooms::{RoomListEntry, RoomSizes, RoomSource, SizesUnavailable};

/// One room as `rooms` shows it. Counts are `None` when the room list does
/// not know the room (deleted since the sizes were measured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// The room ID.
    pub room_id: String,
    /// The room's name (outside text), if it has one.
    pub name: Option<String>,
    /// Estimated size in bytes, when a size source gave one.
    pub estimated_size: Option<u64>,
    /// Current state events.
    pub state_events: Option<u64>,
    /// Members joined, local or remote.
    pub joined_members: Option<u64>,
    /// Local members joined.
    pub joined_local_members: Option<u64>,
}

impl RoomRow {
    fn from_list(r: &RoomListEntry, estimated_size: Option<u64>) -> RoomRow {
        RoomRow {
            room_id: r.room_id.clone(),
            name: r.name.clone(),
            estimated_size,
            state_events: Some(r.state_events),
            joined_members: Some(r.joined_members),
            joined_local_members: Some(r.joined_local_members),
        }
    }
}

/// What `rooms` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomsView {
    /// Where the ranking comes from.
    pub source: RoomSource,
    /// The rooms, ranked (largest, or most state events, first).
    pub rows: Vec<RoomRow>,
    /// Rooms on the server (the room list's length).
    pub rooms: usize,
    /// Of them, rooms without a local member.
    pub abandoned: usize,
    /// Why there are no sizes, when none of the size sources answered.
    pub sizes_unavailable: Option<SizesUnavailable>,
}

/// Joins `sizes` (or why there are none) with the whole room `list` (most
/// state events first).
pub fn view(sizes: Result<RoomSizes, SizesUnavailable>, list: &[RoomListEntry]) -> RoomsView {
    let abandoned = list.iter().filter(|r| r.is_abandoned()).count();
    match sizes {
        Ok(sizes) => {
            let by_id: HashMap<&str, &RoomListEntry> =
                list.iter().map(|r| (r.room_id.as_str(), r)).collect();
            let rows = sizes
                .rooms
                .iter()
                .map(|s| match by_id.get(s.room_id.as_str()) {
                    Some(r) => RoomRow::from_list(r, Some(s.estimated_size)),
                    None => RoomRow {
                        room_id: s.room_id.clone(),
                        name: None,
                        estimated_size: Some(s.estimated_size),
                        state_events: None,
                        joined_members: None,
                        joined_local_members: None,
                    },
                })
                .collect();
            RoomsView {
                source: sizes.source,
                rows,
                rooms: list.len(),
                abandoned,
                sizes_unavailable: None,
            }
        }
        Err(why) => RoomsView {
            source: RoomSource::StateEvents,
            rows: list.iter().map(|r| RoomRow::from_list(r, None)).collect(),
            rooms: list.len(),
            abandoned,
            sizes_unavailable: Some(why),
        },
    }
}

/// The rooms of `list` without a local member, most state events first.
pub fn abandoned(list: &[RoomListEntry]) -> Vec<RoomRow> {
    let mut rows: Vec<RoomRow> = list
        .iter()
        .filter(|r| r.is_abandoned())
        .map(|r| RoomRow::from_list(r, None))
        .collect();
    rows.sort_by(|a, b| {
        b.state_events
            .cmp(&a.state_events)
            .then_with(|| a.room_id.cmp(&b.room_id))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::coverage::RoomsUnavailable;
    use crate::core::model::rooms::ModuleUnavailable;
    use crate::core::model::usage::RoomSize;

    fn listed(id: &str, states: u64, local: u64) -> RoomListEntry {
        RoomListEntry {
            room_id: id.into(),
            name: Some(format!("name of {id}")),
            state_events: states,
            joined_members: local + 1,
            joined_local_members: local,
        }
    }

    fn list() -> Vec<RoomListEntry> {
        vec![
            listed("!a:hs", 90, 2),
            listed("!b:hs", 50, 0),
            listed("!c:hs", 10, 0),
        ]
    }

    #[test]
    fn sizes_rank_the_rooms_and_the_list_fills_them_in() {
        let sizes = RoomSizes {
            source: RoomSource::ModuleExact,
            rooms: vec![
                RoomSize {
                    room_id: "!c:hs".into(),
                    estimated_size: 900,
                },
                RoomSize {
                    room_id: "!gone:hs".into(),
                    estimated_size: 500,
                },
                RoomSize {
                    room_id: "!a:hs".into(),
                    estimated_size: 100,
                },
            ],
            asked: 10,
        };
        let v = view(Ok(sizes), &list());
        assert_eq!(v.source, RoomSource::ModuleExact);
        let ids: Vec<_> = v.rows.iter().map(|r| r.room_id.as_str()).collect();
        assert_eq!(ids, ["!c:hs", "!gone:hs", "!a:hs"]);
        assert_eq!(v.rows[0].state_events, Some(10));
        assert_eq!(v.rows[0].name.as_deref(), Some("name of !c:hs"));
        assert_eq!(
            v.rows[1].state_events, None,
            "a room the list no longer has"
        );
        assert_eq!((v.rooms, v.abandoned), (3, 2));
        assert_eq!(v.sizes_unavailable, None);
    }

    #[test]
    fn without_sizes_the_list_ranks_by_state_events_and_says_why() {
        let why = SizesUnavailable {
            synapse: RoomsUnavailable::Sqlite,
            module: Some(ModuleUnavailable::NotInstalled),
        };
        let v = view(Err(why.clone()), &list());
        assert_eq!(v.source, RoomSource::StateEvents);
        assert_eq!(v.rows.len(), 3);
        assert!(v.rows.iter().all(|r| r.estimated_size.is_none()));
        assert_eq!(v.sizes_unavailable, Some(why));
    }

    #[test]
    fn abandoned_rooms_most_state_events_first() {
        let mut l = list();
        l.push(listed("!d:hs", 50, 0));
        let ids: Vec<_> = abandoned(&l).into_iter().map(|r| r.room_id).collect();
        assert_eq!(ids, ["!b:hs", "!d:hs", "!c:hs"]);
    }
}
