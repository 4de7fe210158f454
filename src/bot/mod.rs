//! Adapter: the Matrix bot — alerts in the admin room and `!stats`
//! commands, through matrix-sdk with end-to-end encryption.
//!
//! - [`settings`]: [`BotSettings`] and [`Secret`].
//! - [`session`]: log in once, then restore the saved session (same
//!   device, same keys) on every start; the encrypted SQLite store.
//! - [`crypto`]: cross-signing and recovery set-up.
//! - [`room`]: join the admin room; accept invites to it only.
//! - [`commands`]: who may command, rate limits, threaded replies;
//!   acknowledgements by reaction (✅ or 👀 on an alert).
//! - [`post`]: [`Bot::post`], messages to the admin room, and the daemon's
//!   [`Notifier`](crate::daemon::shared::Notifier).
//!
//! Life cycle: [`Bot::start`] connects (restore or login), runs one sync
//! *before any event handler exists* — so whatever was sent while the bot
//! was down is seen but never answered — sets up encryption and joins the
//! room, then syncs once more so that the history of a room just joined is
//! not answered either. [`Bot::run`] adds the handlers and syncs until told
//! to stop, saving the sync token after every sync.

pub mod commands;
pub mod crypto;
pub mod post;
pub mod room;
pub mod session;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::event_handler::EventHandlerHandle;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::member::StrippedRoomMemberEvent;
use matrix_sdk::ruma::events::room::message::OriginalSyncRoomMessageEvent;
use matrix_sdk::ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use matrix_sdk::{Client, Room};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

pub use crate::core::policy::{CommandAccess, RateLimit};
pub use commands::Responder;
pub use crypto::CryptoReport;
pub use settings::{BotSettings, Secret};

use session::SessionFile;

use crate::core::engine::backoff::Backoff;

/// Everything that can go wrong in the bot. No variant holds a secret.
#[derive(Debug, Error)]
pub enum BotError {
    /// The settings are inconsistent.
    #[error("bot settings: {0}")]
    Settings(String),
    /// The data directory cannot be used.
    #[error("bot data directory {}: {reason}", path.display())]
    DataDir {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The session file cannot be used.
    #[error("bot session file {}: {reason}", path.display())]
    Session {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The Matrix client could not be built (store, homeserver URL).
    #[error("cannot set up the Matrix client: {0}")]
    Build(String),
    /// The homeserver cannot be reached.
    #[error("cannot reach the homeserver: {0}")]
    Unreachable(String),
    /// Login failed.
    #[error("cannot log in as {user}: {reason}")]
    Login {
        /// The bot user.
        user: String,
        /// Why.
        reason: String,
    },
    /// The homeserver revoked the session and no password is configured.
    #[error(
        "the homeserver no longer accepts the bot's session (logged out or token revoked); \
         configure the bot's password, or a new access token and an empty data directory"
    )]
    LoggedOut,
    /// Syncing failed for good.
    #[error("sync with the homeserver failed: {0}")]
    Sync(String),
    /// Encryption set-up failed.
    #[error("encryption set-up: {0}")]
    Crypto(String),
    /// The admin room cannot be joined.
    #[error("cannot join the admin room {room}: {reason}")]
    Join {
        /// The room as configured.
        room: String,
        /// Why.
        reason: String,
    },
    /// A message could not be sent.
    #[error("cannot send to the admin room: {0}")]
    Send(String),
}

/// How long a sync waits on the server for something new.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// A sync that brought nothing new and returned sooner than this did not
/// wait as asked: the next one waits this long first.
const EARLY_EMPTY_SYNC: Duration = Duration::from_secs(1);

/// The connected bot. See the [module docs](self).
pub struct Bot {
    client: Client,
    settings: Arc<BotSettings>,
    room_id: OwnedRoomId,
    session: SessionFile,
    sync_token: Arc<std::sync::Mutex<Option<String>>>,
    connected: Arc<AtomicBool>,
    crypto: Option<CryptoReport>,
    logged_in: bool,
    started_ms: u64,
    commands: Arc<std::sync::Mutex<commands::Access>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("user", &self.client.user_id())
            .field("device", &self.client.device_id())
            .field("room", &self.room_id)
            .finish_non_exhaustive()
    }
}

