//! What the daemon says about a run besides its violations: conditions that
//! last across runs — Synapse failing, room sizes unavailable, walks cut
//! short — each announced once when it starts and once when it ends, and
//! the step that turns a finished run into announcements.
//!
//! Pure, like Alertmanager's `dedup_stage` `needsUpdate`: [`Conditions`] is
//! plain data (persisted by the daemon), a run's result goes in, the
//! [`Notice`]s to post come out with a typed reason, and the time is an
//! argument. The daemon only stores the state and delivers the messages.
//!
//! - A failed run (Synapse unreachable, refusing us, or answering nonsense)
//!   starts a Synapse outage; the next successful run ends it. A failed run
//!   changes no alert.
//! - Room sizes: on SQLite, Synapse has none; that is said once, ever. On
//!   PostgreSQL, Synapse's 500 starts a rooms outage, ended by a run that
//!   reads room sizes again.
//! - A run whose walk was cut short (see [`crate::core::model::coverage`]) starts an
//!   "incomplete" condition, ended by the next complete walk.
//! - [`settle_run`]: a run that was not complete is a partial run; what it
//!   did not look at is neither resolved nor forgotten, and its summary says
//!   it was partial.

use serde::{Deserialize, Serialize};

use crate::core::alerting::lifecycle::{AlertState, Lifecycle, Plan};
use crate::core::alerting::settle::{Message, RunSummary};
use crate::core::doc::Doc;
use crate::core::engine::eval::{Outcome, RoomsChecked};
use crate::core::model::coverage::{CutShort, RoomsUnavailable};

/// A condition that lasted across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// When it was first seen (Unix ms).
    pub since_ms: u64,
    /// The error, as first seen.
    pub error: String,
}

/// The conditions in force, as persisted in the daemon's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conditions {
    /// Synapse unreachable (or refusing us) since.
    #[serde(default)]
    pub synapse_outage: Option<Outage>,
    /// Room sizes failing (Synapse's 500) since.
    #[serde(default)]
    pub rooms_outage: Option<Outage>,
    /// Whether "room rules disabled: SQLite" was said.
    #[serde(default)]
    pub rooms_unsupported_noticed: bool,
    /// Walks cut short since (the cause, as first seen).
    #[serde(default)]
    pub incomplete: Option<Outage>,
}

/// Something to tell the admins about the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Runs started failing.
    SynapseFailing {
        /// Since (Unix ms).
        since_ms: u64,
        /// The run's error.
        error: String,
    },
    /// A run succeeded after failures.
    SynapseBack {
        /// Failing since (Unix ms).
        since_ms: u64,
    },
    /// Room rules cannot work here, for good.
    RoomsUnsupported,
    /// Room sizes started failing.
    RoomsFailing {
        /// Synapse's error.
        error: String,
    },
    /// Room sizes are back.
    RoomsBack {
        /// Failing since (Unix ms).
        since_ms: u64,
    },
    /// Walks started being cut short.
    WalksIncomplete {
        /// How, for people (e.g. "Synapse's next_token stopped advancing at
        /// 80 of 120 users").
        cause: String,
    },
    /// A walk saw every user again.
    WalksComplete {
        /// Cut short since (Unix ms).
        since_ms: u64,
    },
}

impl Notice {
    /// The message to post.
    pub fn message(&self) -> Message {
        self.doc().message()
    }

    /// The message as a document (wording in
    /// [`crate::core::text::notices`]).
    pub fn doc(&self) -> Doc {
        use crate::core::text::notices as n;
        match self {
            Notice::SynapseFailing { since_ms, error } => n::synapse_failing(*since_ms, error),
            Notice::SynapseBack { since_ms } => n::synapse_back(*since_ms),
            Notice::RoomsUnsupported => n::rooms_unsupported(),
            Notice::RoomsFailing { error } => n::rooms_failing(error),
            Notice::RoomsBack { since_ms } => n::rooms_back(*since_ms),
            Notice::WalksIncomplete { cause } => n::walks_incomplete(cause),
            Notice::WalksComplete { since_ms } => n::walks_complete(*since_ms),
        }
    }
}

