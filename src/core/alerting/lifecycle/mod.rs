//! Alert state: which violations have been announced, and what a new run
//! should say about them — the lifecycle admins know from Alertmanager.
//!
//! - A new violation is announced once.
//! - An ongoing one is repeated only after `repeat_after`.
//! - An escalation (warning → critical, or usage grown by a configured factor
//!   since it was last announced) is announced at once.
//! - A resolved one is announced as resolved (when configured) and forgotten.
//! - A silenced one ([`crate::core::alerting::silences`]) is not announced — neither
//!   new, nor reminded, nor escalated — but tracked, so that its resolution
//!   is announced and, once the silence is over, it is announced as new if
//!   it never was. A silence that expires while violations it matched are
//!   still there gets one line in the next summary.
//! - An acknowledged one (a ✅ or 👀 reaction to the message that announced
//!   it) is not reminded until it changes: escalates, or resolves and comes
//!   back.
//!
//! [`AlertState::plan`] compares a run's violations with the state and says
//! what to announce, without changing anything; [`AlertState::apply`] records
//! that the announcement was handed over for delivery. Delivery is made
//! exactly-once by the outbox: an announcement is stored in the state, with a
//! transaction ID, *before* it is sent, and sent again with the same ID after a
//! crash (Matrix de-duplicates sends by transaction ID), then removed once
//! delivered. The whole state is plain data, (de)serialized by the daemon.
//!
//! A partial run (a walk cut short, room sizes unavailable) resolves only
//! what it looked at: [`AlertState::plan_covered`] and
//! [`AlertState::apply_covered`] take the run's [`Coverage`], and an open
//! alert whose subject the run did not look at stays as it is.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::alerting::silences::{Silence, Silences};
use crate::core::model::coverage::Coverage;
use crate::core::model::violation::{Severity, Violation, ViolationKey};
use crate::core::policy::AlertSettings;

/// Messages of which the violations are remembered, for acknowledgements.
const KEEP_POSTED: usize = 200;

/// Whether a reaction with this key acknowledges an alert: ✅ or 👀, with
/// or without the emoji variation selector clients add.
pub fn acknowledges(key: &str) -> bool {
    matches!(key.trim_end_matches('\u{fe0f}'), "✅" | "👀")
}

/// Lifecycle settings, from the policy file's `alerts` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    /// How long an ongoing violation stays quiet before it is repeated.
    pub repeat_after: Duration,
    /// Whether resolved violations are announced.
    pub announce_resolved: bool,
    /// Usage grown by this factor since the last announcement (e.g. 1.5 for
    /// +50 %) is an escalation, announced at once.
    pub growth_escalation: f64,
}

/// The defaults of the `alerts` section.
impl Default for Lifecycle {
    fn default() -> Self {
        AlertSettings::default().lifecycle()
    }
}

impl AlertSettings {
    /// The alert lifecycle these settings describe.
    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            repeat_after: self.repeat_after,
            announce_resolved: self.announce_resolved,
            growth_escalation: 1.0 + self.escalate_on_growth.as_f64() / 100.0,
        }
    }
}

/// What is known of one violation that was announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The violation as last seen.
    pub violation: Violation,
    /// When it was first seen, in Unix ms.
    pub since_ms: u64,
    /// When it was last announced, in Unix ms.
    pub announced_ms: u64,
    /// Severity when last announced.
    pub announced_severity: Severity,
    /// Observed value when last announced.
    pub announced_observed: u64,
    /// Never announced: silenced since it was first seen.
    #[serde(default)]
    pub unannounced: bool,
    /// Acknowledged, by whom and when: no reminders until it changes.
    #[serde(default)]
    pub acknowledged: Option<Acknowledged>,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// Who (a Matrix user ID).
    pub by: String,
    /// When (Unix ms).
    pub at_ms: u64,
}

/// Why a violation is in an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Seen for the first time.
    New,
    /// Worse than when last announced.
    Escalated,
    /// Still there after `repeat_after`.
    Reminder,
    /// No longer there.
    Resolved,
}