/// Retries of a failed sync: from 1 s, doubling, at most a minute apart.
const SYNC_RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// Attempts of the first sync before [`Bot::start`] gives up (the caller
/// retries the whole start).
const CATCH_UP_ATTEMPTS: u32 = 5;

/// How often the sync token is saved at most while syncing (it is saved
/// when the sync loop ends too): not after every sync, each a write synced
/// to disk.
const SAVE_TOKEN_EVERY: Duration = Duration::from_secs(30);

/// Whether the sync token is due to be saved at `now`, last saved at
/// `last_saved`: at most every [`SAVE_TOKEN_EVERY`]. A restart from an
/// older token handles nothing twice: it catches up from it before any
/// handler exists ([`catch_up`]).
fn token_save_due(last_saved: std::time::Instant, now: std::time::Instant) -> bool {
    now.saturating_duration_since(last_saved) >= SAVE_TOKEN_EVERY
}

/// Whether a sync error means the session is gone for good: the token is
/// unknown, or it expired and its refresh token was refused as unknown too.
fn is_logged_out(e: &matrix_sdk::Error) -> bool {
    let unknown = |kind: Option<&ErrorKind>| matches!(kind, Some(ErrorKind::UnknownToken(_)));
    unknown(e.client_api_error_kind())
        || matches!(e, matrix_sdk::Error::Http(http)
            if matches!(&**http, matrix_sdk::HttpError::RefreshToken(
                matrix_sdk::RefreshTokenError::MatrixAuth(refused))
                if unknown(refused.client_api_error_kind())))
}

impl Bot {
    /// Connects: restores the session or logs in, syncs once without
    /// handlers, sets up encryption, joins the admin room.
    pub async fn start(settings: BotSettings) -> Result<Bot, BotError> {
        settings.validate()?;
        let started_ms = crate::clock::now_ms();
        let file = SessionFile::new(&settings.data_dir);
        let connected = session::connect(&settings, &file).await?;
        let client = connected.client;
        let mut token = connected.sync_token;

        token = Some(catch_up(&client, &file, token).await?);

        let crypto = match crypto::setup(&client, &settings).await {
            Ok(report) => {
                tracing::info!(?report, "encryption set up");
                Some(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "encryption set-up failed; encrypted rooms may not work");
                None
            }
        };

        let (room_id, servers, moved) =
            room::resolve(&client, &settings.room, &settings.data_dir).await?;
        let joined = room::join(&client, &settings.room, &room_id, &servers).await?;
        if let Some(now) = moved {
            let m = crate::core::text::daemon::alias_moved(&settings.room, room_id.as_str(), &now)
                .message();
            if let Err(e) = joined.send(post::content(&m)).await {
                tracing::warn!(error = %e, "cannot tell the admin room that its alias moved");
            }
        }
        // The history of a room just joined arrives with the next sync:
        // take it before any handler exists.
        token = Some(catch_up(&client, &file, token).await?);
        tracing::info!(room = %room_id, device = ?client.device_id(), "in the admin room");
        let mut crypto = crypto;
        if let Some(report) = &mut crypto {
            // Read again now that a sync has queried our own keys.
            report.device_cross_signed = crypto::device_cross_signed(&client).await;
            if !report.device_cross_signed {
                tracing::warn!(
                    "this device is not cross-signed: clients that exclude insecure devices will not send it room keys"
                );
            }
        }

        Ok(Bot {
            client,
            commands: Arc::new(std::sync::Mutex::new(commands::Access::new(
                settings.commands.clone(),
            ))),
            settings: Arc::new(settings),
            room_id,
            session: file,
            sync_token: Arc::new(std::sync::Mutex::new(token)),
            connected: Arc::new(AtomicBool::new(true)),
            crypto,
            logged_in: connected.logged_in,
            started_ms,
        })
    }