impl Conditions {
    /// A run failed with `error` at `now_ms`.
    pub fn run_failed(&mut self, error: &str, now_ms: u64) -> Vec<Notice> {
        if self.synapse_outage.is_some() {
            return Vec::new();
        }
        self.synapse_outage = Some(Outage {
            since_ms: now_ms,
            error: error.to_owned(),
        });
        vec![Notice::SynapseFailing {
            since_ms: now_ms,
            error: error.to_owned(),
        }]
    }

    /// A run finished with `outcome` at `now_ms`.
    pub fn run_finished(&mut self, outcome: &Outcome, now_ms: u64) -> Vec<Notice> {
        let mut notices = Vec::new();
        if let Some(outage) = self.synapse_outage.take() {
            notices.push(Notice::SynapseBack {
                since_ms: outage.since_ms,
            });
        }
        notices.extend(self.rooms(&outcome.rooms, now_ms));
        match outcome.cut_short() {
            Some((_, cut)) => {
                if self.incomplete.is_none() {
                    let cause = incomplete_cause(outcome).unwrap_or_else(|| cut.to_string());
                    self.incomplete = Some(Outage {
                        since_ms: now_ms,
                        error: cause.clone(),
                    });
                    notices.push(Notice::WalksIncomplete { cause });
                }
            }
            None => {
                if let Some(outage) = self.incomplete.take() {
                    notices.push(Notice::WalksComplete {
                        since_ms: outage.since_ms,
                    });
                }
            }
        }
        notices
    }

    fn rooms(&mut self, rooms: &RoomsChecked, now_ms: u64) -> Option<Notice> {
        match rooms {
            RoomsChecked::Checked { .. } => {
                self.rooms_outage.take().map(|outage| Notice::RoomsBack {
                    since_ms: outage.since_ms,
                })
            }
            // No room rule any more: nothing to watch, nothing to say.
            RoomsChecked::NotNeeded => {
                self.rooms_outage = None;
                None
            }
            RoomsChecked::Unavailable {
                reason: RoomsUnavailable::Sqlite,
            } => {
                if self.rooms_unsupported_noticed {
                    None
                } else {
                    self.rooms_unsupported_noticed = true;
                    Some(Notice::RoomsUnsupported)
                }
            }
            RoomsChecked::Unavailable {
                reason: RoomsUnavailable::Server(error),
            } => {
                if self.rooms_outage.is_some() {
                    None
                } else {
                    self.rooms_outage = Some(Outage {
                        since_ms: now_ms,
                        error: error.clone(),
                    });
                    Some(Notice::RoomsFailing {
                        error: error.clone(),
                    })
                }
            }
            RoomsChecked::Unavailable {
                reason: RoomsUnavailable::NotAsked,
            } => None,
        }
    }
}

/// Why a run was partial, for people: the first walk cut short, named when
/// it is a windowed one.
pub fn incomplete_cause(outcome: &Outcome) -> Option<String> {
    let (walk, cut) = outcome.cut_short()?;
    Some(walk_cut_text(walk.window, &cut))
}

fn walk_cut_text(window: Option<std::time::Duration>, cut: &CutShort) -> String {
    match window {
        None => cut.to_string(),
        Some(w) => format!(
            "{cut} (walk of the uploads of the last {})",
            crate::core::doc::format::window(w)
        ),
    }
}

