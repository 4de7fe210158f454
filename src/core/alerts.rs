//! Alert state: which violations have been announced, and what a new run
//! should say about them — the lifecycle admins know from Alertmanager.
//!
//! - A new violation is announced once.
//! - An ongoing one is repeated only after `repeat_after`.
//! - An escalation (warning → critical, or usage grown by a configured factor
//!   since it was last announced) is announced at once.
//! - A resolved one is announced as resolved (when configured) and forgotten.
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
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::coverage::Coverage;
use super::policy::AlertSettings;
use super::violation::{Severity, Violation};

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
}

impl Plan {
    /// Whether there is nothing to announce.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
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
}

/// The whole alert state, as persisted in the data directory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertState {
    /// Announced violations, by (rule, subject ID).
    #[serde(with = "keyed")]
    pub active: BTreeMap<(Arc<str>, String), AlertRecord>,
    /// Messages queued for delivery, oldest first.
    pub outbox: Vec<Outgoing>,
    /// Counter for transaction IDs.
    pub next_txn: u64,
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
        let mut seen = std::collections::BTreeSet::new();
        for v in violations {
            let key = v.key();
            if !seen.insert(key.clone()) {
                continue;
            }
            match self.active.get(&key) {
                None => fresh.push(Announced {
                    change: Change::New,
                    violation: v.clone(),
                    since_ms: now_ms,
                }),
                Some(record) => {
                    let since_ms = record.since_ms;
                    if escalated(record, v, lifecycle) {
                        fresh.push(Announced {
                            change: Change::Escalated,
                            violation: v.clone(),
                            since_ms,
                        });
                    } else if now_ms.saturating_sub(record.announced_ms)
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
        Plan { lines, quiet }
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
                },
            );
        }
        for v in &plan.quiet {
            if let Some(record) = self.active.get_mut(&v.key()) {
                record.violation = v.clone();
            }
        }
    }

    /// Queues a message for delivery and returns its transaction ID.
    pub fn enqueue(&mut self, plain: String, html: String, now_ms: u64) -> String {
        let txn_id = format!("warden-{now_ms}-{}", self.next_txn);
        self.next_txn += 1;
        self.outbox.push(Outgoing {
            txn_id: txn_id.clone(),
            plain,
            html,
            queued_ms: now_ms,
        });
        txn_id
    }

    /// Removes a delivered message from the outbox.
    pub fn delivered(&mut self, txn_id: &str) {
        self.outbox.retain(|m| m.txn_id != txn_id);
    }
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
///              false, 1764000000000, 1764000000000, "critical", 6291456]]}
/// ```
///
/// The fields of an alert are: rule (position in `rules`), subject ID,
/// display name, whether the subject is a room, severity, measure, observed,
/// limit, early warning, since, announced at, announced severity, announced
/// observed. Reading also accepts the list of full records that earlier
/// versions wrote (`[{"violation": {...}, "since_ms": ...}]`).
mod keyed {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::AlertRecord;
    use crate::core::doc::Units;
    use crate::core::violation::{Measure, Severity, Subject, Violation};

    type Active = BTreeMap<(Arc<str>, String), AlertRecord>;

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
    use crate::core::violation::{Measure, Subject};

    const HOUR: u64 = 3_600_000;

    fn v(user: &str, severity: Severity, observed: u64) -> Violation {
        Violation {
            rule: "quota".into(),
            description: None,
            severity,
            subject: Subject::User {
                user_id: user.into(),
                displayname: None,
            },
            measure: Measure::MediaLength,
            observed,
            limit: 100,
            window: None,
            early_warning: false,
            units: Default::default(),
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
        use crate::core::coverage::Checked;
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
        back.delivered(&txn);
        assert!(back.outbox.is_empty());
        assert_ne!(back.enqueue("x".into(), "x".into(), 7), txn);
    }
}