    /// Answers commands with `responder` and keeps syncing until `shutdown`
    /// is cancelled. Transient sync failures are retried with backoff; a
    /// revoked session ends it with [`BotError::LoggedOut`].
    pub async fn run(
        &self,
        responder: Arc<dyn Responder>,
        shutdown: CancellationToken,
    ) -> Result<(), BotError> {
        let own = self
            .client
            .user_id()
            .ok_or_else(|| BotError::Sync("not logged in".to_owned()))?
            .to_owned();
        let handler = Arc::new(commands::Handler {
            room_id: self.room_id.clone(),
            own_user: own,
            device_id: self.device_id().map(|d| d.to_string()).unwrap_or_default(),
            access: self.commands.clone(),
            responder,
            // Nothing older than a little before the start is a command to
            // us, whatever a sync delivers.
            not_before_ms: self.started_ms.saturating_sub(5 * 60 * 1000),
        });
        let handles = self.add_handlers(handler);
        let result = self.sync_loop(shutdown).await;
        for h in handles {
            self.client.remove_event_handler(h);
        }
        result
    }

    /// [`Bot::run`] in a task of its own; the bot lives as long as it runs.
    pub fn spawn(
        self,
        responder: Arc<dyn Responder>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), BotError>> {
        tokio::spawn(async move { self.run(responder, shutdown).await })
    }

    fn add_handlers(&self, handler: Arc<commands::Handler>) -> Vec<EventHandlerHandle> {
        let on_reaction = {
            let handler = handler.clone();
            self.client
                .add_event_handler(move |event: OriginalSyncReactionEvent, room: Room| {
                    let handler = handler.clone();
                    async move { commands::on_reaction(event, room, handler).await }
                })
        };
        let on_message = self.client.add_event_handler(
            move |event: OriginalSyncRoomMessageEvent, room: Room| {
                let handler = handler.clone();
                async move { commands::on_message(event, room, handler).await }
            },
        );
        let admin_room = self.room_id.clone();
        let on_invite = self.client.add_event_handler(
            move |event: StrippedRoomMemberEvent, room: Room, client: Client| {
                let admin_room = admin_room.clone();
                async move {
                    tokio::spawn(room::on_invite(event, room, client, admin_room));
                }
            },
        );
        vec![on_message, on_reaction, on_invite]
    }

