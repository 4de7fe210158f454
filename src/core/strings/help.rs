//! `help`: the grammar, with examples.

use crate::core::command::MAX_TOP;
use crate::core::doc::{Block, Doc, Line, TERM_CAP};

fn prefixed(prefix: &str, rest: &'static str) -> Line {
    Line::new().outside(prefix, TERM_CAP).text(rest)
}

/// Each command's syntax and what it does.
fn grammar(prefix: &str) -> Vec<(Line, Line)> {
    vec![
        (prefixed(prefix, " help"), Line::new().text("this help")),
        (
            prefixed(prefix, " top [N] [media_length|media_count] [WINDOW]"),
            Line::new()
                .text("the N (1 to ")
                .number(u64::from(MAX_TOP))
                .text(
                    ", default 10) users with the most media, by size or count, \
                     optionally only uploads of the last WINDOW (e.g. 7d, 24h)",
                ),
        ),
        (
            prefixed(prefix, " user <@user:server | search term>"),
            Line::new()
                .text("one user's media usage, or the users whose ID or name contains the term"),
        ),
        (
            prefixed(prefix, " rooms"),
            Line::new().text("the largest rooms (needs Synapse on PostgreSQL)"),
        ),
        (
            prefixed(prefix, " check"),
            Line::new().text("run the policies now"),
        ),
        (
            prefixed(prefix, " policies"),
            Line::new().text("the rules in force"),
        ),
        (
            prefixed(prefix, " status"),
            Line::new().text("last run, next run, last error, health"),
        ),
        (
            prefixed(prefix, " reload"),
            Line::new().text("re-read the policy file"),
        ),
        (
            prefixed(prefix, " trend [@user:server] [WINDOW]"),
            Line::new().text(
                "the media store's (or a user's) size over the last WINDOW (default 30d), \
                 growth per day, forecast, and a chart",
            ),
        ),
        (
            prefixed(prefix, " growth [WINDOW] [N]"),
            Line::new().text(
                "the N users whose stored media grew the most over the last WINDOW (default 7d)",
            ),
        ),
        (
            prefixed(
                prefix,
                " media @user:server [older-than D] [larger-than S] [limit N] [oldest]",
            ),
            Line::new().text("a user's media, largest (or oldest) first, with totals"),
        ),
        (
            prefixed(prefix, " purge @user:server [older-than D] [larger-than S]"),
            Line::new().text("preview deleting a user's media; confirm with the code"),
        ),
        (
            prefixed(prefix, " quarantine @user:server"),
            Line::new().text("preview quarantining a user's media; confirm with the code"),
        ),
        (
            prefixed(prefix, " purge-remote older-than D"),
            Line::new().text("preview purging the remote media cache; confirm with the code"),
        ),
        (
            prefixed(prefix, " confirm CODE"),
            Line::new().text(
                "carry out a preview (power level matrix.action_power_level; actions.enabled)",
            ),
        ),
    ]
}

/// The syntax of every command, for usage errors.
pub fn syntaxes(prefix: &str) -> Vec<Line> {
    grammar(prefix).into_iter().map(|(s, _)| s).collect()
}

/// The help.
pub fn help(prefix: &str) -> Doc {
    let rows = grammar(prefix)
        .into_iter()
        .map(|(syntax, what)| Line::new().command(syntax).text(" — ").append(what))
        .collect();
    let examples = [
        prefixed(prefix, " top 10 media_length"),
        prefixed(prefix, " top 5 media_count 7d"),
        prefixed(prefix, " user @alice:example.org"),
    ]
    .into_iter()
    .map(|e| Line::new().command(e));
    Doc::new()
        .with(Block::Heading(Line::new().text("synapse-warden commands:")))
        .with(Block::Bullets(rows))
        .with(Block::Paragraph(
            Line::new()
                .text("Examples: ")
                .append(Line::join(examples, " · ")),
        ))
}
