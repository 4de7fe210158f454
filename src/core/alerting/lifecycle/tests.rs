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

fn changes(plan: &AlertPlan) -> Vec<(Change, String)> {
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
