//! The commands about the warden itself and what it watches: `rooms`, `check`, `policies`, `status`, `reload`.

use super::*;

/// `rooms [abandoned]`.
pub(super) const ROOMS: Spec = Spec {
    name: "rooms",
    aliases: &[],
    args: "[abandoned]",
    summary: "the largest rooms, or those no local user is in any more",
    details: "Sizes come from Synapse's estimate or, where it fails (SQLite, new PostgreSQL \
              servers), from the warden's Synapse module; without either, rooms are ranked by \
              their current state events.",
    examples: &["rooms", "rooms abandoned"],
    max_args: 1,
    parse: |args| match args {
        [] => Ok(Command::Rooms { abandoned: false }),
        [word] if word.eq_ignore_ascii_case("abandoned") => Ok(Command::Rooms { abandoned: true }),
        [word, ..] => Err(UsageError::UnexpectedArgument {
            command: "rooms",
            expected: "nothing or `abandoned`",
            extra: echo(word),
        }),
    },
    is: |c| matches!(c, Command::Rooms { .. }),
};

/// `check`.
pub(super) const CHECK: Spec = Spec {
    name: "check",
    aliases: &[],
    args: "",
    summary: "run the policies now",
    details: "Silenced violations are listed too, marked as silenced.",
    examples: &["check"],
    max_args: 0,
    parse: |_| Ok(Command::Check),
    is: |c| matches!(c, Command::Check),
};

/// `policies`.
pub(super) const POLICIES: Spec = Spec {
    name: "policies",
    aliases: &[],
    args: "",
    summary: "the rules in force",
    details: "",
    examples: &["policies"],
    max_args: 0,
    parse: |_| Ok(Command::Policies),
    is: |c| matches!(c, Command::Policies),
};

/// `status`.
pub(super) const STATUS: Spec = Spec {
    name: "status",
    aliases: &[],
    args: "",
    summary: "last run, next run, last error, health",
    details: "",
    examples: &["status"],
    max_args: 0,
    parse: |_| Ok(Command::Status),
    is: |c| matches!(c, Command::Status),
};

/// `reload`.
pub(super) const RELOAD: Spec = Spec {
    name: "reload",
    aliases: &[],
    args: "",
    summary: "re-read the policy file",
    details: "An invalid file keeps the rules in force; its errors are posted with line \
              and column. Silences are kept.",
    examples: &["reload"],
    max_args: 0,
    parse: |_| Ok(Command::Reload),
    is: |c| matches!(c, Command::Reload),
};
