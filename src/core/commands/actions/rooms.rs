//! The room clean-up decisions: what `delete-room`, `purge-history` and
//! `delete-abandoned` preview, which rooms are never touched, what a
//! re-check just before deleting decides, and how long a Synapse task is
//! waited for.
//!
//! As for media, a confirmation acts on exactly the rooms of its preview:
//! `delete-abandoned` deletes the room IDs it listed (never "whatever is
//! abandoned now"), each re-read first, and keeps one a local user joined
//! since.

use super::*;

/// Rooms a preview lists before "and N more".
pub const PREVIEW_ROOMS: usize = 20;

/// Whether `room_id` is one of `protected` (the admin room): never deleted
/// nor purged, whatever is asked.
pub fn is_protected(room_id: &str, protected: &[String]) -> bool {
    protected.iter().any(|p| p == room_id)
}

/// The preview of deleting `room` (as Synapse describes it now).
pub fn preview_delete_room(room: RoomListEntry, block: bool) -> Preview {
    Preview {
        kind: ActionKind::DeleteRoom {
            room_id: room.room_id.clone(),
            block,
        },
        media: Vec::new(),
        totals: Totals::default(),
        before_ms: None,
        rooms: vec![room],
        users: Vec::new(),
    }
}

/// The preview of purging `room`'s history older than `older_than` at
/// `now_ms`: the cut-off is fixed now, not when confirmed.
pub fn preview_purge_history(
    room: RoomListEntry,
    older_than: Duration,
    local_too: bool,
    now_ms: u64,
) -> Preview {
    Preview {
        kind: ActionKind::PurgeHistory {
            room_id: room.room_id.clone(),
            older_than,
            local_too,
        },
        media: Vec::new(),
        totals: Totals::default(),
        before_ms: Some(now_ms.saturating_sub(crate::core::model::millis(older_than))),
        rooms: vec![room],
        users: Vec::new(),
    }
}

/// The preview of deleting every abandoned room of `rooms` (the whole room
/// list), never one of `protected`; each room once, most state events
/// first (ties by room ID).
pub fn preview_delete_abandoned(rooms: &[RoomListEntry], protected: &[String]) -> Preview {
    let mut chosen: Vec<RoomListEntry> = rooms
        .iter()
        .filter(|r| r.is_abandoned() && !is_protected(&r.room_id, protected))
        .cloned()
        .collect();
    chosen.sort_by(|a, b| a.room_id.cmp(&b.room_id));
    chosen.dedup_by(|a, b| a.room_id == b.room_id);
    chosen.sort_by(|a, b| {
        b.state_events
            .cmp(&a.state_events)
            .then_with(|| a.room_id.cmp(&b.room_id))
    });
    Preview {
        kind: ActionKind::DeleteAbandoned,
        media: Vec::new(),
        totals: Totals::default(),
        before_ms: None,
        rooms: chosen,
        users: Vec::new(),
    }
}

/// What a re-check just before deleting a previewed abandoned room decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    /// Still without a local member: delete it.
    Delete,
    /// A local user is in it again: keep it.
    Keep,
    /// Synapse no longer knows it: nothing to delete.
    Gone,
}

/// The decision for a previewed abandoned room, from what Synapse says of
/// it now (`None`: unknown room).
pub fn recheck(now: Option<&RoomListEntry>) -> Recheck {
    match now {
        None => Recheck::Gone,
        Some(r) if r.is_abandoned() => Recheck::Delete,
        Some(_) => Recheck::Keep,
    }
}

/// The state of a Synapse background task (a room deletion or a history
/// purge), as its status endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// Waiting to start.
    Scheduled,
    /// Running.
    Active,
    /// Finished.
    Complete,
    /// Failed, with Synapse's reason when it gives one.
    Failed(Option<String>),
    /// A status this version does not know (read as still running).
    Other(String),
}

impl TaskStatus {
    /// Synapse's word for it (`scheduled`, `active`, ...).
    pub fn from_word(word: &str, error: Option<String>) -> TaskStatus {
        match word {
            "scheduled" => TaskStatus::Scheduled,
            "active" => TaskStatus::Active,
            "complete" => TaskStatus::Complete,
            "failed" => TaskStatus::Failed(error),
            other => TaskStatus::Other(other.chars().take(40).collect()),
        }
    }
}

/// How a background task of Synapse is waited for: a first pause that
/// doubles up to a longest one, a progress note every few polls, and a
/// bound after which the warden stops waiting (Synapse carries on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskPolling {
    /// The pause before the first status poll.
    pub first: Duration,
    /// The longest pause between polls.
    pub longest: Duration,
    /// Polls at most.
    pub max_polls: u32,
    /// A progress note every this many polls.
    pub note_every: u32,
}

impl Default for TaskPolling {
    /// 100 ms doubling to 5 s, a note about every minute, at most about an
    /// hour.
    fn default() -> TaskPolling {
        TaskPolling {
            first: Duration::from_millis(100),
            longest: Duration::from_secs(5),
            max_polls: 730,
            note_every: 12,
        }
    }
}

/// What to do after poll number `polls` (1 for the first) answered
/// `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStep {
    /// The task finished.
    Done,
    /// The task failed, for this reason.
    Failed(String),
    /// Poll again after this pause; `note` when a progress note is due.
    Wait {
        /// The pause.
        pause: Duration,
        /// Whether to tell the room it is still running.
        note: bool,
    },
    /// Waited long enough: Synapse may still be working.
    GiveUp,
}

impl TaskPolling {
    /// The pause before poll number `polls + 1`.
    pub fn pause(&self, polls: u32) -> Duration {
        let factor = 1u32.checked_shl(polls.min(20)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.longest)
    }

    /// The decision after poll number `polls` answered `status`.
    pub fn step(&self, polls: u32, status: &TaskStatus) -> TaskStep {
        match status {
            TaskStatus::Complete => TaskStep::Done,
            TaskStatus::Failed(why) => TaskStep::Failed(
                why.clone()
                    .unwrap_or_else(|| "Synapse reports the task failed".to_owned()),
            ),
            _ if polls >= self.max_polls => TaskStep::GiveUp,
            _ => TaskStep::Wait {
                pause: self.pause(polls),
                note: self.note_every > 0 && polls > 0 && polls.is_multiple_of(self.note_every),
            },
        }
    }
}
