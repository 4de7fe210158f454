use super::*;
use crate::core::model::violation::fixture;
use crate::core::policy::notify_user::MIN_INTERVAL;

fn violation(user: &str, rule: &str) -> Violation {
    let subject = Subject::User {
        user_id: user.into(),
        displayname: Some("Ignored <b>".into()),
    };
    Violation {
        observed: 4_500 * 1024 * 1024,
        limit: 5 * 1024 * 1024 * 1024,
        early_warning: true,
        ..fixture::violation(rule, subject)
    }
}

/// A notice's text, as the daemon words it (the wording is tested in
/// `text::server_notices`).
fn text(p: &Planned) -> Line {
    Line::new().outside(p.rule.as_str(), 100)
}

fn line(change: Change, user: &str, rule: &str) -> Announced {
    Announced {
        change,
        violation: violation(user, rule),
        since_ms: 0,
    }
}

fn notify(on: Events) -> impl Fn(&str) -> Option<NotifyUser> {
    move |rule: &str| {
        (rule == "q").then(|| NotifyUser {
            on,
            message: Template::parse("{usage}").unwrap(),
            at_most_every: MIN_INTERVAL,
        })
    }
}

#[test]
fn plans_one_notice_per_user_and_event_chosen() {
    let on = Events {
        new: true,
        escalation: true,
        reminder: false,
    };
    let lines = [
        line(Change::New, "@a:hs", "q"),
        line(Change::Escalated, "@a:hs", "q"),
        line(Change::Reminder, "@b:hs", "q"),
        line(Change::New, "@c:hs", "other"),
        line(Change::Resolved, "@d:hs", "q"),
        line(Change::Escalated, "@e:hs", "q"),
    ];
    let planned = plan(&lines, &notify(on), &BTreeMap::new(), 0);
    let users: Vec<&str> = planned.iter().map(|p| p.user_id.as_str()).collect();
    assert_eq!(users, ["@a:hs", "@e:hs"]);
}

#[test]
fn a_user_is_notified_at_most_once_an_hour_and_txn_ids_are_unique() {
    let on = Events {
        new: true,
        escalation: true,
        reminder: true,
    };
    let mut state = NoticeState::default();
    let lines = [line(Change::New, "@a:hs", "q")];
    state.enqueue(
        plan(&lines, &notify(on), &state.last_sent, 1000),
        text,
        1000,
        MIN_INTERVAL,
    );
    assert_eq!(state.outbox.len(), 1);
    let again = [line(Change::Escalated, "@a:hs", "q")];
    assert!(plan(&again, &notify(on), &state.last_sent, 1000 + 3_599_999).is_empty());
    let later = plan(&again, &notify(on), &state.last_sent, 1000 + 3_600_000);
    state.enqueue(later, text, 1000 + 3_600_000, MIN_INTERVAL);
    assert_eq!(state.outbox.len(), 2);
    assert_ne!(state.outbox[0].txn_id, state.outbox[1].txn_id);
    let first = state.outbox[0].txn_id.clone();
    state.delivered(&first);
    assert_eq!(state.outbox.len(), 1);
    // The state survives a round trip through JSON (the daemon's file).
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<NoticeState>(&json).unwrap(), state);
    assert_eq!(
        serde_json::from_str::<NoticeState>("{}").unwrap(),
        NoticeState::default()
    );
}

fn summary_of(lines: &[Announced]) -> RunSummary {
    RunSummary {
        plan: crate::core::alerting::lifecycle::AlertPlan {
            lines: lines.to_vec(),
            ..Default::default()
        },
        partial: None,
        too_broad: Vec::new(),
        now_ms: 0,
        max_lines: 20,
    }
}

fn queued(users: &[&str], at: u64) -> (NoticeState, Vec<String>, RunSummary) {
    let on = Events {
        new: true,
        escalation: true,
        reminder: false,
    };
    let lines: Vec<Announced> = users.iter().map(|u| line(Change::New, u, "q")).collect();
    let mut state = NoticeState::default();
    let planned = plan(&lines, &notify(on), &state.last_sent, at);
    let txn_ids = state.enqueue(planned, text, at, MIN_INTERVAL);
    (state, txn_ids, summary_of(&lines))
}

#[test]
fn the_summary_waits_for_the_runs_notices_and_says_what_became_of_them() {
    let (mut state, txn, summary) = queued(&["@a:hs", "@b:hs", "@c:hs", "@d:hs"], 1000);
    assert_eq!(state.hold(summary, txn.clone()), None);
    // Saved in this state (a crash here posts it after a restart).
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<NoticeState>(&json).unwrap(), state);
    assert!(state.sent(&txn[0]));
    state.refused(&txn[1], "404 M_NOT_FOUND: User not found");
    // Synapse stopped answering: @c and @d wait.
    let released = state.release().expect("the held summary");
    assert_eq!(
        released.tally,
        NoticeTally {
            notified: vec!["@a:hs".into()],
            waiting: vec!["@c:hs".into(), "@d:hs".into()],
            refused: vec![("@b:hs".into(), "404 M_NOT_FOUND: User not found".into())],
            disabled: vec![],
        }
    );
    assert_eq!(released.summary.plan.lines.len(), 4);
    assert_eq!(state.held, None);
    assert_eq!(state.release(), None, "released once");
    // The waiting ones, sent later, are not the summary's any more.
    assert!(!state.sent(&txn[2]));
    assert_eq!(state.outbox.len(), 1);
}

#[test]
fn without_server_notices_the_summary_says_who_was_not_notified() {
    let (mut state, txn, summary) = queued(&["@a:hs", "@b:hs"], 1000);
    state.hold(summary, txn);
    assert_eq!(state.disabled(), 2);
    assert!(state.outbox.is_empty());
    let tally = state.release().unwrap().tally;
    assert_eq!(tally.disabled, ["@a:hs", "@b:hs"]);
    assert!(tally.notified.is_empty() && tally.waiting.is_empty());
}

#[test]
fn a_summary_whose_release_was_missed_is_returned_not_lost() {
    let (mut state, txn, summary) = queued(&["@a:hs"], 1000);
    state.hold(summary.clone(), txn);
    let missed = state.hold(summary, Vec::new()).expect("the first summary");
    assert_eq!(missed.tally.waiting, ["@a:hs"]);
}

#[test]
fn at_most_every_is_the_rules_and_last_sent_is_kept_that_long() {
    let on = Events {
        new: true,
        escalation: true,
        reminder: false,
    };
    let every = |d: u64| {
        move |_: &str| {
            Some(NotifyUser {
                on,
                message: Template::parse("{usage}").unwrap(),
                at_most_every: Duration::from_secs(d),
            })
        }
    };
    let new = [line(Change::New, "@a:hs", "q")];
    let escalated = [line(Change::Escalated, "@a:hs", "q")];
    let mut state = NoticeState::default();
    let p = plan(&new, &every(0), &state.last_sent, 1000);
    state.enqueue(p, text, 1000, Duration::from_secs(86_400));
    assert_eq!(plan(&escalated, &every(0), &state.last_sent, 1000).len(), 1);
    assert!(plan(&escalated, &every(86_400), &state.last_sent, 86_400_999).is_empty());
    assert_eq!(
        plan(&escalated, &every(86_400), &state.last_sent, 86_401_000).len(),
        1
    );
    state.enqueue(Vec::new(), text, 86_400_999, Duration::from_secs(86_400));
    assert!(state.last_sent.contains_key("@a:hs"));
    state.enqueue(Vec::new(), text, 86_401_000, Duration::from_secs(86_400));
    assert!(state.last_sent.is_empty());
}
