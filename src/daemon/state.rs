//! The persisted schema: everything the daemon keeps in `state.json` in its
//! data directory (written and read by [`super::store`]). Earlier versions'
//! files must keep loading: fields added later default when absent.

use serde::{Deserialize, Serialize};

use crate::core::alerting::conditions::Conditions;
use crate::core::alerting::digest::DigestState;
use crate::core::alerting::lifecycle::AlertState;
use crate::core::alerting::server_notices::NoticeState;

/// The last run, for `!stats status` and the schedule after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// Start (Unix ms).
    pub started_ms: u64,
    /// Duration in ms.
    pub took_ms: u64,
    /// Violations found; `None` when the run failed.
    pub violations: Option<usize>,
    /// Users with media seen by the walk of all media.
    pub users: u64,
    /// Violations found that a silence held back.
    #[serde(default)]
    pub silenced: usize,
    /// Why it failed.
    pub error: Option<String>,
    /// Why it was partial (a walk cut short), when it was.
    #[serde(default)]
    pub incomplete: Option<String>,
    /// Where it read the users' media totals; `None` when it failed (or
    /// was saved by a version before issue 29).
    #[serde(default)]
    pub source: Option<crate::core::model::users_source::UsersSource>,
}

/// Everything the daemon keeps in its data directory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DaemonState {
    /// Alert lifecycle and outbox.
    pub alerts: AlertState,
    /// Conditions announced when they start and end (Synapse failing...).
    #[serde(flatten)]
    pub conditions: Conditions,
    /// The last run.
    pub last_run: Option<LastRun>,
    /// Server notices to users (`notify_user`) and their outbox.
    #[serde(default)]
    pub notices: NoticeState,
    /// The digest: the due time last queued, and the violations opened
    /// and closed since.
    #[serde(default)]
    pub digest: DigestState,
}

#[cfg(test)]
mod tests;
