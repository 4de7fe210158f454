//! `help`: the grammar, with examples — all of it read from the table of
//! commands ([`crate::core::commands::COMMANDS`]).

use crate::core::commands::{COMMANDS, Spec};
use crate::core::doc::{Block, Doc, Line, TERM_CAP};

/// `!stats top [N] ...`: a command's syntax with the prefix.
pub fn syntax(prefix: &str, spec: &Spec) -> Line {
    let line = Line::new()
        .outside(prefix, TERM_CAP)
        .text(" ")
        .text(spec.name);
    if spec.args.is_empty() {
        line
    } else {
        line.text(" ").text(spec.args)
    }
}

fn example(prefix: &str, words: &'static str) -> Line {
    Line::new().command(Line::new().outside(prefix, TERM_CAP).text(" ").text(words))
}

/// The syntax of every command, for usage errors.
pub fn syntaxes(prefix: &str) -> Vec<Line> {
    COMMANDS.iter().map(|s| syntax(prefix, s)).collect()
}

/// The help: every command's syntax and what it does.
pub fn help(prefix: &str) -> Doc {
    let rows = COMMANDS
        .iter()
        .map(|s| {
            Line::new()
                .command(syntax(prefix, s))
                .text(" — ")
                .text(s.summary)
        })
        .collect();
    let examples = COMMANDS
        .iter()
        .filter(|s| !s.args.is_empty() && s.name != "help")
        .filter_map(|s| s.examples.first())
        .map(|e| example(prefix, e));
    Doc::new()
        .with(Block::Heading(Line::new().text("synapse-warden commands:")))
        .with(Block::Bullets(rows))
        .with(Block::Paragraph(
            Line::new()
                .text("Examples: ")
                .append(Line::join(examples, " · ")),
        ))
        .with(Block::Paragraph(more_help(prefix)))
}

/// `See !stats help <command> for details.`
fn more_help(prefix: &str) -> Line {
    Line::new()
        .text("See ")
        .command(
            Line::new()
                .outside(prefix, TERM_CAP)
                .text(" help <command>"),
        )
        .text(" for a command's details and examples.")
}

/// `help <command>`: its syntax, what it does, details and examples.
pub fn help_for(prefix: &str, spec: &Spec) -> Doc {
    let mut doc = Doc::new()
        .with(Block::Heading(Line::new().command(syntax(prefix, spec))))
        .with(Block::Paragraph(Line::new().text(spec.summary).text(".")));
    if !spec.details.is_empty() {
        doc.push(Block::Paragraph(Line::new().text(spec.details)));
    }
    if !spec.aliases.is_empty() {
        doc.push(Block::Paragraph(
            Line::new().text("Also: ").append(Line::join(
                spec.aliases
                    .iter()
                    .map(|a| Line::new().command(Line::new().text(a))),
                ", ",
            )),
        ));
    }
    doc.push(Block::Paragraph(Line::new().text("Examples:")));
    doc.push(Block::Bullets(
        spec.examples.iter().map(|e| example(prefix, e)).collect(),
    ));
    doc
}
