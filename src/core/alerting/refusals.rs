//! Uploads Synapse refused under a rule with `enforce: upload`, as the
//! `synapse_warden_quota` module reports them, and which rule each was under (worded in
//! [`crate::core::text::refusals`]: batched, one line per refusal).
//!
//! Pure: the adapters carry reports in and messages out.

use crate::core::engine::limits::{self, UploadLimit};
use crate::core::policy::Rules;

/// One refused upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRefusal {
    /// Who tried to upload.
    pub user_id: String,
    /// The rule the limit comes from; `None` when the policy changed since
    /// Synapse asked (no current limit has these bytes and period).
    pub rule: Option<String>,
    /// The limit, in bytes.
    pub max_bytes: u64,
    /// What the user had uploaded within the limit's period.
    pub sent_bytes: u64,
    /// The size of the refused upload.
    pub attempted_bytes: u64,
    /// When the warden heard of it (Unix ms).
    pub at_ms: u64,
    /// The unit family its sizes are shown in: its rule's (the policy's
    /// one family unless the policy mixes them).
    pub units: crate::core::doc::Units,
}

impl UploadRefusal {
    /// By how much the upload would have passed the limit.
    pub fn over_by(&self) -> u64 {
        (self.sent_bytes.saturating_add(self.attempted_bytes)).saturating_sub(self.max_bytes)
    }
}

/// A refusal as the module reports it: which of the user's current limits
/// it was, decided by [`limits::refused_under`].
pub fn refusal(
    rules: &Rules,
    user_id: &str,
    max_bytes: u64,
    time_period_ms: u64,
    sent_bytes: u64,
    attempted_bytes: u64,
    now_ms: u64,
) -> UploadRefusal {
    let current: Vec<UploadLimit> = limits::upload_limits(rules, user_id, now_ms);
    let rule = limits::refused_under(&current, max_bytes, time_period_ms).map(|l| l.rule.clone());
    let units = rules
        .user_media
        .iter()
        .find(|r| Some(&r.name) == rule.as_ref())
        .or_else(|| {
            rules
                .user_media
                .iter()
                .find(|r| r.max_media_length.is_some())
        })
        .map(|r| r.units)
        .unwrap_or_default();
    UploadRefusal {
        user_id: user_id.to_owned(),
        units,
        rule,
        max_bytes,
        sent_bytes,
        attempted_bytes,
        at_ms: now_ms,
    }
}
