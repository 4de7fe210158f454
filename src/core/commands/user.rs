//! `user <@user:server | search term>`: one user's usage, or a search.

use super::*;

/// `user`.
pub(super) const USER: Spec = Spec {
    name: "user",
    aliases: &[],
    args: "<@user:server | search term>",
    summary: "one user's media usage, or the users whose ID or name contains the term",
    details: "A full user ID is matched exactly; anything else is a search (ASCII only, \
              as Synapse requires).",
    examples: &["user @alice:example.org", "user ali"],
    max_args: 1,
    parse: parse_user,
    is: |c| matches!(c, Command::User(_)),
};

pub(super) fn parse_user(args: &[&str]) -> Result<Command, UsageError> {
    let (term, extra) = match args {
        [] => return Err(UsageError::MissingUser),
        [term] => (*term, None),
        [term, extra, ..] => (*term, Some(*extra)),
    };
    if let Some(extra) = extra {
        return Err(UsageError::UnexpectedArgument {
            command: "user",
            expected: "one user ID or search term",
            extra: echo(extra),
        });
    }
    if term.starts_with('@') {
        if is_user_id(term) {
            Ok(Command::User(UserQuery::Exact(term.to_owned())))
        } else {
            Err(UsageError::BadUserId(echo(term)))
        }
    } else if term.is_ascii() {
        Ok(Command::User(UserQuery::Search(term.to_owned())))
    } else {
        Err(UsageError::NotAscii(echo(term)))
    }
}
