//! `media`, `purge`, `quarantine`, `purge-remote`, `confirm`: listings,
//! previews, confirmations, progress and reports (the room commands' own
//! parts are in [`super::room_cleanup`]).

use std::time::Duration;

use crate::core::commands::actions::{
    ActionKind, ActionOutcome, ConfirmRefusal, Listing, Media, MediaFilter, MediaOrder, Pending,
    Preview,
};
use crate::core::doc::{Block, Doc, ERROR_CAP, ID_CAP, Line, NAME_CAP, TERM_CAP, Units};

/// Sizes of media are tied to no rule.
const UNITS: Units = Units::Binary;

fn user(id: &str) -> Line {
    Line::new().user(id, None)
}

/// ` older than 90d, larger than 10.0 MiB` (or nothing).
fn filter(f: &MediaFilter) -> Line {
    let mut line = Line::new();
    if let Some(d) = f.older_than {
        line = if d.is_zero() {
            line.text(" of any age")
        } else {
            line.text(" older than ").window(d)
        };
        if f.larger_than.is_some() {
            line = line.text(" and");
        }
    }
    if let Some(s) = f.larger_than {
        // In the family it was most likely typed in: `10 MB` or `10 MiB`.
        let units = if s % 1024 == 0 {
            Units::Binary
        } else {
            Units::Decimal
        };
        line = line.text(" larger than ").size(s, units);
    }
    line
}

/// One media: `12.0 MiB — 2026-08-01 — holiday.jpg (AbCdEf)`.
fn item(m: &Media) -> Line {
    let mut line = Line::new()
        .size(m.media_length, UNITS)
        .text(" — ")
        .date(m.created_ts)
        .text(" — ");
    if let Some(name) = m.upload_name.as_deref().filter(|n| !n.is_empty()) {
        line = line.outside(name, NAME_CAP).text(" ");
    }
    line = line.text("(").code(m.media_id.as_str(), ID_CAP).text(")");
    if m.quarantined {
        line = line.text(" [quarantined]");
    }
    line
}

/// `3 media, 12.0 MiB`.
fn count_and_size(count: u64, bytes: u64) -> Line {
    Line::new()
        .count(count, "media", "media")
        .text(", ")
        .size(bytes, UNITS)
}

/// The answer to `media`.
pub fn listing(l: &Listing) -> Doc {
    let mut heading = Line::new()
        .text("Media of ")
        .append(user(&l.user_id))
        .append(filter(&l.filter))
        .text(": ")
        .strong(count_and_size(l.matching.count, l.matching.bytes));
    if l.filter != MediaFilter::default() {
        heading = heading
            .text(" (of ")
            .append(count_and_size(l.all.count, l.all.bytes))
            .text(" in all)");
    }
    let mut doc = Doc::new().with(Block::Heading(heading.text(".")));
    if l.shown.is_empty() {
        return doc;
    }
    doc.push(Block::Paragraph(Line::new().text(match l.order {
        MediaOrder::Largest => "Largest first:",
        MediaOrder::Oldest => "Oldest first:",
    })));
    doc.push(Block::Numbered(l.shown.iter().map(item).collect()));
    if let (Some(old), Some(new)) = (l.matching.oldest_ms, l.matching.newest_ms) {
        let left = l.matching.count.saturating_sub(l.shown.len() as u64);
        let mut line = Line::new();
        if left > 0 {
            line = super::and_more(left as usize).text(". ");
        }
        doc.push(Block::Paragraph(
            line.text("Uploaded from ")
                .date(old)
                .text(" to ")
                .date(new)
                .text("."),
        ));
    }
    doc
}

/// Actions are off in the policy file.
pub fn disabled() -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Clean-up actions are off. Set ")
            .command(Line::new().text("actions.enabled: true"))
            .text(" in the policy file to purge or quarantine media (with a preview and a confirmation)."),
    )
}

/// The sender lacks the power level to act.
pub fn not_allowed(needed: i64) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Only members with power level ")
            .number(u64::try_from(needed).unwrap_or(0))
            .text(" or more in this room (")
            .command(Line::new().text("matrix.action_power_level"))
            .text(") may ask for or confirm clean-up actions. Nothing was done."),
    )
}

