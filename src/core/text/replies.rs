//! Replies to commands, for the Matrix bot and the terminal alike: what
//! each reply says — which lines, in which order, where a list is cut at
//! `max_lines` — as a [`Doc`]. The wording is in [`crate::core::text`];
//! how it is written (plain text, HTML, terminal), escaping included, in
//! [`crate::core::doc`]. Pure: the time is an argument.

use crate::core::commands::{BadCommand, Command, UserQuery};
use crate::core::doc::{Block, Doc, Line, Units};
use crate::core::engine::eval::{RoomsChecked, RunOutcome};
use crate::core::engine::rooms::{RoomRow, RoomsView};
use crate::core::model::usage::UserMedia;
use crate::core::model::violation::Severity;
use crate::core::policy::Rules;
use crate::core::text;

pub use crate::core::commands::answers::{Health, RunView, StatusView, TopSource, TopView};
pub use crate::core::doc::format::utc;

/// The grammar, with examples; with a topic, that command's help.
pub fn help(prefix: &str, topic: Option<&str>) -> Doc {
    match topic.and_then(crate::core::commands::spec) {
        Some(spec) => text::help::help_for(prefix, spec),
        None => text::help::help(prefix),
    }
}

/// The reply to a bad command: what was wrong, then the grammar in short.
pub fn usage(prefix: &str, error: &BadCommand) -> Doc {
    text::common::usage(prefix, error)
}

/// The answer to `top`.
pub fn top(view: &TopView<'_>) -> Doc {
    if view.users.is_empty() {
        return text::top::nobody(view.window);
    }
    Doc::paragraph(text::top::heading(
        view.n,
        view.metric,
        view.window,
        view.source,
    ))
    .with(Block::Numbered(
        view.users.iter().map(text::top::row).collect(),
    ))
    .with(Block::Paragraph(text::top::footer(
        view.total,
        view.users.len() as u64,
    )))
}

/// The answer to `user`: `users` are the matches (for an exact query, the
/// user or nothing); `more` says whether Synapse had more matches than
/// were read.
pub fn user(query: &UserQuery, users: &[UserMedia], more: bool, max_lines: usize) -> Doc {
    let max_lines = max_lines.max(1);
    match query {
        UserQuery::Exact(id) => match users.first() {
            Some(u) => Doc::paragraph(text::user::found(u)),
            None => text::user::not_found(id),
        },
        UserQuery::Search(term) => {
            if users.is_empty() {
                return text::user::no_match(term);
            }
            let mut doc = Doc::paragraph(text::user::matching(term)).with(Block::Bullets(
                users.iter().take(max_lines).map(text::user::row).collect(),
            ));
            let left_out = users.len().saturating_sub(max_lines);
            if left_out > 0 || more {
                doc.push(Block::Paragraph(text::user::more(left_out, more)));
            }
            doc
        }
    }
}

/// The answer to `rooms`: the ranked rooms (at most `max_lines`), where
/// the ranking comes from, the server's rooms and abandoned ones, and why
/// there are no sizes when there are none. Sizes in `units`.
pub fn rooms(view: &RoomsView, units: Units, max_lines: usize) -> Doc {
    let mut doc = Doc::new();
    if let Some(why) = &view.sizes_unavailable {
        doc.push(Block::Paragraph(text::rooms::no_sizes(why)));
    }
    if view.rows.is_empty() {
        doc.push(Block::Paragraph(text::rooms::no_room()));
        return doc;
    }
    let max_lines = max_lines.max(1);
    doc.push(Block::Paragraph(text::rooms::heading(view.source)));
    doc.push(Block::Numbered(
        view.rows
            .iter()
            .take(max_lines)
            .map(|r| text::rooms::row(r, units))
            .collect(),
    ));
    let left_out = view.rows.len().saturating_sub(max_lines);
    if left_out > 0 {
        doc.push(Block::Paragraph(text::and_more(left_out)));
    }
    doc.push(Block::Paragraph(text::rooms::totals(
        view.rooms,
        view.abandoned,
    )));
    doc
}

/// The answer to `rooms abandoned`: the rooms without a local member, most
/// state events first (at most `max_lines`).
pub fn rooms_abandoned(rows: &[RoomRow], max_lines: usize) -> Doc {
    if rows.is_empty() {
        return text::rooms::none_abandoned();
    }
    let max_lines = max_lines.max(1);
    let mut doc = Doc::paragraph(text::rooms::abandoned_heading(rows.len())).with(Block::Numbered(
        rows.iter()
            .take(max_lines)
            .map(|r| text::rooms::row(r, Units::default()))
            .collect(),
    ));
    let left_out = rows.len().saturating_sub(max_lines);
    if left_out > 0 {
        doc.push(Block::Paragraph(text::and_more(left_out)));
    }
    doc
}

