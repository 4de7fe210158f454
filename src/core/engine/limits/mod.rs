//! Effective limits: what a rule asks of one user or room once the
//! overrides are applied, and the hard upload limits Synapse enforces
//! through the `synapse_warden_quota` module.
//!
//! One function decides, for evaluation (the alerts), for the module's
//! limits endpoint and for `!stats user`: [`effective_user`] (and
//! [`effective_room`]). Pure: the time is an argument.
//!
//! Precedence (documented in `policies.example.yaml`):
//!
//! 1. a rule applies to the users it selects (`users`, `users_regex`, not
//!    `exempt`); an override never brings a user into a rule;
//! 2. among the overrides still in force (`until` not reached) that name
//!    the user and the rule (or every rule), the **first in the file**
//!    wins, and the others are ignored;
//! 3. that override's `exempt: true` takes the user out of the rule; its
//!    limits replace the rule's, and a limit it does not set stays the
//!    rule's.

use std::time::Duration;

use crate::core::policy::{Enforcement, Override, RoomRule, Rules, UserMediaRule};

/// `time_period_ms` of a limit on a user's whole usage: longer than any
/// server's age, so that Synapse counts every local media of the user
/// (about 100 years).
pub const WHOLE_USAGE_PERIOD_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Why a subject has the limits it has under one rule.
#[derive(Debug, Clone, Copy)]
pub enum LimitSource<'r> {
    /// The rule's own limits.
    Rule,
    /// The rule does not select the subject (or exempts it in the rule).
    NotSelected,
    /// An override (the first in force that names the subject) sets them,
    /// or exempts the subject when its `exempt` is true.
    Override(&'r Override),
}

impl PartialEq for LimitSource<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LimitSource::Rule, LimitSource::Rule)
            | (LimitSource::NotSelected, LimitSource::NotSelected) => true,
            (LimitSource::Override(a), LimitSource::Override(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

/// One rule's limits for one user.
#[derive(Debug, Clone, Copy)]
pub struct EffectiveUser<'r> {
    /// The rule.
    pub rule: &'r UserMediaRule,
    /// Where the limits come from.
    pub source: LimitSource<'r>,
    /// Most bytes; `None`: no byte limit (or the rule does not apply).
    pub max_media_length: Option<u64>,
    /// Most media; `None`: no count limit (or the rule does not apply).
    pub max_media_count: Option<u64>,
}

impl EffectiveUser<'_> {
    /// Whether the rule holds the user to a limit.
    pub fn applies(&self) -> bool {
        self.max_media_length.is_some() || self.max_media_count.is_some()
    }
}

/// One room rule's limit for one room.
#[derive(Debug, Clone, Copy)]
pub struct EffectiveRoom<'r> {
    /// The rule.
    pub rule: &'r RoomRule,
    /// Where the limit comes from.
    pub source: LimitSource<'r>,
    /// Largest estimated size; `None`: no size limit here.
    pub max_estimated_size: Option<u64>,
    /// Most current state events; `None`: no such limit here.
    pub max_state_events: Option<u64>,
}

impl EffectiveRoom<'_> {
    /// Whether the rule holds the room to a limit.
    pub fn applies(&self) -> bool {
        self.max_estimated_size.is_some() || self.max_state_events.is_some()
    }
}

/// The first override in force at `now_ms` naming `user_id` and `rule`.
pub fn user_override<'r>(
    overrides: &'r [Override],
    rule: &str,
    user_id: &str,
    now_ms: u64,
) -> Option<&'r Override> {
    overrides
        .iter()
        .find(|o| o.active(now_ms) && o.names_rule(rule) && o.names_user(user_id))
}