/// One line of an announcement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announced {
    /// Why it is announced.
    pub change: Change,
    /// The violation (for `Resolved`, as it was last seen).
    pub violation: Violation,
    /// When the violation was first seen, in Unix ms.
    pub since_ms: u64,
}

/// What a run should announce; empty when there is nothing new to say.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertPlan {
    /// Lines in a stable order: new and escalated first, then reminders, then
    /// resolutions; within each, the order of the run's violations.
    pub lines: Vec<Announced>,
    /// Violations still there but not announced (quiet until `repeat_after`),
    /// so the state can update what it last saw of them.
    pub quiet: Vec<Violation>,
    /// Violations not announced because a silence matches them, with the
    /// silence's ID.
    #[serde(default)]
    pub silenced: Vec<(Violation, u64)>,
    /// Silences that expired while violations they matched are still there
    /// (and silenced by no other): said once, in this summary.
    #[serde(default)]
    pub expired: Vec<ExpiredSilence>,
}

/// A silence that ended by itself, and what it still matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiredSilence {
    /// The silence, as it was.
    pub silence: Silence,
    /// The violations it matched that are still there.
    pub still: usize,
}

impl AlertPlan {
    /// Whether there is nothing to announce.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.expired.is_empty()
    }

    /// The (rule, subject) keys of the violations a message of this plan
    /// announces (resolutions left out): what reacting to it acknowledges.
    pub fn keys(&self) -> Vec<ViolationKey> {
        self.lines
            .iter()
            .filter(|l| l.change != Change::Resolved)
            .map(|l| l.violation.key())
            .collect()
    }

    /// The violations it announces as resolved.
    pub fn resolved_keys(&self) -> Vec<ViolationKey> {
        self.lines
            .iter()
            .filter(|l| l.change == Change::Resolved)
            .map(|l| l.violation.key())
            .collect()
    }
}

/// What a collapsed message stands for; kept in it, so that a later
/// collapse adds to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Run summaries it replaces.
    pub summaries: usize,
    /// Other messages dropped to keep the outbox within [`OUTBOX_CAP`](crate::core::alerting::delivery::OUTBOX_CAP).
    pub dropped: usize,
    /// When the oldest message it stands for was queued (Unix ms).
    pub since_ms: u64,
    /// Violations those summaries announced that are resolved since.
    #[serde(default)]
    pub resolved: Vec<ViolationKey>,
}

/// A message stored before sending, so a crash can neither lose nor repeat it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Transaction ID the message is sent with, every time it is sent.
    pub txn_id: String,
    /// Plain-text body.
    pub plain: String,
    /// HTML body.
    pub html: String,
    /// When it was queued, in Unix ms.
    pub queued_ms: u64,
    /// The violations it announces, by (rule, subject ID).
    #[serde(default)]
    pub keys: Vec<ViolationKey>,
    /// A chart of the media store to post after it (the digest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSpan>,
    /// The violations it announces as resolved (a run's summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<ViolationKey>,
    /// What it stands for when it is the outbox collapsed
    /// ([`crate::core::alerting::delivery::collapse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapsed: Option<Tally>,
}

/// The span of a server-wide chart the daemon draws from the history
/// when it delivers a message (a chart is not kept in the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartSpan {
    /// From (Unix ms).
    pub since_ms: u64,
    /// To, as of then (Unix ms).
    pub at_ms: u64,
}

/// A message that was posted, and the violations it announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// Its event ID.
    pub event_id: String,
    /// The violations, by (rule, subject ID).
    pub keys: Vec<ViolationKey>,
}

/// The whole alert state, as persisted in the data directory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertState {
    /// Announced violations, by (rule, subject ID).
    #[serde(with = "on_disk")]
    pub active: BTreeMap<ViolationKey, AlertRecord>,
    /// Messages queued for delivery, oldest first.
    pub outbox: Vec<Outgoing>,
    /// Counter for transaction IDs.
    pub next_txn: u64,
    /// Silences, active and recently ended.
    #[serde(default)]
    pub silences: Silences,
    /// The last alert messages posted, oldest first.
    #[serde(default)]
    pub posted: Vec<Posted>,
}

