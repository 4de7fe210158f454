//! The policy file as serde reads it, before validation.
//!
//! Sections and lists are typed so that serde checks the file's shape, but
//! every leaf is kept as a [`Value`] and every key is optional: a wrong type,
//! a bad size or a missing key is then found by the validation pass, which
//! reports all of them at once with their positions, instead of serde
//! stopping at the first. Unknown keys are collected as serde skips them
//! (see [`super::yaml`]; not `deny_unknown_fields`, which stops at the
//! first).

use super::yaml::Value;
use serde::Deserialize;

/// Keys of the root mapping.
pub const ROOT_KEYS: &[&str] = &[
    "synapse",
    "schedule",
    "alerts",
    "matrix",
    "http",
    "rules",
    "overrides",
    "actions",
    "history",
    "digest",
    "display",
];
/// Keys of `display:`.
pub const DISPLAY_KEYS: &[&str] = &["units"];
/// Keys of `actions:`.
pub const ACTIONS_KEYS: &[&str] = &["enabled", "confirm_within", "audit_log"];
/// Keys of `history:`.
pub const HISTORY_KEYS: &[&str] = &["enabled", "file", "keep", "thin_after", "capacity"];
/// Keys of `digest:`.
pub const DIGEST_KEYS: &[&str] = &["cron"];
/// Keys of `http:`.
pub const HTTP_KEYS: &[&str] = &["listen", "module_secret"];
/// Keys of `synapse`.
pub const SYNAPSE_KEYS: &[&str] = &["url", "token", "timeout", "page_size"];
/// Keys of `schedule`.
pub const SCHEDULE_KEYS: &[&str] = &["cron", "every", "run_at_start", "jitter"];
/// Keys of `alerts`.
pub const ALERTS_KEYS: &[&str] = &[
    "repeat_after",
    "announce_resolved",
    "max_lines",
    "escalate_on_growth",
    "refusals_every",
    "too_broad_at",
];
/// Keys of `matrix`.
pub const MATRIX_KEYS: &[&str] = &[
    "homeserver",
    "user",
    "password",
    "access_token",
    "room",
    "command_prefix",
    "command_power_level",
    "action_power_level",
    "allowed_senders",
    "silence_max",
    "rate_limit",
    "data_dir",
    "store_passphrase",
    "recovery_key",
];
/// Keys that were renamed: (section, old key, what to write instead).
pub const RENAMED: &[(&[&str], &str, &str)] = &[(
    &["matrix"],
    "command_rate_limit",
    "renamed to `matrix.rate_limit`, written as `20/1m` (commands per duration)",
)];
/// Keys of `rules`.
pub const RULES_KEYS: &[&str] = &["user_media", "rooms"];
/// Keys of an item of `rules.user_media`.
pub const USER_RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "severity",
    "users",
    "users_regex",
    "exempt",
    "max_media_length",
    "max_media_count",
    "window",
    "warn_at",
    "notify_user",
    "enforce",
    "info_uri",
    "can_upgrade",
];
/// Keys of an item of `rules.rooms`.
pub const ROOM_RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "severity",
    "exempt",
    "max_estimated_size",
    "max_state_events",
    "warn_at",
];
/// Keys of a secret source (`token`, `password`, ...).
pub const SECRET_KEYS: &[&str] = &["env", "file"];

/// Every mapping of the language, by its path shape (list indexes left
/// out), with its keys: used for suggestions on unknown keys.
pub const SECTIONS: &[(&[&str], &[&str])] = &[
    (&[], ROOT_KEYS),
    (&["synapse"], SYNAPSE_KEYS),
    (&["schedule"], SCHEDULE_KEYS),
    (&["alerts"], ALERTS_KEYS),
    (&["matrix"], MATRIX_KEYS),
    (&["http"], HTTP_KEYS),
    (&["actions"], ACTIONS_KEYS),
    (&["history"], HISTORY_KEYS),
    (&["digest"], DIGEST_KEYS),
    (&["display"], DISPLAY_KEYS),
    (&["rules"], RULES_KEYS),
    (&["rules", "user_media"], USER_RULE_KEYS),
    (&["rules", "rooms"], ROOM_RULE_KEYS),
    (&["overrides"], super::overrides_raw::OVERRIDE_KEYS),
];

