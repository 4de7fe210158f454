//! Per-user and per-room overrides of the rules (`overrides:`), and hard
//! enforcement of user media rules at upload time (`enforce: upload`).
//!
//! Precedence: for one rule and one subject, the **first** override of the
//! file that names the subject (and that rule, or every rule) and has not
//! ended wins over the rule's own limits; later overrides are not looked at.
//! An override with `exempt: true` takes the subject out of the rule.
//! An override sets its own limits only: a limit it does not set stays the
//! rule's. The decisions themselves are in [`crate::core::engine::limits`].

use super::Patterns;
use super::path::Position;

/// One item of `overrides:`.
#[derive(Debug, Clone)]
pub struct Override {
    /// Whom it applies to.
    pub target: OverrideTarget,
    /// The rule it changes; `None`: every rule of its kind.
    pub rule: Option<String>,
    /// `exempt: true`: the subjects are out of the rule(s).
    pub exempt: bool,
    /// New limit in bytes (`max_media_length`, users).
    pub max_media_length: Option<u64>,
    /// New limit in media (`max_media_count`, users).
    pub max_media_count: Option<u64>,
    /// New limit in bytes (`max_estimated_size`, rooms).
    pub max_estimated_size: Option<u64>,
    /// New limit in current state events (`max_state_events`, rooms).
    pub max_state_events: Option<u64>,
    /// When it ends (Unix ms); `None`: never.
    pub until_ms: Option<u64>,
    /// `until` as written, for messages.
    pub until_written: Option<String>,
    /// Why, for people.
    pub reason: Option<String>,
    /// Its position in the list (0-based), for messages: `overrides[2]`.
    pub index: usize,
    /// Where it is in the file, for warnings.
    pub position: Option<Position>,
}

/// Whom an override applies to.
#[derive(Debug, Clone)]
pub enum OverrideTarget {
    /// Users, by globs on their ID.
    Users(Patterns),
    /// Rooms, by globs on their ID.
    Rooms(Patterns),
}

impl Override {
    /// Whether it is still in force at `now_ms`.
    pub fn active(&self, now_ms: u64) -> bool {
        self.until_ms.is_none_or(|until| now_ms < until)
    }

    /// Whether it names the rule `rule`.
    pub fn names_rule(&self, rule: &str) -> bool {
        self.rule.as_deref().is_none_or(|r| r == rule)
    }

    /// Whether it names the user `user_id`.
    pub fn names_user(&self, user_id: &str) -> bool {
        matches!(&self.target, OverrideTarget::Users(p) if p.matches(user_id))
    }

    /// Whether it names the room `room_id`.
    pub fn names_room(&self, room_id: &str) -> bool {
        matches!(&self.target, OverrideTarget::Rooms(p) if p.matches(room_id))
    }

    /// `overrides[2]`.
    pub fn label(&self) -> String {
        format!("overrides[{}]", self.index)
    }
}

/// Hard enforcement of a user media rule by Synapse (`enforce: upload`):
/// the rule's `max_media_length` becomes a limit Synapse applies at upload
/// time, through the `synapse_warden_quota` module.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enforcement {
    /// Where the refused user can read more (`info_uri`); `None`: Synapse's
    /// own page.
    pub info_uri: Option<String>,
    /// Whether the user can upgrade their plan (`can_upgrade`).
    pub can_upgrade: bool,
}

/// `until` of an override: a date (`2027-03-01`, the override is in force
/// through that day, UTC) or an RFC 3339 time (`2027-03-01T12:00:00Z`), as
/// Unix ms of the moment the override ends.
pub fn parse_until(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let ends = if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
    } else if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        Some(time.timestamp_millis())
    } else {
        return Err(format!(
            "`{}` is not a date: write `2027-03-01` (in force through that day, UTC) or a time \
             such as `2027-03-01T12:00:00Z`",
            text.escape_default()
        ));
    };
    ends.and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| format!("`{}` is out of range", text.escape_default()))
}