/// `rule`'s limits for `user_id` at `now_ms`, overrides applied.
pub fn effective_user<'r>(
    overrides: &'r [Override],
    rule: &'r UserMediaRule,
    user_id: &str,
    now_ms: u64,
) -> EffectiveUser<'r> {
    if !rule.users.selects(user_id) {
        return EffectiveUser {
            rule,
            source: LimitSource::NotSelected,
            max_media_length: None,
            max_media_count: None,
        };
    }
    match user_override(overrides, &rule.name, user_id, now_ms) {
        None => EffectiveUser {
            rule,
            source: LimitSource::Rule,
            max_media_length: rule.max_media_length,
            max_media_count: rule.max_media_count,
        },
        Some(o) if o.exempt => EffectiveUser {
            rule,
            source: LimitSource::Override(o),
            max_media_length: None,
            max_media_count: None,
        },
        Some(o) => EffectiveUser {
            rule,
            source: LimitSource::Override(o),
            max_media_length: o.max_media_length.or(rule.max_media_length),
            max_media_count: o.max_media_count.or(rule.max_media_count),
        },
    }
}

/// Every user media rule's limits for `user_id`, in file order.
pub fn effective_user_all<'r>(
    rules: &'r Rules,
    user_id: &str,
    now_ms: u64,
) -> Vec<EffectiveUser<'r>> {
    rules
        .user_media
        .iter()
        .map(|rule| effective_user(&rules.overrides, rule, user_id, now_ms))
        .collect()
}

/// `rule`'s limit for `room_id` at `now_ms`, overrides applied.
pub fn effective_room<'r>(
    overrides: &'r [Override],
    rule: &'r RoomRule,
    room_id: &str,
    now_ms: u64,
) -> EffectiveRoom<'r> {
    if rule.exempt.matches(room_id) {
        return EffectiveRoom {
            rule,
            source: LimitSource::NotSelected,
            max_estimated_size: None,
            max_state_events: None,
        };
    }
    let found = overrides
        .iter()
        .find(|o| o.active(now_ms) && o.names_rule(&rule.name) && o.names_room(room_id));
    match found {
        None => EffectiveRoom {
            rule,
            source: LimitSource::Rule,
            max_estimated_size: rule.max_estimated_size,
            max_state_events: rule.max_state_events,
        },
        Some(o) => EffectiveRoom {
            rule,
            source: LimitSource::Override(o),
            max_estimated_size: (!o.exempt)
                .then(|| o.max_estimated_size.or(rule.max_estimated_size))
                .flatten(),
            max_state_events: (!o.exempt)
                .then(|| o.max_state_events.or(rule.max_state_events))
                .flatten(),
        },
    }
}

/// One hard limit Synapse applies to a user's uploads
/// (`MediaUploadLimit`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadLimit {
    /// The rule it comes from.
    pub rule: String,
    /// Most bytes uploaded within `time_period_ms`.
    pub max_bytes: u64,
    /// The period counted back from each upload, in ms: the rule's
    /// `window`, or [`WHOLE_USAGE_PERIOD_MS`] for a rule on whole usage.
    pub time_period_ms: u64,
    /// Where the user can read more; `None`: Synapse's own page.
    pub info_uri: Option<String>,
    /// Whether the user can upgrade their plan.
    pub can_upgrade: bool,
}

/// The hard upload limits of `user_id` at `now_ms`: one per rule with
/// `enforce: upload` that holds the user to a byte limit, in file order.
/// Empty for a user no such rule applies to (exempt, or overridden with
/// `exempt: true`): Synapse then applies no limit.
pub fn upload_limits(rules: &Rules, user_id: &str, now_ms: u64) -> Vec<UploadLimit> {
    rules
        .user_media
        .iter()
        .filter_map(|rule| {
            let Enforcement {
                info_uri,
                can_upgrade,
            } = rule.enforce.as_ref()?;
            let effective = effective_user(&rules.overrides, rule, user_id, now_ms);
            Some(UploadLimit {
                rule: rule.name.clone(),
                max_bytes: effective.max_media_length?,
                time_period_ms: period_ms(rule.window),
                info_uri: info_uri.clone(),
                can_upgrade: *can_upgrade,
            })
        })
        .collect()
}

