//! A finished run, settled: [`settle_run`] applies the alert lifecycle with
//! the run's coverage and the conditions, and returns typed decisions —
//! the alert plan, the conditions' [`ConditionChange`]s in order, and the run's
//! [`RunSummary`] (new, escalated, reminded, resolved violations; whether
//! the run was partial; rules broken by too many users). The daemon words
//! them with [`crate::core::text::summary`] and
//! [`crate::core::text::daemon`]. Pure: time is an argument.

use serde::{Deserialize, Serialize};

use crate::core::alerting::conditions::{ConditionChange, Conditions};
use crate::core::alerting::lifecycle::{AlertPlan, AlertState, Lifecycle};
use crate::core::engine::eval::RunOutcome;

/// What a run's summary is made of, kept (in the state) while the run's
/// server notices are tried, so that it can say what became of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// What changed.
    pub plan: AlertPlan,
    /// Why the run was partial, when it was.
    pub partial: Option<String>,
    /// When the run ended (Unix ms).
    pub now_ms: u64,
    /// `alerts.max_lines`.
    pub max_lines: usize,
    /// Rules broken by too many users.
    #[serde(default)]
    pub too_broad: Vec<crate::core::engine::too_broad::BroadRule>,
}

/// What a finished run changes and says: the alert lifecycle applied with
/// the run's coverage (a partial run resolves and forgets only what it
/// looked at), the conditions' changes to announce, in order, and then the
/// run's summary (marked partial when it was), `None` when nothing changed.
pub fn settle_run(
    alerts: &mut AlertState,
    conditions: &mut Conditions,
    outcome: &RunOutcome,
    lifecycle: &Lifecycle,
    max_lines: usize,
    now_ms: u64,
) -> (AlertPlan, Vec<ConditionChange>, Option<RunSummary>) {
    let changes = conditions.run_finished(outcome, now_ms);
    let plan = alerts.plan_covered(&outcome.violations, &outcome.coverage, now_ms, lifecycle);
    let summary = (!plan.is_empty()).then(|| RunSummary {
        plan: plan.clone(),
        partial: outcome.incomplete_cause(),
        now_ms,
        max_lines,
        too_broad: Vec::new(),
    });
    alerts.apply_covered(&plan, &outcome.violations, &outcome.coverage, now_ms);
    (plan, changes, summary)
}
