//! Logging in once, and restoring that login ever after.
//!
//! The data directory (mode 0700) holds:
//!
//! - `session.json` (mode 0600): the Matrix session (user, device, access
//!   token) and the last sync token, written atomically;
//! - `store/`: matrix-sdk's SQLite state and crypto stores, encrypted with
//!   the store passphrase.
//!
//! On start, a saved session is restored: same device, same keys, no login
//! (Synapse rate-limits logins). Its token is first checked with `whoami`;
//! if the homeserver no longer accepts it and the session has a refresh
//! token, the pair is refreshed (`POST /_matrix/client/v3/refresh`) and
//! saved; if that fails too and a password is configured, the bot logs in
//! again *on the same device ID*, so the store's keys stay valid. Without a
//! saved session, the bot logs in with its password, or adopts the
//! configured access token (its device is whatever `whoami` says). A store
//! left without a session (a first login that crashed) is set aside, never
//! deleted.
//!
//! Expiring tokens: a password login asks for a refresh token (a homeserver
//! that issues none, as Synapse without `refreshable_access_token_lifetime`,
//! answers without one and its token does not expire). The client refreshes
//! on the homeserver's `M_UNKNOWN_TOKEN` (matrix-sdk's
//! `handle_refresh_tokens`) and every new pair is written to `session.json`
//! before the request is sent again, so a restart finds the latest pair.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::encryption::EncryptionSettings;
use matrix_sdk::ruma::{OwnedDeviceId, OwnedUserId};
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use serde::{Deserialize, Serialize};

use super::BotError;
use super::settings::{BotSettings, Secret};

/// What `session.json` holds. `Debug` shows no token (matrix-sdk's
/// `SessionTokens` hides them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    /// The homeserver the session belongs to.
    pub homeserver: String,
    /// User, device and tokens.
    pub session: MatrixSession,
    /// Where the last sync ended.
    #[serde(default)]
    pub sync_token: Option<String>,
}

/// The session file of a data directory. Its clones share one lock, so
/// that the sync loop's token and a refreshed token pair, written from
/// different tasks, never overwrite each other.
#[derive(Debug, Clone)]
pub(crate) struct SessionFile {
    path: PathBuf,
    update: Arc<Mutex<()>>,
}

impl SessionFile {
    pub fn new(data_dir: &Path) -> SessionFile {
        SessionFile {
            path: data_dir.join("session.json"),
            update: Arc::default(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> BotError {
        BotError::Session {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The saved session, if there is one.
    pub fn load(&self) -> Result<Option<StoredSession>, BotError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(format!("cannot read it: {e}"))),
        };
        // serde_json's messages quote no input, so no token can leak here.
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| self.error(format!("it is not a valid session file: {e}")))
    }

    /// Saves `session` atomically (temporary file, fsync, rename), 0600.
    pub fn save(&self, session: &StoredSession) -> Result<(), BotError> {
        let json = serde_json::to_vec_pretty(session)
            .map_err(|e| self.error(format!("cannot encode it: {e}")))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| self.error(format!("cannot write it: {e}")))
    }

    /// Records the sync token of the last sync.
    pub fn set_sync_token(&self, token: &str) -> Result<(), BotError> {
        let _update = self.update.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut stored) = self.load()? else {
            return Err(self.error("it disappeared"));
        };
        if stored.sync_token.as_deref() != Some(token) {
            stored.sync_token = Some(token.to_owned());
            self.save(&stored)?;
        }
        Ok(())
    }

    /// Records the session's tokens after a refresh (the sync token kept).
    pub fn set_session(&self, session: MatrixSession) -> Result<(), BotError> {
        let _update = self.update.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut stored) = self.load()? else {
            return Err(self.error("it disappeared"));
        };
        if stored.session != session {
            stored.session = session;
            self.save(&stored)?;
        }
        Ok(())
    }
}

