//! `synapse-warden run`: the daemon, wired together.
//!
//! - The [`Daemon`] runs the policies on the schedule and keeps the alert
//!   state in the bot's data directory (`state.json`).
//! - The [`Bot`] connects in the background, retrying with backoff while the
//!   homeserver is unreachable; until it is connected, announcements wait in
//!   the daemon's outbox.
//! - `/health`, `/ready` and `/metrics` are served on `http.listen`.
//! - SIGHUP re-reads the policy file (as `!stats reload` does). The daemon
//!   takes the new rules, schedule, alert settings and Synapse client; once
//!   it accepted them, [`Live::apply`] hands them to the commands too: the
//!   Synapse client, `alerts.max_lines`, the command prefix, power level,
//!   allow-list and rate limit. What needs a new Matrix login or a restart
//!   is named in the reload's answer. SIGTERM and SIGINT stop everything:
//!   the run in progress is abandoned, the state saved, and the process
//!   exits within [`SHUTDOWN_GRACE`].
//! - The data directory is this daemon's alone: a lock file in it
//!   ([`DataDirLock`]) makes a second `run` on it stop at once.
//! - If the daemon fails (its state file cannot be written), everything
//!   stops and the process exits with [`EXIT_ERROR`].

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex as StdMutex, RwLock as StdRwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::context::{DaemonHandle, StatsContext};
use super::{EXIT_ERROR, EXIT_OK, read_secret};
use crate::bot::{Bot, BotError, BotSettings, Responder, Secret};
use crate::core::alerting::silences::{Silence, Silences};
use crate::core::commands::Command;
use crate::core::commands::SilenceRequest;
use crate::core::doc::Message;
use crate::core::engine::backoff::Backoff;
use crate::core::engine::snapshot::Snapshot;
use crate::core::model::violation::Violation;
use crate::core::policy::{Config, MatrixSettings};
use crate::core::text::replies::{Health, RunView, StatusView};
use crate::daemon::http::{self, Endpoints};
use crate::daemon::metrics::Metrics;
use crate::daemon::module_api::{self, ModuleApi, ModuleSecret};
use crate::daemon::service::{Daemon, MakeClient};
use crate::daemon::shared::{Control, Notifier, NotifyError, Readiness, Shared};
use crate::daemon::store::DataDirLock;
use crate::synapse::SynapseClient;

/// Retries of the bot's connection: from 2 s, doubling, at most 5 minutes
/// apart.
const BOT_RETRY: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(300));