fn what(kind: &ActionKind) -> Line {
    match kind {
        ActionKind::Purge { user_id, filter: f } => Line::new()
            .text("delete media of ")
            .append(user(user_id))
            .append(filter(f)),
        ActionKind::Quarantine { user_id } => Line::new()
            .text("quarantine the media of ")
            .append(user(user_id)),
        ActionKind::PurgeRemote { older_than } => Line::new()
            .text("purge the remote media cache of media not accessed for ")
            .window(*older_than),
        ActionKind::PurgeDeactivated { older_than } => Line::new()
            .text("delete the media of deactivated users")
            .append(filter(&MediaFilter {
                older_than: *older_than,
                larger_than: None,
            })),
        _ => super::room_cleanup::what(kind),
    }
}

/// A purge or quarantine matching nothing: no code.
pub fn nothing_to_do(kind: &ActionKind) -> Doc {
    if matches!(kind, ActionKind::DeleteAbandoned) {
        return Doc::paragraph(Line::new().text(
            "Nothing to do: every room has a local member (the admin room is never counted). Nothing was done.",
        ));
    }
    Doc::paragraph(
        Line::new()
            .text("Nothing to do: no media matches (")
            .append(what(kind))
            .text("). Nothing was done."),
    )
}

/// The preview body, shared by the room and the command line.
fn preview_body(p: &Preview) -> Doc {
    if is_room_kind(&p.kind) {
        return super::room_cleanup::preview_body(p);
    }
    let mut doc = Doc::new().with(Block::Heading(
        Line::new()
            .text("Preview: ")
            .append(what(&p.kind))
            .text("."),
    ));
    if let Some(before) = p.before_ms {
        doc.push(Block::Paragraph(
            Line::new()
                .text("Remote media last accessed before ")
                .time(before)
                .text(
                    " would be removed from the cache (they are fetched again when needed). \
                     Synapse cannot tell beforehand how many files or bytes this frees.",
                ),
        ));
        return doc;
    }
    let mut line = Line::new()
        .strong(count_and_size(p.totals.count, p.totals.bytes))
        .text(".");
    if let (Some(old), Some(new)) = (p.totals.oldest_ms, p.totals.newest_ms) {
        line = line
            .text(" Oldest uploaded ")
            .date(old)
            .text(", newest ")
            .date(new)
            .text(".");
    }
    doc.push(Block::Paragraph(line));
    if !p.users.is_empty() {
        doc.push(Block::Paragraph(
            Line::new()
                .text("Of ")
                .count(
                    p.users.len() as u64,
                    "deactivated user",
                    "deactivated users",
                )
                .text(":"),
        ));
        let mut lines: Vec<Line> = p
            .users
            .iter()
            .take(crate::core::commands::actions::PREVIEW_ROOMS)
            .map(|(u, t)| user(u).text(": ").append(count_and_size(t.count, t.bytes)))
            .collect();
        if p.users.len() > crate::core::commands::actions::PREVIEW_ROOMS {
            lines.push(super::and_more(
                p.users.len() - crate::core::commands::actions::PREVIEW_ROOMS,
            ));
        }
        doc.push(Block::Numbered(lines));
    }
    doc.push(Block::Paragraph(Line::new().text("The largest:")));
    doc.push(Block::Numbered(p.largest().iter().map(item).collect()));
    doc
}

/// A preview in the room, with its code.
pub fn preview(prefix: &str, pending: &Pending, valid_for: Duration) -> Doc {
    let p = &pending.preview;
    let scope = if is_room_kind(&p.kind) {
        super::room_cleanup::scope(p)
    } else if p.before_ms.is_some() {
        Line::new().text("To carry it out")
    } else {
        Line::new()
            .text("To act on exactly the ")
            .count(p.totals.count, "media", "media")
            .text(" listed")
    };
    preview_body(p).with(Block::Paragraph(
        scope
            .text(", send ")
            .command(
                Line::new()
                    .outside(prefix, TERM_CAP)
                    .text(" confirm ")
                    .outside(pending.code.as_str(), TERM_CAP),
            )
            .text(" within ")
            .window(valid_for)
            .text(" (a member with the power level to act). Nothing is done until then."),
    ))
}

/// A preview on the command line.
pub fn preview_cli(p: &Preview) -> Doc {
    preview_body(p).with(Block::Paragraph(
        Line::new()
            .text("Nothing was done. Run the same command with ")
            .command(Line::new().text("--yes"))
            .text(" to carry it out."),
    ))
}

/// `confirm` on the command line, where no preview waits.
pub fn confirm_on_cli() -> Doc {
    Doc::paragraph(
        Line::new()
            .command(Line::new().text("confirm"))
            .text(" answers a preview in the admin room. On the command line, run the action again with ")
            .command(Line::new().text("--yes"))
            .text(" to carry it out. Nothing was done."),
    )
}

