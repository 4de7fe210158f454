use super::*;
use crate::core::alerting::lifecycle::Change;
use crate::core::alerting::lifecycle::{AlertPlan, AlertState, Lifecycle};
use crate::core::doc::Message;
use crate::core::engine::eval::WalkReport;
use crate::core::model::coverage::CutShort;
use crate::core::model::coverage::{Checked, Coverage, CutCause};
use crate::core::model::rooms::{ModuleUnavailable, RoomSource, SizesUnavailable};
use crate::core::model::usage::TimeRange;
use crate::core::model::users_source::UsersSource;
use crate::core::model::violation::fixture::{user, violation};
use crate::core::model::violation::{Measure, Subject, Violation};
use crate::core::text;

const MIN: u64 = 60_000;

/// [`crate::core::alerting::settle::settle_run`]'s messages, worded with the summary last, as the daemon posts
/// them when no server notice is involved.
fn settle_run(
    alerts: &mut AlertState,
    conditions: &mut Conditions,
    outcome: &RunOutcome,
    lifecycle: &Lifecycle,
    max_lines: usize,
    now_ms: u64,
) -> (AlertPlan, Vec<Message>) {
    let (plan, changes, summary) = crate::core::alerting::settle::settle_run(
        alerts, conditions, outcome, lifecycle, max_lines, now_ms,
    );
    let mut messages: Vec<Message> = changes
        .iter()
        .map(|n| text::daemon::condition(n).message())
        .collect();
    messages.extend(
        summary
            .and_then(|s| text::summary::run(&s, None))
            .map(|d| d.message()),
    );
    (plan, messages)
}

fn outcome(rooms: RoomsChecked, cut: Option<CutShort>, violations: Vec<Violation>) -> RunOutcome {
    let mut coverage = Coverage::complete();
    if cut.is_some() {
        coverage.limit("quota", Checked::UsersUpTo(Some("@m:hs".into())));
    }
    if matches!(rooms, RoomsChecked::Unavailable { .. }) {
        coverage.limit("rooms", Checked::Nothing);
    }
    RunOutcome {
        now_ms: 0,
        violations,
        walks: vec![WalkReport {
            source: Default::default(),
            range: TimeRange::ALL,
            window: None,
            users: 80,
            bytes: 0,
            media: 0,
            cut_short: cut,
        }],
        rooms,
        rules: 2,
        notes: Vec::new(),
        coverage,
    }
}

fn checked() -> RoomsChecked {
    RoomsChecked::Checked {
        rooms: 3,
        source: RoomSource::SynapseEstimate,
        sizes_unavailable: None,
    }
}

/// Synapse's known 500, and the module failing in a way that may pass.
fn server_500() -> RoomsChecked {
    RoomsChecked::Unavailable {
        reason: SizesUnavailable {
            synapse: RoomsUnavailable::Server("500".into()),
            module: Some(ModuleUnavailable::TimedOut),
        },
    }
}

const STUCK: CutShort = CutShort {
    cause: CutCause::TokenStuck,
    seen: 80,
    total: 120,
};

fn user_v(id: &str) -> Violation {
    violation("quota", user(id))
}

fn room_v(room: &str) -> Violation {
    Violation {
        rule: "rooms".into(),
        subject: Subject::Room {
            room_id: room.into(),
        },
        measure: Measure::RoomSize,
        ..user_v("@x:hs")
    }
}

#[test]
fn synapse_outage_is_said_once_when_it_starts_and_once_when_it_ends() {
    let mut c = Conditions::default();
    assert_eq!(
        c.run_failed("connection refused", MIN),
        vec![ConditionChange::SynapseFailing {
            since_ms: MIN,
            error: "connection refused".into()
        }]
    );
    assert_eq!(c.run_failed("timeout", 2 * MIN), vec![]);
    assert_eq!(
        c.synapse_outage.as_ref().unwrap().error,
        "connection refused"
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), None, vec![]), 3 * MIN),
        vec![ConditionChange::SynapseBack { since_ms: MIN }]
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), None, vec![]), 4 * MIN),
        vec![]
    );
}