impl AlertState {
    /// What to announce for a complete run that found `violations` at
    /// `now_ms`.
    pub fn plan(&self, violations: &[Violation], now_ms: u64, lifecycle: &Lifecycle) -> AlertPlan {
        self.plan_covered(violations, &Coverage::complete(), now_ms, lifecycle)
    }

    /// What to announce for a run that found `violations` at `now_ms` and
    /// looked at what `coverage` says: open alerts it did not look at are
    /// not resolved.
    pub fn plan_covered(
        &self,
        violations: &[Violation],
        coverage: &Coverage,
        now_ms: u64,
        lifecycle: &Lifecycle,
    ) -> AlertPlan {
        let mut fresh = Vec::new();
        let mut reminders = Vec::new();
        let mut quiet = Vec::new();
        let mut silenced = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for v in violations {
            let key = v.key();
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some(silence) = self.silences.silencing(v, now_ms) {
                silenced.push((v.clone(), silence.id));
                continue;
            }
            match self.active.get(&key) {
                None => fresh.push(Announced {
                    change: Change::New,
                    violation: v.clone(),
                    since_ms: now_ms,
                }),
                Some(record) if record.unannounced => fresh.push(Announced {
                    change: Change::New,
                    violation: v.clone(),
                    since_ms: record.since_ms,
                }),
                Some(record) => {
                    let since_ms = record.since_ms;
                    if escalated(record, v, lifecycle) {
                        fresh.push(Announced {
                            change: Change::Escalated,
                            violation: v.clone(),
                            since_ms,
                        });
                    } else if record.acknowledged.is_none()
                        && now_ms.saturating_sub(record.announced_ms)
                            >= crate::core::model::millis(lifecycle.repeat_after)
                    {
                        reminders.push(Announced {
                            change: Change::Reminder,
                            violation: v.clone(),
                            since_ms,
                        });
                    } else {
                        quiet.push(v.clone());
                    }
                }
            }
        }
        let mut lines = fresh;
        lines.extend(reminders);
        for (key, record) in &self.active {
            if !seen.contains(key)
                && lifecycle.announce_resolved
                && coverage.covers(&record.violation)
            {
                lines.push(Announced {
                    change: Change::Resolved,
                    violation: record.violation.clone(),
                    since_ms: record.since_ms,
                });
            }
        }
        let expired = self
            .silences
            .expiring(now_ms)
            .filter_map(|s| {
                let still = silenced_after(violations, &self.silences, s, now_ms);
                (still > 0).then(|| ExpiredSilence {
                    silence: s.clone(),
                    still,
                })
            })
            .collect();
        AlertPlan {
            lines,
            quiet,
            silenced,
            expired,
        }
    }

    /// Records a plan as announced at `now_ms`, and resolved violations as
    /// gone. `violations` is the same list the plan was made from, so that
    /// resolutions are dropped even when they are not announced.
    pub fn apply(&mut self, plan: &AlertPlan, violations: &[Violation], now_ms: u64) {
        self.apply_covered(plan, violations, &Coverage::complete(), now_ms);
    }

    /// [`AlertState::apply`] for a run that looked at what `coverage` says:
    /// open alerts it did not look at are kept unchanged.
    pub fn apply_covered(
        &mut self,
        plan: &AlertPlan,
        violations: &[Violation],
        coverage: &Coverage,
        now_ms: u64,
    ) {
        let current: std::collections::BTreeSet<_> =
            violations.iter().map(Violation::key).collect();
        self.active
            .retain(|key, record| current.contains(key) || !coverage.covers(&record.violation));
        for line in &plan.lines {
            if line.change == Change::Resolved {
                continue;
            }
            let v = &line.violation;
            self.active.insert(
                v.key(),
                AlertRecord {
                    violation: v.clone(),
                    since_ms: line.since_ms,
                    announced_ms: now_ms,
                    announced_severity: v.severity,
                    announced_observed: v.observed,
                    unannounced: false,
                    acknowledged: None,
                },
            );
        }
        for v in &plan.quiet {
            if let Some(record) = self.active.get_mut(&v.key()) {
                record.violation = v.clone();
            }
        }
        for (v, _) in &plan.silenced {
            self.active
                .entry(v.key())
                .and_modify(|record| record.violation = v.clone())
                .or_insert_with(|| AlertRecord {
                    violation: v.clone(),
                    since_ms: now_ms,
                    announced_ms: now_ms,
                    announced_severity: v.severity,
                    announced_observed: v.observed,
                    unannounced: true,
                    acknowledged: None,
                });
        }
        self.silences.mark_expired(now_ms);
    }

