//! The digest (`digest: {cron: "0 9 * * 1"}`): one message at the times
//! of a cron expression with the media store's growth since the previous
//! digest, the top growers, the violations opened and closed meanwhile,
//! the forecast to `history.capacity`, and the chart (of the last 30 days
//! at least).
//!
//! Decided here, from the persisted [`DigestState`], the history and the
//! time (an argument): whether a digest is due ([`due`]), at most one per
//! due time, and what it says ([`digest`]). Words in
//! [`crate::core::text::digest`]; the daemon queues it in the outbox
//! together with the new state (one save: a crash posts it once), and
//! draws and posts the chart with it.
//!
//! Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::alerting::lifecycle::{AlertPlan, Change};
use crate::core::doc::Units;
use crate::core::history::trend::Point;
use crate::core::history::view::{self, GrowthView, RunUsers, TrendView};
use crate::core::policy::CronSchedule;

/// Top growers a digest lists.
pub const DIGEST_TOP: u32 = 5;
/// Due times looked at when catching up: enough for a minutely cron a week
/// late; beyond that the digest goes out at the last one looked at.
const CATCH_UP: usize = 20_000;

/// Violations of one rule opened and closed since the last digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTally {
    /// Announced as new.
    pub opened: u64,
    /// Announced as resolved.
    pub closed: u64,
}

/// What the persisted state keeps for the digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestState {
    /// The due time of the last digest queued, or when the digest was
    /// first configured: nothing at or before it is due. `None`: no digest
    /// configured (yet).
    pub settled_ms: Option<u64>,
    /// Violations opened and closed since `settled_ms`, by rule.
    #[serde(default)]
    pub tally: BTreeMap<String, RuleTally>,
}

impl DigestState {
    /// Counts the new and resolved violations a run announces (silenced
    /// ones are not announced, so not counted). Nothing while no digest is
    /// configured.
    pub fn count(&mut self, plan: &AlertPlan) {
        if self.settled_ms.is_none() {
            return;
        }
        for line in &plan.lines {
            let t = self
                .tally
                .entry(line.violation.rule.to_string())
                .or_default();
            match line.change {
                Change::New => t.opened += 1,
                Change::Resolved => t.closed += 1,
                Change::Escalated | Change::Reminder => {}
            }
        }
    }

    /// After the digest of `due_ms` was queued: settled up to it, counts
    /// start again.
    pub fn queued(&mut self, due_ms: u64) {
        self.settled_ms = Some(due_ms);
        self.tally.clear();
    }
}

/// Whether a digest is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// First time with a digest configured: settle at now, nothing due yet
    /// (a digest added on a Wednesday does not post last Monday's).
    Start,
    /// The next one is due then (Unix ms).
    Wait(u64),
    /// Post now the digest of this due time (the latest at or before now;
    /// earlier missed ones are not posted).
    Now(u64),
    /// The expression has no future time.
    Never,
}

fn utc(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default()
}

fn ms(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

/// Whether a digest is due at `now_ms`, given the state's `settled_ms`.
/// A due time missed while the daemon was down is posted when it comes
/// back (once, whatever the number missed); one already queued is never
/// due again.
pub fn due(cron: &CronSchedule, settled_ms: Option<u64>, now_ms: u64) -> Due {
    let Some(settled) = settled_ms else {
        return Due::Start;
    };
    let Some(next) = cron.next_after(&utc(settled)) else {
        return Due::Never;
    };
    if ms(next) > now_ms {
        return Due::Wait(ms(next));
    }
    let mut latest = next;
    for _ in 0..CATCH_UP {
        match cron.next_after(&latest) {
            Some(t) if ms(t) <= now_ms => latest = t,
            _ => break,
        }
    }
    Due::Now(ms(latest))
}

/// What a digest says.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The due time it is posted for.
    pub due_ms: u64,
    /// The start of its span: the previous digest's due time, or when the
    /// digest was configured.
    pub since_ms: u64,
    /// The server's trend over the span, with the forecast at the last 30
    /// days' trend (with `history.capacity`).
    pub trend: TrendView,
    /// The top growers over the span.
    pub growth: GrowthView,
    /// Violations opened and closed in the span, by rule (rules with
    /// neither are left out).
    pub tally: Vec<(String, RuleTally)>,
    /// Violations open now (announced and not resolved).
    pub open_now: usize,
    /// The server's rooms and, of them, those without a local member, when
    /// the room list could be read.
    pub rooms: Option<(usize, usize)>,
}

impl Digest {
    /// Violations opened and closed in the span, all rules together.
    pub fn totals(&self) -> RuleTally {
        self.tally
            .iter()
            .fold(RuleTally::default(), |a, (_, t)| RuleTally {
                opened: a.opened + t.opened,
                closed: a.closed + t.closed,
            })
    }
}

/// What the history says for a digest: the server's sizes (complete runs
/// from at least 30 days back, for the forecast) and the two runs growth
/// compares.
#[derive(Debug, Clone, Default)]
pub struct DigestHistory {
    /// Server-wide sizes.
    pub points: Vec<Point>,
    /// The last complete run at or before the span's start (else the
    /// first one).
    pub start: Option<RunUsers>,
    /// The last complete run.
    pub end: Option<RunUsers>,
}

/// The digest of `due_ms`, composed at `now_ms` from `state` (its span
/// starts at `state.settled_ms`), the history and the open violations.
pub fn digest(
    due_ms: u64,
    state: &DigestState,
    history: DigestHistory,
    open_now: usize,
    capacity: Option<u64>,
    units: Units,
    now_ms: u64,
) -> Digest {
    let since_ms = state.settled_ms.unwrap_or(now_ms).min(now_ms);
    // At least a minute: a span of nothing shows nothing.
    let window = Duration::from_millis((now_ms - since_ms).max(60_000));
    let trend = view::trend_view(None, window, history.points, capacity, units, now_ms);
    let growth = view::growth_view(
        window,
        DIGEST_TOP,
        history.start,
        history.end,
        units,
        now_ms,
    );
    Digest {
        due_ms,
        since_ms,
        trend,
        growth,
        tally: state
            .tally
            .iter()
            .filter(|(_, t)| t.opened + t.closed > 0)
            .map(|(rule, t)| (rule.clone(), *t))
            .collect(),
        open_now,
        rooms: None,
    }
}

#[cfg(test)]
mod tests;
