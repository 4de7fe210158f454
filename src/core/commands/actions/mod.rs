//! Clean-up actions decided in the pure core: which media a listing, a
//! purge or a quarantine is about, what its preview holds, the one-time
//! confirmation codes and who may use them, and exactly what is carried
//! out once confirmed.
//!
//! The rule that matters: **a confirmed action is never broader than its
//! preview.** A purge deletes the media IDs the preview listed, one by one,
//! and nothing else (never a server-side filter that could match uploads
//! made since); a quarantine quarantines those IDs; a purge of the remote
//! cache uses the cut-off computed when the preview was made.
//!
//! Pure: the clock is an argument (`now_ms`), and so is the randomness of
//! a code ([`code_from`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::model::rooms::RoomListEntry;

mod rooms;
pub use rooms::*;

/// Largest media a preview shows.
pub const PREVIEW_LARGEST: usize = 5;
/// Default number of media `media` lists.
pub const DEFAULT_MEDIA_LIMIT: usize = 20;
/// Most media `media` lists.
pub const MAX_MEDIA_LIMIT: usize = 100;
/// Pending confirmations kept at most; the oldest is forgotten first.
const MAX_PENDING: usize = 64;
/// Letters of a code: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a code.
pub const CODE_LEN: usize = 6;

/// One local media of a user, as Synapse lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The media ID (the last part of its `mxc://` URI).
    pub media_id: String,
    /// Bytes; 0 for an upload still pending.
    pub media_length: u64,
    /// Upload time, Unix ms.
    pub created_ts: u64,
    /// The file name given at upload, if any.
    pub upload_name: Option<String>,
    /// Whether an admin quarantined it.
    pub quarantined: bool,
}

/// Which media a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaFilter {
    /// Only media uploaded at least this long ago.
    pub older_than: Option<Duration>,
    /// Only media of more than this many bytes.
    pub larger_than: Option<u64>,
}

impl MediaFilter {
    /// Whether `m` matches at `now_ms`.
    pub fn matches(&self, m: &Media, now_ms: u64) -> bool {
        let old_enough = self
            .older_than
            .is_none_or(|d| m.created_ts <= now_ms.saturating_sub(crate::core::model::millis(d)));
        let large_enough = self.larger_than.is_none_or(|s| m.media_length > s);
        old_enough && large_enough
    }
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaOrder {
    /// Largest first (ties: oldest first, then by ID).
    #[default]
    Largest,
    /// Oldest first (ties: largest first, then by ID).
    Oldest,
}

/// The media of `media` matching `filter` at `now_ms`, in `order`.
pub fn select(media: &[Media], filter: &MediaFilter, order: MediaOrder, now_ms: u64) -> Vec<Media> {
    let mut out: Vec<Media> = media
        .iter()
        .filter(|m| filter.matches(m, now_ms))
        .cloned()
        .collect();
    // The same media listed twice (pages overlapping) counts once.
    out.sort_by(|a, b| a.media_id.cmp(&b.media_id));
    out.dedup_by(|a, b| a.media_id == b.media_id);
    match order {
        MediaOrder::Largest => out.sort_by(|a, b| {
            b.media_length
                .cmp(&a.media_length)
                .then(a.created_ts.cmp(&b.created_ts))
                .then(a.media_id.cmp(&b.media_id))
        }),
        MediaOrder::Oldest => out.sort_by(|a, b| {
            a.created_ts
                .cmp(&b.created_ts)
                .then(b.media_length.cmp(&a.media_length))
                .then(a.media_id.cmp(&b.media_id))
        }),
    }
    out
}

/// Totals of a set of media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// How many.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The oldest upload, Unix ms.
    pub oldest_ms: Option<u64>,
    /// The newest upload, Unix ms.
    pub newest_ms: Option<u64>,
}

/// The totals of `media`.
pub fn totals(media: &[Media]) -> Totals {
    Totals {
        count: media.len() as u64,
        bytes: media
            .iter()
            .fold(0u64, |s, m| s.saturating_add(m.media_length)),
        oldest_ms: media.iter().map(|m| m.created_ts).min(),
        newest_ms: media.iter().map(|m| m.created_ts).max(),
    }
}

