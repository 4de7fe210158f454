//! Delivery to the admin room: how loudly the daemon says that a message
//! could not be posted yet (it stays queued and is retried either way), and
//! how the outbox is kept small while messages wait ([`collapse`]).
//!
//! At start-up the first run usually ends before the bot has connected (it
//! syncs, sets up encryption and joins the room first): its summary waits
//! a few seconds, which is the normal order and no warning. A delay that
//! lasts — more than [`QUIET_ATTEMPTS`] failed posts, or past
//! [`START_UP_GRACE`] after the start — is a warning, as is any failure
//! once a message has been delivered since the start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::core::alerting::lifecycle::{
    AlertRecord, AlertState, Announced, Change, Outgoing, Tally,
};
use crate::core::model::violation::ViolationKey;

/// How long after the start failed posts are expected (the bot connects in
/// seconds; a minute leaves room for a slow homeserver or a first login
/// with its key upload).
pub const START_UP_GRACE: Duration = Duration::from_secs(60);

/// Failed posts at start-up that stay quiet (each run tries twice; the
/// daemon retries when the bot connects and every 30 s).
pub const QUIET_ATTEMPTS: u32 = 5;

/// The level of the log line of a failed post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loudness {
    /// Expected during start-up.
    Info,
    /// Worth an admin's look.
    Warn,
}

/// The level of the `failed`-th failed post in a row (from 1), `now_ms`,
/// for a daemon started at `started_ms` that has (or has not yet)
/// delivered a message since.
pub fn undelivered(
    started_ms: u64,
    now_ms: u64,
    failed: u32,
    delivered_since_start: bool,
) -> Loudness {
    let grace = u64::try_from(START_UP_GRACE.as_millis()).unwrap_or(u64::MAX);
    let starting = !delivered_since_start && now_ms.saturating_sub(started_ms) < grace;
    if starting && failed <= QUIET_ATTEMPTS {
        Loudness::Info
    } else {
        Loudness::Warn
    }
}

/// The most messages the outbox holds once [`collapse`]d: run summaries
/// become one message, and the oldest of the other messages (conditions,
/// reload answers, digests) beyond the cap are dropped, counted in it.
pub const OUTBOX_CAP: usize = 50;

/// The outbox collapsed: what the one message says, and which messages it
/// replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Collapse {
    /// The summaries and messages it stands for.
    pub tally: Tally,
    /// The alerts the summaries announced that are still open, as they are
    /// now (as reminders: open since when they started).
    pub open: Vec<Announced>,
    /// Transaction IDs of the messages it replaces or drops.
    pub remove: Vec<String>,
}

/// Whether a queued message is a run's summary (or a collapse of them).
fn is_summary(m: &Outgoing) -> bool {
    m.collapsed.is_some() || !m.keys.is_empty() || !m.resolved.is_empty()
}

/// How to keep the outbox small while the admin room does not take
/// messages (a homeserver unreachable for days queues a summary per run):
/// when two run summaries or more wait, or the outbox holds more than
/// `cap` messages, one message replaces every waiting summary — the
/// latest state of each alert they announced, from `active` (open ones as
/// they are now, resolved ones said as resolved) — and the oldest other
/// messages beyond `cap` are dropped, counted in it. `None` when the
/// outbox is fine as it is. Nothing about an alert still open is lost: its
/// key is in the collapsed message (reacting to it acknowledges it).
pub fn collapse(
    outbox: &[Outgoing],
    active: &BTreeMap<ViolationKey, AlertRecord>,
    cap: usize,
) -> Option<Collapse> {
    let cap = cap.max(2);
    let summaries = outbox.iter().filter(|m| is_summary(m)).count();
    if summaries < 2 && outbox.len() <= cap {
        return None;
    }
    let mut tally = Tally {
        since_ms: u64::MAX,
        ..Tally::default()
    };
    let mut mentioned = BTreeSet::new();
    let mut remove = Vec::new();
    for m in outbox.iter().filter(|m| is_summary(m)) {
        match &m.collapsed {
            Some(t) => {
                tally.summaries = tally.summaries.saturating_add(t.summaries);
                tally.dropped = tally.dropped.saturating_add(t.dropped);
                tally.since_ms = tally.since_ms.min(t.since_ms);
                mentioned.extend(t.resolved.iter().cloned());
            }
            None => tally.summaries = tally.summaries.saturating_add(1),
        }
        tally.since_ms = tally.since_ms.min(m.queued_ms);
        mentioned.extend(m.keys.iter().cloned());
        mentioned.extend(m.resolved.iter().cloned());
        remove.push(m.txn_id.clone());
    }
    let others: Vec<&Outgoing> = outbox.iter().filter(|m| !is_summary(m)).collect();
    let excess = (others.len() + 1).saturating_sub(cap);
    for m in &others[..excess] {
        tally.dropped = tally.dropped.saturating_add(1);
        tally.since_ms = tally.since_ms.min(m.queued_ms);
        remove.push(m.txn_id.clone());
    }
    let mut open = Vec::new();
    for key in mentioned {
        match active.get(&key) {
            Some(record) => open.push(Announced {
                change: Change::Reminder,
                violation: record.violation.clone(),
                since_ms: record.since_ms,
            }),
            None => tally.resolved.push(key),
        }
    }
    if tally.since_ms == u64::MAX {
        tally.since_ms = 0;
    }
    Some(Collapse {
        tally,
        open,
        remove,
    })
}

impl AlertState {
    /// Carries out a [`collapse`]: its messages leave the outbox, and one
    /// message (`plain`, `html`, its wording) is queued after the others,
    /// announcing the open alerts. Answers its transaction ID.
    pub fn collapse_outbox(
        &mut self,
        collapse: Collapse,
        plain: String,
        html: String,
        now_ms: u64,
    ) -> String {
        let Collapse {
            tally,
            open,
            remove,
        } = collapse;
        let remove: BTreeSet<String> = remove.into_iter().collect();
        self.outbox.retain(|m| !remove.contains(&m.txn_id));
        let keys = open.iter().map(|a| a.violation.key()).collect();
        let txn_id = self.enqueue_alert(plain, html, keys, now_ms);
        if let Some(last) = self.outbox.last_mut() {
            last.collapsed = Some(tally);
        }
        txn_id
    }
}

#[cfg(test)]
mod collapse_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_700_000_000_000;

    #[test]
    fn the_first_failed_posts_of_the_start_up_are_no_warning() {
        // The first run's two attempts, before the bot has connected.
        assert_eq!(undelivered(START, START + 2_000, 1, false), Loudness::Info);
        assert_eq!(undelivered(START, START + 2_100, 2, false), Loudness::Info);
        assert_eq!(
            undelivered(START, START + 59_999, QUIET_ATTEMPTS, false),
            Loudness::Info
        );
    }

    #[test]
    fn a_delay_that_lasts_is_a_warning() {
        // Past the grace.
        assert_eq!(undelivered(START, START + 60_000, 1, false), Loudness::Warn);
        // Too many attempts within it.
        assert_eq!(
            undelivered(START, START + 10_000, QUIET_ATTEMPTS + 1, false),
            Loudness::Warn
        );
        // After a delivery: the room was reachable, failing now is news.
        assert_eq!(undelivered(START, START + 5_000, 1, true), Loudness::Warn);
    }

    #[test]
    fn a_clock_before_the_start_is_no_panic() {
        assert_eq!(undelivered(START, START - 5_000, 1, false), Loudness::Info);
        assert_eq!(undelivered(u64::MAX, 0, u32::MAX, false), Loudness::Warn);
    }
}
