//! The policy language: what admins declare in YAML, typed and validated.
//!
//! [`parse`] turns the text of a policy file into a [`Config`], or into a
//! [`PolicyError`] listing every problem of the file at once, each with its
//! line, column and field path (`rules.user_media[2].max_media_length`), and
//! for a misspelt key the closest valid one. `policies.example.yaml`, at the
//! root of the repository, documents every key.
//!
//! How it works: the text is parsed once (`serde-saphyr`, YAML 1.2) into a
//! tree that keeps every position; serde checks the file's shape into "raw"
//! types whose leaves are untyped, collecting unknown keys, then a
//! validation pass reads every leaf (sizes with `bytesize`, durations with
//! `humantime`, cron expressions, globs, regexes, percentages) and collects
//! every error. Positions come from a [`PositionIndex`] of the same tree.
//! Only a file whose *shape* is wrong (a section that is not a mapping, a
//! rule list that is not a list, a duplicate key) stops at the first such
//! error, located at the node concerned.
//!
//! Pure: no file or environment access. Secrets (the admin token, the bot's
//! password) are only *named* here ([`SecretSource`]); the adapters read
//! them.

pub mod crontab;
pub mod error;
pub mod history;
pub mod notify_user;
pub mod overrides;
mod overrides_raw;
pub mod path;
mod raw;
mod validate;
mod values;
mod yaml;

use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use globset::GlobSet;
use url::Url;

use crate::core::model::violation::Severity;

pub use error::{Diagnostic, PolicyError, Problem, Suggestion};
pub use overrides::{Enforcement, Override, OverrideTarget};
pub use path::{FieldPath, Position, PositionIndex, Segment};

/// A validated policy file.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to reach Synapse's admin API.
    pub synapse: SynapseSettings,
    /// When the daemon runs a check.
    pub schedule: Schedule,
    /// How the daemon announces violations.
    pub alerts: AlertSettings,
    /// The Matrix bot; absent when only `check` / `validate` are used.
    pub matrix: Option<MatrixSettings>,
    /// The daemon's `/health`, `/ready` and `/metrics` endpoints.
    pub http: HttpSettings,
    /// What "too much" means.
    pub rules: Rules,
    /// Clean-up actions (purge, quarantine): off by default.
    pub actions: ActionSettings,
    /// The usage history: retention, downsampling, capacity.
    pub history: history::HistorySettings,
    /// The digest: `None` unless `digest.cron` is set.
    pub digest: Option<DigestSettings>,
    /// The unit family of every size the warden shows, decided once from
    /// the policy: `display.units` if set; else decimal when every size of
    /// the file is written in decimal units (`100 kB`), binary when every
    /// one is in binary units, binary when they mix families or name none.
    /// Rules then carry this family too, unless the file mixes families
    /// without `display.units` ([`Config::units_mixed`]): each rule keeps
    /// its own.
    pub units: crate::core::doc::Units,
    /// The file writes sizes in both families and sets no `display.units`.
    pub units_mixed: bool,
}

impl Config {
    /// `doc` with its sizes in the policy's one family, unless the policy
    /// mixes families (then each rule's lines keep the rule's, and sizes
    /// tied to no rule are already in the default, binary, units).
    pub fn in_units(&self, doc: crate::core::doc::Doc) -> crate::core::doc::Doc {
        if self.units_mixed {
            doc
        } else {
            doc.in_units(self.units)
        }
    }
}

/// Default of `actions.confirm_within`: five minutes.
pub const DEFAULT_CONFIRM_WITHIN: Duration = Duration::from_secs(5 * 60);
/// Default of `matrix.action_power_level`.
pub const DEFAULT_ACTION_POWER_LEVEL: i64 = 100;

/// The `digest` section of the policy file.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// When a digest is due (in UTC), like `schedule.cron`.
    pub cron: CronSchedule,
}

/// The `actions` section: clean-up from the admin room and the command
/// line, with a preview and a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    /// Whether `purge`, `quarantine` and `purge-remote` may act. Default
    /// false: they answer that actions are off.
    pub enabled: bool,
    /// How long a confirmation code stays valid. Default 5 minutes.
    pub confirm_within: Duration,
    /// The append-only audit log; default `audit.log` in `matrix.data_dir`.
    pub audit_log: Option<PathBuf>,
}

