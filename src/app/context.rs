//! What answering a command needs and gives: the context a command is
//! answered in ([`StatsContext`], with the running daemon behind a
//! [`DaemonHandle`] when there is one), where the command came from
//! ([`Origin`]) and the [`Reply`]. Shared by [`super::answer`] and the
//! answers it hands commands to ([`super::actions`], [`super::trend`]), so
//! that none of them reaches back into another.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::core::alerting::silences::{Silence, Silences};
use crate::core::commands::SilenceRequest;
use crate::core::doc::{Doc, Message};
use crate::core::engine::snapshot::Snapshot;
use crate::core::model::violation::Violation;
use crate::core::policy::{AlertSettings, Config};
use crate::core::text::replies::StatusView;
use crate::synapse::SynapseClient;

/// How old the last walk may be for `top` to be answered from it.
pub const DEFAULT_SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// What the bot needs of the running daemon. Implemented by the daemon;
/// absent on the command line.
#[async_trait]
pub trait DaemonHandle: Send + Sync {
    /// The top lists of the last walk, if any.
    async fn snapshot(&self) -> Option<Arc<Snapshot>>;
    /// Last run, next run, last error, queued messages. The health fields
    /// may be left [`crate::core::text::replies::Health::Unknown`]: [`super::answer::answer`] probes Synapse itself,
    /// and the bot knows Matrix is up.
    async fn status(&self) -> StatusView;
    /// The policy in force.
    async fn config(&self) -> Arc<Config>;
    /// Asks for a run now: one run at a time, a check arriving while a
    /// run is in progress (or already asked for) joins it. Where its
    /// outcome comes (the run's, or why it failed), or why not.
    async fn run_check(&self) -> Result<crate::daemon::shared::PendingCheck, String>;
    /// Re-reads the policy file; what happened, or why it was refused.
    async fn reload(&self) -> Result<String, String>;
    /// Creates a silence by `author`; it and how many open violations it
    /// matches, or why it was refused.
    async fn silence(
        &self,
        request: SilenceRequest,
        author: &str,
    ) -> Result<(Silence, usize), String>;
    /// Ends silence `id` early; it and how many open violations it
    /// matched, or why not.
    async fn unsilence(&self, id: u64, by: &str) -> Result<(Silence, usize), String>;
    /// The silences as last saved.
    async fn silences(&self) -> Silences;
    /// Acknowledges the violations of the alert `event_id` for `by`:
    /// `None` when it is not an alert of ours.
    async fn acknowledge(&self, event_id: &str, by: &str)
    -> Option<Result<Vec<Violation>, String>>;
}

/// Where a command came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The terminal.
    Cli,
    /// The admin room; the bot is connected.
    Matrix {
        /// The bot's device, for `status`.
        device_id: String,
        /// Who sent the command.
        sender: String,
        /// The sender's power level in the admin room (`None`: unknown;
        /// `i64::MAX` for an infinite level).
        level: Option<i64>,
        /// Where messages before the answer go (progress of a long purge).
        progress: Option<tokio::sync::mpsc::UnboundedSender<Message>>,
        /// The admin room the command was sent in (never cleaned up).
        room_id: Option<String>,
    },
}

/// What answering needs.
#[derive(Clone)]
pub struct StatsContext {
    /// Synapse's admin API.
    pub synapse: SynapseClient,
    /// The command prefix, for help and usage replies.
    pub prefix: String,
    /// Lines of a list before it is cut.
    pub max_lines: usize,
    /// How old the last walk may be for `top`.
    pub snapshot_max_age: Duration,
    /// The daemon, when it runs.
    pub daemon: Option<Arc<dyn DaemonHandle>>,
    /// The policy, for `policies` without a daemon (the command line).
    pub config: Option<Arc<Config>>,
    /// The daemon's metrics, where answered commands and their latency are
    /// counted.
    pub metrics: Option<Arc<crate::daemon::metrics::Metrics>>,
    /// Clean-up actions waiting for their confirmation code.
    pub confirmations: Arc<std::sync::Mutex<crate::core::commands::actions::Confirmations>>,
    /// The usage history, for `trend` and `growth`.
    pub history: Option<crate::history::History>,
    /// How Synapse's room deletions and history purges are waited for.
    pub task_polling: crate::core::commands::actions::TaskPolling,
}

impl std::fmt::Debug for StatsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsContext")
            .field("synapse", &self.synapse.base_url().as_str())
            .field("prefix", &self.prefix)
            .field("max_lines", &self.max_lines)
            .field("daemon", &self.daemon.is_some())
            .finish()
    }
}

impl StatsContext {
    /// A context without daemon, with default limits.
    pub fn new(synapse: SynapseClient, prefix: impl Into<String>) -> StatsContext {
        StatsContext {
            synapse,
            prefix: prefix.into(),
            max_lines: AlertSettings::default().max_lines.get(),
            snapshot_max_age: DEFAULT_SNAPSHOT_MAX_AGE,
            daemon: None,
            config: None,
            metrics: None,
            confirmations: Arc::default(),
            history: None,
            task_polling: Default::default(),
        }
    }
}

/// A reply, and whether the command did its job.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to show.
    pub message: Doc,
    /// False when the answer is an error (for the exit status).
    pub ok: bool,
}

impl Reply {
    pub(crate) fn ok(message: Doc) -> Reply {
        Reply { message, ok: true }
    }

    pub(crate) fn failed(message: Doc) -> Reply {
        Reply { message, ok: false }
    }
}

/// The policy in force: the daemon's, else the one given (command line).
/// `doc` with its sizes in the policy's one family (see
/// `Config::in_units`); as is without a policy.
pub(crate) async fn in_units(
    ctx: &StatsContext,
    doc: crate::core::doc::Doc,
) -> crate::core::doc::Doc {
    match rules_in_force(ctx).await {
        Some(config) => config.in_units(doc),
        None => doc,
    }
}

pub(crate) async fn rules_in_force(ctx: &StatsContext) -> Option<Arc<Config>> {
    match (&ctx.daemon, &ctx.config) {
        (Some(d), _) => Some(d.config().await),
        (None, Some(config)) => Some(config.clone()),
        (None, None) => None,
    }
}