    /// Syncs until `shutdown`, one long-polling `sync_once` after the
    /// other. matrix-sdk's own loop (`sync`, `sync_with_result_callback`)
    /// sleeps up to a second after a sync that returned within a second —
    /// which is every sync that brought a command right after the previous
    /// one — so a command sent just after a reply would wait for that sleep.
    /// Here the next sync starts at once; only a sync that returned early
    /// with *nothing new* (a server ignoring the timeout) is followed by a
    /// pause, so that such a server is not hammered.
    ///
    /// The sync token is saved at most every [`SAVE_TOKEN_EVERY`] and when
    /// the loop ends, off the async runtime (the file is synced to disk).
    async fn sync_loop(&self, shutdown: CancellationToken) -> Result<(), BotError> {
        let mut failures = 0;
        // The catch-up sync saved its token just before.
        let mut last_saved = std::time::Instant::now();
        let mut unsaved: Option<String> = None;
        let result = loop {
            let token = self.sync_token.lock().ok().and_then(|t| t.clone());
            let mut sync_settings = SyncSettings::default().timeout(SYNC_TIMEOUT);
            if let Some(token) = &token {
                sync_settings = sync_settings.token(token.clone());
            }
            let started = std::time::Instant::now();
            let result = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                result = self.client.sync_once(sync_settings) => result,
            };
            match result {
                Ok(response) => {
                    self.connected.store(true, Ordering::Relaxed);
                    failures = 0;
                    let idle = token.as_deref() == Some(response.next_batch.as_str());
                    if let Ok(mut t) = self.sync_token.lock() {
                        *t = Some(response.next_batch.clone());
                    }
                    unsaved = Some(response.next_batch.clone());
                    let now = std::time::Instant::now();
                    if token_save_due(last_saved, now)
                        && let Some(token) = unsaved.take()
                    {
                        last_saved = now;
                        self.save_token(token).await;
                    }
                    if idle && started.elapsed() < EARLY_EMPTY_SYNC {
                        tokio::select! {
                            () = shutdown.cancelled() => break Ok(()),
                            () = tokio::time::sleep(EARLY_EMPTY_SYNC) => {}
                        }
                    }
                }
                Err(e) if is_logged_out(&e) => {
                    self.connected.store(false, Ordering::Relaxed);
                    break Err(BotError::LoggedOut);
                }
                Err(e) => {
                    self.connected.store(false, Ordering::Relaxed);
                    let delay = SYNC_RETRY.delay(failures, rand::random::<f64>());
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in = ?delay, "sync failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        if let Some(token) = unsaved {
            self.save_token(token).await;
        }
        result
    }

    /// Saves the sync token in the session file, off the async runtime.
    async fn save_token(&self, token: String) {
        let file = self.session.clone();
        match tokio::task::spawn_blocking(move || file.set_sync_token(&token)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot save the sync token"),
            Err(e) => tracing::warn!(error = %e, "cannot save the sync token"),
        }
    }

    /// Puts new command settings in force (prefix, power level,
    /// allow-list, rate limit) for the next command, without a new login.
    pub fn set_commands(&self, commands: CommandAccess) {
        if let Ok(mut access) = self.commands.lock() {
            access.replace(commands);
        }
    }

    /// The matrix-sdk client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bot's user ID.
    pub fn user_id(&self) -> Option<&UserId> {
        self.client.user_id()
    }

    /// The bot's device ID.
    pub fn device_id(&self) -> Option<OwnedDeviceId> {
        self.client.device_id().map(ToOwned::to_owned)
    }

    /// The admin room's ID.
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }

    /// Whether the last sync succeeded.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// What the encryption set-up did, if it succeeded.
    pub fn crypto_report(&self) -> Option<&CryptoReport> {
        self.crypto.as_ref()
    }

    /// True when this start logged in (a new device or token) rather than
    /// restoring the saved session.
    pub fn logged_in(&self) -> bool {
        self.logged_in
    }

    /// The bot user of the settings.
    pub fn configured_user(&self) -> Result<OwnedUserId, BotError> {
        UserId::parse(self.settings.user.as_str()).map_err(|e| BotError::Settings(e.to_string()))
    }
}

/// One sync from `token` (no long-polling) to catch up with everything the
/// homeserver has, before any handler exists; saves and returns the new
/// token. Retried a few times.
async fn catch_up(
    client: &Client,
    file: &SessionFile,
    token: Option<String>,
) -> Result<String, BotError> {
    let mut sync_settings = SyncSettings::default().timeout(Duration::ZERO);
    if let Some(token) = token {
        sync_settings = sync_settings.token(token);
    }
    let mut attempt = 1;
    loop {
        match client.sync_once(sync_settings.clone()).await {
            Ok(response) => {
                file.set_sync_token(&response.next_batch)?;
                return Ok(response.next_batch);
            }
            Err(e) if is_logged_out(&e) => return Err(BotError::LoggedOut),
            Err(e) if attempt >= CATCH_UP_ATTEMPTS => return Err(BotError::Sync(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "first sync failed; retrying");
                tokio::time::sleep(SYNC_RETRY.delay(attempt - 1, rand::random::<f64>())).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{SAVE_TOKEN_EVERY, token_save_due};

    #[test]
    fn the_sync_token_is_saved_at_most_every_30_s() {
        let t = Instant::now();
        assert!(!token_save_due(t, t));
        assert!(!token_save_due(t, t + Duration::from_secs(29)));
        assert!(token_save_due(t, t + SAVE_TOKEN_EVERY));
        // A clock that went backwards is no panic, and no save.
        assert!(!token_save_due(t + Duration::from_secs(60), t));
    }
}