impl Default for ActionSettings {
    fn default() -> Self {
        ActionSettings {
            enabled: false,
            confirm_within: DEFAULT_CONFIRM_WITHIN,
            audit_log: None,
        }
    }
}

impl Config {
    /// Where actions are logged: `actions.audit_log`, else `audit.log` in
    /// the bot's data directory; `None` when neither is configured.
    pub fn audit_log(&self) -> Option<PathBuf> {
        self.actions
            .audit_log
            .clone()
            .or_else(|| self.matrix.as_ref().map(|m| m.data_dir.join("audit.log")))
    }

    /// The usage history's file: `history.file`, else
    /// `history.sqlite3` in the bot's data directory; `None` when neither
    /// is configured or `history.enabled` is false.
    pub fn history_file(&self) -> Option<PathBuf> {
        if !self.history.enabled {
            return None;
        }
        self.history.file.clone().or_else(|| {
            self.matrix
                .as_ref()
                .map(|m| m.data_dir.join(history::DEFAULT_FILE))
        })
    }
}

/// The `synapse` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynapseSettings {
    /// Base URL of Synapse's main process (workers do not serve the
    /// statistics endpoints).
    pub url: Url,
    /// Where the server admin's access token is read from.
    pub token: SecretSource,
    /// Limit for one whole request. Default 60 s.
    pub timeout: Duration,
    /// Users per page of the walk; `None` for the client's default.
    pub page_size: Option<NonZeroU32>,
}

/// Default of `synapse.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a secret is read from. The policy file never holds a secret
/// itself; reading it is the adapters' job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file whose content (surrounding whitespace removed) is the secret.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// The `schedule` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// When runs happen.
    pub trigger: Trigger,
    /// Whether the daemon runs a check as soon as it starts. Default true.
    pub run_at_start: bool,
    /// Each run is delayed by a random duration up to this. Default 0.
    pub jitter: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            trigger: Trigger::Every(DEFAULT_INTERVAL),
            run_at_start: true,
            jitter: Duration::ZERO,
        }
    }
}

/// Interval of a file without a `schedule` section.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// When runs happen.
// One per configuration: the size of the cron variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// At the times of a cron expression (in UTC).
    Cron(CronSchedule),
    /// Every so often, from the previous run's start.
    Every(Duration),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Cron(c) => write!(f, "cron `{}`", c.written),
            Trigger::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
        }
    }
}

/// A parsed cron expression, with crontab(5)'s meaning (see
/// [`crate::core::policy::crontab`]; its next time is
/// [`CronSchedule::next_after`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CronSchedule {
    /// As written in the file (5-field form kept as is).
    pub written: String,
    /// The schedule (a 5-field expression gets seconds `0` prepended; the
    /// day-of-week field is given as names). When both day fields are
    /// restricted: the day-of-month part only.
    pub schedule: cron::Schedule,
    /// When both day fields are restricted: the day-of-week part (crontab
    /// runs when either day field matches).
    pub weekdays: Option<cron::Schedule>,
}

/// The `alerts` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// How long an ongoing violation stays quiet before it is repeated.
    /// Default 24 h.
    pub repeat_after: Duration,
    /// Whether resolved violations are announced. Default true.
    pub announce_resolved: bool,
    /// The most violation lines in one message; the rest is summarized.
    /// Default 20.
    pub max_lines: NonZeroUsize,
    /// Usage grown by this much since it was last announced is an
    /// escalation, announced at once. Default 50 %.
    pub escalate_on_growth: Percent,
    /// Uploads refused by Synapse (`enforce: upload`) are posted together,
    /// at most this often. Default 1 min.
    pub refusals_every: Duration,
    /// A user media rule broken by more than this share of the users with
    /// media is said to be probably mis-set. Default 10 %.
    pub too_broad_at: Percent,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            repeat_after: Duration::from_secs(24 * 3600),
            announce_resolved: true,
            max_lines: NonZeroUsize::new(20).unwrap_or(NonZeroUsize::MIN),
            escalate_on_growth: Percent::from_basis_points(5000),
            refusals_every: Duration::from_secs(60),
            too_broad_at: Percent::from_basis_points(1000),
        }
    }
}

