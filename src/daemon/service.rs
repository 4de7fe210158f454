//! The daemon's loop: runs on the schedule, turns each run into at most one
//! announcement, and delivers announcements exactly once. Delivery, the
//! digest and silences are the loop's too, in the modules `delivery`,
//! `digest` and `silences` beside this one; what it shares with the bot and
//! the endpoints is in [`super::shared`], what it saves in [`super::state`].
//!
//! - Runs never overlap: they happen one after the other in this loop; a run
//!   that ends after the next one was due makes that one start at once (and
//!   says so in the log), never a burst of catch-up runs.
//! - After a failed run the next attempt comes sooner, with exponential
//!   backoff (30 s, 1 min, 2 min... up to the schedule's own pace); a
//!   reload, which may have fixed the cause, brings it back to 30 s.
//! - What a run means is decided in the core: the alert lifecycle in
//!   [`crate::core::alerting::lifecycle`], and in [`crate::core::alerting::conditions`] the
//!   conditions announced once when they start and once when they end
//!   (Synapse unreachable, room sizes failing or unsupported, walks cut
//!   short) and the rule that a partial run (a walk cut short, room sizes
//!   unavailable) resolves and forgets only what it looked at. A failed run
//!   changes no alert. This loop stores the state and delivers.
//! - Every announcement goes through the outbox of the persisted state: saved
//!   first, then sent with its transaction ID, then marked delivered and saved
//!   again. A crash (even `kill -9`) between sending and saving resends with
//!   the same transaction ID from the same device (the bot restores its
//!   session from its data directory), and Synapse answers that resend with
//!   the first event instead of posting again: it de-duplicates per room,
//!   user, *device* and transaction ID, in its database for 24 hours (across
//!   its own restarts too) and in memory for 30 to 60 minutes. A bot that
//!   logged in anew (data directory lost), or a resend more than a day after
//!   the first send, would post the message again. Matrix being down only
//!   delays delivery.
//! - Reload (`SIGHUP`, `!stats reload`) re-reads the policy file: the rules,
//!   the alert settings, the schedule (from the next run) and a new Synapse
//!   client (URL, token, timeout, page size) take effect; what needs a
//!   restart ([`Config::needs_restart`]: the bot's login, its data directory,
//!   `http.listen`) is named in the answer and the log. An invalid file
//!   keeps everything as it was, its errors, with lines and columns, are
//!   posted to the room, and `/ready` says so until a reload succeeds.
//! - A save that fails (a full disk) stops nothing: the state stays in
//!   memory, `/ready` says why, the admins are told once when saves start
//!   failing and once when one works again
//!   ([`crate::core::alerting::saving`]), and the save is retried at each
//!   change and on its own with backoff. Saves write off the async runtime
//!   (`spawn_blocking`): the module's endpoint answers during a slow one.
//! - Shutdown abandons a run in progress (nothing of it was applied yet),
//!   saves the state and returns (an error if that last save fails).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::sync::{RwLock, mpsc};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::shared::{Control, Notifier, Readiness, Shared, Status};
use super::state::{DaemonState, LastRun};
use super::store::{JsonStore, Loaded, StateStore, StoreError};
use crate::clock::{now_ms, unix_ms};
use crate::core::alerting::saving::Saving;
use crate::core::engine::backoff::Backoff;
use crate::core::engine::eval::RunOutcome;
use crate::core::engine::schedule;
use crate::core::engine::snapshot::Snapshot;
use crate::core::policy::{self, Config};
use crate::core::text;
use crate::synapse::evaluate::{self, RunError, RunReport};
use crate::synapse::{SynapseClient, SynapseError};

mod saving;

/// Failures that stop the daemon.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The state file could not be read (at start) or written (at shutdown).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No Synapse client could be built for the policy.
    #[error("{0}")]
    Client(String),
}

/// Builds the Synapse client for a policy (at start and on reload); the
/// error says why, without secrets.
pub type MakeClient = Box<dyn Fn(&Config) -> Result<SynapseClient, String> + Send + Sync>;