/// Creates the data directory (0700) if needed.
fn ensure_data_dir(dir: &Path) -> Result<(), BotError> {
    let err = |e: std::io::Error| BotError::DataDir {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

async fn build_client(settings: &BotSettings, file: &SessionFile) -> Result<Client, BotError> {
    let client = Client::builder()
        .homeserver_url(settings.homeserver.as_str())
        .sqlite_store(
            settings.data_dir.join("store"),
            Some(settings.store_passphrase.expose()),
        )
        .with_encryption_settings(EncryptionSettings {
            // Done explicitly after the first sync, see `crypto`.
            auto_enable_cross_signing: false,
            auto_enable_backups: false,
            ..EncryptionSettings::default()
        })
        // On `M_UNKNOWN_TOKEN`, refresh (when the session has a refresh
        // token) and send the request again.
        .handle_refresh_tokens()
        .build()
        .await
        .map_err(|e| BotError::Build(e.to_string()))?;
    // Called by matrix-sdk after each refresh, before the request is sent
    // again: the new pair is on disk before it is used.
    let saving = file.clone();
    client
        .set_session_callbacks(
            Box::new(|client: Client| {
                client
                    .session_tokens()
                    .ok_or_else(|| "the client has no session".into())
            }),
            Box::new(move |client: Client| {
                let Some(session) = client.matrix_auth().session() else {
                    return Err("the client has no session".into());
                };
                match saving.set_session(session) {
                    Ok(()) => {
                        tracing::info!("the bot's access token was refreshed; session saved");
                        Ok(())
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot save the refreshed session");
                        Err(e.to_string().into())
                    }
                }
            }),
        )
        .map_err(|e| BotError::Build(e.to_string()))?;
    Ok(client)
}

/// What `whoami` says of a token.
enum WhoAmI {
    /// The token works.
    Valid {
        user_id: OwnedUserId,
        device_id: Option<OwnedDeviceId>,
    },
    /// The homeserver does not know the token (anymore).
    Unknown,
}

async fn whoami(settings: &BotSettings, token: &Secret) -> Result<WhoAmI, BotError> {
    #[derive(Deserialize)]
    struct Answer {
        user_id: OwnedUserId,
        device_id: Option<OwnedDeviceId>,
    }
    let url = settings
        .homeserver
        .join("_matrix/client/v3/account/whoami")
        .map_err(|e| BotError::Settings(format!("bad homeserver URL: {e}")))?;
    let unreachable = |e: reqwest::Error| BotError::Unreachable(e.without_url().to_string());
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token.expose())
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status().as_u16() {
        200 => {
            let answer: Answer = response.json().await.map_err(unreachable)?;
            Ok(WhoAmI::Valid {
                user_id: answer.user_id,
                device_id: answer.device_id,
            })
        }
        401 => Ok(WhoAmI::Unknown),
        status => Err(BotError::Unreachable(format!(
            "whoami answered HTTP {status}"
        ))),
    }
}

/// A new token pair for `refresh` (`POST /_matrix/client/v3/refresh`), or
/// `None` when the homeserver refuses it (expired, used, revoked).
async fn refresh_tokens(
    settings: &BotSettings,
    refresh: &Secret,
) -> Result<Option<SessionTokens>, BotError> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        refresh_token: Option<String>,
    }
    let url = settings
        .homeserver
        .join("_matrix/client/v3/refresh")
        .map_err(|e| BotError::Settings(format!("bad homeserver URL: {e}")))?;
    let unreachable = |e: reqwest::Error| BotError::Unreachable(e.without_url().to_string());
    let response = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({ "refresh_token": refresh.expose() }))
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(unreachable)?;
    match response.status().as_u16() {
        200 => {
            let answer: Answer = response.json().await.map_err(unreachable)?;
            Ok(Some(SessionTokens {
                access_token: answer.access_token,
                // A homeserver that does not rotate keeps the old one valid.
                refresh_token: answer
                    .refresh_token
                    .or_else(|| Some(refresh.expose().to_owned())),
            }))
        }
        status @ (400..=428 | 430..=499) => {
            tracing::warn!(
                status,
                "the homeserver refused the saved session's refresh token"
            );
            Ok(None)
        }
        status => Err(BotError::Unreachable(format!(
            "refresh answered HTTP {status}"
        ))),
    }
}

/// A logged-in client, and the sync token to continue from.
pub(crate) struct Connected {
    pub client: Client,
    pub sync_token: Option<String>,
    /// True when this start logged in (a new device or a new token).
    pub logged_in: bool,
}

