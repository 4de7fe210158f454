//! Replies to commands, for the Matrix bot (plain text and HTML) and the
//! terminal (plain text), from the same code.
//!
//! Everything that comes from Synapse or from users (IDs, display names,
//! search terms, rule descriptions, error messages) is HTML-escaped in the
//! HTML body. Sizes are humanized with binary units (`300.0 KiB`). Lists are
//! cut at `max_lines` with "… and N more". Pure: the time is an argument,
//! formatted in UTC.

use std::fmt::Write as _;
use std::time::Duration;

use bytesize::ByteSize;
use html_escape::encode_text;

use super::command::{Command, MAX_TOP, UsageError, UserQuery, format_window};
use super::eval::{Outcome, RoomsChecked};
use super::model::{MediaMetric, RoomSize, UserMedia};
use super::policy::{Patterns, Rules, UserSelector};
use super::violation::{Measure, Severity, Subject, Violation};

/// A reply: a plain-text body and an HTML body
/// (`org.matrix.custom.html`). The same type as the daemon's announcements.
pub type Rendered = super::announce::Message;

/// Bytes, humanized: `300.0 KiB`.
pub fn size(bytes: u64) -> String {
    ByteSize::b(bytes).display().iec().to_string()
}

/// The grammar, with examples.
pub fn help(prefix: &str) -> Rendered {
    let rows = grammar(prefix);
    let mut plain = String::from("synapse-warden commands:\n");
    let mut html = String::from("<p><strong>synapse-warden</strong> commands:</p>\n<ul>\n");
    for (syntax, what) in &rows {
        let _ = writeln!(plain, "  {syntax} — {what}");
        let _ = writeln!(
            html,
            "<li><code>{}</code> — {}</li>",
            encode_text(syntax),
            encode_text(what)
        );
    }
    html.push_str("</ul>\n");
    let examples = [
        format!("{prefix} top 10 media_length"),
        format!("{prefix} top 5 media_count 7d"),
        format!("{prefix} user @alice:example.org"),
    ];
    let _ = write!(plain, "Examples: {}", examples.join(" · "));
    let _ = write!(
        html,
        "<p>Examples: {}</p>",
        examples
            .iter()
            .map(|e| format!("<code>{}</code>", encode_text(e)))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    Rendered { plain, html }
}

fn grammar(prefix: &str) -> Vec<(String, String)> {
    vec![
        (format!("{prefix} help"), "this help".to_owned()),
        (
            format!("{prefix} top [N] [media_length|media_count] [WINDOW]"),
            format!(
                "the N (1 to {MAX_TOP}, default 10) users with the most media, by size or count, \
                 optionally only uploads of the last WINDOW (e.g. 7d, 24h)"
            ),
        ),
        (
            format!("{prefix} user <@user:server | search term>"),
            "one user's media usage, or the users whose ID or name contains the term".to_owned(),
        ),
        (
            format!("{prefix} rooms"),
            "the largest rooms (needs Synapse on PostgreSQL)".to_owned(),
        ),
        (format!("{prefix} check"), "run the policies now".to_owned()),
        (
            format!("{prefix} policies"),
            "the rules in force".to_owned(),
        ),
        (
            format!("{prefix} status"),
            "last run, next run, last error, health".to_owned(),
        ),
        (
            format!("{prefix} reload"),
            "re-read the policy file".to_owned(),
        ),
    ]
}

/// The reply to a bad command: what was wrong, then the grammar in short.
pub fn usage(prefix: &str, error: &UsageError) -> Rendered {
    let rows = grammar(prefix);
    let syntaxes: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
    let plain = format!(
        "Usage error: {error}.\nCommands: {}\nSee `{prefix} help` for details.",
        syntaxes.join(" | ")
    );
    let html = format!(
        "<p><strong>Usage error</strong>: {}.</p>\n<p>Commands: {}</p>\n<p>See <code>{} help</code> for details.</p>",
        encode_text(&error.to_string()),
        syntaxes
            .iter()
            .map(|s| format!("<code>{}</code>", encode_text(s)))
            .collect::<Vec<_>>()
            .join(" | "),
        encode_text(prefix)
    );
    Rendered { plain, html }
}

/// A sentence, e.g. why something cannot be answered.
pub fn sentence(text: &str) -> Rendered {
    Rendered {
        plain: text.to_owned(),
        html: format!("<p>{}</p>", encode_text(text)),
    }
}

/// A failure: what could not be done, and the error.
pub fn failure(what: &str, error: &str) -> Rendered {
    Rendered {
        plain: format!("{what}: {error}"),
        html: format!(
            "<p><strong>{}</strong>: {}</p>",
            encode_text(what),
            encode_text(error)
        ),
    }
}

/// Where the data of a `top` answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The daemon's last walk, this old.
    LastWalk {
        /// Age of the walk.
        age: Duration,
    },
    /// One call to Synapse, just now.
    Live,
}

