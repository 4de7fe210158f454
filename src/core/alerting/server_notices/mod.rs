//! Server notices to users over a rule (`notify_user`): the message
//! template and its placeholders, which lifecycle events notify, the text a
//! user gets, the per-user rate limit and the persisted outbox.
//!
//! A notice is planned from the run's announcement ([`crate::core::alerting::lifecycle`]):
//! each new, escalated or reminded violation of a user whose rule asks for
//! that event gives one notice, at most one per user per run and per the
//! rule's `at_most_every` (default [`MIN_INTERVAL`]). Notices are queued in
//! the state, with a transaction ID, *before* they are sent (Synapse's
//! `PUT .../send_server_notice/<txn_id>` answers a repeated ID without
//! sending twice), and removed once Synapse took them.
//!
//! The run's summary says what became of the run's notices ("notified 3
//! users"): it is saved with them, held back ([`Held`]) while they are tried
//! once, then released with the [`NoticeTally`] of that try — one message per run,
//! and a crash in between neither loses it nor sends a notice twice.
//!
//! Pure: the clock is an argument.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::alerting::lifecycle::{Announced, Change};
use crate::core::alerting::settle::RunSummary;
use crate::core::doc::{Doc, Line};
use crate::core::model::violation::{Subject, Violation};
use crate::core::policy::notify_user::{Events, NotifyUser, Template};

/// Whether `change` notifies the user, by the rule's `notify_user.on`.
pub fn notifies(on: &Events, change: Change) -> bool {
    match change {
        Change::New => on.new,
        Change::Escalated => on.escalation,
        Change::Reminder => on.reminder,
        Change::Resolved => false,
    }
}

/// A notice waiting for Synapse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedNotice {
    /// Sent with this transaction ID, every time.
    pub txn_id: String,
    /// The user.
    pub user_id: String,
    /// The rule.
    pub rule: String,
    /// Plain body.
    pub plain: String,
    /// HTML body.
    pub html: String,
    /// When it was queued (Unix ms).
    pub queued_ms: u64,
}

/// The notices part of the daemon's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeState {
    /// Waiting for Synapse, oldest first.
    pub outbox: Vec<QueuedNotice>,
    /// When each user was last sent a notice (Unix ms).
    pub last_sent: BTreeMap<String, u64>,
    /// Counter of transaction IDs.
    pub next_txn: u64,
    /// Whether the admins were told that Synapse has no server notices.
    pub disabled_said: bool,
    /// The last run's summary, waiting for its notices to be tried.
    pub held: Option<Held>,
}

/// A run's summary held back until the run's notices were tried once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The summary.
    pub summary: RunSummary,
    /// The transaction IDs of the run's notices not tried yet.
    pub untried: Vec<String>,
    /// What became of the others.
    pub tally: NoticeTally,
}

/// A run's summary, released with what became of its notices (worded by
/// [`crate::core::text::summary::run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    /// The run's summary.
    pub summary: RunSummary,
    /// What became of its notices.
    pub tally: NoticeTally,
}

/// What became of a run's notices, for its summary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeTally {
    /// Users Synapse took a notice for.
    pub notified: Vec<String>,
    /// Users whose notice waits for Synapse to answer (sent later).
    pub waiting: Vec<String>,
    /// Users whose notice Synapse refused, with its reason.
    pub refused: Vec<(String, String)>,
    /// Users not notified because Synapse has no server notices.
    pub disabled: Vec<String>,
}

impl NoticeTally {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.notified.is_empty()
            && self.waiting.is_empty()
            && self.refused.is_empty()
            && self.disabled.is_empty()
    }
}

/// A notice to send (or, for `check --notify`, to show).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The user.
    pub user_id: String,
    /// The rule.
    pub rule: String,
    /// The rule's message, to be filled in with the violation's values
    /// ([`crate::core::text::server_notices::notice`]).
    pub message: Template,
    /// The violation the user is told about.
    pub violation: Violation,
}

/// The notices `check --notify` shows for a run's `violations`: each as if
/// new, nobody notified yet.
pub fn preview(
    violations: &[Violation],
    notify: &dyn Fn(&str) -> Option<NotifyUser>,
) -> Vec<Planned> {
    let lines: Vec<Announced> = violations
        .iter()
        .map(|v| Announced {
            change: Change::New,
            violation: v.clone(),
            since_ms: 0,
        })
        .collect();
    plan(&lines, notify, &BTreeMap::new(), 0)
}