    /// Acknowledges, by `by` at `now_ms`, the violations of the posted
    /// message `event_id` that are still open. `None` when that event is
    /// not an alert of ours (or too old to be remembered); otherwise the
    /// violations now acknowledged (empty when all of them are over).
    pub fn acknowledge(&mut self, event_id: &str, by: &str, now_ms: u64) -> Option<Vec<Violation>> {
        let posted = self.posted.iter().find(|p| p.event_id == event_id)?;
        let mut acknowledged = Vec::new();
        for key in &posted.keys {
            if let Some(record) = self.active.get_mut(key) {
                record.acknowledged.get_or_insert_with(|| Acknowledged {
                    by: by.to_owned(),
                    at_ms: now_ms,
                });
                acknowledged.push(record.violation.clone());
            }
        }
        Some(acknowledged)
    }

    /// Queues a message for delivery and returns its transaction ID.
    pub fn enqueue(&mut self, plain: String, html: String, now_ms: u64) -> String {
        self.enqueue_alert(plain, html, Vec::new(), now_ms)
    }

    /// Queues a message announcing the violations `keys` (so that reacting
    /// to it acknowledges them) and returns its transaction ID.
    pub fn enqueue_alert(
        &mut self,
        plain: String,
        html: String,
        keys: Vec<ViolationKey>,
        now_ms: u64,
    ) -> String {
        let txn_id = format!("warden-{now_ms}-{}", self.next_txn);
        self.next_txn += 1;
        self.outbox.push(Outgoing {
            txn_id: txn_id.clone(),
            plain,
            html,
            queued_ms: now_ms,
            keys,
            chart: None,
            resolved: Vec::new(),
            collapsed: None,
        });
        txn_id
    }

    /// Queues a message followed by a chart of `chart`'s span, and returns
    /// its transaction ID (the chart is sent with that ID and `-chart`).
    pub fn enqueue_with_chart(
        &mut self,
        plain: String,
        html: String,
        chart: ChartSpan,
        now_ms: u64,
    ) -> String {
        let txn_id = self.enqueue(plain, html, now_ms);
        if let Some(last) = self.outbox.last_mut() {
            last.chart = Some(chart);
        }
        txn_id
    }

    /// Removes a delivered message from the outbox; remembers the event it
    /// became when it announced violations.
    pub fn delivered(&mut self, txn_id: &str, event_id: Option<&str>) {
        let Some(i) = self.outbox.iter().position(|m| m.txn_id == txn_id) else {
            return;
        };
        let sent = self.outbox.remove(i);
        if let Some(event_id) = event_id
            && !sent.keys.is_empty()
        {
            self.posted.push(Posted {
                event_id: event_id.to_owned(),
                keys: sent.keys,
            });
            let excess = self.posted.len().saturating_sub(KEEP_POSTED);
            self.posted.drain(..excess);
        }
    }
}

/// How many of `violations` silence `s` matches that no other silence in
/// force at `now_ms` does.
fn silenced_after(
    violations: &[Violation],
    silences: &Silences,
    s: &Silence,
    now_ms: u64,
) -> usize {
    violations
        .iter()
        .filter(|v| s.matcher.matches(v) && silences.silencing(v, now_ms).is_none())
        .count()
}

fn escalated(record: &AlertRecord, now: &Violation, lifecycle: &Lifecycle) -> bool {
    if now.severity > record.announced_severity {
        return true;
    }
    let grown = record.announced_observed as f64 * lifecycle.growth_escalation;
    lifecycle.growth_escalation > 1.0
        && now.observed as f64 >= grown
        && now.observed > record.announced_observed
}

mod on_disk;

#[cfg(test)]
mod tests;
