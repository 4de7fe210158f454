//! A rule that catches too much says so: when one user media rule is broken
//! (violations and early warnings) by more than `alerts.too_broad_at` of the
//! users with media, it is probably mis-set — a quota of 30 MB meant as
//! 30 GB —, and `check` and the run's summary say it once per rule, with
//! the numbers, rather than only listing thousands of users.
//!
//! A share of a handful of users means nothing (one user of four is 25%):
//! a rule is questioned only when it matches at least [`MIN_MATCHED`]
//! users.
//!
//! Pure: a run's [`RunOutcome`] and the rules in, the rules to question out.

use serde::{Deserialize, Serialize};

use crate::core::doc::Units;
use crate::core::engine::eval::RunOutcome;
use crate::core::model::violation::{Measure, Subject};
use crate::core::policy::{Percent, UserMediaRule};

/// The fewest users a rule must match to be questioned.
pub const MIN_MATCHED: u64 = 10;

/// A rule broken by too many users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadRule {
    /// The rule's name.
    pub rule: String,
    /// Users it matched.
    pub matched: u64,
    /// Users with media.
    pub users: u64,
    /// What its limit measures.
    pub measure: Measure,
    /// Its own limit (overrides aside).
    pub limit: u64,
    /// The units it was written in.
    pub units: Units,
}

/// The user media rules of `rules` that `outcome` found broken by more
/// than `at` of the users with media, and by at least [`MIN_MATCHED`], in
/// file order. Nothing when the run did not walk all media.
pub fn too_broad(outcome: &RunOutcome, rules: &[UserMediaRule], at: Percent) -> Vec<BroadRule> {
    let Some(users) = outcome
        .walks
        .iter()
        .find(|w| w.window.is_none())
        .map(|w| w.users)
        .filter(|&u| u > 0)
    else {
        return Vec::new();
    };
    rules
        .iter()
        .filter_map(|rule| {
            let matched = outcome
                .violations
                .iter()
                .filter(|v| *v.rule == *rule.name && matches!(v.subject, Subject::User { .. }))
                .count() as u64;
            // More than `at`: matched / users > at.
            let over = matched >= MIN_MATCHED
                && u128::from(matched) * 10_000 > u128::from(users) * u128::from(at.basis_points());
            let (measure, limit) = match (rule.max_media_length, rule.max_media_count) {
                (Some(bytes), _) => (Measure::MediaLength, bytes),
                (None, Some(count)) => (Measure::MediaCount, count),
                (None, None) => return None,
            };
            over.then(|| BroadRule {
                rule: rule.name.clone(),
                matched,
                users,
                measure,
                limit,
                units: rule.units,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
