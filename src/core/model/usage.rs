//! Domain data shared by the core and the adapters: what Synapse reports about
//! a user's media and a room's size.
//!
//! These are also the wire types of Synapse's statistics admin API (serde
//! derives only; decoding lives in [`crate::synapse`]).

use serde::{Deserialize, Serialize};

/// One user's local media usage, as `GET /_synapse/admin/v1/statistics/users/media`
/// reports it.
///
/// Only users with at least one row in Synapse's `local_media_repository`
/// appear; a user with no local media is absent, not zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMedia {
    /// Fully qualified Matrix user ID, e.g. `@alice:example.org`.
    pub user_id: String,
    /// `null` when the user has no profile row or was erased on deactivation.
    pub displayname: Option<String>,
    /// Number of media rows (including pending asynchronous uploads).
    pub media_count: u64,
    /// Total bytes; `null` when every one of the user's rows is a pending
    /// upload whose length is not known yet.
    pub media_length: Option<u64>,
}

impl UserMedia {
    /// Bytes counted against quotas: a pending upload counts as zero.
    pub fn bytes(&self) -> u64 {
        self.media_length.unwrap_or(0)
    }

    /// A user as Synapse reported it, checked: a negative count or length,
    /// or one beyond [`MAX_PLAUSIBLE`], cannot be right, and is Synapse's
    /// error, named, rather than a figure to alert on.
    pub fn checked(
        user_id: String,
        displayname: Option<String>,
        media_count: i128,
        media_length: Option<i128>,
    ) -> Result<UserMedia, Implausible> {
        let check = |field: &'static str, value: i128| {
            u64::try_from(value)
                .ok()
                .filter(|v| *v <= MAX_PLAUSIBLE)
                .ok_or_else(|| Implausible {
                    user_id: user_id.clone(),
                    field,
                    value,
                })
        };
        let media_count = check("media_count", media_count)?;
        let media_length = media_length.map(|v| check("media_length", v)).transpose()?;
        Ok(UserMedia {
            user_id,
            displayname,
            media_count,
            media_length,
        })
    }
}

/// Largest `media_length` or `media_count` believed from Synapse: 2^53
/// (8 PiB, or as many media), past which no server holds one user's media
/// and JSON numbers stop being exact.
pub const MAX_PLAUSIBLE: u64 = 1 << 53;

/// A figure Synapse reported for a user that cannot be right (negative, or
/// beyond [`MAX_PLAUSIBLE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implausible {
    /// The user it was reported for.
    pub user_id: String,
    /// `media_length` or `media_count`.
    pub field: &'static str,
    /// The value as Synapse sent it.
    pub value: i128,
}

/// One room's estimated database footprint, as
/// `GET /_synapse/admin/v1/statistics/database/rooms` reports it.
///
/// The estimate comes from PostgreSQL planner statistics and can be far from
/// reality; media is not included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSize {
    /// The room ID, e.g. `!abc:example.org`.
    pub room_id: String,
    /// Estimated bytes used by the room's events in the database.
    pub estimated_size: u64,
}

/// A field users can be ranked or limited by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaMetric {
    /// Total bytes of local media.
    MediaLength,
    /// Number of local media items.
    MediaCount,
}

impl MediaMetric {
    /// The value of this metric for one user.
    pub fn of(self, user: &UserMedia) -> u64 {
        match self {
            MediaMetric::MediaLength => user.bytes(),
            MediaMetric::MediaCount => user.media_count,
        }
    }

    /// The name Synapse and the command grammar use for this metric.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMetric::MediaLength => "media_length",
            MediaMetric::MediaCount => "media_count",
        }
    }
}

impl std::fmt::Display for MediaMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A closed-open span of upload times in Unix milliseconds, used to count only
/// media uploaded within a window (`from_ts` / `until_ts` in Synapse's API,
/// both inclusive there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    /// Earliest upload time counted, in ms; `None` means no lower bound.
    pub from_ms: Option<u64>,
    /// Latest upload time counted, in ms; `None` means no upper bound.
    pub until_ms: Option<u64>,
}

impl TimeRange {
    /// Every upload, whenever it happened.
    pub const ALL: TimeRange = TimeRange {
        from_ms: None,
        until_ms: None,
    };

    /// The uploads of the last `window` before `now_ms` (inclusive bounds).
    pub fn last(window: std::time::Duration, now_ms: u64) -> TimeRange {
        let window_ms = crate::core::model::millis(window);
        TimeRange {
            from_ms: Some(now_ms.saturating_sub(window_ms)),
            until_ms: None,
        }
    }
}