/// What `media` shows: the first items and the totals of all that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The user.
    pub user_id: String,
    /// The filter.
    pub filter: MediaFilter,
    /// The order.
    pub order: MediaOrder,
    /// At most `limit` media, in order.
    pub shown: Vec<Media>,
    /// Totals of every matching media.
    pub matching: Totals,
    /// Totals of all the user's media.
    pub all: Totals,
}

/// The listing of `user_id`'s `media`.
pub fn listing(
    user_id: &str,
    media: &[Media],
    filter: MediaFilter,
    order: MediaOrder,
    limit: usize,
    now_ms: u64,
) -> Listing {
    let matching = select(media, &filter, order, now_ms);
    let all = select(media, &MediaFilter::default(), order, now_ms);
    Listing {
        user_id: user_id.to_owned(),
        filter,
        order,
        matching: totals(&matching),
        all: totals(&all),
        shown: matching.into_iter().take(limit).collect(),
    }
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// Delete some of a user's media.
    Purge {
        /// The user.
        user_id: String,
        /// Which media.
        filter: MediaFilter,
    },
    /// Quarantine all of a user's media.
    Quarantine {
        /// The user.
        user_id: String,
    },
    /// Purge the remote media cache.
    PurgeRemote {
        /// Cached remote media not accessed for this long.
        older_than: Duration,
    },
    /// Delete one room and purge it from the database.
    DeleteRoom {
        /// The room.
        room_id: String,
        /// Block it too: nobody of this server can join it again.
        block: bool,
    },
    /// Purge a room's history older than a cut-off.
    PurgeHistory {
        /// The room.
        room_id: String,
        /// Events older than this go.
        older_than: Duration,
        /// Delete local users' events too (else Synapse only hides them).
        local_too: bool,
    },
    /// Delete every room no local user is in any more.
    DeleteAbandoned,
    /// Delete the media of deactivated local users.
    PurgeDeactivated {
        /// Only media uploaded at least this long ago.
        older_than: Option<Duration>,
    },
}

impl ActionKind {
    /// The command word, for logs and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Purge { .. } => "purge",
            ActionKind::Quarantine { .. } => "quarantine",
            ActionKind::PurgeRemote { .. } => "purge-remote",
            ActionKind::DeleteRoom { .. } => "delete-room",
            ActionKind::PurgeHistory { .. } => "purge-history",
            ActionKind::DeleteAbandoned => "delete-abandoned",
            ActionKind::PurgeDeactivated { .. } => "purge-deactivated",
        }
    }
}

/// A preview: exactly what confirming would act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The action.
    pub kind: ActionKind,
    /// The media it acts on, largest first (empty for `purge-remote`).
    pub media: Vec<Media>,
    /// Their totals.
    pub totals: Totals,
    /// For `purge-remote`: remote media last accessed before this (Unix ms)
    /// are purged; for `purge-history`: events before this go.
    pub before_ms: Option<u64>,
    /// For the room commands: the rooms it acts on, as Synapse described
    /// them when the preview was made.
    pub rooms: Vec<RoomListEntry>,
    /// For `purge-deactivated`: the totals of each user's media of the
    /// preview, most bytes first.
    pub users: Vec<(String, Totals)>,
}

impl Preview {
    /// The five largest media.
    pub fn largest(&self) -> &[Media] {
        &self.media[..self.media.len().min(PREVIEW_LARGEST)]
    }

    /// Whether confirming would do nothing (no media or room matched).
    pub fn is_empty(&self) -> bool {
        self.before_ms.is_none() && self.media.is_empty() && self.rooms.is_empty()
    }
}

/// The preview of a purge of `user_id`'s `media` matching `filter`.
pub fn preview_purge(user_id: &str, media: &[Media], filter: MediaFilter, now_ms: u64) -> Preview {
    let selected = select(media, &filter, MediaOrder::Largest, now_ms);
    Preview {
        kind: ActionKind::Purge {
            user_id: user_id.to_owned(),
            filter,
        },
        totals: totals(&selected),
        media: selected,
        before_ms: None,
        rooms: Vec::new(),
        users: Vec::new(),
    }
}