/// The daemon. Build it with [`Daemon::new`], then [`Daemon::run`].
pub struct Daemon {
    pub(super) shared: Arc<Shared>,
    config_path: PathBuf,
    pub(super) client: SynapseClient,
    make_client: MakeClient,
    pub(super) notifier: Arc<dyn Notifier>,
    pub(super) store: Arc<dyn StateStore>,
    /// The state file, for the errors of encoding it.
    state_path: PathBuf,
    /// Whether saves fail, since when.
    saving: Saving,
    pub(super) state: DaemonState,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    failures: u32,
    /// When this daemon was made (Unix ms).
    pub(super) started_ms: u64,
    /// Posts to the admin room that failed since the last one delivered.
    pub(super) undelivered: u32,
    /// Whether a post reached the admin room since the start.
    pub(super) delivered_since_start: bool,
    /// The policy the process started with: a reload names what differs
    /// from it and needs a restart.
    started_with: Arc<Config>,
    /// Where runs are recorded, when there is a history.
    pub(super) history: Option<crate::history::History>,
}

/// A run in progress, as the checks waiting for it see it: dropped before
/// [`RunInProgress::end`] (abandoned, or the state could not be saved),
/// its waiters are told the daemon stops.
struct RunInProgress {
    shared: Arc<Shared>,
    ended: bool,
}

impl RunInProgress {
    fn start(shared: Arc<Shared>) -> RunInProgress {
        shared.run_started();
        RunInProgress {
            shared,
            ended: false,
        }
    }

    fn end(&mut self, answer: &super::shared::RunAnswer) {
        self.ended = true;
        self.shared.run_ended(Some(answer));
    }
}

impl Drop for RunInProgress {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.run_ended(None);
        }
    }
}

/// Refuses checks once the loop is over, and tells those waiting.
struct ChecksStopped(Arc<Shared>);

impl Drop for ChecksStopped {
    fn drop(&mut self) {
        self.0.checks_stopped();
    }
}

/// Retries after a failed run: 30 s, doubling, at most a day apart; the
/// schedule's own pace comes first when it is sooner.
const RUN_RETRY: Backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(24 * 3600));
/// How often undelivered messages are retried.
const REDELIVERY: Duration = Duration::from_secs(30);

