//! The summary of a run, as posted in the admin room: a headline with
//! counts, one line per new, escalated, reminded or resolved violation
//! (a list item each, never a table), cut at `alerts.max_lines` with a
//! count of what was left out, then rules broken by too many users, what
//! became of the run's server notices, and whether the run was partial.

use crate::core::alerting::lifecycle::{AlertPlan, Change};
use crate::core::alerting::server_notices::NoticeTally;
use crate::core::alerting::settle::RunSummary;
use crate::core::doc::{Block, Doc, Message};
use crate::core::model::violation::Severity;

/// A run's summary, with a line on the run's server notices when there is
/// something to say; `None` when the plan is empty.
pub fn run(summary: &RunSummary, notices: Option<&NoticeTally>) -> Option<Doc> {
    let mut doc = plan_doc(&summary.plan, summary.now_ms, summary.max_lines)?;
    for b in &summary.too_broad {
        doc.push(Block::Paragraph(super::check::too_broad(b)));
    }
    if let Some(tally) = notices.filter(|t| !t.is_empty()) {
        doc.push(Block::Paragraph(super::server_notices::summary_line(tally)));
    }
    if let Some(cause) = &summary.partial {
        doc.push(Block::Paragraph(super::daemon::partial_run(cause)));
    }
    Some(doc)
}

/// A run's announcement. `None` when the plan is empty.
pub fn plan_doc(plan: &AlertPlan, now_ms: u64, max_lines: usize) -> Option<Doc> {
    if plan.is_empty() {
        return None;
    }
    let max_lines = max_lines.max(1);
    let count = |c: Change| plan.lines.iter().filter(|l| l.change == c).count() as u64;
    let counts = super::alerts::Counts {
        new: count(Change::New),
        escalated: count(Change::Escalated),
        reminded: count(Change::Reminder),
        resolved: count(Change::Resolved),
        critical: plan
            .lines
            .iter()
            .filter(|l| l.change != Change::Resolved && l.violation.severity == Severity::Critical)
            .count() as u64,
    };
    let mut doc = if plan.lines.is_empty() {
        Doc::paragraph(super::silences::expired_headline(now_ms))
    } else {
        Doc::paragraph(super::alerts::headline(&counts, now_ms)).with(Block::Bullets(
            plan.lines
                .iter()
                .take(max_lines)
                .map(super::alerts::line)
                .collect(),
        ))
    };
    let left_out = plan.lines.len().saturating_sub(max_lines);
    if left_out > 0 {
        doc.push(Block::Paragraph(super::alerts::more(left_out)));
    }
    for e in &plan.expired {
        doc.push(Block::Paragraph(super::silences::expired(e)));
    }
    Some(doc)
}

/// A run's announcement, rendered for Matrix. `None` when the plan is
/// empty.
pub fn message(plan: &AlertPlan, now_ms: u64, max_lines: usize) -> Option<Message> {
    plan_doc(plan, now_ms, max_lines).map(|d| d.message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alerting::lifecycle::{AlertState, Lifecycle};
    use crate::core::doc::Units;
    use crate::core::model::violation::fixture::violation;
    use crate::core::model::violation::{Measure, Subject, Violation};

    fn v(user: &str, name: Option<&str>, observed: u64, severity: Severity) -> Violation {
        let subject = Subject::User {
            user_id: user.into(),
            displayname: name.map(str::to_owned),
        };
        Violation {
            description: Some("Users may keep 5 GiB of media.".into()),
            severity,
            observed,
            limit: 5 * 1024 * 1024 * 1024,
            ..violation("media-quota", subject)
        }
    }

    #[test]
    fn one_message_per_run_with_plain_and_html() {
        let state = AlertState::default();
        let vs = [
            v(
                "@alice:hs",
                Some("Alice"),
                6 * 1024 * 1024 * 1024,
                Severity::Critical,
            ),
            v(
                "@bob:hs",
                Some("<script>alert(1)</script>"),
                5 * 1024 * 1024 * 1024 + 1,
                Severity::Warning,
            ),
        ];
        let plan = state.plan(&vs, 1_700_000_000_000, &Lifecycle::default());
        let m = message(&plan, 1_700_000_000_000, 20).unwrap();
        assert_eq!(
            m.plain,
            "synapse-warden: 2 new violations, 1 critical (2023-11-14 22:13 UTC)\n\
             • 🔴 NEW critical media-quota: @alice:hs (Alice): 6.0 GiB of 5.0 GiB (120.0%) — Users may keep 5 GiB of media.\n\
             • 🟠 NEW warning media-quota: @bob:hs (<script>alert(1)</script>): 5.0 GiB of 5.0 GiB (100.1%) — Users may keep 5 GiB of media."
        );
        assert!(!m.html.contains("<table>"));
        assert!(m.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!m.html.contains("<script>"));
    }

    #[test]
    fn early_warnings_counts_and_windows_read_naturally() {
        let mut early = v("@bob:hs", None, 4 << 30, Severity::Warning);
        early.early_warning = true;
        let mut count = v("@dave:hs", None, 60, Severity::Warning);
        count.measure = Measure::MediaCount;
        count.limit = 50;
        count.description = None;
        count.window = Some(std::time::Duration::from_secs(5400));
        let plan = AlertState::default().plan(&[early, count], 0, &Lifecycle::default());
        let m = message(&plan, 0, 10).unwrap();
        assert!(
            m.plain
                .contains("@bob:hs: 4.0 GiB of 5.0 GiB (80.0%, early warning)"),
            "{}",
            m.plain
        );
        assert!(
            m.plain
                .contains("@dave:hs: 60 media of 50 in 1h 30m (120.0%)"),
            "{}",
            m.plain
        );
    }

    #[test]
    fn sizes_in_the_rules_units() {
        let mut kb = v("@carol:hs", None, 12_000, Severity::Warning);
        kb.limit = 10_000;
        kb.units = Units::Decimal;
        let plan = AlertState::default().plan(&[kb], 0, &Lifecycle::default());
        let m = message(&plan, 0, 10).unwrap();
        assert!(
            m.plain.contains("@carol:hs: 12.0 kB of 10.0 kB (120.0%)"),
            "{}",
            m.plain
        );
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let vs: Vec<_> = (0..30)
            .map(|i| v(&format!("@u{i:02}:hs"), None, 6 << 30, Severity::Warning))
            .collect();
        let plan = AlertState::default().plan(&vs, 0, &Lifecycle::default());
        let m = message(&plan, 0, 10).unwrap();
        assert_eq!(m.plain.lines().count(), 1 + 10 + 1);
        assert!(m.plain.ends_with("… and 20 more (see `!stats check`)"));
        assert_eq!(m.html.matches("<li>").count(), 10);
    }

    #[test]
    fn empty_plan_says_nothing() {
        assert!(message(&AlertPlan::default(), 0, 10).is_none());
    }
}