/// What a finished run changes and says: the alert lifecycle applied with
/// the run's coverage (a partial run resolves and forgets only what it
/// looked at), the conditions' notices to post, in order, and then the
/// run's summary (marked partial when it was), `None` when nothing changed.
pub fn settle_run(
    alerts: &mut AlertState,
    conditions: &mut Conditions,
    outcome: &Outcome,
    lifecycle: &Lifecycle,
    max_lines: usize,
    now_ms: u64,
) -> (Plan, Vec<Message>, Option<RunSummary>) {
    let messages: Vec<Message> = conditions
        .run_finished(outcome, now_ms)
        .iter()
        .map(Notice::message)
        .collect();
    let plan = alerts.plan_covered(&outcome.violations, &outcome.coverage, now_ms, lifecycle);
    let summary = (!plan.is_empty()).then(|| RunSummary {
        plan: plan.clone(),
        partial: incomplete_cause(outcome),
        now_ms,
        max_lines,
        too_broad: Vec::new(),
    });
    alerts.apply_covered(&plan, &outcome.violations, &outcome.coverage, now_ms);
    (plan, messages, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alerting::lifecycle::Change;
    use crate::core::engine::eval::WalkReport;
    use crate::core::model::coverage::{Checked, Coverage, CutCause};
    use crate::core::model::usage::TimeRange;
    use crate::core::model::violation::fixture::{user, violation};
    use crate::core::model::violation::{Measure, Subject, Violation};

    const MIN: u64 = 60_000;

    /// [`settle_run`]'s messages with the summary last, as the daemon posts
    /// them when no server notice is involved.
    fn settle_run(
        alerts: &mut AlertState,
        conditions: &mut Conditions,
        outcome: &Outcome,
        lifecycle: &Lifecycle,
        max_lines: usize,
        now_ms: u64,
    ) -> (Plan, Vec<Message>) {
        let (plan, mut messages, summary) =
            super::settle_run(alerts, conditions, outcome, lifecycle, max_lines, now_ms);
        messages.extend(summary.and_then(|s| s.doc(None)).map(|d| d.message()));
        (plan, messages)
    }

    fn outcome(rooms: RoomsChecked, cut: Option<CutShort>, violations: Vec<Violation>) -> Outcome {
        let mut coverage = Coverage::complete();
        if cut.is_some() {
            coverage.limit("quota", Checked::UsersUpTo(Some("@m:hs".into())));
        }
        if matches!(rooms, RoomsChecked::Unavailable { .. }) {
            coverage.limit("rooms", Checked::Nothing);
        }
        Outcome {
            now_ms: 0,
            violations,
            walks: vec![WalkReport {
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
        RoomsChecked::Checked { rooms: 3 }
    }

    fn server_500() -> RoomsChecked {
        RoomsChecked::Unavailable {
            reason: RoomsUnavailable::Server("500".into()),
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
            vec![Notice::SynapseFailing {
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
            vec![Notice::SynapseBack { since_ms: MIN }]
        );
        assert_eq!(
            c.run_finished(&outcome(checked(), None, vec![]), 4 * MIN),
            vec![]
        );
    }

    #[test]
    fn rooms_sqlite_once_ever_and_500_as_an_outage() {
        let mut c = Conditions::default();
        let sqlite = RoomsChecked::Unavailable {
            reason: RoomsUnavailable::Sqlite,
        };
        assert_eq!(
            c.run_finished(&outcome(sqlite.clone(), None, vec![]), 0),
            vec![Notice::RoomsUnsupported]
        );
        assert_eq!(c.run_finished(&outcome(sqlite, None, vec![]), MIN), vec![]);
        assert_eq!(
            c.run_finished(&outcome(server_500(), None, vec![]), 2 * MIN),
            vec![Notice::RoomsFailing {
                error: "500".into()
            }]
        );
        assert_eq!(
            c.run_finished(&outcome(server_500(), None, vec![]), 3 * MIN),
            vec![]
        );
        assert_eq!(
            c.run_finished(&outcome(checked(), None, vec![]), 4 * MIN),
            vec![Notice::RoomsBack { since_ms: 2 * MIN }]
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
            vec![Notice::WalksIncomplete {
                cause: "Synapse's next_token stopped advancing at 80 of 120 users".into()
            }]
        );
        assert_eq!(
            c.run_finished(&outcome(checked(), Some(STUCK), vec![]), 2 * MIN),
            vec![]
        );
        assert_eq!(
            c.run_finished(&outcome(checked(), None, vec![]), 3 * MIN),
            vec![Notice::WalksComplete { since_ms: MIN }]
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
                .contains("room rules could not be checked")
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
}