/// What a `top` answer shows.
#[derive(Debug, Clone, Copy)]
pub struct TopView<'a> {
    /// Users asked for.
    pub n: u32,
    /// Ranked by.
    pub metric: MediaMetric,
    /// Only uploads of this last span.
    pub window: Option<Duration>,
    /// The users, largest first.
    pub users: &'a [UserMedia],
    /// Users with media (in the window), all of them.
    pub total: u64,
    /// Where the data comes from.
    pub source: Source,
}

fn metric_words(metric: MediaMetric) -> &'static str {
    match metric {
        MediaMetric::MediaLength => "media size",
        MediaMetric::MediaCount => "media count",
    }
}

fn window_words(window: Option<Duration>) -> String {
    match window {
        Some(w) => format!("uploads of the last {}", format_window(w)),
        None => "all uploads".to_owned(),
    }
}

/// A duration rounded for people: `42s`, `12m`, `3h 5m`.
pub fn age(d: Duration) -> String {
    let secs = d.as_secs();
    let rounded = if secs < 60 {
        secs
    } else if secs < 3600 {
        secs / 60 * 60
    } else {
        secs / 300 * 300
    };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

/// The answer to `top`.
pub fn top(view: &TopView<'_>) -> Rendered {
    let source = match view.source {
        Source::LastWalk { age: a } => format!("from the last walk, {} ago", age(a)),
        Source::Live => "asked Synapse just now".to_owned(),
    };
    let head = format!(
        "Top {} users by {} ({}), {}:",
        view.n,
        metric_words(view.metric),
        window_words(view.window),
        source
    );
    if view.users.is_empty() {
        let text = format!(
            "No user has media ({}); Synapse lists only users with at least one local upload.",
            window_words(view.window)
        );
        return sentence(&text);
    }
    let mut plain = format!("{head}\n");
    let mut html = format!(
        "<p>{}</p>\n<table>\n<thead><tr><th>#</th><th>User</th><th>Media size</th><th>Media count</th></tr></thead>\n<tbody>\n",
        encode_text(&head)
    );
    for (i, u) in view.users.iter().enumerate() {
        let _ = writeln!(
            plain,
            "{:>2}. {} — {}, {} media",
            i + 1,
            user_plain(u),
            user_size(u),
            u.media_count
        );
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            user_html(u),
            user_size(u),
            u.media_count
        );
    }
    html.push_str("</tbody>\n</table>\n");
    let shown = view.users.len() as u64;
    let foot = if view.total > shown {
        format!(
            "{} users have media; {} more not shown.",
            view.total,
            view.total - shown
        )
    } else {
        format!("{} users have media.", view.total.max(shown))
    };
    plain.push_str(&foot);
    let _ = write!(html, "<p>{}</p>", encode_text(&foot));
    Rendered { plain, html }
}

fn user_size(u: &UserMedia) -> String {
    match u.media_length {
        Some(b) => size(b),
        None => "unknown size (pending upload)".to_owned(),
    }
}

fn user_plain(u: &UserMedia) -> String {
    match &u.displayname {
        Some(name) if !name.is_empty() && name != &u.user_id => {
            format!("{} ({})", u.user_id, name)
        }
        _ => u.user_id.clone(),
    }
}