/// How long shutdown may take before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Creates the data directory, private (0700) from its creation: it holds
/// the Matrix session and the crypto store.
fn create_data_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(path: &Path) -> Result<ExitCode> {
    let Some(config) = super::valid_policy(path)? else {
        return Ok(ExitCode::from(EXIT_ERROR));
    };
    let Some(matrix) = config.matrix.clone() else {
        bail!(
            "{}: `run` needs a `matrix` section (the bot that posts alerts); `check` works without one",
            path.display()
        );
    };
    let settings = bot_settings(&matrix)?;
    create_data_dir(&matrix.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            matrix.data_dir.display()
        )
    })?;
    // One daemon per data directory, before anything in it is read or
    // written; held until the process ends.
    let _lock = DataDirLock::acquire(&matrix.data_dir)?;

    // Before anything can be seen from outside (/health): a SIGHUP that
    // arrives before its handler exists would end the process.
    let signals = Signals::install().context("cannot install the signal handlers")?;
    let metrics = Arc::new(Metrics::new());
    let readiness = Arc::new(Readiness::default());
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    let module_secret = config
        .http
        .module_secret
        .as_ref()
        .map(|s| read_secret(s, "the quota module's secret (http.module_secret)"))
        .transpose()?;

    // The daemon builds a Synapse client at start and at every reload; the
    // commands take the one of the reload the daemon accepted.
    let built = Arc::new(StdMutex::new(None));
    let make_client: MakeClient = {
        let built = built.clone();
        // Every request, the daemon's and the commands', is counted in
        // /metrics.
        let observer = metrics.clone();
        Box::new(move |config: &Config| {
            let client = super::synapse_client(config)
                .map(|client| client.with_observer(observer.clone()))
                .map_err(|e| format!("{e:#}"))?;
            if let Ok(mut built) = built.lock() {
                *built = Some(client.clone());
            }
            Ok(client)
        })
    };
    let slot = Arc::new(BotSlot::default());
    let (mut daemon, shared) = Daemon::new(
        config.clone(),
        path.to_path_buf(),
        make_client,
        slot.clone(),
        matrix.data_dir.join("state.json"),
        metrics.clone(),
        readiness.clone(),
    )?;
    // The history's file is fixed at start (a new `history.file` takes a
    // restart); it is opened at the first run.
    let history = config.history_file().map(crate::history::History::new);
    if let Some(history) = &history {
        tracing::info!(path = %history.path().display(), "recording runs in the usage history");
        daemon.set_history(history.clone());
    }
    // Said once at start: under MAS the admin token needs a scope that a
    // normal login never gives. In the background: an unreachable Synapse
    // does not delay the start.
    if let Some(client) = built.lock().ok().and_then(|b| b.clone()) {
        tokio::spawn(async move {
            match client.delegated_auth().await {
                Ok(Some(issuer)) => tracing::info!(
                    issuer = ?issuer,
                    "{}",
                    crate::core::text::daemon::auth_delegated_log()
                ),
                Ok(None) => tracing::debug!("the homeserver does not delegate authentication"),
                Err(error) => {
                    tracing::debug!(%error, "cannot tell whether the homeserver delegates authentication")
                }
            }
        });
    }
    // Shared with the endpoints: a reload puts a new secret in force.
    let module_secret = module_secret.map(|secret| ModuleSecret::new(&secret));
    let module = match &module_secret {
        Some(secret) => {
            let (refusals, refusals_rx) = module_api::channel();
            tokio::spawn(module_api::post_refusals(
                refusals_rx,
                slot.clone(),
                shared.clone(),
                shutdown.clone(),
            ));
            tracing::info!(address = %config.http.listen, "serving the quota module's endpoints");
            Some(ModuleApi {
                shared: shared.clone(),
                secret: secret.clone(),
                refusals,
                metrics: metrics.clone(),
            })
        }
        None => None,
    };
    tracing::info!(address = %config.http.listen, "serving /health, /ready and /metrics");
    let endpoints = Endpoints {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        module,
    };
    let http_task = tokio::spawn(http::serve(
        listener,
        endpoints,
        shutdown.clone().cancelled_owned(),
    ));

    let (control, control_rx) = mpsc::channel(8);
    let mut daemon_task = tokio::spawn(daemon.run(control_rx, shutdown.clone()));

    let synapse = built
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .context("the daemon built no Synapse client")?;
    let mut context = StatsContext::new(synapse, matrix.commands.prefix.clone());
    context.metrics = Some(metrics.clone());
    context.history = history;
    let live = Arc::new(Live {
        context: StdRwLock::new(Arc::new(context)),
        settings: StdRwLock::new(settings),
        slot,
        built,
        module_secret,
    });
    let handle = Arc::new(Handle {
        shared: shared.clone(),
        control: control.clone(),
        readiness: readiness.clone(),
        live: Arc::downgrade(&live),
    });
    live.apply(&config, Some(handle.clone()));
    let bot_task = tokio::spawn(connect_bot(
        live,
        readiness.clone(),
        control.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(signals.handle(handle, shutdown.clone()));

    // The daemon ends by itself only when it cannot go on (its state file
    // cannot be written): then everything stops, with an error status, so
    // that a service manager restarts it, instead of the process living on
    // (bot answering, /health green) with no runs and no alerts.
    let ended_early = tokio::select! {
        () = shutdown.cancelled() => None,
        ended = &mut daemon_task => Some(ended),
    };
    if ended_early.is_some() {
        shutdown.cancel();
    }
    tracing::info!("stopping");
    // The exit status says how the daemon ended, even when the bot or the
    // HTTP server are slow to stop and the grace period runs out.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    let ended = match ended_early {
        Some(ended) => Some(ended),
        None => tokio::time::timeout_at(deadline, daemon_task).await.ok(),
    };
    let daemon_stopped = ended.is_some();
    let ok = match ended {
        Some(Ok(Ok(()))) | None => true,
        Some(Ok(Err(e))) => {
            tracing::error!(error = %e, "the daemon failed; stopping");
            false
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "the daemon task failed; stopping");
            false
        }
    };
    let rest = async {
        let _ = bot_task.await;
        let _ = http_task.await;
    };
    if !daemon_stopped || tokio::time::timeout_at(deadline, rest).await.is_err() {
        tracing::warn!("shutdown took longer than {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    Ok(ExitCode::from(if ok { EXIT_OK } else { EXIT_ERROR }))
}

/// The bot's settings from the policy's `matrix` section, secrets read.
pub fn bot_settings(matrix: &MatrixSettings) -> Result<BotSettings> {
    let secret = |source: &crate::core::policy::SecretSource, what: &str| {
        read_secret(source, what).map(Secret::new)
    };
    let mut settings = BotSettings::new(
        matrix.homeserver.clone(),
        matrix.user.clone(),
        matrix.room.clone(),
        matrix.data_dir.clone(),
        secret(
            &matrix.store_passphrase,
            "the store passphrase (matrix.store_passphrase)",
        )?,
    );
    settings.password = matrix
        .password
        .as_ref()
        .map(|s| secret(s, "the bot's password (matrix.password)"))
        .transpose()?;
    settings.access_token = matrix
        .access_token
        .as_ref()
        .map(|s| secret(s, "the bot's access token (matrix.access_token)"))
        .transpose()?;
    settings.recovery_key = matrix
        .recovery_key
        .as_ref()
        .map(|s| secret(s, "the recovery key (matrix.recovery_key)"))
        .transpose()?;
    settings.commands = matrix.commands.clone();
    Ok(settings)
}

/// The bot once connected: the daemon's notifier until then says "not yet".
#[derive(Default)]
struct BotSlot(StdRwLock<Option<Arc<Bot>>>);

impl BotSlot {
    fn get(&self) -> Option<Arc<Bot>> {
        self.0.read().ok().and_then(|bot| bot.clone())
    }
}

#[async_trait]
impl Notifier for BotSlot {
    async fn send(&self, txn_id: &str, message: &Message) -> Result<String, NotifyError> {
        match self.get() {
            Some(bot) => Notifier::send(bot.as_ref(), txn_id, message).await,
            None => Err(NotifyError("not connected to the homeserver yet".into())),
        }
    }

    async fn send_image(
        &self,
        txn_id: &str,
        png: &crate::chart::Png,
    ) -> Result<String, NotifyError> {
        match self.get() {
            Some(bot) => Notifier::send_image(bot.as_ref(), txn_id, png).await,
            None => Err(NotifyError("not connected to the homeserver yet".into())),
        }
    }
}

/// What the policy file sets for the bot and its commands, swapped at each
/// accepted reload.
struct Live {
    /// What answering needs: the Synapse client, the prefix, `max_lines`...
    context: StdRwLock<Arc<StatsContext>>,
    /// The bot's settings, for its next (re)connection.
    settings: StdRwLock<BotSettings>,
    /// The bot, once connected.
    slot: Arc<BotSlot>,
    /// The Synapse client the daemon built last.
    built: Arc<StdMutex<Option<SynapseClient>>>,
    /// The secret the module's endpoints accept, when they are served.
    module_secret: Option<ModuleSecret>,
}

impl Live {
    /// Puts `config`, which the daemon has just accepted, in force for the
    /// commands: everything that needs no new Matrix login.
    fn apply(&self, config: &Config, daemon: Option<Arc<dyn DaemonHandle>>) {
        let Ok(mut context) = self.context.write() else {
            return;
        };
        let mut next = (**context).clone();
        if let Some(client) = self.built.lock().ok().and_then(|mut b| b.take()) {
            next.synapse = client;
        }
        next.max_lines = config.alerts.max_lines.get();
        // The module's endpoints take the secret read now (the Synapse
        // client, which calls the module, was built with it too).
        if let (Some(current), Some(source)) = (&self.module_secret, &config.http.module_secret) {
            match read_secret(source, "the quota module's secret (http.module_secret)") {
                Ok(secret) => current.replace(&secret),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot read the module's secret again; the previous one stays in force")
                }
            }
        }
        next.config = Some(Arc::new(config.clone()));
        if daemon.is_some() {
            next.daemon = daemon;
        }
        if let Some(matrix) = &config.matrix {
            next.prefix = matrix.commands.prefix.clone();
            if let Ok(mut settings) = self.settings.write() {
                settings.commands = matrix.commands.clone();
            }
            if let Some(bot) = self.slot.get() {
                bot.set_commands(matrix.commands.clone());
            }
        }
        *context = Arc::new(next);
    }

    fn settings(&self) -> Option<BotSettings> {
        self.settings.read().ok().map(|s| s.clone())
    }
}