/// Restores the saved session or logs in, as the module docs say.
pub(crate) async fn connect(
    settings: &BotSettings,
    file: &SessionFile,
) -> Result<Connected, BotError> {
    ensure_data_dir(&settings.data_dir)?;
    let expected_user = settings.user.as_str();
    if let Some(stored) = file.load()? {
        if stored.session.meta.user_id.as_str() != expected_user {
            return Err(file.error(format!(
                "it belongs to {}, not to the configured bot user {expected_user}; \
                 use another data directory",
                stored.session.meta.user_id
            )));
        }
        let token = Secret::new(stored.session.tokens.access_token.clone());
        let mut session = stored.session.clone();
        let usable = match whoami(settings, &token).await? {
            WhoAmI::Valid { .. } => true,
            WhoAmI::Unknown => match session.tokens.refresh_token.clone() {
                Some(refresh) => match refresh_tokens(settings, &Secret::new(refresh)).await? {
                    Some(tokens) => {
                        session.tokens = tokens;
                        file.set_session(session.clone())?;
                        tracing::info!(device = %session.meta.device_id, "the saved session's access token had expired; refreshed it and saved the session");
                        true
                    }
                    None => false,
                },
                None => false,
            },
        };
        if usable {
            let client = build_client(settings, file).await?;
            client
                .matrix_auth()
                .restore_session(session, RoomLoadSettings::default())
                .await
                .map_err(|e| BotError::Login {
                    user: expected_user.to_owned(),
                    reason: format!("cannot restore the saved session: {e}"),
                })?;
            tracing::info!(user = %stored.session.meta.user_id, device = %stored.session.meta.device_id, "restored the saved Matrix session");
            return Ok(Connected {
                client,
                sync_token: stored.sync_token,
                logged_in: false,
            });
        }
        let Some(password) = &settings.password else {
            return Err(BotError::LoggedOut);
        };
        tracing::warn!(device = %stored.session.meta.device_id, "the homeserver no longer accepts the saved session; logging in again on the same device");
        let client = build_client(settings, file).await?;
        login_password(
            &client,
            settings,
            password,
            Some(stored.session.meta.device_id.as_str()),
        )
        .await?;
        save_new_session(&client, settings, file, stored.sync_token.clone())?;
        return Ok(Connected {
            client,
            sync_token: stored.sync_token,
            logged_in: true,
        });
    }

    set_aside_orphan_store(&settings.data_dir)?;
    let client = build_client(settings, file).await?;
    if let Some(password) = settings.password.as_ref().filter(|p| !p.is_empty()) {
        login_password(&client, settings, password, None).await?;
    } else if let Some(token) = settings.access_token.as_ref().filter(|t| !t.is_empty()) {
        let (user_id, device_id) = match whoami(settings, token).await? {
            WhoAmI::Valid {
                user_id,
                device_id: Some(device_id),
            } => (user_id, device_id),
            WhoAmI::Valid {
                device_id: None, ..
            } => {
                return Err(BotError::Login {
                    user: expected_user.to_owned(),
                    reason: "the access token has no device (an appservice token?)".to_owned(),
                });
            }
            WhoAmI::Unknown => {
                return Err(BotError::Login {
                    user: expected_user.to_owned(),
                    reason: "the homeserver does not accept the access token".to_owned(),
                });
            }
        };
        if user_id.as_str() != expected_user {
            return Err(BotError::Login {
                user: expected_user.to_owned(),
                reason: format!("the access token belongs to {user_id}"),
            });
        }
        let session = MatrixSession {
            meta: SessionMeta { user_id, device_id },
            tokens: SessionTokens {
                access_token: token.expose().to_owned(),
                refresh_token: None,
            },
        };
        client
            .matrix_auth()
            .restore_session(session, RoomLoadSettings::default())
            .await
            .map_err(|e| BotError::Login {
                user: expected_user.to_owned(),
                reason: format!("cannot use the access token: {e}"),
            })?;
    } else {
        return Err(BotError::Settings(
            "a password or an access token is needed to log in".to_owned(),
        ));
    }
    save_new_session(&client, settings, file, None)?;
    tracing::info!(user = %expected_user, device = ?client.device_id(), "logged in; session saved");
    Ok(Connected {
        client,
        sync_token: None,
        logged_in: true,
    })
}

