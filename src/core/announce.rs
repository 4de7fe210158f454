//! What the daemon posts in the admin room: one summary per run of what
//! changed (new, escalated, reminded, resolved violations), and one-off
//! notices (Synapse unreachable, room rules disabled...).
//!
//! Every message has a plain-text body for clients that do not render HTML
//! and an HTML body with a table. Everything that comes from Synapse or from
//! users (IDs, display names, rule descriptions) is HTML-escaped. Long lists
//! are cut at `max_lines` with a count of what was left out. Pure: time is
//! an argument and formatted in UTC.

use std::fmt::Write as _;

use bytesize::ByteSize;
use html_escape::encode_text;

use super::alerts::{Announced, Change, Plan};
use super::render::{percent, utc};
use super::violation::{Measure, Severity, Subject, Violation};

/// A message for the admin room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Plain-text body.
    pub plain: String,
    /// HTML body (`org.matrix.custom.html`).
    pub html: String,
}

/// Renders a run's announcement. `None` when the plan is empty.
pub fn summary(plan: &Plan, now_ms: u64, max_lines: usize) -> Option<Message> {
    if plan.is_empty() {
        return None;
    }
    let max_lines = max_lines.max(1);
    let headline = headline(&plan.lines);
    let mut plain = format!("synapse-warden: {headline} ({})\n", utc(now_ms));
    let mut html = format!(
        "<p><strong>synapse-warden</strong>: {} <em>({})</em></p>\n<table>\n<thead><tr><th>Change</th><th>Severity</th><th>Rule</th><th>User or room</th><th>Usage</th><th>Limit</th><th>Share</th><th>Since</th></tr></thead>\n<tbody>\n",
        encode_text(&headline),
        utc(now_ms)
    );
    for line in plan.lines.iter().take(max_lines) {
        let v = &line.violation;
        let _ = writeln!(
            plain,
            "{} {} {} {}: {}: {} of {}{} ({}){}",
            marker(line),
            change_word(line.change),
            v.severity,
            v.rule,
            subject_plain(&v.subject),
            amount(v),
            limit(v),
            window_note(v),
            share(v),
            description_note(v),
        );
        let _ = writeln!(
            html,
            "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            marker(line),
            change_word(line.change),
            v.severity,
            rule_html(v),
            subject_html(&v.subject),
            encode_text(&format!("{}{}", amount(v), window_note(v))),
            encode_text(&limit(v)),
            share(v),
            utc_date(line.since_ms),
        );
    }
    html.push_str("</tbody>\n</table>\n");
    let left_out = plan.lines.len().saturating_sub(max_lines);
    if left_out > 0 {
        let _ = writeln!(plain, "… and {left_out} more (see `!stats check`)");
        let _ = writeln!(
            html,
            "<p>… and {left_out} more (see <code>!stats check</code>)</p>"
        );
    }
    Some(Message {
        plain: plain.trim_end().to_owned(),
        html: html.trim_end().to_owned(),
    })
}

/// A one-off notice: a short sentence, optionally with details in code.
pub fn notice(text: &str, details: Option<&str>) -> Message {
    let mut plain = format!("synapse-warden: {text}");
    let mut html = format!(
        "<p><strong>synapse-warden</strong>: {}</p>",
        encode_text(text)
    );
    if let Some(details) = details {
        let _ = write!(plain, "\n{details}");
        let _ = write!(html, "\n<pre><code>{}</code></pre>", encode_text(details));
    }
    Message { plain, html }
}

fn headline(lines: &[Announced]) -> String {
    let count = |c: Change| lines.iter().filter(|l| l.change == c).count();
    let critical = lines
        .iter()
        .filter(|l| l.change != Change::Resolved && l.violation.severity == Severity::Critical)
        .count();
    let mut parts = Vec::new();
    for (change, word) in [
        (Change::New, "new"),
        (Change::Escalated, "escalated"),
        (Change::Reminder, "still open"),
        (Change::Resolved, "resolved"),
    ] {
        let n = count(change);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut text = format!(
        "{} {}",
        parts.join(", "),
        if lines.len() == 1 {
            "violation"
        } else {
            "violations"
        }
    );
    if critical > 0 {
        let _ = write!(text, ", {critical} critical");
    }
    text
}

fn marker(line: &Announced) -> &'static str {
    match (line.change, line.violation.severity) {
        (Change::Resolved, _) => "✅",
        (_, Severity::Critical) => "🔴",
        (_, Severity::Warning) => "🟠",
    }
}

fn change_word(change: Change) -> &'static str {
    match change {
        Change::New => "NEW",
        Change::Escalated => "ESCALATED",
        Change::Reminder => "STILL OPEN",
        Change::Resolved => "RESOLVED",
    }
}

fn subject_plain(subject: &Subject) -> String {
    match subject {
        Subject::User {
            user_id,
            displayname: Some(name),
        } if name != user_id => format!("{user_id} ({name})"),
        Subject::User { user_id, .. } => user_id.clone(),
        Subject::Room { room_id } => format!("room {room_id}"),
    }
}