impl Daemon {
    /// Loads the state from `state_path` (a corrupt file is set aside and
    /// announced) and prepares the daemon. `make_client` builds a Synapse
    /// client for a (re)loaded policy.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        config_path: PathBuf,
        make_client: MakeClient,
        notifier: Arc<dyn Notifier>,
        state_path: PathBuf,
        metrics: Arc<Metrics>,
        readiness: Arc<Readiness>,
    ) -> Result<(Daemon, Arc<Shared>), DaemonError> {
        let client = make_client(&config).map_err(DaemonError::Client)?;
        metrics.declare_rules(&config);
        let store = JsonStore::new(state_path.clone());
        let now = now_ms();
        let mut state = match store.load::<DaemonState>(now / 1000)? {
            Loaded::Found(state) => state,
            Loaded::Missing => DaemonState::default(),
            Loaded::Corrupt { set_aside, reason } => {
                tracing::error!(path = %set_aside.display(), %reason, "the state file was corrupt; it was set aside and the daemon starts afresh");
                let mut state = DaemonState::default();
                let m = text::daemon::state_set_aside(&set_aside.display().to_string()).message();
                state.alerts.enqueue(m.plain, m.html, now);
                state
            }
        };
        // Nothing to undo: an outbox from before a restart is resent as is.
        state.alerts.outbox.sort_by_key(|m| m.queued_ms);
        let config = Arc::new(config);
        let shared = Arc::new(Shared {
            config: RwLock::new(config.clone()),
            status: RwLock::new(Status {
                last_run: state.last_run.clone(),
                synapse_outage: state.conditions.synapse_outage.clone(),
                queued: state.alerts.outbox.len(),
                next_run_ms: None,
            }),
            snapshot: RwLock::new(None),
            silences: RwLock::new(state.alerts.silences.clone()),
            checks: Default::default(),
        });
        let daemon = Daemon {
            shared: shared.clone(),
            config_path,
            client,
            make_client,
            notifier,
            store: Arc::new(store),
            state_path,
            saving: Saving::default(),
            state,
            metrics,
            readiness,
            failures: 0,
            started_ms: now,
            undelivered: 0,
            delivered_since_start: false,
            started_with: config,
            history: None,
        };
        let mut daemon = daemon;
        // Blocking here is fine: nothing else runs yet.
        let saved = daemon.encode().and_then(|bytes| daemon.store.write(&bytes));
        let _ = daemon.saved(saved, now);
        Ok((daemon, shared))
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        shutdown: CancellationToken,
    ) -> Result<(), DaemonError> {
        // However the loop ends, checks still waiting are told.
        let _stopped = ChecksStopped(self.shared.clone());
        // A summary held for its notices when the daemon stopped goes out now.
        self.deliver_notices().await?;
        self.deliver().await?;
        let mut previous_start: Option<SystemTime> = None;
        // Once every sender is gone, `recv()` answers `None` at once: stop
        // polling it, or the loop would spin instead of sleeping.
        let mut control_open = true;
        // The next run is logged when it changes, not on every wake-up.
        let mut logged_due: Option<SystemTime> = None;
        // A digest due while the daemon was down goes out now.
        self.digest_if_due(now_ms()).await?;
        let config = self.config().await;
        if !config.schedule.run_at_start {
            previous_start = self
                .state
                .last_run
                .as_ref()
                .map(|r| UNIX_EPOCH + Duration::from_millis(r.started_ms));
        }
        loop {
            let config = self.config().await;
            let now = SystemTime::now();
            let mut due =
                schedule::next_due(&config.schedule, previous_start, now, rand::random::<f64>());
            if self.failures > 0 {
                due = due.min(now + RUN_RETRY.step(self.failures - 1));
            }
            if let Some(previous) = previous_start
                && due <= now
            {
                tracing::info!(
                    previous_run_secs = now.duration_since(previous).unwrap_or_default().as_secs(),
                    "the previous run ended after the next one was due: the next run starts now, late"
                );
            }
            if logged_due != Some(due) {
                logged_due = Some(due);
                tracing::info!(
                    next_run = %crate::core::policy::crontab::run_time(due),
                    schedule = %config.schedule.trigger,
                    "next run"
                );
            }
            self.shared.status.write().await.next_run_ms = Some(unix_ms(due));
            let wait = due.duration_since(now).unwrap_or_default();
            let redeliver =
                !self.state.alerts.outbox.is_empty() || !self.state.notices.outbox.is_empty();
            let digest_wait = self.digest_wait(&config, unix_ms(now));
            let retry_save = self.saving.retry_in();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {
                    previous_start = Some(SystemTime::now());
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            tracing::info!("shutting down: the run in progress is abandoned");
                            break;
                        }
                        // A failed run was logged and announced by run_once().
                        result = self.run_once() => { let _ = result?; }
                    }
                }
                () = tokio::time::sleep(digest_wait.unwrap_or_default()), if digest_wait.is_some() => {
                    self.digest_if_due(now_ms()).await?;
                }
                () = tokio::time::sleep(retry_save.unwrap_or_default()), if retry_save.is_some() => {
                    if self.save().await {
                        self.deliver().await?;
                    }
                }
                () = tokio::time::sleep(REDELIVERY), if redeliver => {
                    self.deliver_notices().await?;
                    self.deliver().await?;
                }
                request = control.recv(), if control_open => match request {
                    // Checks that arrive meanwhile join this run (see
                    // `Shared::check`): one walk for them all.
                    Some(Control::RunNow(reply)) => {
                        self.shared.wait_for_run(reply);
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            result = self.run_once() => { let _ = result?; }
                        }
                    }
                    Some(Control::Reload(reply)) => {
                        let answer = self.reload().await?;
                        let _ = reply.send(answer);
                    }
                    Some(Control::Deliver) => self.deliver().await?,
                    Some(Control::Silence { request, author, reply }) => {
                        let answer = self.silence(request, &author).await?;
                        let _ = reply.send(answer);
                    }
                    Some(Control::Unsilence { id, by, reply }) => {
                        let answer = self.unsilence(id, &by).await?;
                        let _ = reply.send(answer);
                    }
                    Some(Control::Acknowledge { event_id, by, reply }) => {
                        let answer = self.acknowledge(&event_id, &by).await;
                        let _ = reply.send(answer);
                    }
                    None => control_open = false,
                },
            }
        }
        self.try_save().await?;
        tracing::info!("state saved; the daemon stopped");
        Ok(())
    }

    /// What `/ready` reads, as this daemon updates it.
    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    pub(super) async fn config(&self) -> Arc<Config> {
        self.shared.config.read().await.clone()
    }

    /// Records every run from now on in `history`.
    pub fn set_history(&mut self, history: crate::history::History) {
        self.history = Some(history);
    }

    /// Writes the run's record, then thins the history. A failure is a
    /// warning and a metric: the run and its alerts stand.
    async fn record_history(&self, config: &Config, record: crate::core::history::RunRecord) {
        let Some(history) = &self.history else {
            return;
        };
        if !config.history.enabled {
            return;
        }
        let (keep, thin_after) = (config.history.keep, config.history.thin_after);
        let complete = record.is_complete();
        let now = now_ms();
        match history
            .with(move |store| store.write(&record, now, keep, thin_after))
            .await
        {
            Ok(thinned) => {
                tracing::debug!(complete, thinned, "run recorded in the history")
            }
            Err(error) => {
                self.metrics.history_write_errors.inc();
                tracing::warn!(%error, "cannot record the run in the history; alerts are not affected");
            }
        }
    }

    /// One run, its announcement and its delivery. The outer error stops the
    /// daemon (the state cannot be saved); the inner one is a failed run.
    /// Checks waiting for a run get its outcome when it ends; a run
    /// abandoned (shutdown) or failing to save tells them the daemon stops.
    pub async fn run_once(&mut self) -> Result<Result<RunOutcome, RunError>, DaemonError> {
        let mut run = RunInProgress::start(self.shared.clone());
        let outcome = self.run_once_inner().await?;
        run.end(
            &outcome
                .as_ref()
                .map(Clone::clone)
                .map_err(|e| e.to_string()),
        );
        Ok(outcome)
    }

    async fn run_once_inner(&mut self) -> Result<Result<RunOutcome, RunError>, DaemonError> {
        let config = self.config().await;
        let started = now_ms();
        self.announce_ended_overrides(&config, started);
        let clock = std::time::Instant::now();
        let mut snapshot = Snapshot::new(started);
        let mut collector = crate::core::history::Collector::new();
        let result = evaluate::evaluate(&self.client, &config, started, |_, window, users| {
            snapshot.record(window, users);
            collector.record(window, users);
        })
        .await;
        let record = match &result {
            Ok(report) => collector.finish(&report.outcome),
            Err(_) => None,
        };
        let took = clock.elapsed();
        let now = now_ms();
        let outcome = match result {
            Ok(report) => {
                self.failures = 0;
                self.readiness.set_synapse(true);
                self.readiness.set_run_blocked(None);
                // A partial run's top lists miss the users it did not
                // reach: `!stats top` keeps the last complete ones (or asks
                // Synapse when they are too old).
                if report.outcome.cut_short().is_none() {
                    *self.shared.snapshot.write().await = Some(Arc::new(snapshot));
                }
                self.after_success(&config, report, started, took, now)
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let described = self.describe_failure(&error).await;
                self.readiness.set_run_blocked(
                    (error.synapse().is_some_and(SynapseError::needs_admin))
                        .then(|| described.clone()),
                );
                self.after_failure(&error, &described, started, took, now);
                Err(error)
            }
        };
        self.save().await;
        self.publish_status().await;
        self.publish_silences().await;
        self.deliver().await?;
        self.deliver_notices().await?;
        self.deliver().await?;
        // Last: the alerts are out before the history is written.
        if let Some(record) = record {
            self.record_history(&config, record).await;
        }
        Ok(outcome)
    }

    /// Overrides whose `until` passed since the previous run: said once.
    fn announce_ended_overrides(&mut self, config: &Config, started: u64) {
        let Some(previous) = self.state.last_run.as_ref().map(|r| r.started_ms) else {
            return;
        };
        let ended = crate::core::engine::limits::ended_between(&config.rules, previous, started);
        if !ended.is_empty() {
            let doc = crate::core::text::refusals::overrides_ended(&ended);
            let m = config.in_units(doc).message();
            self.state.alerts.enqueue(m.plain, m.html, started);
        }
    }

    fn after_success(
        &mut self,
        config: &Config,
        report: RunReport,
        started: u64,
        took: Duration,
        now: u64,
    ) -> Result<RunOutcome, RunError> {
        let RunReport {
            outcome,
            pages,
            rooms_error,
        } = report;
        if let Some(error @ SynapseError::Server { .. }) = &rooms_error {
            self.metrics.api_error(error);
        }
        let (plan, changes, summary) = crate::core::alerting::settle::settle_run(
            &mut self.state.alerts,
            &mut self.state.conditions,
            &outcome,
            &config.alerts.lifecycle(),
            config.alerts.max_lines.get(),
            now,
        );
        self.state.digest.count(&plan);
        for change in &changes {
            let message = text::daemon::condition(change).message();
            self.state.alerts.enqueue(message.plain, message.html, now);
        }
        let planned = crate::core::alerting::server_notices::plan(
            &plan.lines,
            &|rule| config.rules.notify_user(rule),
            &self.state.notices.last_sent,
            now,
        );
        let txn_ids = self.state.notices.enqueue(
            planned,
            crate::core::text::server_notices::planned,
            now,
            config.rules.notice_memory(),
        );
        let summary = summary.map(|mut s| {
            s.too_broad = crate::core::engine::too_broad::too_broad(
                &outcome,
                &config.rules.user_media,
                config.alerts.too_broad_at,
            );
            s
        });
        // The summary waits for the run's notices to be tried once, to say
        // who was notified (saved with them: a crash loses neither).
        // The summary announces the plan's violations: reacting to it
        // acknowledges them.
        if let Some(summary) = summary {
            if txn_ids.is_empty() {
                let (keys, resolved) = (summary.plan.keys(), summary.plan.resolved_keys());
                if let Some(d) = text::summary::run(&summary, None) {
                    self.say_keyed(&d, keys, resolved, now);
                }
            } else {
                let keys = self.state.notices.held_keys();
                if let Some(missed) = self.state.notices.hold(summary, txn_ids)
                    && let Some(d) = text::summary::run(&missed.summary, Some(&missed.tally))
                {
                    let resolved = missed.summary.plan.resolved_keys();
                    self.say_keyed(&d, keys, resolved, now);
                }
            }
        }
        let incomplete = outcome.incomplete_cause();
        let users = outcome
            .walks
            .iter()
            .find(|w| w.window.is_none())
            .map_or(0, |w| w.users);
        self.state.last_run = Some(LastRun {
            started_ms: started,
            took_ms: took.as_millis() as u64,
            violations: Some(outcome.violations.len()),
            users,
            silenced: plan.silenced.len(),
            error: None,
            incomplete: incomplete.clone(),
            source: Some(outcome.users_source()),
        });
        self.metrics
            .record_run(config, &outcome, &plan.silenced, pages, took, now);
        match &incomplete {
            None => tracing::info!(
                violations = outcome.violations.len(),
                users,
                pages,
                took_ms = took.as_millis() as u64,
                announced = plan.lines.len(),
                silenced = plan.silenced.len(),
                "run complete"
            ),
            Some(cause) => tracing::warn!(
                violations = outcome.violations.len(),
                users,
                pages,
                took_ms = took.as_millis() as u64,
                announced = plan.lines.len(),
                %cause,
                "run partial: open alerts it did not look at are kept"
            ),
        }
        Ok(outcome)
    }

    /// A failed run in words: the error, and for a 403 under delegated
    /// authentication (MAS), what the token lacks and how to get one.
    async fn describe_failure(&self, error: &RunError) -> String {
        let mut described = error.to_string();
        if let Some(SynapseError::NotAdmin { .. }) = error.synapse()
            && let Ok(Some(_)) = self.client.delegated_auth().await
        {
            described.push_str(text::daemon::not_admin_under_mas());
        }
        described
    }

    fn after_failure(
        &mut self,
        error: &RunError,
        described: &str,
        started: u64,
        took: Duration,
        now: u64,
    ) {
        tracing::warn!(error = described, "run failed");
        self.metrics.last_run.set(now as f64 / 1000.0);
        if let Some(e) = error.synapse() {
            self.metrics.api_error(e);
            if e.is_transient() {
                self.readiness.set_synapse(false);
            }
        }
        for notice in self.state.conditions.run_failed(described, now) {
            self.announce(&notice, now);
        }
        self.state.last_run = Some(LastRun {
            started_ms: started,
            took_ms: took.as_millis() as u64,
            violations: None,
            users: 0,
            silenced: 0,
            error: Some(described.to_owned()),
            incomplete: None,
            source: None,
        });
        self.metrics.last_run_complete.set(0);
    }

    /// Re-reads the policy file; on error, keeps the rules in force and
    /// posts the errors.
    pub async fn reload(&mut self) -> Result<Result<String, String>, DaemonError> {
        let now = now_ms();
        let path = self.config_path.display().to_string();
        let parsed = match std::fs::read_to_string(&self.config_path) {
            Ok(text) => policy::parse(&path, &text).map_err(|e| e.report()),
            Err(e) => Err(format!("cannot read {path}: {e}")),
        };
        let answer = match parsed
            .and_then(|config| (self.make_client)(&config).map(|client| (config, client)))
        {
            Ok((config, client)) => {
                let rules = config.rules.len();
                let restart = self.started_with.needs_restart(&config);
                let said = text::daemon::reloaded(&path, rules, &restart);
                let text = text::daemon::reloaded_text(&path, rules, &restart);
                self.client = client;
                self.metrics.declare_rules(&config);
                *self.shared.config.write().await = Arc::new(config);
                self.readiness.set_reload_refused(None);
                // The reload may have fixed what made the runs fail (a token,
                // a URL): the next retry comes at the first step again.
                self.failures = self.failures.min(1);
                self.say(&said, now);
                if restart.is_empty() {
                    tracing::info!(rules, "policy reloaded");
                } else {
                    tracing::warn!(rules, needs_restart = %restart.join(", "), "policy reloaded; some changes take effect only after a restart");
                }
                Ok(text)
            }
            Err(errors) => {
                self.readiness.set_reload_refused(Some(errors.clone()));
                tracing::warn!(%errors, "reload refused; the previous rules stay in force");
                let lines: Vec<&str> = errors.trim_end().split('\n').collect();
                self.say(&text::daemon::reload_refused(&path, &lines), now);
                Err(errors)
            }
        };
        self.save().await;
        self.deliver().await?;
        Ok(answer)
    }

    async fn publish_status(&self) {
        let mut status = self.shared.status.write().await;
        status.last_run = self.state.last_run.clone();
        status.synapse_outage = self.state.conditions.synapse_outage.clone();
        status.queued = self.state.alerts.outbox.len();
    }
}