/// The bot answers with the context in force when the command arrives.
#[async_trait]
impl Responder for Live {
    async fn respond_with_image(
        &self,
        command: &Command,
        device_id: &str,
        asker: crate::bot::commands::Asker,
    ) -> (Message, Option<crate::chart::Png>) {
        let context = self.context.read().ok().map(|c| c.clone());
        match context {
            Some(context) => context.respond_with_image(command, device_id, asker).await,
            None => (crate::core::text::common::stopping().message(), None),
        }
    }

    async fn acknowledge(&self, event_id: &str, sender: &str) -> Option<Message> {
        let context = self.context.read().ok().map(|c| c.clone())?;
        context.acknowledge(event_id, sender).await
    }
}

/// Connects the bot, retrying with backoff, then runs it until shutdown.
async fn connect_bot(
    live: Arc<Live>,
    readiness: Arc<Readiness>,
    control: mpsc::Sender<Control>,
    shutdown: CancellationToken,
) {
    let mut failures = 0;
    loop {
        let Some(settings) = live.settings() else {
            return;
        };
        let started = tokio::select! {
            () = shutdown.cancelled() => return,
            started = Bot::start(settings) => started,
        };
        let failed = match started {
            Ok(bot) => {
                let bot = Arc::new(bot);
                tracing::info!(device_id = ?bot.device_id(), "connected to the homeserver; in the admin room");
                if let Ok(mut slot) = live.slot.0.write() {
                    *slot = Some(bot.clone());
                }
                readiness.set_matrix(true);
                let _ = control.send(Control::Deliver).await;
                let watch = {
                    let (bot, readiness, shutdown) =
                        (bot.clone(), readiness.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        while !shutdown.is_cancelled() {
                            readiness.set_matrix(bot.is_connected());
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    })
                };
                let result = bot.run(live.clone(), shutdown.clone()).await;
                watch.abort();
                readiness.set_matrix(false);
                match result {
                    Ok(()) => return,
                    Err(e @ BotError::LoggedOut) => {
                        tracing::error!(error = %e, "the bot is logged out; alerts stay queued until it is fixed and the daemon restarted");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "the bot stopped syncing; reconnecting"),
                }
                failures = 0;
                None
            }
            Err(e) => Some(e),
        };
        let delay = BOT_RETRY.delay(failures, rand::random::<f64>());
        failures = failures.saturating_add(1);
        if let Some(e) = failed {
            tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "cannot connect the bot yet; alerts are queued meanwhile");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The process's signal handlers: SIGHUP reloads; SIGTERM and SIGINT stop.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers: from here on these signals are caught (their
    /// default action, ending the process, no longer applies).
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn handle(mut self, handle: Arc<Handle>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => match handle.reload().await {
                    Ok(text) => tracing::info!("SIGHUP: {text}"),
                    Err(errors) => tracing::warn!("SIGHUP: reload refused, the previous rules stay in force:\n{errors}"),
                },
                _ = self.term.recv() => { tracing::info!("SIGTERM"); shutdown.cancel(); return; }
                _ = self.int.recv() => { tracing::info!("SIGINT"); shutdown.cancel(); return; }
            }
        }
    }
}

