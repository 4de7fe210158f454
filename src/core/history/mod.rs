//! Usage history: what a run leaves behind so that admins can ask about
//! change — who grew the most, how fast the media store fills, when it
//! will be full.
//!
//! Every run that reached its end is recorded ([`RunRecord`]): the server's
//! totals (users with media, bytes, media), the violations per rule and
//! severity, and per-user totals for the users that matter — every user
//! over (or near) a limit, and the [`TOP_USERS`] largest by bytes — never
//! every user every run. A partial run (a walk cut short) is recorded as
//! partial: its totals are too low, so trends and growth use complete runs
//! only.
//!
//! Old runs are thinned ([`thin`]): runs older than `history.thin_after`
//! (30 days) are kept one a day, and runs older than `history.keep` (400
//! days) are deleted. Trends, forecasts and growth are computed here
//! ([`trend`]); the SQLite file that keeps the records is an adapter
//! ([`crate::history`]).
//!
//! Pure: no I/O, time is an argument.

pub mod thin;
pub mod trend;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::core::engine::eval::RunOutcome;
use crate::core::model::usage::UserMedia;
use crate::core::model::violation::{Severity, Subject};

/// Users recorded per run by bytes, besides the violators.
pub const TOP_USERS: usize = 1000;
/// The span whose trend a forecast extends: the last 30 days.
pub const FORECAST_BASIS: Duration = Duration::from_secs(30 * 86_400);

/// How many violations of one rule, by severity, a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    /// The rule's name.
    pub rule: String,
    /// Warnings (early warnings included).
    pub warning: u64,
    /// Critical violations.
    pub critical: u64,
}

/// One user's totals at a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTotal {
    /// The user ID.
    pub user_id: String,
    /// Bytes of all their media.
    pub bytes: u64,
    /// How many media.
    pub media: u64,
}

/// What one run leaves in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// When the run started (Unix ms).
    pub started_ms: u64,
    /// `None` for a complete run; why it was partial otherwise.
    pub partial: Option<String>,
    /// Users with media.
    pub users: u64,
    /// Their bytes, all together.
    pub bytes: u64,
    /// Their media, all together.
    pub media: u64,
    /// Violations per rule (rules without violations are left out).
    pub rules: Vec<RuleCount>,
    /// The users that matter, by user ID.
    pub users_recorded: Vec<UserTotal>,
    /// The bytes of the smallest of the [`TOP_USERS`] largest users when
    /// some users were left out: a user not recorded had at most this
    /// much. 0 when every user was recorded.
    pub floor_bytes: u64,
}

impl RunRecord {
    /// Whether the run saw every user.
    pub fn is_complete(&self) -> bool {
        self.partial.is_none()
    }
}

/// Gathers, while a run walks, what its record needs: fed the users of the
/// walk of all media, as they come.
#[derive(Debug, Default)]
pub struct Collector {
    /// Every user of the walk of all media: (bytes, media). Kept whole so
    /// that violators of windowed rules get their totals too.
    all: HashMap<String, (u64, u64)>,
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Collector {
        Collector::default()
    }

    /// Records users of a walk; only the walk of all media (`window`
    /// `None`) counts. A repeat replaces the earlier entry.
    pub fn record(&mut self, window: Option<Duration>, users: &[UserMedia]) {
        if window.is_some() {
            return;
        }
        for u in users {
            self.all
                .insert(u.user_id.clone(), (u.bytes(), u.media_count));
        }
    }

    /// The record of the run that ended with `outcome`. `None` when the run
    /// had no walk of all media (every user rule has a window): there are
    /// no totals to record.
    pub fn finish(self, outcome: &RunOutcome) -> Option<RunRecord> {
        let all = outcome.walks.iter().find(|w| w.window.is_none())?;
        let partial = outcome.incomplete_cause();
        let mut rules: BTreeMap<&str, RuleCount> = BTreeMap::new();
        let mut violators: Vec<&str> = Vec::new();
        for v in &outcome.violations {
            let count = rules.entry(&*v.rule).or_insert_with(|| RuleCount {
                rule: v.rule.to_string(),
                warning: 0,
                critical: 0,
            });
            match v.severity {
                Severity::Critical => count.critical += 1,
                _ => count.warning += 1,
            }
            if let Subject::User { user_id, .. } = &v.subject {
                violators.push(user_id.as_str());
            }
        }
        let (top, floor_bytes) = top_by_bytes(&self.all, TOP_USERS);
        let mut chosen: BTreeMap<&str, (u64, u64)> = top.into_iter().collect();
        for id in violators {
            if let Some(&totals) = self.all.get(id) {
                chosen.insert(id, totals);
            }
        }
        Some(RunRecord {
            started_ms: outcome.now_ms,
            partial,
            users: all.users,
            bytes: all.bytes,
            media: all.media,
            rules: rules.into_values().collect(),
            users_recorded: chosen
                .into_iter()
                .map(|(id, (bytes, media))| UserTotal {
                    user_id: id.to_owned(),
                    bytes,
                    media,
                })
                .collect(),
            floor_bytes,
        })
    }
}

/// A user and their (bytes, media).
type Totals<'a> = (&'a str, (u64, u64));

/// The `n` users with the most bytes (ties by user ID), and the bytes of
/// the last of them when others were left out (0 otherwise).
fn top_by_bytes(all: &HashMap<String, (u64, u64)>, n: usize) -> (Vec<Totals<'_>>, u64) {
    let mut users: Vec<Totals<'_>> = all.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let order = |a: &Totals<'_>, b: &Totals<'_>| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0));
    if users.len() <= n {
        return (users, 0);
    }
    if n == 0 {
        return (Vec::new(), users.iter().map(|u| u.1.0).max().unwrap_or(0));
    }
    users.select_nth_unstable_by(n - 1, order);
    users.truncate(n);
    let floor = users.iter().map(|u| u.1.0).min().unwrap_or(0);
    (users, floor)
}

#[cfg(test)]
mod tests;