#[test]
fn rooms_without_a_size_source_once_ever_and_a_failing_module_as_an_outage() {
    let mut c = Conditions::default();
    // SQLite (or Synapse's known 500) without the module: it lasts until an
    // admin installs the module, so it is said once. The state events were
    // checked or not, the same.
    let why = SizesUnavailable {
        synapse: RoomsUnavailable::Sqlite,
        module: Some(ModuleUnavailable::NotInstalled),
    };
    let sqlite = RoomsChecked::Unavailable {
        reason: why.clone(),
    };
    let states_only = RoomsChecked::Checked {
        rooms: 2,
        source: RoomSource::StateEvents,
        sizes_unavailable: Some(why.clone()),
    };
    assert_eq!(
        c.run_finished(&outcome(sqlite.clone(), None, vec![]), 0),
        vec![ConditionChange::RoomsUnsupported {
            reason: why.to_string()
        }]
    );
    assert_eq!(c.run_finished(&outcome(sqlite, None, vec![]), MIN), vec![]);
    assert_eq!(
        c.run_finished(&outcome(states_only, None, vec![]), MIN),
        vec![]
    );
    assert_eq!(
        c.run_finished(&outcome(server_500(), None, vec![]), 2 * MIN),
        vec![ConditionChange::RoomsFailing {
            error: "Synapse could not estimate room sizes (500); on PostgreSQL this happens until \
                    its planner statistics cover the event tables; the warden's Synapse \
                    module ran out of time measuring the rooms"
                .into()
        }]
    );
    assert_eq!(
        c.run_finished(&outcome(server_500(), None, vec![]), 3 * MIN),
        vec![]
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), None, vec![]), 4 * MIN),
        vec![ConditionChange::RoomsBack { since_ms: 2 * MIN }]
    );
    // Room rules removed during an outage: it ends without a word.
    c.run_finished(&outcome(server_500(), None, vec![]), 5 * MIN);
    assert_eq!(
        c.run_finished(&outcome(RoomsChecked::NotNeeded, None, vec![]), 6 * MIN),
        vec![]
    );
    assert_eq!(c.rooms_outage, None);
}

#[test]
fn incomplete_walks_once_when_they_start_and_once_when_they_end() {
    let mut c = Conditions::default();
    assert_eq!(
        c.run_finished(&outcome(checked(), Some(STUCK), vec![]), MIN),
        vec![ConditionChange::WalksIncomplete {
            cause: "Synapse's next_token stopped advancing at 80 of 120 users".into()
        }]
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), Some(STUCK), vec![]), 2 * MIN),
        vec![]
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), None, vec![]), 3 * MIN),
        vec![ConditionChange::WalksComplete { since_ms: MIN }]
    );
}

#[test]
fn a_partial_run_announces_what_it_saw_and_keeps_what_it_did_not() {
    let lc = Lifecycle::default();
    let mut alerts = AlertState::default();
    let mut c = Conditions::default();
    let (plan, _) = settle_run(
        &mut alerts,
        &mut c,
        &outcome(
            checked(),
            None,
            vec![user_v("@a:hs"), user_v("@z:hs"), room_v("!r:hs")],
        ),
        &lc,
        20,
        0,
    );
    assert_eq!(plan.lines.len(), 3);
    // Cut short after @m, room sizes failing: @b is new, @a resolved,
    // @z (not reached) and !r (not read) stay open, unannounced.
    let (plan, messages) = settle_run(
        &mut alerts,
        &mut c,
        &outcome(server_500(), Some(STUCK), vec![user_v("@b:hs")]),
        &lc,
        20,
        MIN,
    );
    let lines: Vec<_> = plan
        .lines
        .iter()
        .map(|l| (l.change, l.violation.subject.id().to_owned()))
        .collect();
    assert_eq!(
        lines,
        [
            (Change::New, "@b:hs".to_owned()),
            (Change::Resolved, "@a:hs".to_owned())
        ]
    );
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0]
            .plain
            .contains("room size limits could not be checked")
    );
    assert!(messages[1].plain.contains(
        "runs are incomplete: Synapse's next_token stopped advancing at 80 of 120 users"
    ));
    assert!(
        messages[2].plain.ends_with("Partial run: Synapse's next_token stopped advancing at 80 of 120 users. Open alerts of users it did not reach are neither resolved nor forgotten."),
        "{}",
        messages[2].plain
    );
    let open: Vec<_> = alerts.active.keys().map(|(_, s)| s.as_str()).collect();
    assert_eq!(open, ["@b:hs", "@z:hs", "!r:hs"]);
    // A partial run that finds nothing new says nothing more.
    let (plan, messages) = settle_run(
        &mut alerts,
        &mut c,
        &outcome(server_500(), Some(STUCK), vec![user_v("@b:hs")]),
        &lc,
        20,
        2 * MIN,
    );
    assert!(
        plan.is_empty() && messages.is_empty(),
        "{plan:?} {messages:?}"
    );
    // The next complete run resolves them, and says walks are whole again.
    let (plan, messages) = settle_run(
        &mut alerts,
        &mut c,
        &outcome(checked(), None, vec![]),
        &lc,
        20,
        3 * MIN,
    );
    assert_eq!(plan.lines.len(), 3);
    assert!(plan.lines.iter().all(|l| l.change == Change::Resolved));
    assert_eq!(messages.len(), 3, "rooms back, walks complete, summary");
    assert!(!messages[2].plain.contains("Partial run"));
    assert!(alerts.active.is_empty());
}