fn user_html(u: &UserMedia) -> String {
    match &u.displayname {
        Some(name) if !name.is_empty() && name != &u.user_id => format!(
            "<code>{}</code> ({})",
            encode_text(&u.user_id),
            encode_text(name)
        ),
        _ => format!("<code>{}</code>", encode_text(&u.user_id)),
    }
}

/// The answer to `user`: `users` are the matches (for an exact query, the
/// user or nothing); `more` says whether Synapse had more matches than
/// were read.
pub fn user(query: &UserQuery, users: &[UserMedia], more: bool, max_lines: usize) -> Rendered {
    let max_lines = max_lines.max(1);
    match query {
        UserQuery::Exact(id) => match users.first() {
            Some(u) => {
                let text = format!(
                    "{}: {} in {} media (all uploads).",
                    user_plain(u),
                    user_size(u),
                    u.media_count
                );
                Rendered {
                    plain: text,
                    html: format!(
                        "<p>{}: <strong>{}</strong> in {} media (all uploads).</p>",
                        user_html(u),
                        user_size(u),
                        u.media_count
                    ),
                }
            }
            None => Rendered {
                plain: format!("{id} has no local media (or is not a user of this server)."),
                html: format!(
                    "<p><code>{}</code> has no local media (or is not a user of this server).</p>",
                    encode_text(id)
                ),
            },
        },
        UserQuery::Search(term) => {
            if users.is_empty() {
                return Rendered {
                    plain: format!("No user with media matches \"{term}\"."),
                    html: format!(
                        "<p>No user with media matches <code>{}</code>.</p>",
                        encode_text(term)
                    ),
                };
            }
            let mut plain = format!("Users with media matching \"{term}\":\n");
            let mut html = format!(
                "<p>Users with media matching <code>{}</code>:</p>\n<table>\n<thead><tr><th>User</th><th>Media size</th><th>Media count</th></tr></thead>\n<tbody>\n",
                encode_text(term)
            );
            for u in users.iter().take(max_lines) {
                let _ = writeln!(
                    plain,
                    "  {} — {}, {} media",
                    user_plain(u),
                    user_size(u),
                    u.media_count
                );
                let _ = writeln!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    user_html(u),
                    user_size(u),
                    u.media_count
                );
            }
            html.push_str("</tbody>\n</table>");
            let left_out = users.len().saturating_sub(max_lines);
            if left_out > 0 || more {
                let more_text = if more {
                    format!("… and {left_out} more, and others not read; narrow the search.")
                } else {
                    format!("… and {left_out} more; narrow the search.")
                };
                let _ = write!(plain, "{more_text}");
                let _ = write!(html, "\n<p>{}</p>", encode_text(&more_text));
            }
            Rendered {
                plain: plain.trim_end().to_owned(),
                html,
            }
        }
    }
}

/// The answer to `rooms`.
pub fn rooms(rooms: &[RoomSize], max_lines: usize) -> Rendered {
    if rooms.is_empty() {
        return sentence("Synapse lists no room (its estimates need PostgreSQL statistics).");
    }
    let max_lines = max_lines.max(1);
    let head =
        "Largest rooms, estimated by Synapse from PostgreSQL statistics (media not included):";
    let mut plain = format!("{head}\n");
    let mut html = format!(
        "<p>{}</p>\n<table>\n<thead><tr><th>#</th><th>Room</th><th>Estimated size</th></tr></thead>\n<tbody>\n",
        encode_text(head)
    );
    for (i, r) in rooms.iter().take(max_lines).enumerate() {
        let _ = writeln!(
            plain,
            "{:>2}. {} — {}",
            i + 1,
            r.room_id,
            size(r.estimated_size)
        );
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            i + 1,
            encode_text(&r.room_id),
            size(r.estimated_size)
        );
    }
    html.push_str("</tbody>\n</table>");
    let left_out = rooms.len().saturating_sub(max_lines);
    if left_out > 0 {
        let _ = write!(plain, "… and {left_out} more");
        let _ = write!(html, "\n<p>… and {left_out} more</p>");
    }
    Rendered {
        plain: plain.trim_end().to_owned(),
        html,
    }
}

/// Health of a dependency, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Answering; the detail (e.g. Synapse's version).
    Up(String),
    /// Not answering; why.
    Down(String),
    /// Not checked.
    Unknown,
}

