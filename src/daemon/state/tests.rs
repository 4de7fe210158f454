//! The persisted state: what earlier versions wrote still loads, and what
//! this one writes loads back the same.

use std::time::Duration;

use super::{DaemonState, LastRun};
use crate::core::alerting::conditions::Outage;
use crate::core::alerting::lifecycle::{AlertState, Lifecycle};
use crate::core::doc::Units;
use crate::core::model::violation::fixture::violation;
use crate::core::model::violation::{Measure, Severity, Subject, Violation};
use crate::daemon::store::{JsonStore, Loaded};

/// Written by main at 3c948df (pretty JSON, every alert a full violation):
/// never regenerate it, it stands for the files on admins' disks.
const MAIN_3C948DF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/state/main-3c948df.json"
);

/// A state with alerts of every kind (users with and without display
/// names, hostile ones, a room, an early warning of a count over a window,
/// two rules sharing subjects), an outbox, conditions and notices.
fn sample() -> DaemonState {
    let v = |rule: &str, description: Option<&str>, subject: Subject, measure, observed, limit| {
        Violation {
            description: description.map(Into::into),
            severity: Severity::Critical,
            measure,
            observed,
            limit,
            ..violation(rule, subject)
        }
    };
    let user = |id: &str, name: Option<&str>| Subject::User {
        user_id: id.into(),
        displayname: name.map(Into::into),
    };
    let quota = Some("Each user may keep at most 5 MiB of media.");
    let violations = vec![
        v(
            "media-quota",
            quota,
            user("@alice:warden.test", Some("Alice")),
            Measure::MediaLength,
            6 << 20,
            5 << 20,
        ),
        v(
            "media-quota",
            quota,
            user("@eve:warden.test", Some("\u{202e}evil\n@room \"quoted\"")),
            Measure::MediaLength,
            (5 << 20) + 1,
            5 << 20,
        ),
        Violation {
            severity: Severity::Warning,
            window: Some(Duration::from_secs(3600)),
            early_warning: true,
            units: Units::Decimal,
            ..v(
                "upload-burst",
                None,
                user("@alice:warden.test", Some("Alice")),
                Measure::MediaCount,
                45,
                50,
            )
        },
        Violation {
            severity: Severity::Warning,
            ..v(
                "huge-rooms",
                Some("Rooms over 10 GiB"),
                Subject::Room {
                    room_id: "!abc:warden.test".into(),
                },
                Measure::RoomSize,
                12 << 30,
                10 << 30,
            )
        },
    ];
    let mut alerts = AlertState::default();
    let lifecycle = Lifecycle::default();
    let t0 = 1_764_000_000_000;
    let plan = alerts.plan(&violations[..3], t0, &lifecycle);
    alerts.apply(&plan, &violations[..3], t0);
    let plan = alerts.plan(&violations, t0 + 3_600_000, &lifecycle);
    alerts.apply(&plan, &violations, t0 + 3_600_000);
    alerts.enqueue("plain".into(), "<p>html</p>".into(), t0 + 3_600_000);
    let mut state = DaemonState {
        alerts,
        last_run: Some(LastRun {
            started_ms: t0 + 3_600_000,
            took_ms: 1234,
            violations: Some(4),
            users: 120,
            error: None,
            incomplete: None,
            silenced: 0,
            source: None,
        }),
        ..DaemonState::default()
    };
    state.conditions.synapse_outage = Some(Outage {
        since_ms: t0,
        error: "connection refused".into(),
    });
    state
        .notices
        .last_sent
        .insert("@alice:warden.test".into(), t0);
    state
}

#[test]
fn a_state_written_by_main_loads() {
    let store = JsonStore::new(MAIN_3C948DF);
    match store.load::<DaemonState>(0).unwrap() {
        Loaded::Found(state) => {
            assert_eq!(state.alerts.active.len(), 4);
            assert_eq!(state, sample());
        }
        other => panic!("{MAIN_3C948DF}: {other:?}"),
    }
}

/// Where the last run read users' media (issue 29) is kept across restarts,
/// the module's reason for a fallback included.
#[test]
fn the_last_runs_source_is_kept() {
    use crate::core::model::rooms::ModuleUnavailable;
    use crate::core::model::users_source::UsersSource;
    let dir = tempfile::tempdir().unwrap();
    let store = JsonStore::new(dir.path().join("state.json"));
    for source in [
        UsersSource::Module,
        UsersSource::Fallback(ModuleUnavailable::Failed("HTTP 500: boom".into())),
    ] {
        let mut state = sample();
        if let Some(run) = state.last_run.as_mut() {
            run.source = Some(source.clone());
        }
        store.save(&state).unwrap();
        match store.load::<DaemonState>(0).unwrap() {
            Loaded::Found(loaded) => assert_eq!(loaded, state),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_compact_state_loads_back_the_same_and_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let store = JsonStore::new(dir.path().join("state.json"));
    store.save(&sample()).unwrap();
    let written = std::fs::read_to_string(store.path()).unwrap();
    match store.load::<DaemonState>(0).unwrap() {
        Loaded::Found(state) => assert_eq!(state, sample()),
        other => panic!("{other:?}\n{written}"),
    }
    // Each rule once, however many alerts name it.
    assert_eq!(
        written.matches("Each user may keep").count(),
        1,
        "{written}"
    );
    let main = std::fs::read_to_string(MAIN_3C948DF).unwrap();
    assert!(written.len() * 2 < main.len(), "{written}");
    // Loading and saving again changes nothing.
    let Loaded::Found(state) = JsonStore::new(MAIN_3C948DF).load::<DaemonState>(0).unwrap() else {
        panic!("{MAIN_3C948DF} did not load");
    };
    store.save(&state).unwrap();
    assert_eq!(std::fs::read_to_string(store.path()).unwrap(), written);
}

#[test]
fn an_alert_naming_a_missing_rule_is_a_corrupt_file_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = JsonStore::new(dir.path().join("state.json"));
    store.save(&sample()).unwrap();
    let written = std::fs::read_to_string(store.path()).unwrap();
    let broken = written.replacen("\"alerts\":[[0,", "\"alerts\":[[9,", 1);
    assert_ne!(broken, written);
    std::fs::write(store.path(), broken).unwrap();
    match store.load::<DaemonState>(7).unwrap() {
        Loaded::Corrupt { reason, .. } => {
            assert!(reason.contains("alert 0 names rule 9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn acknowledgements_and_unannounced_alerts_survive_the_compact_form() {
    let mut state = sample();
    let mut records = state.alerts.active.values_mut();
    records.next().unwrap().acknowledged = Some(crate::core::alerting::lifecycle::Acknowledged {
        by: "@op:warden.test".into(),
        at_ms: 1_764_000_000_123,
    });
    records.next().unwrap().unannounced = true;
    let dir = tempfile::tempdir().unwrap();
    let store = JsonStore::new(dir.path().join("state.json"));
    store.save(&state).unwrap();
    let written = std::fs::read_to_string(store.path()).unwrap();
    assert!(written.contains("@op:warden.test"), "{written}");
    match store.load::<DaemonState>(0).unwrap() {
        Loaded::Found(loaded) => assert_eq!(loaded, state),
        other => panic!("{other:?}\n{written}"),
    }
}
