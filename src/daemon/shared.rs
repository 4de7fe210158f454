//! The ports between the daemon's loop and what surrounds it: what the
//! loop reads and writes for the bot, the HTTP endpoints and the module
//! ([`Shared`], [`Status`], [`Readiness`]), what it is asked to do
//! ([`Control`]) and where its announcements go ([`Notifier`]).
//!
//! Of the daemon, this imports only the persisted [`LastRun`]: the loop
//! ([`super::service`]), the endpoints ([`super::http`],
//! [`super::module_api`]) and the bot meet here instead of importing one
//! another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::{RwLock, oneshot};

use super::state::LastRun;
use crate::core::alerting::conditions::Outage;
use crate::core::alerting::silences::{Silence, Silences};
use crate::core::commands::SilenceRequest;
use crate::core::doc::Message;
use crate::core::engine::eval::RunOutcome;
use crate::core::engine::snapshot::Snapshot;
use crate::core::model::violation::Violation;
use crate::core::policy::Config;

/// Where announcements go: the bot, in production.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `message` to the admin room with transaction ID `txn_id`;
    /// answers the event ID it got. Sending twice with the same ID must post
    /// it once.
    async fn send(&self, txn_id: &str, message: &Message) -> Result<String, NotifyError>;

    /// Posts `png` (a chart) as an image with transaction ID `txn_id`,
    /// encrypted in an encrypted room; answers its event ID. Sending twice
    /// with the same ID must post it once.
    async fn send_image(
        &self,
        txn_id: &str,
        png: &crate::chart::Png,
    ) -> Result<String, NotifyError>;
}

/// Why a message could not be delivered (it stays queued).
#[derive(Debug, Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// What the bot can read of the daemon.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The last run.
    pub last_run: Option<LastRun>,
    /// When the next run is due (Unix ms).
    pub next_run_ms: Option<u64>,
    /// Synapse unreachable since.
    pub synapse_outage: Option<Outage>,
    /// Messages waiting for Matrix.
    pub queued: usize,
}

/// State shared with the bot and the HTTP endpoints.
#[derive(Debug)]
pub struct Shared {
    /// The rules in force.
    pub config: RwLock<Arc<Config>>,
    /// What `!stats status` shows.
    pub status: RwLock<Status>,
    /// The top lists of the last successful run, for `!stats top`.
    pub snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// The silences, as last saved, for `!stats silences` and `check`.
    pub silences: RwLock<Silences>,
}

/// Requests to the loop, from the bot or from signals.
#[derive(Debug)]
pub enum Control {
    /// Run now; the reply is the run's outcome or why it failed.
    RunNow(oneshot::Sender<Result<RunOutcome, String>>),
    /// Re-read the policy file; the reply says what happened.
    Reload(oneshot::Sender<Result<String, String>>),
    /// Try to deliver queued messages now (the homeserver is back).
    Deliver,
    /// Silence violations; the reply is the silence and how many open
    /// violations it matches, or why it was refused.
    Silence {
        /// What to silence, for how long, why.
        request: SilenceRequest,
        /// Who asks.
        author: String,
        /// The answer.
        reply: oneshot::Sender<Result<(Silence, usize), String>>,
    },
    /// End a silence early; the reply is the silence and how many open
    /// violations it matched, or why not.
    Unsilence {
        /// The silence.
        id: u64,
        /// Who asks.
        by: String,
        /// The answer.
        reply: oneshot::Sender<Result<(Silence, usize), String>>,
    },
    /// Acknowledge the violations of the alert `event_id`: `None` when it
    /// is not an alert of ours, else the violations acknowledged (or why
    /// it could not be saved).
    Acknowledge {
        /// The alert message reacted to.
        event_id: String,
        /// Who reacted.
        by: String,
        /// The answer.
        reply: oneshot::Sender<Option<Result<Vec<Violation>, String>>>,
    },
}

/// What readiness depends on, updated by the daemon as things happen.
#[derive(Debug, Default)]
pub struct Readiness {
    synapse: AtomicBool,
    matrix: AtomicBool,
    run_blocked: Mutex<Option<String>>,
    reload_refused: Mutex<Option<String>>,
    save_failed: Mutex<Option<String>>,
}

impl Readiness {
    /// Records whether the last Synapse request got an answer.
    pub fn set_synapse(&self, up: bool) {
        self.synapse.store(up, Ordering::Relaxed);
    }

    /// Records whether the bot is synced with its homeserver.
    pub fn set_matrix(&self, up: bool) {
        self.matrix.store(up, Ordering::Relaxed);
    }

    /// Whether Synapse answered the last request.
    pub fn synapse(&self) -> bool {
        self.synapse.load(Ordering::Relaxed)
    }

    /// Whether the bot is synced.
    pub fn matrix(&self) -> bool {
        self.matrix.load(Ordering::Relaxed)
    }

    /// Records why the last run failed when it will not heal by itself
    /// (`None` after a run that did not fail so).
    pub fn set_run_blocked(&self, error: Option<String>) {
        if let Ok(mut blocked) = self.run_blocked.lock() {
            *blocked = error;
        }
    }

    /// Records why the last reload was refused (`None` after one that was
    /// not).
    pub fn set_reload_refused(&self, errors: Option<String>) {
        if let Ok(mut refused) = self.reload_refused.lock() {
            *refused = errors;
        }
    }

    /// Records why the last save of the state failed (`None` after one
    /// that worked).
    pub fn set_save_failed(&self, error: Option<String>) {
        if let Ok(mut failed) = self.save_failed.lock() {
            *failed = error;
        }
    }

    /// Why the daemon is not ready; empty when it is.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.synapse() {
            reasons.push(not_ready_synapse());
        }
        if !self.matrix() {
            reasons.push(not_ready_matrix());
        }
        if let Ok(blocked) = self.run_blocked.lock()
            && let Some(error) = blocked.as_deref()
        {
            reasons.push(not_ready_run_blocked(error));
        }
        if let Ok(refused) = self.reload_refused.lock()
            && let Some(errors) = refused.as_deref()
        {
            reasons.push(not_ready_reload_refused(errors));
        }
        if let Ok(failed) = self.save_failed.lock()
            && let Some(error) = failed.as_deref()
        {
            reasons.push(crate::core::text::daemon::not_ready_saving(error));
        }
        reasons
    }
}

fn not_ready_synapse() -> String {
    "Synapse has not answered the last request yet".to_owned()
}

fn not_ready_matrix() -> String {
    "the bot is not synced with its homeserver".to_owned()
}

fn not_ready_run_blocked(error: &str) -> String {
    format!("the last run failed and will not succeed until an admin acts: {error}")
}

fn not_ready_reload_refused(errors: &str) -> String {
    format!(
        "the policy file was changed but could not be reloaded; the previous rules stay in force: {}",
        errors.trim_end()
    )
}