/// The last run, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    /// Start (Unix ms).
    pub started_ms: u64,
    /// Duration in ms.
    pub took_ms: u64,
    /// Violations found; `None` when the run failed.
    pub violations: Option<usize>,
    /// Why it failed.
    pub error: Option<String>,
    /// Why it was partial (a walk cut short), when it was.
    pub incomplete: Option<String>,
}

/// The `status` line of a partial run.
fn partial_run_status(cause: &str) -> String {
    format!(
        "The last run was INCOMPLETE: {cause}; open alerts of users it did not reach were neither resolved nor forgotten"
    )
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// The last run, if any.
    pub last_run: Option<RunView>,
    /// When the next run is due (Unix ms).
    pub next_run_ms: Option<u64>,
    /// Synapse unreachable since (Unix ms) and why.
    pub synapse_outage: Option<(u64, String)>,
    /// Synapse's admin API.
    pub synapse: Health,
    /// The Matrix connection.
    pub matrix: Health,
    /// Announcements waiting for Matrix.
    pub queued: usize,
}

/// The answer to `status`.
pub fn status(view: &StatusView, now_ms: u64) -> Rendered {
    let mut lines: Vec<String> = Vec::new();
    match &view.last_run {
        Some(run) => {
            let result = match (&run.error, run.violations) {
                (Some(e), _) => format!("failed: {e}"),
                (None, Some(0)) => "no violation".to_owned(),
                (None, Some(1)) => "1 violation".to_owned(),
                (None, Some(n)) => format!("{n} violations"),
                (None, None) => "no result".to_owned(),
            };
            lines.push(format!(
                "Last run: {} ({} ago, took {}): {result}",
                utc(run.started_ms),
                age(Duration::from_millis(now_ms.saturating_sub(run.started_ms))),
                humantime::format_duration(Duration::from_millis(run.took_ms / 1000 * 1000)),
            ));
            if let Some(cause) = &run.incomplete {
                lines.push(partial_run_status(cause));
            }
        }
        None => lines.push("Last run: none yet".to_owned()),
    }
    match view.next_run_ms {
        Some(next) if next > now_ms => lines.push(format!(
            "Next run: {} (in {})",
            utc(next),
            age(Duration::from_millis(next - now_ms))
        )),
        Some(_) => lines.push("Next run: due now".to_owned()),
        None => lines.push("Next run: not scheduled".to_owned()),
    }
    if let Some((since, error)) = &view.synapse_outage {
        lines.push(format!("Synapse failing since {}: {error}", utc(*since)));
    }
    lines.push(format!("Synapse: {}", health(&view.synapse)));
    lines.push(format!("Matrix: {}", health(&view.matrix)));
    if view.queued > 0 {
        lines.push(format!("Messages waiting for delivery: {}", view.queued));
    }
    let plain = lines.join("\n");
    let html = html_list(&lines);
    Rendered { plain, html }
}

fn health(h: &Health) -> String {
    match h {
        Health::Up(detail) if detail.is_empty() => "up".to_owned(),
        Health::Up(detail) => format!("up ({detail})"),
        Health::Down(why) => format!("DOWN: {why}"),
        Health::Unknown => "unknown".to_owned(),
    }
}

