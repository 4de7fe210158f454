//! The bot's settings as plain values, and [`Secret`], a string that never
//! shows itself in logs or errors.
//!
//! Loading them (from the policy file's `matrix` section, the environment
//! and secret files) is the edge's job; this module only checks that they
//! make sense together ([`BotSettings::validate`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::BotError;

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

/// How many commands one sender may send: a token bucket of `burst`
/// commands, refilled at `burst` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Commands in a burst.
    pub burst: u32,
    /// Time to refill a whole burst.
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 5,
            per: Duration::from_secs(30),
        }
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
    /// Prefix of bot commands, e.g. `!stats`.
    pub command_prefix: String,
    /// Power level a sender needs in the admin room to run commands.
    pub command_power_level: i64,
    /// Globs on user IDs allowed to run commands whatever their power level.
    pub allowed_senders: Vec<String>,
    /// Where the session file and the encrypted store live.
    pub data_dir: PathBuf,
    /// Passphrase encrypting the store.
    pub store_passphrase: Secret,
    /// Recovery key or passphrase of the account's secret storage (cross-
    /// signing keys and key backup).
    pub recovery_key: Option<Secret>,
    /// Commands per sender.
    pub rate_limit: RateLimit,
    /// Name of the device a first login creates.
    pub device_name: String,
}

impl BotSettings {
    /// Settings with the defaults: prefix `!stats`, power level 50, no
    /// allow-list, no recovery key, 5 commands per 30 s per sender.
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
            command_prefix: crate::core::policy::DEFAULT_COMMAND_PREFIX.to_owned(),
            command_power_level: crate::core::policy::DEFAULT_COMMAND_POWER_LEVEL,
            allowed_senders: Vec::new(),
            data_dir: data_dir.into(),
            store_passphrase,
            recovery_key: None,
            rate_limit: RateLimit::default(),
            device_name: "synapse-warden".to_owned(),
        }
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), BotError> {
        let bad = |m: String| Err(BotError::Settings(m));
        if !matches!(self.homeserver.scheme(), "http" | "https") {
            return bad(format!(
                "the homeserver must be an http(s) URL, not {:?}",
                self.homeserver.as_str()
            ));
        }
        if matrix_sdk::ruma::UserId::parse(self.user.as_str()).is_err() {
            return bad(format!(
                "the bot user {:?} is not a user ID like @warden:example.org",
                self.user
            ));
        }
        if matrix_sdk::ruma::RoomOrAliasId::parse(self.room.as_str()).is_err() {
            return bad(format!(
                "the admin room {:?} is neither a room ID (!...) nor an alias (#...:server)",
                self.room
            ));
        }
        if self.command_prefix.trim().is_empty()
            || self.command_prefix.chars().any(char::is_whitespace)
        {
            return bad(format!(
                "the command prefix {:?} must be one word",
                self.command_prefix
            ));
        }
        let has = |s: &Option<Secret>| s.as_ref().is_some_and(|s| !s.is_empty());
        if !has(&self.password) && !has(&self.access_token) {
            return bad("a password or an access token is needed to log in".to_owned());
        }
        if self.store_passphrase.is_empty() {
            return bad("the store passphrase is empty".to_owned());
        }
        if self.rate_limit.burst == 0 || self.rate_limit.per.is_zero() {
            return bad("the rate limit must allow at least one command".to_owned());
        }
        super::commands::allow_list(&self.allowed_senders)?;
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
        s.user = "warden".into();
        assert!(s.validate().unwrap_err().to_string().contains("bot user"));
        let mut s = settings();
        s.room = "admins".into();
        assert!(s.validate().unwrap_err().to_string().contains("admin room"));
        let mut s = settings();
        s.password = None;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("password or an access token")
        );
        let mut s = settings();
        s.allowed_senders = vec!["@a[:hs".into()];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("allowed sender")
        );
        let mut s = settings();
        s.command_prefix = "!a b".into();
        assert!(s.validate().is_err());
    }
}