/// The `matrix` section: the bot that posts alerts and answers commands.
#[derive(Debug, Clone)]
pub struct MatrixSettings {
    /// The bot account's homeserver (client-server API).
    pub homeserver: Url,
    /// The bot's user ID, e.g. `@warden:example.org`.
    pub user: String,
    /// The bot's password (for a first login), if given.
    pub password: Option<SecretSource>,
    /// An access token of the bot, if given instead of (or besides) a
    /// password.
    pub access_token: Option<SecretSource>,
    /// The admin room: an alias (`#admins:example.org`) or an ID (`!...`).
    pub room: String,
    /// Who may command the bot, how, and how often.
    pub commands: CommandAccess,
    /// Power level a sender needs to ask for and confirm clean-up actions.
    /// Default 100.
    pub action_power_level: i64,
    /// Where the bot keeps its session and encryption store.
    pub data_dir: PathBuf,
    /// Passphrase of the encryption store.
    pub store_passphrase: SecretSource,
    /// Recovery key for key backup / cross-signing secrets, if any.
    pub recovery_key: Option<SecretSource>,
}

/// The `http` section: where the daemon serves `/health`, `/ready` and
/// `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Address and port. Default `127.0.0.1:9655`; in a container,
    /// `0.0.0.0:9655` so that probes can reach it.
    pub listen: std::net::SocketAddr,
    /// The secret the `synapse_warden_quota` module authenticates with
    /// (`module_secret`); `None`: the module's endpoints are not served.
    pub module_secret: Option<SecretSource>,
}

/// The default port of `http.listen`: marked free in the exporter range
/// (9100-9999) of Prometheus's "default port allocations" list, beside
/// Synapse's own metrics port (9656). Not 9090, Prometheus's own port.
pub const DEFAULT_HTTP_PORT: u16 = 9655;

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
            module_secret: None,
        }
    }
}

impl MatrixSettings {
    /// The keys of this section whose change takes a restart: everything
    /// but [`MatrixSettings::commands`], which a reload swaps in place.
    fn needs_restart(&self, new: &MatrixSettings) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut changed = |key: &'static str, differs: bool| {
            if differs {
                keys.push(key);
            }
        };
        changed("matrix.homeserver", self.homeserver != new.homeserver);
        changed("matrix.user", self.user != new.user);
        changed("matrix.password", self.password != new.password);
        changed("matrix.access_token", self.access_token != new.access_token);
        changed("matrix.room", self.room != new.room);
        changed("matrix.data_dir", self.data_dir != new.data_dir);
        changed(
            "matrix.store_passphrase",
            self.store_passphrase != new.store_passphrase,
        );
        changed("matrix.recovery_key", self.recovery_key != new.recovery_key);
        keys
    }
}

/// The command part of the `matrix` section: the prefix, who may send
/// commands and how often. A reload swaps it without a new Matrix login.
#[derive(Debug, Clone)]
pub struct CommandAccess {
    /// Prefix of bot commands, matched without regard to case. Default
    /// `!stats`.
    pub prefix: String,
    /// Power level a sender needs in the room to run commands. Default 50.
    pub power_level: i64,
    /// Who may also run commands whatever their power level, as globs on
    /// user IDs. Default none.
    pub allowed_senders: Patterns,
    /// How many commands one sender may send. Default 20 per minute.
    pub rate_limit: RateLimit,
    /// Longest silence `!stats silence` may set. Default 90 days.
    pub silence_max: Duration,
}

/// Default of `matrix.silence_max`: 90 days.
pub const DEFAULT_SILENCE_MAX: Duration = Duration::from_secs(90 * 86_400);