/// The answer to `status`; `daemon` is false on the command line, which
/// has no run history.
pub fn status(view: &StatusView, now_ms: u64, daemon: bool) -> Doc {
    use text::status as s;
    let mut lines = vec![s::last_run(view.last_run.as_ref(), now_ms)];
    if let Some(cause) = view.last_run.as_ref().and_then(|r| r.incomplete.as_ref()) {
        lines.push(s::incomplete(cause));
    }
    if let Some(source) = view.last_run.as_ref().and_then(|r| r.source.as_ref()) {
        lines.push(text::check::users_source(source));
    }
    lines.push(s::next_run(view.next_run_ms, now_ms));
    if let Some((since, error)) = &view.synapse_outage {
        lines.push(s::outage(*since, error));
    }
    lines.push(s::synapse(&view.synapse));
    if let Some(issuer) = &view.delegated_auth {
        lines.push(s::delegated_auth(issuer));
    }
    lines.push(s::matrix(&view.matrix));
    if view.queued > 0 {
        lines.push(s::queued(view.queued));
    }
    let mut doc = Doc::new().with(Block::Bullets(lines));
    if !daemon {
        doc.push(Block::Paragraph(s::no_daemon()));
    }
    doc
}

/// The answer to `policies`.
pub fn policies(rules: &Rules) -> Doc {
    let lines: Vec<Line> = rules
        .user_media
        .iter()
        .map(text::policies::user_rule)
        .chain(rules.rooms.iter().map(text::policies::room_rule))
        .collect();
    let mut doc = Doc::new().with(Block::Heading(text::policies::heading(lines.len())));
    if !lines.is_empty() {
        doc.push(Block::Bullets(lines));
    }
    for block in text::overrides::overrides(rules) {
        doc.push(block);
    }
    doc
}

/// The answer to `check`: every violation of a run, cut at `max_lines`.
pub fn check(outcome: &RunOutcome, max_lines: usize) -> Doc {
    use text::check as s;
    let max_lines = max_lines.max(1);
    let critical = outcome
        .violations
        .iter()
        .filter(|v| v.severity == Severity::Critical)
        .count();
    let mut doc = Doc::paragraph(s::heading(
        outcome.violations.len(),
        critical,
        outcome.rules,
    ));
    if !outcome.violations.is_empty() {
        doc.push(Block::Bullets(
            outcome
                .violations
                .iter()
                .take(max_lines)
                .map(s::row)
                .collect(),
        ));
        let left_out = outcome.violations.len().saturating_sub(max_lines);
        if left_out > 0 {
            doc.push(Block::Paragraph(s::more(left_out)));
        }
    }
    if let RoomsChecked::Unavailable { reason }
    | RoomsChecked::Checked {
        sizes_unavailable: Some(reason),
        ..
    } = &outcome.rooms
    {
        doc.push(Block::Paragraph(s::rooms_unchecked(reason)));
    }
    for note in &outcome.notes {
        doc.push(Block::Paragraph(s::note(note)));
    }
    doc
}