/// A confirmation that does nothing.
pub fn refused(r: &ConfirmRefusal) -> Doc {
    match r {
        ConfirmRefusal::NotAllowed { needed } => not_allowed(*needed),
        ConfirmRefusal::UnknownCode => {
            Doc::paragraph(Line::new().text(
                "No preview waits for this code (mistyped, or already used). Nothing was done.",
            ))
        }
        ConfirmRefusal::Expired { at_ms } => Doc::paragraph(
            Line::new()
                .text("This code expired at ")
                .time(*at_ms)
                .text(". Nothing was done; ask for a new preview."),
        ),
    }
}

/// Progress of a long action.
pub fn progress(done: usize, total: usize) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Working: ")
            .number(done as u64)
            .text(" of ")
            .count(total as u64, "media", "media")
            .text(" done…"),
    )
}

/// The final report; `by` is who confirmed (absent on the command line).
pub fn report(kind: &ActionKind, o: &ActionOutcome, by: Option<&str>, max_lines: usize) -> Doc {
    let done = match kind {
        ActionKind::Purge { user_id, .. } => Line::new()
            .text("deleted ")
            .strong(count_and_size(o.done, o.bytes))
            .text(" of ")
            .append(user(user_id)),
        ActionKind::Quarantine { user_id } => Line::new()
            .text("quarantined ")
            .strong(count_and_size(o.done, o.bytes))
            .text(" of ")
            .append(user(user_id)),
        ActionKind::PurgeRemote { .. } => Line::new()
            .text("purged the remote media cache: Synapse removed ")
            .strong(Line::new().count(o.remote_deleted.unwrap_or(0), "media", "media")),
        ActionKind::PurgeDeactivated { .. } => Line::new()
            .text("deleted ")
            .strong(count_and_size(o.done, o.bytes))
            .text(" of deactivated users"),
        _ => super::room_cleanup::done(kind, o),
    };
    let mut heading = Line::new().text("Done: ").append(done);
    if let Some(by) = by {
        heading = heading.text(", confirmed by ").append(user(by));
    }
    let mut doc = Doc::new().with(Block::Heading(heading.text(".")));
    if let Some(kept) = super::room_cleanup::kept(o, max_lines) {
        doc.push(Block::Paragraph(super::room_cleanup::kept_heading(o)));
        doc.push(kept);
    }
    if !o.failed.is_empty() {
        let (one, many) = if is_room_kind(kind) {
            ("room", "rooms")
        } else {
            ("media", "media")
        };
        doc.push(Block::Paragraph(
            Line::new()
                .count(o.failed.len() as u64, one, many)
                .text(" failed:"),
        ));
        let mut lines: Vec<Line> = o
            .failed
            .iter()
            .take(max_lines)
            .map(|(id, why)| {
                Line::new()
                    .code(id.as_str(), ID_CAP)
                    .text(": ")
                    .outside(why.as_str(), ERROR_CAP)
            })
            .collect();
        if o.failed.len() > max_lines {
            lines.push(super::and_more(o.failed.len() - max_lines));
        }
        doc.push(Block::Bullets(lines));
    }
    doc
}

/// Whether `kind` acts on rooms (its wordings are in
/// [`super::room_cleanup`]).
fn is_room_kind(kind: &ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::DeleteRoom { .. }
            | ActionKind::PurgeHistory { .. }
            | ActionKind::DeleteAbandoned
    )
}

/// Synapse does not know the user.
pub fn unknown_user(id: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .code(id, ID_CAP)
            .text(" is not a user of this server (Synapse: unknown user). Nothing was done."),
    )
}

/// A user of another server.
pub fn remote_user(id: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .code(id, ID_CAP)
            .text(" is a user of another server: only local users' media can be listed or cleaned up. Nothing was done."),
    )
}

/// Synapse failed or refused.
pub fn failed(error: &str) -> Doc {
    super::common::failure("Synapse refused or failed; nothing was done", error)
}

/// The audit log cannot be written: nothing is done without it.
pub fn no_audit_log(error: &str) -> Doc {
    super::common::failure(
        "The audit log cannot be written, so nothing was done",
        error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Doc;

    #[test]
    fn a_zero_age_reads_as_any_age() {
        let plain = |f: MediaFilter| Doc::paragraph(filter(&f)).plain();
        let zero = MediaFilter {
            older_than: Some(std::time::Duration::ZERO),
            larger_than: None,
        };
        assert_eq!(plain(zero), " of any age");
        let week = MediaFilter {
            older_than: Some(std::time::Duration::from_secs(7 * 86_400)),
            larger_than: None,
        };
        assert_eq!(plain(week), " older than 7d");
    }
}
