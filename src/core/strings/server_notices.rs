//! What the admins are told about server notices to users.

use crate::core::doc::{Block, Doc, ID_CAP, Line};
use crate::core::notice::Planned;

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

/// Notices Synapse took in this delivery.
pub fn sent(users: &[String]) -> Doc {
    let shown: Vec<Line> = users
        .iter()
        .take(20)
        .map(|u| Line::new().code(u.as_str(), ID_CAP))
        .collect();
    let mut line = Line::new()
        .strong(Line::new().text("synapse-warden"))
        .text(": notified ")
        .count(users.len() as u64, "user", "users")
        .text(" with a server notice: ")
        .append(Line::join(shown, ", "));
    if users.len() > 20 {
        line = line.append(super::and_more(users.len() - 20));
    }
    Doc::paragraph(line.text("."))
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
                .append(p.text.clone())
        })
        .collect();
    Doc::new()
        .with(Block::Heading(heading))
        .with(Block::Bullets(rows))
}
