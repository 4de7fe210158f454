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
pub struct Plan {
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

impl Plan {
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
    #[serde(with = "keyed")]
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
    pub fn plan(&self, violations: &[Violation], now_ms: u64, lifecycle: &Lifecycle) -> Plan {
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
    ) -> Plan {
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
                            >= millis(lifecycle.repeat_after)
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
        Plan {
            lines,
            quiet,
            silenced,
            expired,
        }
    }

    /// Records a plan as announced at `now_ms`, and resolved violations as
    /// gone. `violations` is the same list the plan was made from, so that
    /// resolutions are dropped even when they are not announced.
    pub fn apply(&mut self, plan: &Plan, violations: &[Violation], now_ms: u64) {
        self.apply_covered(plan, violations, &Coverage::complete(), now_ms);
    }

    /// [`AlertState::apply`] for a run that looked at what `coverage` says:
    /// open alerts it did not look at are kept unchanged.
    pub fn apply_covered(
        &mut self,
        plan: &Plan,
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `active` on disk, compact with tens of thousands of alerts: each rule
/// (name, description, window, units) once, then one array per alert,
/// without keys:
///
/// ```json
/// {"rules": [{"name": "media-quota", "description": "...", "window_secs": null, "units": "binary"}],
///  "alerts": [[0, "@alice:hs", "Alice", false, "critical", "media_length", 6291456, 5242880,
///              false, 1764000000000, 1764000000000, "critical", 6291456, false, null]]}
/// ```
///
/// The fields of an alert are: rule (position in `rules`), subject ID,
/// display name, whether the subject is a room, severity, measure, observed,
/// limit, early warning, since, announced at, announced severity, announced
/// observed, never announced (silenced since first seen), and the
/// acknowledgement (`null` or `{"by": ..., "at_ms": ...}`; both of these
/// may be missing, as in files written before silences). Reading also accepts the list of full records that earlier
/// versions wrote (`[{"violation": {...}, "since_ms": ...}]`).
mod keyed {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Acknowledged, AlertRecord};
    use crate::core::doc::Units;
    use crate::core::model::violation::{Measure, Severity, Subject, Violation};

    type Active = BTreeMap<crate::core::model::violation::ViolationKey, AlertRecord>;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct RuleEntry {
        name: Arc<str>,
        description: Option<Arc<str>>,
        window_secs: Option<u64>,
        units: Units,
    }

    impl RuleEntry {
        fn of(v: &Violation) -> RuleEntry {
            RuleEntry {
                name: v.rule.clone(),
                description: v.description.clone(),
                window_secs: v.window.map(|d| d.as_secs()),
                units: v.units,
            }
        }
    }

    #[derive(Serialize)]
    struct RowRef<'a>(
        usize,
        &'a str,
        Option<&'a str>,
        bool,
        Severity,
        Measure,
        u64,
        u64,
        bool,
        u64,
        u64,
        Severity,
        u64,
        bool,
        Option<&'a Acknowledged>,
    );

    #[derive(Deserialize)]
    struct Row(
        usize,
        String,
        Option<String>,
        bool,
        Severity,
        Measure,
        u64,
        u64,
        bool,
        u64,
        u64,
        Severity,
        u64,
        #[serde(default)] bool,
        #[serde(default)] Option<Acknowledged>,
    );

    #[derive(Serialize)]
    struct CompactRef<'a> {
        rules: &'a [RuleEntry],
        alerts: Rows<'a>,
    }

