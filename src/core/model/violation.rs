//! What the engine finds: a [`Violation`] of one rule by one user or room.
//!
//! Violations are plain data: the evaluation engine produces them, the alert
//! state tracks them across runs, and the renderers turn them into alerts,
//! tables and JSON.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How serious a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Needs action.
    Critical,
}

impl Severity {
    /// `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who or what is over a limit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A local user.
    User {
        /// e.g. `@alice:example.org`.
        user_id: String,
        /// As Synapse reported it, for display only.
        displayname: Option<String>,
    },
    /// A room.
    Room {
        /// e.g. `!abc:example.org`.
        room_id: String,
    },
}

impl Subject {
    /// The user or room ID.
    pub fn id(&self) -> &str {
        match self {
            Subject::User { user_id, .. } => user_id,
            Subject::Room { room_id } => room_id,
        }
    }
}

/// The quantity a rule limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Bytes of local media.
    MediaLength,
    /// Number of local media.
    MediaCount,
    /// A room's estimated database size in bytes.
    RoomSize,
    /// A room's current state events (how many).
    StateEvents,
}

impl Measure {
    /// Whether values are bytes (rendered humanized) rather than counts.
    pub fn is_bytes(self) -> bool {
        matches!(self, Measure::MediaLength | Measure::RoomSize)
    }
}

/// One rule broken (or about to be, for an early warning) by one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule's name, unique in the policy file: shared by every
    /// violation of the rule (interned), never copied per violation.
    pub rule: Arc<str>,
    /// The rule's description, shown in alerts; shared like the name.
    pub description: Option<Arc<str>>,
    /// Severity of this violation (an early warning is always `warning`).
    pub severity: Severity,
    /// Who or what.
    pub subject: Subject,
    /// What was measured.
    pub measure: Measure,
    /// The measured value.
    pub observed: u64,
    /// The limit it is compared with (for an early warning, the rule's
    /// limit, not the warning threshold).
    pub limit: u64,
    /// The rule's window, when only recent uploads count.
    #[serde(with = "opt_duration_secs", default)]
    pub window: Option<Duration>,
    /// True when this is an early warning below the limit (`warn_at`).
    pub early_warning: bool,
    /// The unit family sizes are shown in: the one the rule's limit was
    /// written in.
    #[serde(default)]
    pub units: crate::core::doc::Units,
}

/// A violation's identity across runs: (rule, subject ID).
pub type ViolationKey = (Arc<str>, String);

impl Violation {
    /// The observed value as a percentage of the limit.
    pub fn percent(&self) -> f64 {
        if self.limit == 0 {
            f64::INFINITY
        } else {
            self.observed as f64 * 100.0 / self.limit as f64
        }
    }

    /// Identity across runs: the same rule and subject are the same alert.
    pub fn key(&self) -> ViolationKey {
        (self.rule.clone(), self.subject.id().to_owned())
    }
}

mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        value.map(|d| d.as_secs()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// Violations for tests, so that each test spells out only the fields that
/// matter to it: `Violation { observed: 10, ..violation("quota", user("@a:hs")) }`.
#[cfg(test)]
pub mod fixture {
    use super::{Measure, Severity, Subject, Violation};

    /// A warning of `rule` by `subject`: 2 bytes of media (all uploads)
    /// against a limit of 1, no description, not an early warning, sizes in
    /// binary units.
    pub fn violation(rule: &str, subject: Subject) -> Violation {
        Violation {
            rule: rule.into(),
            description: None,
            severity: Severity::Warning,
            subject,
            measure: Measure::MediaLength,
            observed: 2,
            limit: 1,
            window: None,
            early_warning: false,
            units: Default::default(),
        }
    }

    /// The user `id`, without a display name.
    pub fn user(id: &str) -> Subject {
        Subject::User {
            user_id: id.into(),
            displayname: None,
        }
    }
}