/// The preview of a quarantine of `user_id`'s media not yet quarantined.
pub fn preview_quarantine(user_id: &str, media: &[Media], now_ms: u64) -> Preview {
    let selected: Vec<Media> = select(media, &MediaFilter::default(), MediaOrder::Largest, now_ms)
        .into_iter()
        .filter(|m| !m.quarantined)
        .collect();
    Preview {
        kind: ActionKind::Quarantine {
            user_id: user_id.to_owned(),
        },
        totals: totals(&selected),
        media: selected,
        before_ms: None,
        rooms: Vec::new(),
        users: Vec::new(),
    }
}

/// The preview of a purge of the remote media cache: Synapse cannot tell
/// how much it would free, so the preview holds only the cut-off.
pub fn preview_purge_remote(older_than: Duration, now_ms: u64) -> Preview {
    Preview {
        kind: ActionKind::PurgeRemote { older_than },
        media: Vec::new(),
        totals: Totals::default(),
        before_ms: Some(now_ms.saturating_sub(crate::core::model::millis(older_than))),
        rooms: Vec::new(),
        users: Vec::new(),
    }
}

/// The preview of deleting the media of deactivated users: `media` holds
/// each deactivated local user's media (as listed); those matching
/// `older_than` at `now_ms` are previewed, with totals per user. Users of
/// another server than the first one's are left out (a deactivated user
/// is always local; this keeps one server for the plan).
pub fn preview_purge_deactivated(
    media: &[(String, Vec<Media>)],
    older_than: Option<Duration>,
    now_ms: u64,
) -> Preview {
    let filter = MediaFilter {
        older_than,
        larger_than: None,
    };
    let server = media.iter().find_map(|(u, _)| server_of(u));
    let mut users = Vec::new();
    let mut all = Vec::new();
    for (user_id, theirs) in media {
        if server_of(user_id) != server || users.iter().any(|(u, _)| u == user_id) {
            continue;
        }
        let selected = select(theirs, &filter, MediaOrder::Largest, now_ms);
        if selected.is_empty() {
            continue;
        }
        users.push((user_id.clone(), totals(&selected)));
        all.extend(selected);
    }
    users.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
    let selected = select(&all, &MediaFilter::default(), MediaOrder::Largest, now_ms);
    Preview {
        kind: ActionKind::PurgeDeactivated { older_than },
        totals: totals(&selected),
        media: selected,
        before_ms: None,
        rooms: Vec::new(),
        users,
    }
}

/// What is carried out once confirmed: only what the preview held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPlan {
    /// Delete these local media of the server, one by one.
    Delete {
        /// The user whose media they are.
        user_id: String,
        /// The server part of their `mxc://` URIs.
        server_name: String,
        /// The media IDs.
        media_ids: Vec<String>,
    },
    /// Quarantine these local media, one by one.
    Quarantine {
        /// The user whose media they are.
        user_id: String,
        /// The server part of their `mxc://` URIs.
        server_name: String,
        /// The media IDs.
        media_ids: Vec<String>,
    },
    /// Purge remote media last accessed before this time (Unix ms).
    PurgeRemote {
        /// The cut-off.
        before_ms: u64,
    },
    /// Delete these local media of several users, one by one.
    DeleteMedia {
        /// The server part of their `mxc://` URIs.
        server_name: String,
        /// The media IDs.
        media_ids: Vec<String>,
    },
    /// Delete (and purge) these rooms, one by one.
    DeleteRooms {
        /// The room IDs, as previewed.
        room_ids: Vec<String>,
        /// Block them too.
        block: bool,
        /// Re-read each room just before deleting it, and keep it if a
        /// local user is in it again (`delete-abandoned`).
        recheck: bool,
    },
    /// Purge one room's history before a time.
    PurgeHistory {
        /// The room.
        room_id: String,
        /// The cut-off (Unix ms), computed when the preview was made.
        before_ms: u64,
        /// Delete local users' events too.
        delete_local_events: bool,
    },
}