    struct Rows<'a> {
        map: &'a Active,
        rules: &'a [RuleEntry],
        index: &'a [usize],
    }

    impl Serialize for Rows<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.map.values().zip(self.index).map(|(r, &rule)| {
                let v = &r.violation;
                let (id, name, room) = match &v.subject {
                    Subject::User {
                        user_id,
                        displayname,
                    } => (user_id.as_str(), displayname.as_deref(), false),
                    Subject::Room { room_id } => (room_id.as_str(), None, true),
                };
                debug_assert_eq!(self.rules[rule], RuleEntry::of(v));
                RowRef(
                    rule,
                    id,
                    name,
                    room,
                    v.severity,
                    v.measure,
                    v.observed,
                    v.limit,
                    v.early_warning,
                    r.since_ms,
                    r.announced_ms,
                    r.announced_severity,
                    r.announced_observed,
                    r.unannounced,
                    r.acknowledged.as_ref(),
                )
            }))
        }
    }

    pub fn serialize<S: Serializer>(map: &Active, s: S) -> Result<S::Ok, S::Error> {
        let mut rules: Vec<RuleEntry> = Vec::new();
        let index: Vec<usize> = map
            .values()
            .map(|r| {
                let entry = RuleEntry::of(&r.violation);
                match rules.iter().position(|e| *e == entry) {
                    Some(i) => i,
                    None => {
                        rules.push(entry);
                        rules.len() - 1
                    }
                }
            })
            .collect();
        CompactRef {
            rules: &rules,
            alerts: Rows {
                map,
                rules: &rules,
                index: &index,
            },
        }
        .serialize(s)
    }

    #[derive(Deserialize)]
    struct Compact {
        rules: Vec<RuleEntry>,
        alerts: Vec<Row>,
    }

    impl Compact {
        fn records<E: de::Error>(self) -> Result<Active, E> {
            let rules = self.rules;
            self.alerts
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    let Row(
                        rule,
                        id,
                        displayname,
                        room,
                        severity,
                        measure,
                        observed,
                        limit,
                        early_warning,
                        since_ms,
                        announced_ms,
                        announced_severity,
                        announced_observed,
                        unannounced,
                        acknowledged,
                    ) = row;
                    let entry = rules.get(rule).ok_or_else(|| {
                        E::custom(format!(
                            "alert {i} names rule {rule}, but there are {} rules",
                            rules.len()
                        ))
                    })?;
                    let violation = Violation {
                        rule: entry.name.clone(),
                        description: entry.description.clone(),
                        severity,
                        subject: if room {
                            Subject::Room { room_id: id }
                        } else {
                            Subject::User {
                                user_id: id,
                                displayname,
                            }
                        },
                        measure,
                        observed,
                        limit,
                        window: entry.window_secs.map(Duration::from_secs),
                        early_warning,
                        units: entry.units,
                    };
                    let record = AlertRecord {
                        violation,
                        since_ms,
                        announced_ms,
                        announced_severity,
                        announced_observed,
                        unannounced,
                        acknowledged,
                    };
                    Ok((record.violation.key(), record))
                })
                .collect()
        }
    }

    struct ActiveVisitor;

    impl<'de> Visitor<'de> for ActiveVisitor {
        type Value = Active;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "the active alerts: {\"rules\": [...], \"alerts\": [...]}, or a list of records",
            )
        }

        /// The list of full records of earlier versions.
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Active, A::Error> {
            let records = Vec::<AlertRecord>::deserialize(SeqAccessDeserializer::new(seq))?;
            // Each record came with its own copy of its rule's name: share one.
            let mut names: Vec<Arc<str>> = Vec::new();
            Ok(records
                .into_iter()
                .map(|mut r| {
                    match names.iter().find(|n| **n == r.violation.rule) {
                        Some(name) => r.violation.rule = name.clone(),
                        None => names.push(r.violation.rule.clone()),
                    }
                    (r.violation.key(), r)
                })
                .collect())
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Active, A::Error> {
            Compact::deserialize(MapAccessDeserializer::new(map))?.records()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Active, D::Error> {
        d.deserialize_any(ActiveVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::violation::fixture::{user, violation};

    const HOUR: u64 = 3_600_000;

    fn v(id: &str, severity: Severity, observed: u64) -> Violation {
        Violation {
            severity,
            observed,
            limit: 100,
            ..violation("quota", user(id))
        }
    }

    fn changes(plan: &Plan) -> Vec<(Change, String)> {
        plan.lines
            .iter()
            .map(|l| (l.change, l.violation.subject.id().to_owned()))
            .collect()
    }

    fn run(
        state: &mut AlertState,
        vs: &[Violation],
        now: u64,
        lc: &Lifecycle,
    ) -> Vec<(Change, String)> {
        let plan = state.plan(vs, now, lc);
        state.apply(&plan, vs, now);
        changes(&plan)
    }

    #[test]
    fn lifecycle_new_quiet_reminder_escalation_resolution() {
        let lc = Lifecycle {
            repeat_after: Duration::from_secs(6 * 3600),
            ..Lifecycle::default()
        };
        let mut s = AlertState::default();
        let a = v("@a:hs", Severity::Warning, 120);
        assert_eq!(
            run(&mut s, std::slice::from_ref(&a), 0, &lc),
            vec![(Change::New, "@a:hs".into())]
        );
        assert_eq!(run(&mut s, std::slice::from_ref(&a), HOUR, &lc), vec![]);
        assert_eq!(
            run(&mut s, std::slice::from_ref(&a), 6 * HOUR, &lc),
            vec![(Change::Reminder, "@a:hs".into())]
        );
        assert_eq!(run(&mut s, std::slice::from_ref(&a), 7 * HOUR, &lc), vec![]);
        let worse = v("@a:hs", Severity::Critical, 121);
        assert_eq!(
            run(&mut s, std::slice::from_ref(&worse), 8 * HOUR, &lc),
            vec![(Change::Escalated, "@a:hs".into())]
        );
        let grown = v("@a:hs", Severity::Critical, 182);
        assert_eq!(
            run(&mut s, &[grown], 9 * HOUR, &lc),
            vec![(Change::Escalated, "@a:hs".into())]
        );
        assert_eq!(
            run(&mut s, &[], 10 * HOUR, &lc),
            vec![(Change::Resolved, "@a:hs".into())]
        );
        assert!(s.active.is_empty());
        assert_eq!(run(&mut s, &[], 11 * HOUR, &lc), vec![]);
    }

    #[test]
    fn since_survives_reminders() {
        let lc = Lifecycle::default();
        let mut s = AlertState::default();
        let a = v("@a:hs", Severity::Warning, 120);
        run(&mut s, std::slice::from_ref(&a), 5, &lc);
        let plan = s.plan(&[a], 5 + 25 * HOUR, &lc);
        assert_eq!(plan.lines[0].since_ms, 5);
    }

    #[test]
    fn quiet_resolution_when_not_announced() {
        let lc = Lifecycle {
            announce_resolved: false,
            ..Lifecycle::default()
        };
        let mut s = AlertState::default();
        run(&mut s, &[v("@a:hs", Severity::Warning, 120)], 0, &lc);
        assert_eq!(run(&mut s, &[], HOUR, &lc), vec![]);
        assert!(s.active.is_empty());
    }

    #[test]
    fn de_escalation_is_quiet() {
        let lc = Lifecycle::default();
        let mut s = AlertState::default();
        run(&mut s, &[v("@a:hs", Severity::Critical, 300)], 0, &lc);
        assert_eq!(
            run(&mut s, &[v("@a:hs", Severity::Warning, 90)], HOUR, &lc),
            vec![]
        );
    }

    #[test]
    fn a_partial_run_resolves_only_what_it_looked_at() {
        use crate::core::model::coverage::Checked;
        let lc = Lifecycle::default();
        let mut s = AlertState::default();
        let a = v("@a:hs", Severity::Warning, 120);
        let z = v("@z:hs", Severity::Warning, 120);
        run(&mut s, &[a.clone(), z.clone()], 0, &lc);
        // Cut short after @m: @a was seen and is gone, @z was not reached;
        // a new violation seen is announced.
        let mut cut = Coverage::complete();
        cut.limit("quota", Checked::UsersUpTo(Some("@m:hs".into())));
        let b = v("@b:hs", Severity::Critical, 300);
        let plan = s.plan_covered(std::slice::from_ref(&b), &cut, HOUR, &lc);
        assert_eq!(
            changes(&plan),
            vec![
                (Change::New, "@b:hs".into()),
                (Change::Resolved, "@a:hs".into())
            ]
        );
        s.apply_covered(&plan, std::slice::from_ref(&b), &cut, HOUR);
        assert!(s.active.contains_key(&z.key()), "unseen @z was forgotten");
        assert_eq!(s.active[&z.key()].announced_ms, 0, "unseen @z was changed");
        assert!(!s.active.contains_key(&a.key()));
        // Nothing looked at: nothing resolved, nothing forgotten.
        let mut blind = Coverage::complete();
        blind.limit("quota", Checked::Nothing);
        assert_eq!(run_covered(&mut s, &[], &blind, 2 * HOUR, &lc), vec![]);
        assert_eq!(s.active.len(), 2);
        // The next complete run resolves them.
        assert_eq!(
            run(&mut s, &[], 3 * HOUR, &lc),
            vec![
                (Change::Resolved, "@b:hs".into()),
                (Change::Resolved, "@z:hs".into())
            ]
        );
    }

    fn run_covered(
        state: &mut AlertState,
        vs: &[Violation],
        coverage: &Coverage,
        now: u64,
        lc: &Lifecycle,
    ) -> Vec<(Change, String)> {
        let plan = state.plan_covered(vs, coverage, now, lc);
        state.apply_covered(&plan, vs, coverage, now);
        changes(&plan)
    }

    #[test]
    fn outbox_round_trips_through_json() {
        let lc = Lifecycle::default();
        let mut s = AlertState::default();
        run(&mut s, &[v("@a:hs", Severity::Warning, 120)], 0, &lc);
        let txn = s.enqueue("plain".into(), "<p>html</p>".into(), 7);
        let json = serde_json::to_string(&s).unwrap();
        let back: AlertState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let mut back = back;
        back.delivered(&txn, None);
        assert!(back.outbox.is_empty());
        assert_ne!(back.enqueue("x".into(), "x".into(), 7), txn);
    }

    fn silence(s: &mut AlertState, rule: &str, subject: &str, hours: u64, now: u64) -> u64 {
        use crate::core::alerting::silences::{Matcher, RulePattern, SubjectPattern};
        s.silences
            .add(
                Matcher {
                    rule: RulePattern::parse(rule).unwrap(),
                    subject: SubjectPattern::parse(subject).unwrap(),
                },
                "@admin:hs",
                "why",
                Duration::from_secs(hours * 3600),
                Duration::from_secs(90 * 86400),
                now,
            )
            .unwrap()
            .id
    }

    #[test]
    fn silenced_violations_are_not_announced_but_their_resolution_is() {
        let lc = Lifecycle {
            repeat_after: Duration::from_secs(3600),
            ..Lifecycle::default()
        };
        let mut s = AlertState::default();
        let id = silence(&mut s, "*", "@a:hs", 10, 0);
        let a = v("@a:hs", Severity::Warning, 120);
        let b = v("@b:hs", Severity::Warning, 120);
        let plan = s.plan(&[a.clone(), b.clone()], 0, &lc);
        assert_eq!(changes(&plan), vec![(Change::New, "@b:hs".into())]);
        assert_eq!(plan.silenced, vec![(a.clone(), id)]);
        s.apply(&plan, &[a.clone(), b.clone()], 0);
        // Neither reminded nor escalated while silenced.
        let worse = v("@a:hs", Severity::Critical, 500);
        assert_eq!(
            run(&mut s, std::slice::from_ref(&worse), 5 * HOUR, &lc),
            vec![(Change::Resolved, "@b:hs".into())]
        );
        // Resolved while silenced: announced.
        assert_eq!(
            run(&mut s, &[], 6 * HOUR, &lc),
            vec![(Change::Resolved, "@a:hs".into())]
        );
    }

    #[test]
    fn an_expired_silence_is_said_once_and_its_violations_come_back() {
        let lc = Lifecycle {
            repeat_after: Duration::from_secs(24 * 3600),
            ..Lifecycle::default()
        };
        let mut s = AlertState::default();
        let a = v("@a:hs", Severity::Warning, 120);
        // Announced first, then silenced.
        assert_eq!(run(&mut s, std::slice::from_ref(&a), 0, &lc).len(), 1);
        let id = silence(&mut s, "quota", "@*:hs", 2, HOUR);
        let c = v("@c:hs", Severity::Warning, 120);
        let both = [a.clone(), c.clone()];
        let plan = s.plan(&both, HOUR, &lc);
        assert!(plan.is_empty());
        assert_eq!(plan.silenced.len(), 2);
        s.apply(&plan, &both, HOUR);
        // At the end: one expiry line; @c (never announced) is new now, @a
        // (announced before) is not repeated before repeat_after.
        let plan = s.plan(&both, 3 * HOUR, &lc);
        assert_eq!(plan.expired.len(), 1);
        assert_eq!(plan.expired[0].silence.id, id);
        assert_eq!(plan.expired[0].still, 2);
        assert_eq!(changes(&plan), vec![(Change::New, "@c:hs".into())]);
        assert_eq!(plan.lines[0].since_ms, HOUR, "first seen while silenced");
        s.apply(&plan, &both, 3 * HOUR);
        let plan = s.plan(&both, 4 * HOUR, &lc);
        assert!(plan.is_empty(), "said once: {plan:?}");
        // A silence that expires with nothing left is not mentioned.
        silence(&mut s, "*", "@z:hs", 1, 4 * HOUR);
        assert!(s.plan(&both, 6 * HOUR, &lc).expired.is_empty());
    }

    #[test]
    fn acknowledged_violations_are_not_reminded_until_they_change() {
        let lc = Lifecycle {
            repeat_after: Duration::from_secs(3600),
            ..Lifecycle::default()
        };
        let mut s = AlertState::default();
        let a = v("@a:hs", Severity::Warning, 120);
        let plan = s.plan(std::slice::from_ref(&a), 0, &lc);
        s.apply(&plan, std::slice::from_ref(&a), 0);
        let txn = s.enqueue_alert("p".into(), "h".into(), plan.keys(), 0);
        assert_eq!(s.acknowledge("$e", "@op:hs", 1), None, "not posted yet");
        s.delivered(&txn, Some("$e"));
        assert_eq!(s.acknowledge("$other", "@op:hs", 1), None);
        assert_eq!(s.acknowledge("$e", "@op:hs", 1), Some(vec![a.clone()]));
        assert_eq!(run(&mut s, std::slice::from_ref(&a), 5 * HOUR, &lc), vec![]);
        // Escalation: announced, and the acknowledgement is over.
        let worse = v("@a:hs", Severity::Critical, 121);
        assert_eq!(
            run(&mut s, std::slice::from_ref(&worse), 6 * HOUR, &lc),
            vec![(Change::Escalated, "@a:hs".into())]
        );
        assert_eq!(
            run(&mut s, std::slice::from_ref(&worse), 8 * HOUR, &lc),
            vec![(Change::Reminder, "@a:hs".into())]
        );
        // Resolved: nothing left to acknowledge.
        run(&mut s, &[], 9 * HOUR, &lc);
        assert_eq!(s.acknowledge("$e", "@op:hs", 9 * HOUR), Some(vec![]));
    }

    #[test]
    fn acknowledging_reactions() {
        for key in ["✅", "👀", "✅\u{fe0f}", "👀\u{fe0f}"] {
            assert!(acknowledges(key), "{key:?}");
        }
        for key in ["", "👍", "✔", "✅✅", " ✅", "x"] {
            assert!(!acknowledges(key), "{key:?}");
        }
    }

    #[test]
    fn posted_messages_are_remembered_within_a_bound() {
        let mut s = AlertState::default();
        for i in 0..(KEEP_POSTED + 10) {
            let txn = s.enqueue_alert(
                "p".into(),
                "h".into(),
                vec![("r".into(), "@a:hs".into())],
                0,
            );
            s.delivered(&txn, Some(&format!("$e{i}")));
        }
        assert_eq!(s.posted.len(), KEEP_POSTED);
        assert!(s.acknowledge("$e0", "@op:hs", 0).is_none());
        assert!(
            s.acknowledge(&format!("$e{}", KEEP_POSTED + 9), "@op:hs", 0)
                .is_some()
        );
        // Notices announce no violation and are not remembered.
        let txn = s.enqueue("p".into(), "h".into(), 0);
        s.delivered(&txn, Some("$notice"));
        assert!(s.acknowledge("$notice", "@op:hs", 0).is_none());
    }

    #[test]
    fn old_state_files_still_load() {
        let old = r#"{"active":[{"violation":{"rule":"quota","description":null,"severity":"warning","subject":{"kind":"user","user_id":"@a:hs","displayname":null},"measure":"media_length","observed":120,"limit":100,"window":null,"early_warning":false},"since_ms":0,"announced_ms":0,"announced_severity":"warning","announced_observed":120}],"outbox":[{"txn_id":"t","plain":"p","html":"h","queued_ms":0}],"next_txn":1}"#;
        let s: AlertState = serde_json::from_str(old).unwrap();
        assert_eq!(s.active.len(), 1);
        assert!(s.silences.list.is_empty());
    }

    proptest::proptest! {
        /// Whatever the silences, a run announces (new, reminded,
        /// escalated) exactly the violations no silence in force matches,
        /// and holds back exactly the others.
        #[test]
        fn silences_hold_back_exactly_what_they_match(
            users in proptest::collection::btree_set("[a-e]", 0..5),
            silenced in proptest::collection::vec(("[a-e*]", 0u64..4), 0..4),
            at in 0u64..5,
        ) {
            let lc = Lifecycle::default();
            let mut s = AlertState::default();
            for (u, hours) in &silenced {
                let subject = if u == "*" { "*".to_owned() } else { format!("@{u}:hs") };
                if *hours > 0 {
                    silence(&mut s, "*", &subject, *hours, 0);
                }
            }
            let vs: Vec<_> = users.iter().map(|u| v(&format!("@{u}:hs"), Severity::Warning, 120)).collect();
            let now = at * HOUR;
            let plan = s.plan(&vs, now, &lc);
            for viol in &vs {
                let held = s.silences.silencing(viol, now).is_some();
                let announced = plan.lines.iter().any(|l| l.violation.key() == viol.key());
                proptest::prop_assert_eq!(announced, !held);
                proptest::prop_assert_eq!(plan.silenced.iter().any(|(x, _)| x.key() == viol.key()), held);
            }
        }
    }
}
