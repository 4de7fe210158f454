//! `help [COMMAND]`: every command's syntax, or one command's details and examples.

use super::*;

/// `help`.
pub(super) const HELP: Spec = Spec {
    name: "help",
    aliases: &["-h", "--help"],
    args: "[COMMAND]",
    summary: "this help; with a command, its syntax, details and examples",
    details: "",
    examples: &["help", "help silence"],
    max_args: 1,
    parse: parse_help,
    is: |c| matches!(c, Command::Help(_)),
};

pub(super) fn parse_help(args: &[&str]) -> Result<Command, UsageError> {
    match args.first() {
        None => Ok(Command::Help(None)),
        Some(topic) => spec(topic)
            .map(|s| Command::Help(Some(s.name)))
            .ok_or_else(|| UsageError::UnknownTopic(echo(topic))),
    }
}
