//! `silence <rule|*> <subject|glob> <DURATION> [reason...]`, `silences` and `unsilence <ID>`.

use super::*;

/// `silence`.
pub(super) const SILENCE: Spec = Spec {
    name: "silence",
    aliases: &[],
    args: "<rule|*> <@user:server|!room:server|glob> <DURATION> [reason...]",
    summary: "stop announcing the matching violations (new, reminders, escalations) \
              for DURATION",
    details: "The rule is a rule's name or * for every rule; the subject a user ID, a \
              room ID or a glob (@*:example.org). DURATION looks like 14d or 12h, at \
              most matrix.silence_max. Silenced violations still show in check, status \
              and /metrics, and their resolution is announced. When a silence ends while \
              its violations are still there, the next summary says so.",
    examples: &[
        "silence media-quota @bob:example.org 14d moving to a new server",
        "silence * @*:old.example.org 30d",
    ],
    max_args: MAX_WORDS,
    parse: parse_silence,
    is: |c| matches!(c, Command::Silence(_)),
};

/// `silences`.
pub(super) const SILENCES: Spec = Spec {
    name: "silences",
    aliases: &[],
    args: "",
    summary: "the active silences: ID, matchers, author, reason, end",
    details: "",
    examples: &["silences"],
    max_args: 0,
    parse: |_| Ok(Command::Silences),
    is: |c| matches!(c, Command::Silences),
};

/// `unsilence`.
pub(super) const UNSILENCE: Spec = Spec {
    name: "unsilence",
    aliases: &[],
    args: "<ID>",
    summary: "end a silence now",
    details: "The ID is the one `silence` answered and `silences` lists.",
    examples: &["unsilence 3"],
    max_args: 1,
    parse: parse_unsilence,
    is: |c| matches!(c, Command::Unsilence(_)),
};

pub(super) fn parse_silence(args: &[&str]) -> Result<Command, UsageError> {
    let missing = |what| UsageError::Missing {
        command: "silence",
        what,
    };
    let rule = args.first().ok_or(missing("a rule name or *"))?;
    let subject = args
        .get(1)
        .ok_or(missing("a user ID, a room ID or a glob"))?;
    let duration = args.get(2).ok_or(missing("a duration such as 14d"))?;
    let rule = silences::RulePattern::parse(rule).ok_or_else(|| UsageError::BadRule(echo(rule)))?;
    let subject = silences::SubjectPattern::parse(subject)
        .ok_or_else(|| UsageError::BadSubject(echo(subject)))?;
    let duration = window_of(duration)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| UsageError::BadDuration(echo(duration)))?;
    let reason = args[3..].join(" ");
    if reason.chars().count() > MAX_REASON {
        return Err(UsageError::ReasonTooLong);
    }
    Ok(Command::Silence(SilenceRequest {
        matcher: Matcher { rule, subject },
        duration,
        reason,
    }))
}

pub(super) fn parse_unsilence(args: &[&str]) -> Result<Command, UsageError> {
    let id = args.first().ok_or(UsageError::Missing {
        command: "unsilence",
        what: "a silence ID",
    })?;
    id.trim_start_matches('#')
        .parse::<u64>()
        .map(Command::Unsilence)
        .map_err(|_| UsageError::BadSilenceId(echo(id)))
}