/// The notices for `lines` (a run's announcement), by rule name: one per
/// user at most, skipping users notified less than the rule's
/// `at_most_every` before `now_ms` (by `last_sent`).
pub fn plan(
    lines: &[Announced],
    notify: &dyn Fn(&str) -> Option<NotifyUser>,
    last_sent: &BTreeMap<String, u64>,
    now_ms: u64,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for a in lines {
        let Subject::User { user_id, .. } = &a.violation.subject else {
            continue;
        };
        let Some(n) = notify(&a.violation.rule) else {
            continue;
        };
        let interval = crate::core::model::millis(n.at_most_every);
        if !notifies(&n.on, a.change)
            || out.iter().any(|p| &p.user_id == user_id)
            || last_sent
                .get(user_id)
                .is_some_and(|&t| now_ms.saturating_sub(t) < interval)
        {
            continue;
        }
        out.push(Planned {
            user_id: user_id.clone(),
            rule: a.violation.rule.to_string(),
            message: n.message.clone(),
            violation: a.violation.clone(),
        });
    }
    out
}

impl NoticeState {
    /// Queues `planned` at `now_ms` (saved before sending), records the
    /// users as notified, and forgets notifications older than `keep` (the
    /// longest `at_most_every`). Returns the new transaction IDs.
    pub fn enqueue(
        &mut self,
        planned: Vec<Planned>,
        text: impl Fn(&Planned) -> Line,
        now_ms: u64,
        keep: Duration,
    ) -> Vec<String> {
        let mut txn_ids = Vec::new();
        for p in planned {
            self.next_txn += 1;
            let m = Doc::paragraph(text(&p)).message();
            self.last_sent.insert(p.user_id.clone(), now_ms);
            let txn_id = format!("warden-notice-{now_ms}-{}", self.next_txn);
            txn_ids.push(txn_id.clone());
            self.outbox.push(QueuedNotice {
                txn_id,
                user_id: p.user_id,
                rule: p.rule,
                plain: m.plain,
                html: m.html,
                queued_ms: now_ms,
            });
        }
        let horizon = crate::core::model::millis(keep);
        self.last_sent
            .retain(|_, t| now_ms.saturating_sub(*t) < horizon);
        txn_ids
    }

    /// Removes the notice sent with `txn_id`.
    pub fn delivered(&mut self, txn_id: &str) {
        self.outbox.retain(|n| n.txn_id != txn_id);
    }

    /// Holds `summary` back until the notices `txn_ids` were tried once;
    /// a summary still held (its release was missed) is returned, to be
    /// posted first.
    pub fn hold(&mut self, summary: RunSummary, txn_ids: Vec<String>) -> Option<Released> {
        let previous = self.release();
        self.held = Some(Held {
            summary,
            untried: txn_ids,
            tally: NoticeTally::default(),
        });
        previous
    }

    /// Synapse took the notice `txn_id`; `false` when it was not one of the
    /// held summary's (it had been waiting: say so on its own).
    pub fn sent(&mut self, txn_id: &str) -> bool {
        let user = self.take(txn_id);
        if let (Some(user), Some(held)) = (user, self.held.as_mut())
            && untry(held, txn_id)
        {
            held.tally.notified.push(user);
            return true;
        }
        false
    }

    /// Synapse refused the notice `txn_id` for good, saying `reason`.
    pub fn refused(&mut self, txn_id: &str, reason: &str) {
        let user = self.take(txn_id);
        if let (Some(user), Some(held)) = (user, self.held.as_mut())
            && untry(held, txn_id)
        {
            held.tally.refused.push((user, reason.to_owned()));
        }
    }

    /// Synapse has no server notices: every queued notice is dropped.
    /// Returns how many.
    pub fn disabled(&mut self) -> usize {
        let dropped = std::mem::take(&mut self.outbox);
        if let Some(held) = self.held.as_mut() {
            for n in &dropped {
                if untry(held, &n.txn_id) {
                    held.tally.disabled.push(n.user_id.clone());
                }
            }
        }
        dropped.len()
    }

    /// The violations the held summary announces (reacting to it
    /// acknowledges them); empty when no summary is held.
    pub fn held_keys(&self) -> Vec<crate::core::model::violation::ViolationKey> {
        self.held
            .as_ref()
            .map(|h| h.summary.plan.keys())
            .unwrap_or_default()
    }

    /// The held summary, once its notices were tried: those not tried are
    /// waiting for Synapse. `None` when no summary is held.
    pub fn release(&mut self) -> Option<Released> {
        let mut held = self.held.take()?;
        for txn_id in std::mem::take(&mut held.untried) {
            if let Some(n) = self.outbox.iter().find(|n| n.txn_id == txn_id) {
                held.tally.waiting.push(n.user_id.clone());
            }
        }
        Some(Released {
            summary: held.summary,
            tally: held.tally,
        })
    }

    fn take(&mut self, txn_id: &str) -> Option<String> {
        let i = self.outbox.iter().position(|n| n.txn_id == txn_id)?;
        Some(self.outbox.remove(i).user_id)
    }
}

/// Takes `txn_id` off the held summary's untried notices; whether it was.
fn untry(held: &mut Held, txn_id: &str) -> bool {
    let before = held.untried.len();
    held.untried.retain(|t| t != txn_id);
    held.untried.len() != before
}

#[cfg(test)]
mod tests;