async fn login_password(
    client: &Client,
    settings: &BotSettings,
    password: &Secret,
    device_id: Option<&str>,
) -> Result<(), BotError> {
    // A refresh token is asked for; a homeserver that issues none gives a
    // token that does not expire.
    let mut login = client
        .matrix_auth()
        .login_username(settings.user.as_str(), password.expose())
        .initial_device_display_name(&settings.device_name)
        .request_refresh_token();
    if let Some(device_id) = device_id {
        login = login.device_id(device_id);
    }
    login.send().await.map_err(|e| BotError::Login {
        user: settings.user.clone(),
        reason: e.to_string(),
    })?;
    Ok(())
}

fn save_new_session(
    client: &Client,
    settings: &BotSettings,
    file: &SessionFile,
    sync_token: Option<String>,
) -> Result<(), BotError> {
    let session = client
        .matrix_auth()
        .session()
        .ok_or_else(|| BotError::Login {
            user: settings.user.clone(),
            reason: "the client has no session after login".to_owned(),
        })?;
    file.save(&StoredSession {
        homeserver: settings.homeserver.to_string(),
        session,
        sync_token,
    })
}

/// A store without a session file cannot be used by a new device: rename
/// it out of the way.
fn set_aside_orphan_store(data_dir: &Path) -> Result<(), BotError> {
    let store = data_dir.join("store");
    if !store.exists() {
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let aside = data_dir.join(format!("store.orphaned-{stamp}"));
    std::fs::rename(&store, &aside).map_err(|e| BotError::DataDir {
        path: store.clone(),
        reason: format!("cannot set the store without session aside: {e}"),
    })?;
    tracing::warn!(path = %aside.display(), "found a store without a session file (a first login that did not finish?); set it aside and logging in afresh");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_sdk::ruma::{owned_device_id, owned_user_id};

    #[test]
    fn session_file_round_trip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile::new(dir.path());
        assert!(file.load().unwrap().is_none());
        let stored = StoredSession {
            homeserver: "http://hs".into(),
            session: MatrixSession {
                meta: SessionMeta {
                    user_id: owned_user_id!("@warden:hs"),
                    device_id: owned_device_id!("DEVICE"),
                },
                tokens: SessionTokens {
                    access_token: "syt_secret".into(),
                    refresh_token: None,
                },
            },
            sync_token: None,
        };
        file.save(&stored).unwrap();
        file.set_sync_token("s123").unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(back.session, stored.session);
        assert_eq!(back.sync_token.as_deref(), Some("s123"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("session.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(
            dir.path().join("session.json"),
            "{\"access_token\": \"syt_x\"",
        )
        .unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(!err.contains("syt_x"), "{err}");
    }

    #[test]
    fn a_refreshed_pair_and_the_sync_token_are_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile::new(dir.path());
        let session = |access: &str, refresh: &str| MatrixSession {
            meta: SessionMeta {
                user_id: owned_user_id!("@warden:hs"),
                device_id: owned_device_id!("DEVICE"),
            },
            tokens: SessionTokens {
                access_token: access.into(),
                refresh_token: Some(refresh.into()),
            },
        };
        file.save(&StoredSession {
            homeserver: "http://hs".into(),
            session: session("syt_a1", "syr_r1"),
            sync_token: Some("s1".into()),
        })
        .unwrap();
        // The sync loop and a refresh, from two clones (two tasks).
        let other = file.clone();
        file.set_sync_token("s2").unwrap();
        other.set_session(session("syt_a2", "syr_r2")).unwrap();
        file.set_sync_token("s3").unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(back.session, session("syt_a2", "syr_r2"));
        assert_eq!(back.sync_token.as_deref(), Some("s3"));
        let text = std::fs::read_to_string(dir.path().join("session.json")).unwrap();
        assert!(text.contains("\"refresh_token\": \"syr_r2\""), "{text}");
    }
}