fn subject_html(subject: &Subject) -> String {
    match subject {
        Subject::User {
            user_id,
            displayname: Some(name),
        } if name != user_id => format!(
            "<code>{}</code> ({})",
            encode_text(user_id),
            encode_text(name)
        ),
        Subject::User { user_id, .. } => format!("<code>{}</code>", encode_text(user_id)),
        Subject::Room { room_id } => format!("room <code>{}</code>", encode_text(room_id)),
    }
}

fn rule_html(v: &Violation) -> String {
    match &v.description {
        Some(d) => format!(
            "<code>{}</code><br>{}",
            encode_text(&v.rule),
            encode_text(d)
        ),
        None => format!("<code>{}</code>", encode_text(&v.rule)),
    }
}

fn description_note(v: &Violation) -> String {
    v.description
        .as_ref()
        .map(|d| format!(" — {d}"))
        .unwrap_or_default()
}

fn window_note(v: &Violation) -> String {
    match v.window {
        Some(w) => format!(" in {}", humantime::format_duration(w)),
        None => String::new(),
    }
}

/// The observed value, humanized.
pub fn amount(v: &Violation) -> String {
    value(v.measure, v.observed)
}

fn limit(v: &Violation) -> String {
    match v.measure {
        // "60 media of 50", not "of 50 media".
        Measure::MediaCount => v.limit.to_string(),
        _ => value(v.measure, v.limit),
    }
}

/// The share of the limit, and whether it is an early warning.
fn share(v: &Violation) -> String {
    if v.early_warning {
        format!("{}, early warning", percent(v))
    } else {
        percent(v)
    }
}

fn value(measure: Measure, n: u64) -> String {
    match measure {
        Measure::MediaLength | Measure::RoomSize => ByteSize::b(n).display().iec().to_string(),
        Measure::MediaCount => format!("{n} media"),
    }
}

fn utc_date(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alerts::{AlertState, Lifecycle};
    use proptest::prelude::*;

    fn v(user: &str, name: Option<&str>, observed: u64, severity: Severity) -> Violation {
        Violation {
            rule: "media-quota".into(),
            description: Some("Users may keep 5 GiB of media.".into()),
            severity,
            subject: Subject::User {
                user_id: user.into(),
                displayname: name.map(str::to_owned),
            },
            measure: Measure::MediaLength,
            observed,
            limit: 5 * 1024 * 1024 * 1024,
            window: None,
            early_warning: false,
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
        let m = summary(&plan, 1_700_000_000_000, 20).unwrap();
        assert_eq!(
            m.plain,
            "synapse-warden: 2 new violations, 1 critical (2023-11-14 22:13 UTC)\n\
             🔴 NEW critical media-quota: @alice:hs (Alice): 6.0 GiB of 5.0 GiB (120.0%) — Users may keep 5 GiB of media.\n\
             🟠 NEW warning media-quota: @bob:hs (<script>alert(1)</script>): 5.0 GiB of 5.0 GiB (100.1%) — Users may keep 5 GiB of media."
        );
        assert!(m.html.contains("<table>"));
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
        count.window = Some(std::time::Duration::from_secs(3600));
        let plan = AlertState::default().plan(&[early, count], 0, &Lifecycle::default());
        let m = summary(&plan, 0, 10).unwrap();
        assert!(
            m.plain
                .contains("@bob:hs: 4.0 GiB of 5.0 GiB (80.0%, early warning)"),
            "{}",
            m.plain
        );
        assert!(
            m.plain.contains("@dave:hs: 60 media of 50 in 1h (120.0%)"),
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
        let m = summary(&plan, 0, 10).unwrap();
        assert_eq!(m.plain.lines().count(), 1 + 10 + 1);
        assert!(m.plain.ends_with("… and 20 more (see `!stats check`)"));
        assert_eq!(m.html.matches("<tr><td>").count(), 10);
    }

    #[test]
    fn empty_plan_says_nothing() {
        assert!(summary(&Plan::default(), 0, 10).is_none());
    }

    #[test]
    fn notices_escape_details() {
        let m = notice(
            "cannot reach Synapse since 2026-01-01 00:00 UTC",
            Some("connect <refused>"),
        );
        assert!(m.plain.ends_with("connect <refused>"));
        assert!(m.html.contains("connect &lt;refused&gt;"));
    }

    proptest! {
        #[test]
        fn any_names_render_escaped(user in "\\PC{0,30}", name in proptest::option::of("\\PC{0,30}"), observed in any::<u64>()) {
            let plan = AlertState::default().plan(&[v(&user, name.as_deref(), observed, Severity::Critical)], 0, &Lifecycle::default());
            let m = summary(&plan, 0, 5).unwrap();
            prop_assert!(!m.html.contains("<script"));
            prop_assert_eq!(m.html.matches("<tr>").count(), 2);
        }
    }
}