/// How a section is written when named in a hint (`rules.rooms[]`).
pub fn section_name(shape: &[&str]) -> String {
    match shape {
        [] => "the top level".to_owned(),
        ["rules", list] => format!("rules.{list}[]"),
        ["overrides"] => "overrides[]".to_owned(),
        _ => shape.join("."),
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRoot {
    pub synapse: Option<RawSynapse>,
    pub schedule: Option<RawSchedule>,
    pub alerts: Option<RawAlerts>,
    pub matrix: Option<RawMatrix>,
    pub http: Option<RawHttp>,
    pub rules: Option<RawRules>,
    pub overrides: Option<Vec<super::overrides_raw::RawOverride>>,
    pub actions: Option<RawActions>,
    pub history: Option<RawHistory>,
    pub digest: Option<RawDigest>,
    pub display: Option<RawDisplay>,
}

/// `display:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDisplay {
    pub units: Option<Value>,
}

/// `digest:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDigest {
    pub cron: Option<Value>,
}

/// `history:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawHistory {
    pub enabled: Option<Value>,
    pub file: Option<Value>,
    pub keep: Option<Value>,
    pub thin_after: Option<Value>,
    pub capacity: Option<Value>,
}

/// `actions:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawActions {
    pub enabled: Option<Value>,
    pub confirm_within: Option<Value>,
    pub audit_log: Option<Value>,
}

/// `http:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawHttp {
    pub listen: Option<Value>,
    pub module_secret: Option<Value>,
}

/// `synapse:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSynapse {
    pub url: Option<Value>,
    pub token: Option<Value>,
    pub timeout: Option<Value>,
    pub page_size: Option<Value>,
}

/// `schedule:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSchedule {
    pub cron: Option<Value>,
    pub every: Option<Value>,
    pub run_at_start: Option<Value>,
    pub jitter: Option<Value>,
}

/// `alerts:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawAlerts {
    pub repeat_after: Option<Value>,
    pub announce_resolved: Option<Value>,
    pub max_lines: Option<Value>,
    pub escalate_on_growth: Option<Value>,
    pub refusals_every: Option<Value>,
    pub too_broad_at: Option<Value>,
}

/// `matrix:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawMatrix {
    pub homeserver: Option<Value>,
    pub user: Option<Value>,
    pub password: Option<Value>,
    pub access_token: Option<Value>,
    pub room: Option<Value>,
    pub command_prefix: Option<Value>,
    pub command_power_level: Option<Value>,
    pub action_power_level: Option<Value>,
    pub allowed_senders: Option<Value>,
    pub silence_max: Option<Value>,
    pub rate_limit: Option<Value>,
    pub data_dir: Option<Value>,
    pub store_passphrase: Option<Value>,
    pub recovery_key: Option<Value>,
}

/// `rules:`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRules {
    pub user_media: Option<Vec<RawUserRule>>,
    pub rooms: Option<Vec<RawRoomRule>>,
}

/// An item of `rules.user_media`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawUserRule {
    pub name: Option<Value>,
    pub description: Option<Value>,
    pub severity: Option<Value>,
    pub users: Option<Value>,
    pub users_regex: Option<Value>,
    pub exempt: Option<Value>,
    pub max_media_length: Option<Value>,
    pub max_media_count: Option<Value>,
    pub window: Option<Value>,
    pub warn_at: Option<Value>,
    pub notify_user: Option<Value>,
    pub enforce: Option<Value>,
    pub info_uri: Option<Value>,
    pub can_upgrade: Option<Value>,
}

/// An item of `rules.rooms`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRoomRule {
    pub name: Option<Value>,
    pub description: Option<Value>,
    pub severity: Option<Value>,
    pub exempt: Option<Value>,
    pub max_estimated_size: Option<Value>,
    pub max_state_events: Option<Value>,
    pub warn_at: Option<Value>,
}