/// The answer to `policies`.
pub fn policies(rules: &Rules) -> Rendered {
    let mut lines = Vec::new();
    for r in &rules.user_media {
        let mut limits = Vec::new();
        if let Some(b) = r.max_media_length {
            limits.push(size(b));
        }
        if let Some(c) = r.max_media_count {
            limits.push(format!("{c} media"));
        }
        let mut text = format!(
            "{} ({}): at most {} per user",
            r.name,
            r.severity,
            limits.join(" and ")
        );
        if let Some(w) = r.window {
            let _ = write!(text, " uploaded in the last {}", format_window(w));
        }
        let _ = write!(text, "; {}", selector(&r.users));
        if let Some(p) = r.warn_at {
            let _ = write!(text, "; early warning at {}%", p.as_f64());
        }
        if let Some(d) = &r.description {
            let _ = write!(text, " — {d}");
        }
        lines.push(text);
    }
    for r in &rules.rooms {
        let mut text = format!(
            "{} ({}): rooms at most {} (Synapse's estimate)",
            r.name,
            r.severity,
            size(r.max_estimated_size)
        );
        if !r.exempt.is_empty() {
            let _ = write!(text, ", except {}", globs(&r.exempt));
        }
        if let Some(p) = r.warn_at {
            let _ = write!(text, "; early warning at {}%", p.as_f64());
        }
        if let Some(d) = &r.description {
            let _ = write!(text, " — {d}");
        }
        lines.push(text);
    }
    let rules_count = lines.len();
    lines.extend(super::explain::overrides_lines(rules));
    let head = match rules_count {
        0 => "No rule in force.".to_owned(),
        1 => "1 rule in force:".to_owned(),
        n => format!("{n} rules in force:"),
    };
    let plain = format!("{head}\n{}", lines.join("\n"))
        .trim_end()
        .to_owned();
    let html = format!("<p>{}</p>\n{}", encode_text(&head), html_list(&lines));
    Rendered { plain, html }
}

/// Lines as an HTML list, each escaped.
fn html_list(lines: &[String]) -> String {
    let items: Vec<String> = lines
        .iter()
        .map(|l| format!("<li>{}</li>", encode_text(l)))
        .collect();
    format!("<ul>\n{}\n</ul>", items.join("\n"))
}