fn period_ms(window: Option<Duration>) -> u64 {
    window.map_or(WHOLE_USAGE_PERIOD_MS, |w| {
        u64::try_from(w.as_millis())
            .unwrap_or(u64::MAX)
            .min(WHOLE_USAGE_PERIOD_MS)
    })
}

/// The limit Synapse refused an upload under, among `limits` (what
/// [`upload_limits`] answers now), by its bytes and period. `None` when the
/// policy changed since Synapse asked.
pub fn refused_under(
    limits: &[UploadLimit],
    max_bytes: u64,
    time_period_ms: u64,
) -> Option<&UploadLimit> {
    limits
        .iter()
        .find(|l| l.max_bytes == max_bytes && l.time_period_ms == time_period_ms)
}

/// The overrides that ended after `from_ms` and at or before `to_ms`: to
/// announce once, in the first run after their end.
pub fn ended_between(rules: &Rules, from_ms: u64, to_ms: u64) -> Vec<&Override> {
    rules
        .overrides
        .iter()
        .filter(|o| o.until_ms.is_some_and(|u| from_ms < u && u <= to_ms))
        .collect()
}

/// Something about an override that is probably a mistake, for `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideWarning {
    /// The override.
    pub index: usize,
    /// Where it is in the file.
    pub position: Option<crate::core::policy::Position>,
    /// What is wrong.
    pub message: String,
}

/// Overrides that have ended, or that match no rule: one that sets a limit
/// none of the rules it names has (`max_media_count` for a rule on bytes
/// only), or whose users or rooms, written as plain IDs, none of those
/// rules applies to.
pub fn override_warnings(rules: &Rules, now_ms: u64) -> Vec<OverrideWarning> {
    let mut out = Vec::new();
    for o in &rules.overrides {
        let mut warn = |message: String| {
            out.push(OverrideWarning {
                index: o.index,
                position: o.position,
                message,
            })
        };
        if !o.active(now_ms) {
            warn(format!(
                "ended on {}: it no longer changes anything; remove it",
                o.until_written.as_deref().unwrap_or("?")
            ));
            continue;
        }
        match &o.target {
            crate::core::policy::OverrideTarget::Users(users) => {
                let named: Vec<&UserMediaRule> = rules
                    .user_media
                    .iter()
                    .filter(|r| o.names_rule(&r.name))
                    .collect();
                let sets_limit = |r: &&UserMediaRule| {
                    o.exempt
                        || (o.max_media_length.is_some() && r.max_media_length.is_some())
                        || (o.max_media_count.is_some() && r.max_media_count.is_some())
                };
                if !named.iter().any(sets_limit) {
                    warn(
                        "matches no rule: no user media rule it names has the limit it sets"
                            .to_owned(),
                    );
                    continue;
                }
                for id in users.written().iter().filter(|w| is_plain_id(w)) {
                    if !named.iter().any(|r| r.users.selects(id)) {
                        warn(format!(
                            "matches no rule for `{}`: no rule it names applies to that user",
                            id.escape_default()
                        ));
                    }
                }
            }
            crate::core::policy::OverrideTarget::Rooms(rooms) => {
                let named: Vec<&RoomRule> = rules
                    .rooms
                    .iter()
                    .filter(|r| o.names_rule(&r.name))
                    .collect();
                if named.is_empty() {
                    warn("matches no rule: there is no room rule".to_owned());
                    continue;
                }
                for id in rooms.written().iter().filter(|w| is_plain_id(w)) {
                    if named.iter().all(|r| r.exempt.matches(id)) {
                        warn(format!(
                            "matches no rule for `{}`: every rule it names exempts that room",
                            id.escape_default()
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Whether a glob is a plain ID (no glob syntax).
fn is_plain_id(glob: &str) -> bool {
    !glob.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

#[cfg(test)]
mod tests;