/// The server part of a user ID (`@a:example.org:8448` → `example.org:8448`).
pub fn server_of(user_id: &str) -> Option<&str> {
    user_id
        .strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
}

/// The plan of a preview; `None` when it would do nothing.
pub fn plan(preview: &Preview) -> Option<ActionPlan> {
    let ids = || preview.media.iter().map(|m| m.media_id.clone()).collect();
    match &preview.kind {
        ActionKind::Purge { user_id, .. } if !preview.media.is_empty() => {
            Some(ActionPlan::Delete {
                user_id: user_id.clone(),
                server_name: server_of(user_id)?.to_owned(),
                media_ids: ids(),
            })
        }
        ActionKind::Quarantine { user_id } if !preview.media.is_empty() => {
            Some(ActionPlan::Quarantine {
                user_id: user_id.clone(),
                server_name: server_of(user_id)?.to_owned(),
                media_ids: ids(),
            })
        }
        ActionKind::PurgeRemote { .. } => preview
            .before_ms
            .map(|before_ms| ActionPlan::PurgeRemote { before_ms }),
        ActionKind::PurgeDeactivated { .. } if !preview.media.is_empty() => {
            Some(ActionPlan::DeleteMedia {
                server_name: server_of(&preview.users.first()?.0)?.to_owned(),
                media_ids: ids(),
            })
        }
        ActionKind::DeleteRoom { .. } | ActionKind::DeleteAbandoned
            if !preview.rooms.is_empty() =>
        {
            Some(ActionPlan::DeleteRooms {
                room_ids: preview.rooms.iter().map(|r| r.room_id.clone()).collect(),
                block: matches!(preview.kind, ActionKind::DeleteRoom { block: true, .. }),
                recheck: matches!(preview.kind, ActionKind::DeleteAbandoned),
            })
        }
        ActionKind::PurgeHistory {
            room_id, local_too, ..
        } => preview.before_ms.map(|before_ms| ActionPlan::PurgeHistory {
            room_id: room_id.clone(),
            before_ms,
            delete_local_events: *local_too,
        }),
        _ => None,
    }
}

/// Whether a sender may act: at least `min_level` in the admin room
/// (`None`: the level could not be read).
pub fn may_act(level: Option<i64>, min_level: i64) -> bool {
    level.is_some_and(|l| l >= min_level)
}

/// A code from 64 random bits: [`CODE_LEN`] letters and digits that cannot
/// be mistaken for one another.
pub fn code_from(random: u64) -> String {
    let n = CODE_ALPHABET.len() as u64;
    let mut r = random;
    (0..CODE_LEN)
        .map(|_| {
            let c = CODE_ALPHABET[(r % n) as usize] as char;
            r /= n;
            c
        })
        .collect()
}

/// Whether `word` (any case) is a code as [`code_from`] makes them:
/// exactly [`CODE_LEN`] characters of the code alphabet. Anything else is
/// refused as the command is read, before it is written anywhere (audit
/// log, state).
pub fn is_code(word: &str) -> bool {
    word.len() == CODE_LEN
        && word
            .bytes()
            .all(|b| CODE_ALPHABET.contains(&b.to_ascii_uppercase()))
}

/// A code as typed: trimmed, upper-case.
fn normalise(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// An action waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The one-time code.
    pub code: String,
    /// What confirming does.
    pub preview: Preview,
    /// Who asked for it.
    pub requested_by: String,
    /// When it stops being valid, Unix ms.
    pub expires_ms: u64,
}

/// Why a confirmation does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmRefusal {
    /// The sender lacks the power level to act.
    NotAllowed {
        /// The level needed.
        needed: i64,
    },
    /// No pending action has this code (wrong, or already used).
    UnknownCode,
    /// The code was valid until this time (Unix ms).
    Expired {
        /// When it expired.
        at_ms: u64,
    },
}

/// What a confirmation decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Carry out this plan, from this preview.
    Carry {
        /// What was confirmed.
        pending: Box<Pending>,
        /// Exactly what to do.
        plan: ActionPlan,
    },
    /// Do nothing, for this reason.
    Refused(ConfirmRefusal),
}

