//! Uploads Synapse refused under a rule with `enforce: upload`, as the
//! `synapse_warden_quota` module reports them, and how they are told in the
//! admin room: batched, one line per refusal.
//!
//! Pure: the adapters carry reports in and messages out.

use crate::core::doc::Message;
use crate::core::engine::limits::{self, UploadLimit};
use crate::core::policy::Rules;
use crate::core::text;

/// One refused upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
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
}

impl Refusal {
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
) -> Refusal {
    let current: Vec<UploadLimit> = limits::upload_limits(rules, user_id, now_ms);
    Refusal {
        user_id: user_id.to_owned(),
        rule: limits::refused_under(&current, max_bytes, time_period_ms).map(|l| l.rule.clone()),
        max_bytes,
        sent_bytes,
        attempted_bytes,
        at_ms: now_ms,
    }
}

/// "3 uploads refused: ..." for the admin room; `None` when there is
/// nothing to say. At most `max_lines` lines, then a count of the rest.
/// Wording in [`crate::core::text::refusals`].
pub fn message(refusals: &[Refusal], max_lines: usize) -> Option<Message> {
    let first = refusals.first()?;
    Some(text::refusals::refusals(refusals, first.at_ms, max_lines).message())
}

/// Announced once, in the first run after an override's `until`.
pub fn override_ended_message(overrides: &[&crate::core::policy::Override]) -> Option<Message> {
    if overrides.is_empty() {
        return None;
    }
    Some(text::refusals::overrides_ended(overrides).message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: &str, rule: Option<&str>) -> Refusal {
        Refusal {
            user_id: user.into(),
            rule: rule.map(Into::into),
            max_bytes: 5 << 30,
            sent_bytes: (5 << 30) - 1000,
            attempted_bytes: 20 << 20,
            at_ms: 1_800_000_000_000,
        }
    }

    #[test]
    fn batches_one_line_per_refusal_escaped() {
        let m = message(
            &[
                r("@bob:hs", Some("media-quota")),
                r("@<b>evil</b>\n:hs", None),
                r("@c:hs", Some("x")),
            ],
            2,
        )
        .unwrap();
        assert!(
            m.plain.starts_with(
                "synapse-warden: 3 uploads refused by Synapse since 2027-01-15 08:00 UTC:"
            ),
            "{}",
            m.plain
        );
        assert!(
            m.plain.contains(
                "• @bob:hs — 20.0 MiB over media-quota (5.0 GiB): had 5.0 GiB, tried 20.0 MiB"
            ),
            "{}",
            m.plain
        );
        assert!(
            m.plain
                .contains("@<b>evil</b>\\n:hs — 20.0 MiB over a limit no longer in the policy"),
            "{}",
            m.plain
        );
        assert!(
            m.html.contains("@&lt;b&gt;evil&lt;/b&gt;\\n:hs"),
            "{}",
            m.html
        );
        assert!(!m.html.contains("<b>evil"));
        assert!(m.plain.ends_with("… and 1 more"));
        assert_eq!(message(&[], 5), None);
    }
}
