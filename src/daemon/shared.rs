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
    /// The `check` commands waiting for a run: one run at a time serves
    /// them all.
    pub checks: Mutex<Checks>,
}

/// What a run's waiters get: its outcome, or why it failed.
pub type RunAnswer = Result<RunOutcome, String>;

/// The `check` commands and the run that will answer them. A check that
/// arrives while a run is in progress (scheduled or asked for) or already
/// asked for joins it: no other walk.
#[derive(Debug, Default)]
pub struct Checks {
    /// A run is in progress.
    running: bool,
    /// A run was asked for and has not started yet.
    requested: bool,
    /// The daemon stopped: no run will come.
    stopped: bool,
    /// Who waits for the next end of a run.
    waiting: Vec<oneshot::Sender<RunAnswer>>,
}

/// A check asked for: whether it joined a run in progress (or already
/// asked for), and where its outcome comes.
#[derive(Debug)]
pub struct PendingCheck {
    /// It joined a run in progress or already asked for: no walk of its
    /// own.
    pub joined: bool,
    /// The outcome of the run that serves it (an error when the daemon
    /// stops first).
    pub outcome: oneshot::Receiver<RunAnswer>,
}

const STOPPING: &str = "the daemon is stopping";

impl Shared {
    fn checks(&self) -> std::sync::MutexGuard<'_, Checks> {
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks for a check: joins the run in progress or already asked for,
    /// else asks the loop for one ([`Control::RunNow`]).
    pub async fn check(
        &self,
        control: &tokio::sync::mpsc::Sender<Control>,
    ) -> Result<PendingCheck, String> {
        let (reply, outcome) = oneshot::channel();
        let own = {
            let mut checks = self.checks();
            if checks.stopped {
                return Err(STOPPING.to_owned());
            }
            if checks.running || checks.requested {
                checks.waiting.push(reply);
                None
            } else {
                checks.requested = true;
                Some(reply)
            }
        };
        let joined = own.is_none();
        if let Some(reply) = own
            && control.send(Control::RunNow(reply)).await.is_err()
        {
            return Err(STOPPING.to_owned());
        }
        Ok(PendingCheck { joined, outcome })
    }

    /// The loop took a [`Control::RunNow`]: its reply waits for the run
    /// it starts.
    pub(super) fn wait_for_run(&self, reply: oneshot::Sender<RunAnswer>) {
        self.checks().waiting.push(reply);
    }

    /// A run starts: checks from now on join it.
    pub(super) fn run_started(&self) {
        let mut checks = self.checks();
        checks.running = true;
        checks.requested = false;
    }

    /// The run ended (`Some`: with this answer for its waiters; `None`:
    /// abandoned, its waiters told the daemon stops).
    pub(super) fn run_ended(&self, answer: Option<&RunAnswer>) {
        let waiting = {
            let mut checks = self.checks();
            checks.running = false;
            std::mem::take(&mut checks.waiting)
        };
        if let Some(answer) = answer {
            for reply in waiting {
                let _ = reply.send(answer.clone());
            }
        }
    }

    /// The daemon stopped: waiting checks are told, new ones refused.
    pub(super) fn checks_stopped(&self) {
        let mut checks = self.checks();
        checks.stopped = true;
        checks.waiting.clear();
    }
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
