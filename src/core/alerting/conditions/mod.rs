//! What the daemon says about a run besides its violations: conditions that
//! last across runs — Synapse failing, room sizes unavailable, walks cut
//! short — each announced once when it starts and once when it ends, and
//! the step that turns a finished run into announcements.
//!
//! Pure, like Alertmanager's `dedup_stage` `needsUpdate`: [`Conditions`] is
//! plain data (persisted by the daemon), a run's result goes in, the
//! [`ConditionChange`]s to post come out with a typed reason, and the time is an
//! argument. The daemon only stores the state and delivers the messages.
//!
//! - A failed run (Synapse unreachable, refusing us, or answering nonsense)
//!   starts a Synapse outage; the next successful run ends it. A failed run
//!   changes no alert.
//! - Room sizes: on SQLite, Synapse has none; that is said once, ever. On
//!   PostgreSQL, Synapse's 500 starts a rooms outage, ended by a run that
//!   reads room sizes again.
//! - A run that read users' media through the admin API because the
//!   warden's Synapse module failed (issue 29) starts a module outage, said
//!   once with the module's reason; the next run read through the module
//!   ends it. A run that did not ask the module (no secret) forgets it.
//! - A run whose walk was cut short (see [`crate::core::model::coverage`]) starts an
//!   "incomplete" condition, ended by the next complete walk.
//! - [`crate::core::alerting::settle::settle_run`]: a run that was not complete is a partial run; what it
//!   did not look at is neither resolved nor forgotten, and its summary says
//!   it was partial.

use serde::{Deserialize, Serialize};

use crate::core::engine::eval::{RoomsChecked, RunOutcome};
use crate::core::model::coverage::RoomsUnavailable;
use crate::core::model::rooms::ModuleUnavailable;
use crate::core::model::users_source::UsersSource;

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
    /// The module's users' walk failing (runs fell back to the admin API)
    /// since.
    #[serde(default)]
    pub module_walk_outage: Option<Outage>,
}

/// Something to tell the admins about the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionChange {
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
    /// Room sizes cannot be read here until an admin acts (SQLite, and the
    /// warden's module is not set up).
    RoomsUnsupported {
        /// Why, for people.
        reason: String,
    },
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
    /// The module failed to give users' media; runs read the admin API.
    ModuleWalkFailing {
        /// Why, typed.
        reason: ModuleUnavailable,
    },
    /// A run read users' media through the module again.
    ModuleWalkBack {
        /// Failing since (Unix ms).
        since_ms: u64,
    },
}

impl Conditions {
    /// A run failed with `error` at `now_ms`.
    pub fn run_failed(&mut self, error: &str, now_ms: u64) -> Vec<ConditionChange> {
        if self.synapse_outage.is_some() {
            return Vec::new();
        }
        self.synapse_outage = Some(Outage {
            since_ms: now_ms,
            error: error.to_owned(),
        });
        vec![ConditionChange::SynapseFailing {
            since_ms: now_ms,
            error: error.to_owned(),
        }]
    }

    /// A run finished with `outcome` at `now_ms`.
    pub fn run_finished(&mut self, outcome: &RunOutcome, now_ms: u64) -> Vec<ConditionChange> {
        let mut notices = Vec::new();
        if let Some(outage) = self.synapse_outage.take() {
            notices.push(ConditionChange::SynapseBack {
                since_ms: outage.since_ms,
            });
        }
        notices.extend(self.module_walk(&outcome.users_source(), now_ms));
        notices.extend(self.rooms(&outcome.rooms, now_ms));
        match outcome.cut_short() {
            Some((_, cut)) => {
                if self.incomplete.is_none() {
                    let cause = outcome
                        .incomplete_cause()
                        .unwrap_or_else(|| cut.to_string());
                    self.incomplete = Some(Outage {
                        since_ms: now_ms,
                        error: cause.clone(),
                    });
                    notices.push(ConditionChange::WalksIncomplete { cause });
                }
            }
            None => {
                if let Some(outage) = self.incomplete.take() {
                    notices.push(ConditionChange::WalksComplete {
                        since_ms: outage.since_ms,
                    });
                }
            }
        }
        notices
    }

    fn module_walk(&mut self, source: &UsersSource, now_ms: u64) -> Option<ConditionChange> {
        match source {
            UsersSource::Fallback(reason) => {
                if self.module_walk_outage.is_some() {
                    return None;
                }
                self.module_walk_outage = Some(Outage {
                    since_ms: now_ms,
                    // The typed reason as stored elsewhere (e.g.
                    // `{"failed":"HTTP 500: ..."}`); words are the text layer's.
                    error: serde_json::to_string(reason).unwrap_or_default(),
                });
                Some(ConditionChange::ModuleWalkFailing {
                    reason: reason.clone(),
                })
            }
            UsersSource::Module => {
                self.module_walk_outage
                    .take()
                    .map(|outage| ConditionChange::ModuleWalkBack {
                        since_ms: outage.since_ms,
                    })
            }
            // The secret was taken away: nothing to watch any more.
            UsersSource::AdminApi => {
                self.module_walk_outage = None;
                None
            }
        }
    }

    fn rooms(&mut self, rooms: &RoomsChecked, now_ms: u64) -> Option<ConditionChange> {
        let missing = match rooms {
            // No room rule any more: nothing to watch, nothing to say.
            RoomsChecked::NotNeeded => {
                self.rooms_outage = None;
                return None;
            }
            RoomsChecked::Checked {
                sizes_unavailable, ..
            } => sizes_unavailable.as_ref(),
            RoomsChecked::Unavailable { reason } => Some(reason),
        };
        let Some(missing) = missing else {
            return self
                .rooms_outage
                .take()
                .map(|outage| ConditionChange::RoomsBack {
                    since_ms: outage.since_ms,
                });
        };
        if missing.synapse == RoomsUnavailable::NotAsked {
            return None;
        }
        // SQLite without the module lasts as long as the server's database:
        // said once. Anything else may pass (Synapse's 500 on PostgreSQL
        // until its statistics cover the event tables, a failing module):
        // an outage, said when it starts and when sizes are back.
        let lasting = missing.synapse == RoomsUnavailable::Sqlite
            && matches!(
                missing.module,
                None | Some(ModuleUnavailable::NotConfigured | ModuleUnavailable::NotInstalled)
            );
        if lasting {
            if self.rooms_unsupported_noticed {
                return None;
            }
            self.rooms_unsupported_noticed = true;
            return Some(ConditionChange::RoomsUnsupported {
                reason: missing.to_string(),
            });
        }
        if self.rooms_outage.is_some() {
            return None;
        }
        let error = missing.to_string();
        self.rooms_outage = Some(Outage {
            since_ms: now_ms,
            error: error.clone(),
        });
        Some(ConditionChange::RoomsFailing { error })
    }
}

#[cfg(test)]
mod tests;
