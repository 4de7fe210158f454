//! `overrides:` as serde reads it (see [`super::raw`] for why every leaf is
//! an untyped value).

use super::yaml::Value;
use serde::Deserialize;

/// Keys of an item of `overrides`.
pub const OVERRIDE_KEYS: &[&str] = &[
    "users",
    "rooms",
    "rule",
    "exempt",
    "max_media_length",
    "max_media_count",
    "max_estimated_size",
    "max_state_events",
    "until",
    "reason",
];

/// An item of `overrides`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawOverride {
    pub users: Option<Value>,
    pub rooms: Option<Value>,
    pub rule: Option<Value>,
    pub exempt: Option<Value>,
    pub max_media_length: Option<Value>,
    pub max_media_count: Option<Value>,
    pub max_estimated_size: Option<Value>,
    pub max_state_events: Option<Value>,
    pub until: Option<Value>,
    pub reason: Option<Value>,
}