/// Why the daemon cannot answer.
const STOPPING: &str = "the daemon is stopping";

impl Handle {
    async fn ask(&self, request: Control) -> Result<(), String> {
        self.control
            .send(request)
            .await
            .map_err(|_| STOPPING.to_owned())
    }
}

/// What the bot's commands can ask of the daemon.
struct Handle {
    shared: Arc<Shared>,
    control: mpsc::Sender<Control>,
    readiness: Arc<Readiness>,
    /// Weak: the live context holds this handle.
    live: std::sync::Weak<Live>,
}

#[async_trait]
impl DaemonHandle for Handle {
    async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.shared.snapshot.read().await.clone()
    }

    async fn status(&self) -> StatusView {
        let status = self.shared.status.read().await.clone();
        StatusView {
            last_run: status.last_run.map(|r| RunView {
                started_ms: r.started_ms,
                took_ms: r.took_ms,
                violations: r.violations,
                silenced: r.silenced,
                error: r.error,
                incomplete: r.incomplete,
                source: r.source,
            }),
            next_run_ms: status.next_run_ms,
            synapse_outage: status.synapse_outage.map(|o| (o.since_ms, o.error)),
            synapse: Health::Unknown,
            delegated_auth: None,
            matrix: if self.readiness.matrix() {
                Health::Up("synced".into())
            } else {
                Health::Down("not synced".into())
            },
            queued: status.queued,
        }
    }

    async fn config(&self) -> Arc<Config> {
        self.shared.config.read().await.clone()
    }

    async fn run_check(&self) -> Result<crate::daemon::shared::PendingCheck, String> {
        self.shared.check(&self.control).await
    }

    async fn reload(&self) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.control
            .send(Control::Reload(reply))
            .await
            .map_err(|_| "the daemon is stopping".to_owned())?;
        let text = answer
            .await
            .map_err(|_| "the daemon is stopping".to_owned())??;
        // The daemon took the new file: the commands take it too.
        let config = self.shared.config.read().await.clone();
        if let Some(live) = self.live.upgrade() {
            live.apply(&config, None);
        }
        Ok(text)
    }

    async fn silence(
        &self,
        request: SilenceRequest,
        author: &str,
    ) -> Result<(Silence, usize), String> {
        let (reply, answer) = oneshot::channel();
        self.ask(Control::Silence {
            request,
            author: author.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| STOPPING.to_owned())?
    }

    async fn unsilence(&self, id: u64, by: &str) -> Result<(Silence, usize), String> {
        let (reply, answer) = oneshot::channel();
        self.ask(Control::Unsilence {
            id,
            by: by.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| STOPPING.to_owned())?
    }

    async fn silences(&self) -> Silences {
        self.shared.silences.read().await.clone()
    }

    async fn acknowledge(
        &self,
        event_id: &str,
        by: &str,
    ) -> Option<Result<Vec<Violation>, String>> {
        let (reply, answer) = oneshot::channel();
        if let Err(e) = self
            .ask(Control::Acknowledge {
                event_id: event_id.to_owned(),
                by: by.to_owned(),
                reply,
            })
            .await
        {
            return Some(Err(e));
        }
        answer
            .await
            .unwrap_or_else(|_| Some(Err(STOPPING.to_owned())))
    }
}