impl Default for CommandAccess {
    fn default() -> Self {
        CommandAccess {
            prefix: "!stats".to_owned(),
            power_level: 50,
            allowed_senders: Patterns::none(),
            rate_limit: RateLimit::default(),
            silence_max: DEFAULT_SILENCE_MAX,
        }
    }
}

impl CommandAccess {
    /// Whether a sender with power level `level` in the admin room (`None`:
    /// none that counts), or matching the allow-list, may command the bot.
    pub fn may_command(&self, sender: &str, level: Option<i64>) -> bool {
        level.is_some_and(|l| l >= self.power_level) || self.allowed_senders.matches(sender)
    }
}

/// How many commands one sender may send: a token bucket of `burst`
/// commands, refilled at `burst` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Commands in a burst (at least 1).
    pub burst: u32,
    /// Time to refill a whole burst (more than 0).
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 20,
            per: Duration::from_secs(60),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.burst, humantime::format_duration(self.per))
    }
}

impl Config {
    /// The keys whose change from `self` to `new` takes a restart of the
    /// daemon (a new Matrix login, another data directory or listening
    /// address), in file order. Everything else a reload swaps in place:
    /// Synapse's client, the schedule (from the next run), the alert
    /// settings, the rules, the command access.
    pub fn needs_restart(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = match (&self.matrix, &new.matrix) {
            (Some(old), Some(new)) => old.needs_restart(new),
            (None, None) => Vec::new(),
            _ => vec!["matrix"],
        };
        if self.http.listen != new.http.listen {
            keys.push("http.listen");
        }
        // The module's endpoints are served, or not, from the start; a new
        // secret in place of another is applied at once.
        if self.http.module_secret.is_some() != new.http.module_secret.is_some() {
            keys.push("http.module_secret");
        }
        // The history's file is opened at start; turning it off takes
        // effect at the next run.
        if !self.history.enabled && new.history.enabled {
            keys.push("history.enabled");
        }
        if self.history.file != new.history.file {
            keys.push("history.file");
        }
        keys
    }
}

/// Every rule of the file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `rules.user_media`.
    pub user_media: Vec<UserMediaRule>,
    /// `rules.rooms`.
    pub rooms: Vec<RoomRule>,
    /// `overrides`, in file order (the first matching one wins).
    pub overrides: Vec<Override>,
}

impl Rules {
    /// Number of rules.
    pub fn len(&self) -> usize {
        self.user_media.len() + self.rooms.len()
    }

    /// Whether there is no rule at all (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server notice of the user-media rule named `rule`, if it has one
    /// (what [`crate::core::alerting::server_notices::plan`] asks of each violation).
    pub fn notify_user(&self, rule: &str) -> Option<notify_user::NotifyUser> {
        self.user_media
            .iter()
            .find(|r| r.name == rule)
            .and_then(|r| r.notify_user.clone())
    }

    /// How long who was sent a server notice is remembered: the longest
    /// `notify_user.at_most_every`, at least [`notify_user::MIN_INTERVAL`].
    pub fn notice_memory(&self) -> std::time::Duration {
        self.user_media
            .iter()
            .filter_map(|r| r.notify_user.as_ref().map(|n| n.at_most_every))
            .fold(notify_user::MIN_INTERVAL, std::cmp::max)
    }
}

/// A limit on users' local media.
///
/// "Max" is inclusive: a user is in violation when the observed value is
/// strictly greater than the limit; at exactly the limit only an early
/// warning (`warn_at`) can be raised.
#[derive(Debug, Clone)]
pub struct UserMediaRule {
    /// Unique among all rules of the file.
    pub name: String,
    /// Shown in alerts.
    pub description: Option<String>,
    /// Severity of a violation. Default warning.
    pub severity: Severity,
    /// Who the rule applies to.
    pub users: UserSelector,
    /// Most bytes allowed.
    pub max_media_length: Option<u64>,
    /// Most media allowed.
    pub max_media_count: Option<u64>,
    /// Only media uploaded within this long before the run count.
    pub window: Option<Duration>,
    /// Early warning threshold, a percentage of the limits (below 100 %).
    pub warn_at: Option<Percent>,
    /// `enforce: upload`: Synapse refuses uploads over `max_media_length`.
    pub enforce: Option<Enforcement>,
    /// The unit family `max_media_length` was written in, for display.
    pub units: crate::core::doc::Units,
    /// A server notice to the user on some lifecycle events, if any.
    pub notify_user: Option<notify_user::NotifyUser>,
}

