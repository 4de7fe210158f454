//! The outbox collapsed while the admin room does not take messages.

use std::collections::BTreeSet;

use super::*;
use crate::core::alerting::lifecycle::Lifecycle;
use crate::core::model::violation::fixture::{user, violation};
use crate::core::model::violation::{Severity, Violation};

fn v(id: &str) -> Violation {
    Violation {
        severity: Severity::Warning,
        observed: 120,
        limit: 100,
        ..violation("quota", user(id))
    }
}

/// A run finding `ids` over the quota, its summary queued (nothing is
/// delivered).
fn run(state: &mut AlertState, ids: &[&str], now: u64) {
    let vs: Vec<Violation> = ids.iter().map(|id| v(id)).collect();
    let plan = state.plan(&vs, now, &Lifecycle::default());
    state.apply(&plan, &vs, now);
    if plan.lines.is_empty() {
        return;
    }
    state.enqueue_alert("summary".into(), "summary".into(), plan.keys(), now);
    if let Some(last) = state.outbox.last_mut() {
        last.resolved = plan.resolved_keys();
    }
}

/// What the daemon does before each attempt to deliver.
fn deliver_attempt(state: &mut AlertState, cap: usize, now: u64) -> Option<Tally> {
    let c = collapse(&state.outbox, &state.active, cap)?;
    let tally = c.tally.clone();
    state.collapse_outbox(c, "collapsed".into(), "collapsed".into(), now);
    Some(tally)
}

fn key(id: &str) -> ViolationKey {
    v(id).key()
}

#[test]
fn one_waiting_summary_is_left_as_it_is() {
    let mut s = AlertState::default();
    run(&mut s, &["@a:hs"], 1);
    s.enqueue("Synapse answers again".into(), String::new(), 2);
    assert_eq!(collapse(&s.outbox, &s.active, OUTBOX_CAP), None);
}

#[test]
fn waiting_summaries_become_the_latest_state_of_each_alert() {
    let mut s = AlertState::default();
    run(&mut s, &["@a:hs", "@b:hs"], 10);
    s.enqueue("reloaded".into(), String::new(), 15);
    run(&mut s, &["@a:hs", "@c:hs"], 20);
    run(&mut s, &["@a:hs", "@c:hs"], 30);
    let c = collapse(&s.outbox, &s.active, OUTBOX_CAP).unwrap();
    assert_eq!(c.tally.summaries, 2);
    assert_eq!(c.tally.dropped, 0);
    assert_eq!(c.tally.since_ms, 10);
    assert_eq!(c.tally.resolved, vec![key("@b:hs")]);
    let open: Vec<_> = c.open.iter().map(|a| a.violation.key()).collect();
    assert_eq!(open, vec![key("@a:hs"), key("@c:hs")]);
    assert!(c.open.iter().all(|a| a.change == Change::Reminder));
    assert_eq!(c.open[0].since_ms, 10);
    s.collapse_outbox(c, "p".into(), "h".into(), 40);
    // The other message stays, before the collapsed one.
    assert_eq!(s.outbox.len(), 2);
    assert_eq!(s.outbox[0].plain, "reloaded");
    assert_eq!(s.outbox[1].keys, vec![key("@a:hs"), key("@c:hs")]);
    // A later summary joins it: b comes back, c is gone.
    run(&mut s, &["@a:hs", "@b:hs"], 50);
    let c = collapse(&s.outbox, &s.active, OUTBOX_CAP).unwrap();
    assert_eq!(c.tally.summaries, 3);
    assert_eq!(c.tally.since_ms, 10);
    assert_eq!(c.tally.resolved, vec![key("@c:hs")]);
    let open: Vec<_> = c.open.iter().map(|a| a.violation.key()).collect();
    assert_eq!(open, vec![key("@a:hs"), key("@b:hs")]);
}

#[test]
fn beyond_the_cap_the_oldest_other_messages_are_dropped_and_counted() {
    let mut s = AlertState::default();
    run(&mut s, &["@a:hs"], 1);
    for n in 0..60 {
        s.enqueue(format!("notice {n}"), String::new(), 2 + n);
    }
    let tally = deliver_attempt(&mut s, 10, 100).unwrap();
    assert_eq!(s.outbox.len(), 10);
    assert_eq!(tally.summaries, 1);
    assert_eq!(tally.dropped, 51);
    assert_eq!(s.outbox[0].plain, "notice 51");
    assert_eq!(s.outbox[9].keys, vec![key("@a:hs")]);
    // No summary at all: a message saying what was dropped.
    let mut s = AlertState::default();
    for n in 0..12 {
        s.enqueue(format!("notice {n}"), String::new(), n);
    }
    let tally = deliver_attempt(&mut s, 10, 100).unwrap();
    assert_eq!((s.outbox.len(), tally.summaries, tally.dropped), (10, 0, 3));
    assert!(s.outbox[9].keys.is_empty());
    assert_eq!(collapse(&s.outbox, &s.active, 10), None);
}

proptest::proptest! {
    /// Whatever the runs and other messages while nothing is delivered:
    /// after each attempt the outbox holds at most the cap, and every
    /// open alert a summary announced is announced by a queued message.
    #[test]
    fn never_more_than_the_cap_and_no_open_alert_lost(
        steps in proptest::collection::vec(
            (proptest::collection::btree_set("[a-h]", 0..6), 0usize..4),
            1..40,
        ),
        cap in 2usize..12,
    ) {
        let mut s = AlertState::default();
        let mut announced: BTreeSet<ViolationKey> = BTreeSet::new();
        for (i, (users, others)) in steps.iter().enumerate() {
            let now = (i as u64 + 1) * 1000;
            let ids: Vec<String> = users.iter().map(|u| format!("@{u}:hs")).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            run(&mut s, &ids, now);
            if let Some(last) = s.outbox.last() {
                announced.extend(last.keys.iter().cloned());
            }
            for n in 0..*others {
                s.enqueue(format!("other {n}"), String::new(), now);
            }
            deliver_attempt(&mut s, cap, now);
            proptest::prop_assert!(s.outbox.len() <= cap, "{} > {cap}", s.outbox.len());
            let queued: BTreeSet<&ViolationKey> =
                s.outbox.iter().flat_map(|m| m.keys.iter()).collect();
            for k in announced.iter().filter(|k| s.active.contains_key(*k)) {
                proptest::prop_assert!(queued.contains(k), "{k:?} lost");
            }
        }
    }
}
