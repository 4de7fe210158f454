//! The bot's settings: the policy file's `matrix` section with its secrets
//! read ([`BotSettings`]), and [`Secret`], a string that never shows itself
//! in logs or errors.
//!
//! The section is validated once, with the rest of the policy file
//! ([`crate::core::policy`]); reading the secrets is the edge's job. This
//! module only checks what the file cannot tell: that the secrets read are
//! usable ([`BotSettings::validate`]).

use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::BotError;
use crate::core::policy::CommandAccess;

/// A password, access token, passphrase or recovery key. `Debug` shows
/// `<redacted>`; there is no `Display`. Read it with [`Secret::expose`],
/// only where it is handed to the homeserver or the store.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret; surrounding whitespace (a trailing newline in a
    /// secrets file) is removed.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into().trim().to_owned())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty after trimming.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the bot needs to connect and to answer.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// The bot account's homeserver (client-server API).
    pub homeserver: Url,
    /// The bot's user ID, e.g. `@warden:example.org`.
    pub user: String,
    /// Password, for the first login (and to re-login on the same device if
    /// the session's token is revoked, and for cross-signing set-up when the
    /// server asks for authentication).
    pub password: Option<Secret>,
    /// An access token, used instead of a password for the first login.
    pub access_token: Option<Secret>,
    /// The admin room: an alias (`#admins:example.org`) or an ID (`!...`).
    pub room: String,
    /// Who may command the bot, how and how often; [`crate::bot::Bot::set_commands`]
    /// swaps it while the bot runs.
    pub commands: CommandAccess,
    /// Where the session file and the encrypted store live.
    pub data_dir: PathBuf,
    /// Passphrase encrypting the store.
    pub store_passphrase: Secret,
    /// Recovery key or passphrase of the account's secret storage (cross-
    /// signing keys and key backup).
    pub recovery_key: Option<Secret>,
    /// Name of the device a first login creates.
    pub device_name: String,
}

impl BotSettings {
    /// Settings with the defaults: prefix `!stats`, power level 50, no
    /// allow-list, no recovery key, 20 commands per minute per sender.
    pub fn new(
        homeserver: Url,
        user: impl Into<String>,
        room: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        store_passphrase: Secret,
    ) -> BotSettings {
        BotSettings {
            homeserver,
            user: user.into(),
            password: None,
            access_token: None,
            room: room.into(),
            commands: CommandAccess::default(),
            data_dir: data_dir.into(),
            store_passphrase,
            recovery_key: None,
            device_name: "synapse-warden".to_owned(),
        }
    }

    /// Checks what the policy file cannot: that the secrets read from
    /// where it points are usable.
    pub fn validate(&self) -> Result<(), BotError> {
        let bad = |m: &str| Err(BotError::Settings(m.to_owned()));
        let has = |s: &Option<Secret>| s.as_ref().is_some_and(|s| !s.is_empty());
        if !has(&self.password) && !has(&self.access_token) {
            return bad("a password or an access token is needed to log in");
        }
        if self.store_passphrase.is_empty() {
            return bad("the store passphrase is empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BotSettings {
        let mut s = BotSettings::new(
            Url::parse("http://127.0.0.1:8008").unwrap(),
            "@warden:hs",
            "#admins:hs",
            "/tmp/x",
            Secret::new("pass phrase\n"),
        );
        s.password = Some(Secret::new("hunter2"));
        s
    }

    #[test]
    fn secrets_never_show() {
        let s = settings();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("pass phrase"), "{debug}");
        assert_eq!(s.store_passphrase.expose(), "pass phrase");
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(settings().validate().is_ok());
        let mut s = settings();
        s.password = None;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("password or an access token")
        );
        s.access_token = Some(Secret::new(" \n"));
        assert!(s.validate().is_err(), "an empty token is no token");
        s.access_token = Some(Secret::new("syt_token"));
        assert!(s.validate().is_ok());
        s.store_passphrase = Secret::new("\n");
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("store passphrase is empty")
        );
    }
}