/// A limit on rooms' estimated database size.
#[derive(Debug, Clone)]
pub struct RoomRule {
    /// Unique among all rules of the file.
    pub name: String,
    /// Shown in alerts.
    pub description: Option<String>,
    /// Severity of a violation. Default warning.
    pub severity: Severity,
    /// Rooms the rule ignores, as globs on room IDs.
    pub exempt: Patterns,
    /// Largest estimated size allowed, in bytes: checked where room sizes
    /// can be read (Synapse's estimate, or the warden's module).
    pub max_estimated_size: Option<u64>,
    /// Most current state events allowed: checked everywhere, from the
    /// official room list.
    pub max_state_events: Option<u64>,
    /// Early warning threshold, a percentage of the limit (below 100 %).
    pub warn_at: Option<Percent>,
    /// The unit family `max_estimated_size` was written in, for display.
    pub units: crate::core::doc::Units,
}

/// Which users a rule applies to: those matching one of `users` (globs;
/// default `*`, every local user) and `users_regex` (when given), and none
/// of `exempt`. Matching is case-sensitive, on the full user ID.
#[derive(Debug, Clone)]
pub struct UserSelector {
    /// Globs, one of which must match.
    pub users: Patterns,
    /// A regex that must also match (a search: anchor it with `^...$`).
    pub users_regex: Option<regex::Regex>,
    /// Globs of users the rule never applies to.
    pub exempt: Patterns,
}

impl UserSelector {
    /// Every user, none exempted.
    pub fn everyone() -> UserSelector {
        UserSelector {
            users: Patterns::any(),
            users_regex: None,
            exempt: Patterns::none(),
        }
    }

    /// Whether the rule applies to `user_id`.
    pub fn selects(&self, user_id: &str) -> bool {
        self.users.matches(user_id)
            && self
                .users_regex
                .as_ref()
                .is_none_or(|r| r.is_match(user_id))
            && !self.exempt.matches(user_id)
    }
}

/// A list of globs, kept with their text.
#[derive(Debug, Clone)]
pub struct Patterns {
    set: GlobSet,
    written: Vec<String>,
}

impl Patterns {
    /// Globs from their text; the first invalid one is an error.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Patterns, globset::Error> {
        let mut builder = globset::GlobSetBuilder::new();
        for glob in globs {
            builder.add(globset::Glob::new(glob.as_ref())?);
        }
        Ok(Patterns {
            set: builder.build()?,
            written: globs.iter().map(|g| g.as_ref().to_owned()).collect(),
        })
    }

    /// `*`: matches everything.
    pub fn any() -> Patterns {
        Patterns::new(&["*"]).unwrap_or_else(|_| Patterns::none())
    }

    /// No glob: matches nothing.
    pub fn none() -> Patterns {
        Patterns {
            set: GlobSet::empty(),
            written: Vec::new(),
        }
    }

    /// Whether one of the globs matches `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// The globs as written.
    pub fn written(&self) -> &[String] {
        &self.written
    }

    /// Whether there is no glob.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }
}

/// A percentage with two decimals, e.g. `80%` or `92.5%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    /// From hundredths of a percent (`8000` is 80 %).
    pub const fn from_basis_points(bp: u32) -> Percent {
        Percent(bp)
    }

    /// Hundredths of a percent.
    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// As a number of percent.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Whether `observed` is at least this percentage of `limit` (exact,
    /// integer arithmetic).
    pub fn reached(self, observed: u64, limit: u64) -> bool {
        u128::from(observed) * 10_000 >= u128::from(limit) * u128::from(self.0)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

/// Reads a policy file: `file` is its name (used in errors), `text` its
/// content. Returns every problem at once.
pub fn parse(file: &str, text: &str) -> Result<Config, PolicyError> {
    validate::parse(file, text)
}

#[cfg(test)]
mod tests;
