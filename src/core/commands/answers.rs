//! What some replies show, as plain data gathered by the adapters: the
//! `top` list and its source, and the daemon's `status`.

use std::time::Duration;

use crate::core::model::usage::{MediaMetric, UserMedia};

/// Where the data of a `top` answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopSource {
    /// The daemon's last walk, this old.
    LastWalk {
        /// Age of the walk.
        age: Duration,
    },
    /// One call to Synapse, just now.
    Live,
}

/// What a `top` answer shows.
#[derive(Debug, Clone, Copy)]
pub struct TopView<'a> {
    /// Users asked for.
    pub n: u32,
    /// Ranked by.
    pub metric: MediaMetric,
    /// Only uploads of this last span.
    pub window: Option<Duration>,
    /// The users, largest first.
    pub users: &'a [UserMedia],
    /// Users with media (in the window), all of them.
    pub total: u64,
    /// Where the data comes from.
    pub source: TopSource,
}

/// Health of a dependency, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Answering; the detail (e.g. Synapse's version).
    Up(String),
    /// Not answering; why.
    Down(String),
    /// Not checked.
    Unknown,
}

/// The last run, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    /// Start (Unix ms).
    pub started_ms: u64,
    /// Duration in ms.
    pub took_ms: u64,
    /// Violations found; `None` when the run failed.
    pub violations: Option<usize>,
    /// Those of them a silence held back.
    pub silenced: usize,
    /// Why it failed.
    pub error: Option<String>,
    /// Why it was partial (a walk cut short), when it was.
    pub incomplete: Option<String>,
    /// Where it read the users' media totals (`None`: it failed).
    pub source: Option<crate::core::model::users_source::UsersSource>,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// The last run, if any.
    pub last_run: Option<RunView>,
    /// When the next run is due (Unix ms).
    pub next_run_ms: Option<u64>,
    /// Synapse unreachable since (Unix ms) and why.
    pub synapse_outage: Option<(u64, String)>,
    /// Synapse's admin API.
    pub synapse: Health,
    /// The issuer the homeserver delegates authentication to (MAS), if it
    /// does.
    pub delegated_auth: Option<String>,
    /// The Matrix connection.
    pub matrix: Health,
    /// Announcements waiting for Matrix.
    pub queued: usize,
}
