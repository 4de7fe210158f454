//! What the admins are told about server notices to users.

use crate::core::alerting::server_notices::{NoticeTally, Planned};
use crate::core::doc::{Block, Doc, ERROR_CAP, ID_CAP, Line};
use crate::core::model::violation::{Subject, Violation};
use crate::core::policy::notify_user::{MAX_TEMPLATE, Part, Placeholder, Template};

/// Synapse has no `server_notices`: said once, with the lines to add.
pub fn disabled(dropped: usize) -> Doc {
    Doc::new()
        .with(Block::Paragraph(
            Line::new()
                .strong(Line::new().text("synapse-warden"))
                .text(": Synapse does not send server notices, so ")
                .count(dropped as u64, "user notice", "user notices")
                .text(" (")
                .command(Line::new().text("notify_user"))
                .text(") could not be delivered; alerts go on. To enable them, add to Synapse's ")
                .command(Line::new().text("homeserver.yaml"))
                .text(" and restart it:"),
        ))
        .with(Block::Code(vec![
            Line::new().text("server_notices:"),
            Line::new().text("  system_mxid_localpart: notices"),
        ]))
}

fn users(users: &[String]) -> Line {
    let shown: Vec<Line> = users
        .iter()
        .take(20)
        .map(|u| Line::new().code(u.as_str(), ID_CAP))
        .collect();
    let mut line = Line::join(shown, ", ");
    if users.len() > 20 {
        line = line.append(super::and_more(users.len() - 20));
    }
    line
}

/// The line of a run's summary on its server notices: `Server notices:
/// notified 3 users: ...; 1 waiting for Synapse: ...`.
pub fn summary_line(t: &NoticeTally) -> Line {
    let mut parts = Vec::new();
    if !t.notified.is_empty() {
        parts.push(
            Line::new()
                .text("notified ")
                .count(t.notified.len() as u64, "user", "users")
                .text(": ")
                .append(users(&t.notified)),
        );
    }
    if !t.waiting.is_empty() {
        parts.push(
            Line::new()
                .number(t.waiting.len() as u64)
                .text(" waiting for Synapse (sent when it answers): ")
                .append(users(&t.waiting)),
        );
    }
    if !t.refused.is_empty() {
        let refused: Vec<Line> = t
            .refused
            .iter()
            .take(20)
            .map(|(u, why)| {
                Line::new()
                    .code(u.as_str(), ID_CAP)
                    .text(" (")
                    .outside(why.as_str(), ERROR_CAP)
                    .text(")")
            })
            .collect();
        let mut line = Line::new()
            .number(t.refused.len() as u64)
            .text(" refused by Synapse: ")
            .append(Line::join(refused, ", "));
        if t.refused.len() > 20 {
            line = line.append(super::and_more(t.refused.len() - 20));
        }
        parts.push(line);
    }
    if !t.disabled.is_empty() {
        parts.push(
            Line::new()
                .number(t.disabled.len() as u64)
                .text(" not sent, as Synapse has no server notices: ")
                .append(users(&t.disabled)),
        );
    }
    Line::new()
        .text("Server notices: ")
        .append(Line::join(parts, "; "))
        .text(".")
}

/// Notices that had been waiting for Synapse, taken now.
pub fn sent_late(users_: &[String]) -> Doc {
    Doc::paragraph(
        Line::new()
            .strong(Line::new().text("synapse-warden"))
            .text(": notified ")
            .count(users_.len() as u64, "user", "users")
            .text(" with a server notice that was waiting for Synapse: ")
            .append(users(users_))
            .text("."),
    )
}

/// `check --notify`: who would get which text.
pub fn preview(planned: &[Planned]) -> Doc {
    if planned.is_empty() {
        return Doc::paragraph(
            Line::new()
                .text("No server notice would be sent (no rule with notify_user is broken)."),
        );
    }
    let heading = Line::new()
        .text("Server notices this run would send (none was sent): ")
        .count(planned.len() as u64, "user", "users")
        .text(".");
    let rows = planned
        .iter()
        .map(|p| {
            Line::new()
                .code(p.user_id.as_str(), ID_CAP)
                .text(" (")
                .append(super::rule(&p.rule))
                .text("): ")
                .append(notice(&p.message, &p.violation))
        })
        .collect();
    Doc::new()
        .with(Block::Heading(heading))
        .with(Block::Bullets(rows))
}

/// A server notice's text: the rule's template filled in with the
/// violation's values, the admin's words as outside text (neutralised like
/// every other), the values typed.
pub fn notice(template: &Template, v: &Violation) -> Line {
    let mut line = Line::new();
    for part in template.parts() {
        line = match part {
            Part::Text(t) => line.outside(t.as_str(), MAX_TEMPLATE),
            Part::Value(Placeholder::User) => line.append(user_id(v)),
            Part::Value(Placeholder::Usage) => {
                line.append(super::amount(v.measure, v.observed, v.units))
            }
            Part::Value(Placeholder::Limit) => {
                line.append(super::amount(v.measure, v.limit, v.units))
            }
            Part::Value(Placeholder::Percent) => line.share(v.observed, v.limit),
            Part::Value(Placeholder::Rule) => line.outside(&*v.rule, 100),
        };
    }
    line
}

/// [`notice`] planned for a user.
pub fn planned(p: &Planned) -> Line {
    notice(&p.message, &p.violation)
}

fn user_id(v: &Violation) -> Line {
    match &v.subject {
        Subject::User { user_id, .. } => Line::new().outside(user_id.as_str(), ID_CAP),
        Subject::Room { room_id } => Line::new().outside(room_id.as_str(), ID_CAP),
    }
}

#[cfg(test)]
mod tests;
