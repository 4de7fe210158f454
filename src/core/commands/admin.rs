//! The commands about the warden itself and what it watches, without arguments: `rooms`, `check`, `policies`, `status`, `reload`.

use super::*;

/// `rooms`.
pub(super) const ROOMS: Spec = Spec {
    name: "rooms",
    aliases: &[],
    args: "",
    summary: "the largest rooms (needs Synapse on PostgreSQL)",
    details: "",
    examples: &["rooms"],
    max_args: 0,
    parse: |_| Ok(Command::Rooms),
    is: |c| matches!(c, Command::Rooms),
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