/// The pending confirmations, by code.
#[derive(Debug, Clone, Default)]
pub struct Confirmations {
    pending: BTreeMap<String, Pending>,
}

impl Confirmations {
    /// No pending action.
    pub fn new() -> Confirmations {
        Confirmations::default()
    }

    /// How many actions wait.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Offers `preview` for confirmation under `code` (from [`code_from`])
    /// until `now_ms + valid_for`. Expired entries are dropped; a code
    /// already in use is replaced.
    pub fn offer(
        &mut self,
        preview: Preview,
        requested_by: &str,
        code: String,
        now_ms: u64,
        valid_for: Duration,
    ) -> Pending {
        self.pending.retain(|_, p| p.expires_ms > now_ms);
        while self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.expires_ms)
                .map(|(c, _)| c.clone());
            match oldest {
                Some(c) => self.pending.remove(&c),
                None => break,
            };
        }
        let pending = Pending {
            code: normalise(&code),
            preview,
            requested_by: requested_by.to_owned(),
            expires_ms: now_ms.saturating_add(crate::core::model::millis(valid_for)),
        };
        self.pending.insert(pending.code.clone(), pending.clone());
        pending
    }

    /// Forgets the action waiting under `code`, if any.
    pub fn withdraw(&mut self, code: &str) {
        self.pending.remove(&normalise(code));
    }

    /// Decides a confirmation of `code` at `now_ms` by a sender who may
    /// act or not. A code is used once: carried out or expired, it is gone;
    /// a sender without the level leaves it for someone who has it.
    pub fn confirm(&mut self, code: &str, may_act: bool, needed: i64, now_ms: u64) -> Confirmation {
        if !may_act {
            return Confirmation::Refused(ConfirmRefusal::NotAllowed { needed });
        }
        let Some(pending) = self.pending.remove(&normalise(code)) else {
            return Confirmation::Refused(ConfirmRefusal::UnknownCode);
        };
        if now_ms >= pending.expires_ms {
            return Confirmation::Refused(ConfirmRefusal::Expired {
                at_ms: pending.expires_ms,
            });
        }
        match plan(&pending.preview) {
            Some(plan) => Confirmation::Carry {
                pending: Box::new(pending),
                plan,
            },
            None => Confirmation::Refused(ConfirmRefusal::UnknownCode),
        }
    }
}

/// The outcome of one media of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Done.
    Done,
    /// Already gone (Synapse answered 404): counted as done.
    AlreadyGone,
    /// Failed, with Synapse's reason.
    Failed(String),
    /// Not acted on: it no longer matches the preview (a room a local
    /// user joined since).
    Kept,
}

/// The final report of a carried-out plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActionOutcome {
    /// Media done (deleted or quarantined), with those already gone.
    pub done: u64,
    /// Bytes of the media done.
    pub bytes: u64,
    /// Media that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// For a remote purge: how many Synapse says it deleted.
    pub remote_deleted: Option<u64>,
    /// Items left alone because they no longer match the preview.
    pub kept: Vec<String>,
}

/// Adds up the outcome of each media of `preview`.
pub fn outcome(preview: &Preview, results: &[(String, ItemOutcome)]) -> ActionOutcome {
    let size: BTreeMap<&str, u64> = preview
        .media
        .iter()
        .map(|m| (m.media_id.as_str(), m.media_length))
        .collect();
    let mut out = ActionOutcome::default();
    for (id, result) in results {
        match result {
            ItemOutcome::Done | ItemOutcome::AlreadyGone => {
                out.done += 1;
                out.bytes = out
                    .bytes
                    .saturating_add(size.get(id.as_str()).copied().unwrap_or(0));
            }
            ItemOutcome::Failed(reason) => out.failed.push((id.clone(), reason.clone())),
            ItemOutcome::Kept => out.kept.push(id.clone()),
        }
    }
    out
}

/// Whether a progress message is due after `done` of `total` items: every
/// `every` items, never for the last one (the final report follows).
pub fn progress_due(done: usize, total: usize, every: usize) -> bool {
    every > 0 && done > 0 && done < total && done.is_multiple_of(every)
}

#[cfg(test)]
mod tests;
