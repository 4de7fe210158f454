//! Replies shared by every command: a bad command, a failure, a rate limit,
//! a command that needs the daemon.

use std::time::Duration;

use super::help::syntax;
use crate::core::commands::{self, BadCommand, Command};
use crate::core::doc::{Block, Doc, ERROR_CAP, Line, TERM_CAP};

/// A notice of the daemon's own: `line` after **synapse-warden**:, as one
/// paragraph (the daemon's notices and the refusals' reports).
pub(super) fn said(line: Line) -> Doc {
    Doc::paragraph(
        Line::new()
            .strong(Line::new().text("synapse-warden"))
            .text(": ")
            .append(line),
    )
}

/// The reply to a bad command: what was wrong, then the syntax of the
/// command it was for (or of every command) and where to read more.
pub fn usage(prefix: &str, bad: &BadCommand) -> Doc {
    let error = bad.error.to_string();
    let mut line = Line::new()
        .strong(Line::new().text("Usage error"))
        .text(": ")
        .outside(error.as_str(), ERROR_CAP);
    // "did you mean `top`?" ends the sentence already.
    if !error.ends_with('?') {
        line = line.text(".");
    }
    let what = Doc::paragraph(line);
    match bad.command.and_then(commands::spec) {
        Some(spec) => what
            .with(Block::Paragraph(
                Line::new().text("Usage: ").command(syntax(prefix, spec)),
            ))
            .with(Block::Paragraph(
                Line::new()
                    .text("See ")
                    .command(
                        Line::new()
                            .outside(prefix, TERM_CAP)
                            .text(" help ")
                            .text(spec.name),
                    )
                    .text(" for details and examples."),
            )),
        // An unknown command: the error names the closest commands; the
        // whole grammar on one line would bury them.
        None => what.with(Block::Paragraph(
            Line::new()
                .text("See ")
                .command(Line::new().outside(prefix, TERM_CAP).text(" help"))
                .text(" for every command."),
        )),
    }
}

/// A failure: what could not be done, and the error.
pub fn failure(what: &'static str, error: &str) -> Doc {
    Doc::paragraph(
        Line::new()
            .strong(Line::new().text(what))
            .text(": ")
            .outside(error, ERROR_CAP),
    )
}

/// The first command over the rate limit.
pub fn rate_limited(burst: u32, per: Duration) -> Doc {
    Doc::paragraph(
        Line::new()
            .text("Too many commands: at most ")
            .number(u64::from(burst))
            .text(" per ")
            .window(per)
            .text(". Later ones are ignored until then."),
    )
}

/// A command that needs the daemon, given on the command line.
pub fn needs_daemon(command: &Command) -> Doc {
    let mut line = Line::new()
        .command(Line::new().text(command.name()))
        .text(" needs the running daemon; ask the bot in the admin room");
    match command {
        Command::Check => {
            line = line
                .text(", or run ")
                .command(Line::new().text("synapse-warden check"));
        }
        Command::Policies => {
            line = line
                .text(", or run ")
                .command(Line::new().text("synapse-warden validate"));
        }
        _ => {}
    }
    Doc::paragraph(line.text("."))
}

/// A command that arrives while the daemon stops.
pub fn stopping() -> Doc {
    Doc::paragraph(Line::new().text("The daemon is stopping."))
}

/// `reload` done: what the daemon said.
pub fn reloaded(said: &str) -> Doc {
    Doc::paragraph(Line::new().outside(said, ERROR_CAP))
}

/// `reload` refused, and why.
pub fn not_reloaded(error: &str) -> Doc {
    failure("The policy file was not reloaded", error)
}

/// `check` failed, and why.
pub fn check_failed(error: &str) -> Doc {
    failure("The check failed", error)
}

/// `check` while a run is in progress: no run of its own, the result of
/// that run comes when it ends.
pub fn check_joined() -> Doc {
    Doc::paragraph(
        Line::new().text(
            "A run is in progress: its result will be posted here when it ends (no extra run).",
        ),
    )
}