fn globs(p: &Patterns) -> String {
    p.written()
        .iter()
        .map(|g| format!("`{g}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn selector(s: &UserSelector) -> String {
    let mut text = if s.users.written() == ["*"] {
        "every user".to_owned()
    } else {
        format!("users matching {}", globs(&s.users))
    };
    if let Some(re) = &s.users_regex {
        let _ = write!(text, " and /{}/", re.as_str());
    }
    if !s.exempt.is_empty() {
        let _ = write!(text, ", except {}", globs(&s.exempt));
    }
    text
}

/// The answer to `check`: every violation of a run, cut at `max_lines`.
pub fn check(outcome: &Outcome, max_lines: usize) -> Rendered {
    let max_lines = max_lines.max(1);
    let critical = outcome
        .violations
        .iter()
        .filter(|v| v.severity == Severity::Critical)
        .count();
    let head = match outcome.violations.len() {
        0 => format!("No violation of the {} rules.", outcome.rules),
        1 => format!("1 violation ({critical} critical):"),
        n => format!("{n} violations ({critical} critical):"),
    };
    let mut plain = format!("{head}\n");
    let mut html = format!("<p>{}</p>\n", encode_text(&head));
    if !outcome.violations.is_empty() {
        html.push_str("<table>\n<thead><tr><th>Severity</th><th>Rule</th><th>User or room</th><th>Usage</th><th>Limit</th><th>Share</th></tr></thead>\n<tbody>\n");
        for v in outcome.violations.iter().take(max_lines) {
            let _ = writeln!(
                plain,
                "{} {}: {}: {} of {} ({})",
                v.severity,
                v.rule,
                subject_plain(&v.subject),
                value(v.measure, v.observed, v.window),
                limit(v),
                percent(v)
            );
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                v.severity,
                encode_text(&v.rule),
                subject_html(&v.subject),
                encode_text(&value(v.measure, v.observed, v.window)),
                encode_text(&limit(v)),
                percent(v)
            );
        }
        html.push_str("</tbody>\n</table>\n");
        let left_out = outcome.violations.len().saturating_sub(max_lines);
        if left_out > 0 {
            let _ = writeln!(
                plain,
                "… and {left_out} more (run `synapse-warden check` for all of them)"
            );
            let _ = writeln!(
                html,
                "<p>… and {left_out} more (run <code>synapse-warden check</code> for all of them)</p>"
            );
        }
    }
    if let RoomsChecked::Unavailable { reason } = &outcome.rooms {
        let _ = writeln!(plain, "Rooms not checked: {reason}");
        let _ = writeln!(
            html,
            "<p>Rooms not checked: {}</p>",
            encode_text(&reason.to_string())
        );
    }
    for note in &outcome.notes {
        let _ = writeln!(plain, "Note: {note}");
        let _ = writeln!(html, "<p>Note: {}</p>", encode_text(note));
    }
    Rendered {
        plain: plain.trim_end().to_owned(),
        html: html.trim_end().to_owned(),
    }
}

fn subject_plain(s: &Subject) -> String {
    match s {
        Subject::User {
            user_id,
            displayname: Some(name),
        } if !name.is_empty() && name != user_id => format!("{user_id} ({name})"),
        Subject::User { user_id, .. } => user_id.clone(),
        Subject::Room { room_id } => format!("room {room_id}"),
    }
}

fn subject_html(s: &Subject) -> String {
    match s {
        Subject::User {
            user_id,
            displayname: Some(name),
        } if !name.is_empty() && name != user_id => format!(
            "<code>{}</code> ({})",
            encode_text(user_id),
            encode_text(name)
        ),
        Subject::User { user_id, .. } => format!("<code>{}</code>", encode_text(user_id)),
        Subject::Room { room_id } => format!("room <code>{}</code>", encode_text(room_id)),
    }
}

fn value(measure: Measure, n: u64, window: Option<Duration>) -> String {
    let v = if measure.is_bytes() {
        size(n)
    } else {
        format!("{n} media")
    };
    match window {
        Some(w) => format!("{v} in {}", format_window(w)),
        None => v,
    }
}

fn limit(v: &Violation) -> String {
    let l = value(v.measure, v.limit, None);
    if v.early_warning {
        format!("{l} (early warning)")
    } else {
        l
    }
}

/// The share of the limit, rounded away from the limit so that one byte over
/// never reads 100%.
pub fn percent(v: &Violation) -> String {
    let p = v.percent() * 10.0;
    if !p.is_finite() {
        return "∞".to_owned();
    }
    let rounded = if v.observed > v.limit {
        p.ceil()
    } else {
        p.floor()
    };
    format!("{:.1}%", rounded / 10.0)
}

/// A Unix time in ms as `2026-11-23 08:07 UTC`.
pub fn utc(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// The reply to a command that needs the daemon, given without it (the
/// command line).
pub fn needs_daemon(command: &Command) -> Rendered {
    sentence(&format!(
        "`{}` needs the running daemon; ask the bot in the admin room{}.",
        command.name(),
        match command {
            Command::Check => ", or run `synapse-warden check`",
            Command::Policies => ", or run `synapse-warden validate`",
            _ => "",
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::command::parse;
    use proptest::prelude::*;

    fn u(id: &str, name: Option<&str>, count: u64, length: Option<u64>) -> UserMedia {
        UserMedia {
            user_id: id.into(),
            displayname: name.map(str::to_owned),
            media_count: count,
            media_length: length,
        }
    }

    #[test]
    fn top_lists_users_with_humanized_sizes() {
        let users = [
            u("@alice:hs", Some("Alice"), 3, Some(300 * 1024)),
            u("@bob:hs", None, 1, None),
        ];
        let r = top(&TopView {
            n: 10,
            metric: MediaMetric::MediaLength,
            window: None,
            users: &users,
            total: 5,
            source: Source::Live,
        });
        assert_eq!(
            r.plain,
            "Top 10 users by media size (all uploads), asked Synapse just now:\n 1. @alice:hs (Alice) — 300.0 KiB, 3 media\n 2. @bob:hs — unknown size (pending upload), 1 media\n5 users have media; 3 more not shown."
        );
        assert_eq!(r.html.matches("<tr><td>").count(), 2);
        let r = top(&TopView {
            n: 5,
            metric: MediaMetric::MediaCount,
            window: Some(Duration::from_secs(7 * 86400)),
            users: &users[..1],
            total: 1,
            source: Source::LastWalk {
                age: Duration::from_secs(754),
            },
        });
        assert!(
            r.plain.starts_with(
                "Top 5 users by media count (uploads of the last 7d), from the last walk, 12m ago:"
            ),
            "{}",
            r.plain
        );
    }

    #[test]
    fn exact_user_and_search() {
        let alice = [u("@alice:hs", Some("<b>A</b>"), 2, Some(2048))];
        let q = UserQuery::Exact("@alice:hs".into());
        let r = user(&q, &alice, false, 10);
        assert_eq!(
            r.plain,
            "@alice:hs (<b>A</b>): 2.0 KiB in 2 media (all uploads)."
        );
        assert!(r.html.contains("&lt;b&gt;A&lt;/b&gt;"));
        let r = user(&q, &[], false, 10);
        assert!(r.plain.contains("has no local media"));
        let many: Vec<_> = (0..30)
            .map(|i| u(&format!("@a{i}:hs"), None, 1, Some(1)))
            .collect();
        let r = user(&UserQuery::Search("a".into()), &many, false, 10);
        assert!(
            r.plain.ends_with("… and 20 more; narrow the search."),
            "{}",
            r.plain
        );
        assert_eq!(r.html.matches("<tr><td>").count(), 10);
    }

    #[test]
    fn usage_names_the_error_and_escapes() {
        let e = match parse("!stats", "!stats top <script>") {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        };
        let r = usage("!stats", &e);
        assert!(
            r.plain
                .starts_with("Usage error: unknown field or window `<script>`")
        );
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn help_lists_every_command() {
        let r = help("!stats");
        for word in [
            "help", "top", "user", "rooms", "check", "policies", "status", "reload",
        ] {
            assert!(r.plain.contains(&format!("!stats {word}")), "{word}");
        }
        assert!(r.plain.contains("!stats top 5 media_count 7d"));
    }

    #[test]
    fn rooms_are_cut() {
        let rs: Vec<_> = (0..15)
            .map(|i| RoomSize {
                room_id: format!("!r{i}:hs"),
                estimated_size: 1 << 30,
            })
            .collect();
        let r = rooms(&rs, 10);
        assert!(r.plain.contains(" 1. !r0:hs — 1.0 GiB"));
        assert!(r.plain.ends_with("… and 5 more"));
    }

    #[test]
    fn status_lines() {
        let view = StatusView {
            last_run: Some(RunView {
                started_ms: 1_700_000_000_000,
                took_ms: 2_500,
                violations: Some(3),
                error: None,
                incomplete: None,
            }),
            next_run_ms: Some(1_700_000_000_000 + 3_600_000),
            synapse_outage: None,
            synapse: Health::Up("1.163.2".into()),
            matrix: Health::Up(String::new()),
            queued: 0,
        };
        let r = status(&view, 1_700_000_000_000 + 60_000);
        assert_eq!(
            r.plain,
            "Last run: 2023-11-14 22:13 UTC (1m ago, took 2s): 3 violations\nNext run: 2023-11-14 23:13 UTC (in 59m)\nSynapse: up (1.163.2)\nMatrix: up"
        );
        let mut partial = view.clone();
        if let Some(run) = partial.last_run.as_mut() {
            run.incomplete =
                Some("Synapse's next_token stopped advancing at 80 of 120 users".into());
        }
        let r = status(&partial, 1_700_000_000_000 + 60_000);
        assert!(
            r.plain.contains("\nThe last run was INCOMPLETE: Synapse's next_token stopped advancing at 80 of 120 users; open alerts"),
            "{}",
            r.plain
        );
    }

    proptest! {
        #[test]
        fn any_names_render_escaped(id in "\\PC{0,30}", name in proptest::option::of("\\PC{0,30}"), len in proptest::option::of(any::<u64>()), count in any::<u64>()) {
            let users = [u(&id, name.as_deref(), count, len)];
            let view = TopView { n: 1, metric: MediaMetric::MediaLength, window: None, users: &users, total: 1, source: Source::Live };
            let r = top(&view);
            prop_assert!(!r.html.contains("<script"));
            prop_assert_eq!(r.html.matches("<tr>").count(), 2);
            let r = user(&UserQuery::Search(id.clone()), &users, true, 1);
            prop_assert!(!r.html.contains("<script"));
        }

        #[test]
        fn usage_of_any_body_is_escaped(body in "\\PC{0,200}") {
            if let Some(Err(e)) = parse("!stats", &format!("!stats {body}")) {
                let r = usage("!stats", &e);
                prop_assert!(!r.html.contains("<script"));
                prop_assert!(r.plain.starts_with("Usage error: "));
            }
        }
    }
}