/// The reply to a command that needs the daemon, given without it (the
/// command line).
pub fn needs_daemon(command: &Command) -> Doc {
    text::common::needs_daemon(command)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::commands::parse;
    use crate::core::model::usage::MediaMetric;

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
            source: TopSource::Live,
        });
        assert_eq!(
            r.plain(),
            "Top 10 users by media size (all uploads), asked Synapse just now:\n 1. @alice:hs (Alice) — 300.0 KiB, 3 media\n 2. @bob:hs — unknown size (pending upload), 1 media\n5 users have media; 3 more not shown."
        );
        assert_eq!(r.html().matches("<li>").count(), 2);
        let r = top(&TopView {
            n: 5,
            metric: MediaMetric::MediaCount,
            window: Some(Duration::from_secs(7 * 86400)),
            users: &users[..1],
            total: 1,
            source: TopSource::LastWalk {
                age: Duration::from_secs(754),
            },
        });
        assert_eq!(
            r.plain(),
            "Top 5 users by media count (uploads of the last 7d), from the last walk, 12m ago:\n 1. @alice:hs (Alice) — 300.0 KiB, 3 media\n1 user has media."
        );
    }

    #[test]
    fn exact_user_and_search() {
        let alice = [u("@alice:hs", Some("<b>A</b>"), 2, Some(2048))];
        let q = UserQuery::Exact("@alice:hs".into());
        let r = user(&q, &alice, false, 10);
        assert_eq!(
            r.plain(),
            "@alice:hs (<b>A</b>): 2.0 KiB in 2 media (all uploads)."
        );
        assert!(r.html().contains("(&lt;b&gt;A&lt;/b&gt;)"));
        let r = user(&q, &[], false, 10);
        assert!(r.plain().contains("has no local media"));
        let many: Vec<_> = (0..30)
            .map(|i| u(&format!("@a{i}:hs"), None, 1, Some(1)))
            .collect();
        let r = user(&UserQuery::Search("a".into()), &many, false, 10);
        assert!(
            r.plain().ends_with("… and 20 more; narrow the search."),
            "{}",
            r.plain()
        );
        assert_eq!(r.html().matches("<li>").count(), 10);
        let r = user(&UserQuery::Search("a".into()), &many[..2], true, 10);
        assert!(
            r.plain()
                .ends_with("… and others not read; narrow the search."),
            "{}",
            r.plain()
        );
    }

    #[test]
    fn usage_names_the_error_and_escapes() {
        let e = match parse("!stats", "!stats top <script>") {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        };
        let r = usage("!stats", &e);
        assert!(
            r.plain()
                .starts_with("Usage error: unknown field or window `<script>`")
        );
        assert!(!r.html().contains("<script>"));
        assert!(r.html().contains("&lt;script&gt;"));
    }

    #[test]
    fn help_lists_every_command() {
        let r = help("!stats", None).plain();
        for spec in crate::core::commands::COMMANDS {
            assert!(
                r.contains(&format!("`!stats {}", spec.name)),
                "{}",
                spec.name
            );
        }
        assert!(r.contains("`!stats top 10 media_length`"));
        assert!(r.contains("`!stats confirm K7Q2XP`"));
        // Every example is in the help of its command.
        for spec in crate::core::commands::COMMANDS {
            let one = help("!stats", Some(spec.name)).plain();
            for e in spec.examples {
                assert!(one.contains(&format!("`!stats {e}`")), "{e}");
            }
        }
    }

    #[test]
    fn rooms_are_cut() {
        use crate::core::model::rooms::{RoomSizes, RoomSource};
        use crate::core::model::usage::RoomSize;
        let sizes = RoomSizes {
            source: RoomSource::SynapseEstimate,
            rooms: (0..15)
                .map(|i| RoomSize {
                    room_id: format!("!r{i}:hs"),
                    estimated_size: 1 << 30,
                })
                .collect(),
            asked: 15,
        };
        let view = crate::core::engine::rooms::view(Ok(sizes), &[]);
        let r = rooms(&view, Units::default(), 10).plain();
        assert!(r.contains(" 1. room !r0:hs — 1.0 GiB"), "{r}");
        assert!(r.contains("… and 5 more"), "{r}");
        assert!(
            r.ends_with("0 rooms on the server, 0 without a local member."),
            "{r}"
        );
    }

    #[test]
    fn status_lines() {
        let view = StatusView {
            last_run: Some(RunView {
                started_ms: 1_700_000_000_000,
                took_ms: 2_500,
                violations: Some(3),
                silenced: 0,
                error: None,
                incomplete: None,
                source: None,
            }),
            next_run_ms: Some(1_700_000_000_000 + 3_600_000),
            synapse_outage: None,
            synapse: Health::Up("1.163.2".into()),
            delegated_auth: None,
            matrix: Health::Up(String::new()),
            queued: 0,
        };
        let r = status(&view, 1_700_000_000_000 + 60_000, true);
        assert_eq!(
            r.plain(),
            "• Last run: 2023-11-14 22:13 UTC (1m ago, took 2s): 3 violations\n• Next run: 2023-11-14 23:13 UTC (in 59m)\n• Synapse: up (1.163.2)\n• Matrix: up"
        );
        let mut partial = view.clone();
        if let Some(run) = partial.last_run.as_mut() {
            run.incomplete =
                Some("Synapse's next_token stopped advancing at 80 of 120 users".into());
        }
        let r = status(&partial, 1_700_000_000_000 + 60_000, true);
        assert!(
            r.plain().contains("\n• The last run was INCOMPLETE: Synapse's next_token stopped advancing at 80 of 120 users; open alerts"),
            "{}",
            r.plain()
        );
    }
}