#[test]
fn old_state_files_load() {
    let old = r#"{"synapse_outage":null,"rooms_outage":{"since_ms":5,"error":"e"},"rooms_unsupported_noticed":true}"#;
    let c: Conditions = serde_json::from_str(old).unwrap();
    assert_eq!(c.incomplete, None);
    assert!(c.rooms_unsupported_noticed);
}

#[test]
fn postgres_without_the_module_is_an_outage_not_a_lasting_state() {
    // Synapse's 500 may pass (an old server whose statistics come back):
    // said when it starts and when sizes are back, each time.
    let mut c = Conditions::default();
    let why = SizesUnavailable {
        synapse: RoomsUnavailable::Server("500".into()),
        module: Some(ModuleUnavailable::NotConfigured),
    };
    let failing = RoomsChecked::Unavailable {
        reason: why.clone(),
    };
    assert_eq!(
        c.run_finished(&outcome(failing.clone(), None, vec![]), 0),
        vec![ConditionChange::RoomsFailing {
            error: why.to_string()
        }]
    );
    assert_eq!(
        c.run_finished(&outcome(checked(), None, vec![]), MIN),
        vec![ConditionChange::RoomsBack { since_ms: 0 }]
    );
    assert_eq!(
        c.run_finished(&outcome(failing, None, vec![]), 2 * MIN)
            .len(),
        1
    );
}

/// A run whose walk used `source`.
fn through(source: UsersSource) -> RunOutcome {
    let mut run = outcome(checked(), None, Vec::new());
    run.walks[0].source = source;
    run
}

/// The module failing to give users' media (issue 29) is said once, with its
/// reason, however many runs fall back; the first run through the module
/// again says it is back; taking the secret away forgets it silently.
#[test]
fn a_module_walk_fallback_is_said_once_and_its_end_too() {
    let mut conditions = Conditions::default();
    assert!(
        conditions
            .run_finished(&through(UsersSource::Module), 0)
            .is_empty()
    );
    let failed = UsersSource::Fallback(ModuleUnavailable::TimedOut);
    assert_eq!(
        conditions.run_finished(&through(failed.clone()), 10 * MIN),
        vec![ConditionChange::ModuleWalkFailing {
            reason: ModuleUnavailable::TimedOut
        }]
    );
    // Another reason on a later run: still the same outage, not said again.
    let refused = UsersSource::Fallback(ModuleUnavailable::Refused);
    for (n, source) in [failed.clone(), refused, failed.clone()]
        .into_iter()
        .enumerate()
    {
        let at = (20 + n as u64) * MIN;
        assert!(conditions.run_finished(&through(source), at).is_empty());
    }
    // A failed run changes nothing of it.
    conditions.run_failed("connection refused", 30 * MIN);
    let back = conditions.run_finished(&through(UsersSource::Module), 40 * MIN);
    assert_eq!(
        back,
        vec![
            ConditionChange::SynapseBack { since_ms: 30 * MIN },
            ConditionChange::ModuleWalkBack { since_ms: 10 * MIN }
        ]
    );
    assert!(
        conditions
            .run_finished(&through(UsersSource::Module), 50 * MIN)
            .is_empty()
    );
    // Falling back again is a new outage; the secret taken away ends it
    // without a word (nothing to watch), and the next fallback is said.
    assert_eq!(
        conditions
            .run_finished(&through(failed.clone()), 60 * MIN)
            .len(),
        1
    );
    assert!(
        conditions
            .run_finished(&through(UsersSource::AdminApi), 70 * MIN)
            .is_empty()
    );
    assert_eq!(conditions.module_walk_outage, None);
    assert_eq!(conditions.run_finished(&through(failed), 80 * MIN).len(), 1);
    // The notices name the reason in words.
    let said = text::daemon::condition(&ConditionChange::ModuleWalkFailing {
        reason: ModuleUnavailable::Refused,
    })
    .plain();
    assert!(said.contains("refused the warden's secret"), "{said}");
    assert!(said.contains("admin API"), "{said}");
}
