//! The clean-up commands: `media`, `purge`, `quarantine`, `purge-remote` and `confirm CODE` (their decisions are in [`super::actions`]).

use super::*;

/// `media`.
pub(super) const MEDIA: Spec = Spec {
    name: "media",
    aliases: &[],
    args: "@user:server [older-than D] [larger-than S] [limit N] [oldest]",
    summary: "a user's media, largest (or oldest) first, with totals",
    details: "Every page of Synapse's list of the user's local media. The options may come \
              in any order: older-than keeps media uploaded more than D ago, larger-than \
              those above S (10MB, 500KiB), limit lists N (1 to 100, default 20), oldest \
              sorts by age. Needs actions.enabled and matrix.action_power_level.",
    examples: &[
        "media @alice:example.org",
        "media @alice:example.org older-than 90d larger-than 10MB limit 5 oldest",
    ],
    max_args: MAX_WORDS,
    parse: |args| parse_action("media", args),
    is: |c| matches!(c, Command::Media { .. }),
};

/// `purge`.
pub(super) const PURGE: Spec = Spec {
    name: "purge",
    aliases: &[],
    args: "@user:server [older-than D] [larger-than S]",
    summary: "preview deleting a user's media; confirm with the code",
    details: "Nothing is deleted yet: the answer says how many media and bytes, the oldest \
              and newest, the five largest, and a one-time code. `confirm CODE` then \
              deletes exactly the media of the preview, one by one.",
    examples: &[
        "purge @alice:example.org older-than 90d",
        "purge @alice:example.org larger-than 100MB",
    ],
    max_args: MAX_WORDS,
    parse: |args| parse_action("purge", args),
    is: |c| matches!(c, Command::Preview(ActionKind::Purge { .. })),
};

/// `quarantine`.
pub(super) const QUARANTINE: Spec = Spec {
    name: "quarantine",
    aliases: &[],
    args: "@user:server",
    summary: "preview quarantining a user's media; confirm with the code",
    details: "`confirm CODE` then quarantines exactly the media of the preview.",
    examples: &["quarantine @spammer:example.org"],
    max_args: MAX_WORDS,
    parse: |args| parse_action("quarantine", args),
    is: |c| matches!(c, Command::Preview(ActionKind::Quarantine { .. })),
};

/// `purge-remote`.
pub(super) const PURGE_REMOTE: Spec = Spec {
    name: "purge-remote",
    aliases: &[],
    args: "older-than D",
    summary: "preview purging the remote media cache; confirm with the code",
    details: "Media of other servers not accessed for D are dropped from the cache (they \
              are fetched again when needed); Synapse cannot say beforehand how much this \
              frees.",
    examples: &["purge-remote older-than 30d"],
    max_args: MAX_WORDS,
    parse: |args| parse_action("purge-remote", args),
    is: |c| matches!(c, Command::Preview(ActionKind::PurgeRemote { .. })),
};

/// `purge-deactivated`.
pub(super) const PURGE_DEACTIVATED: Spec = Spec {
    name: "purge-deactivated",
    aliases: &[],
    args: "[older-than D]",
    summary: "preview deleting the media of deactivated users; confirm with the code",
    details: "Every deactivated local user (every page of Synapse's list), then each one's \
              media; the preview gives totals per user and a one-time code, and `confirm \
              CODE` deletes exactly those media, one by one. older-than keeps media \
              uploaded more than D ago.",
    examples: &["purge-deactivated", "purge-deactivated older-than 30d"],
    max_args: 2,
    parse: parse_purge_deactivated,
    is: |c| matches!(c, Command::Preview(ActionKind::PurgeDeactivated { .. })),
};

fn parse_purge_deactivated(args: &[&str]) -> Result<Command, UsageError> {
    let older_than = match args {
        [] => None,
        [opt, rest @ ..] if opt.eq_ignore_ascii_case("older-than") => {
            let w = rest.first().ok_or(UsageError::BadAge(String::new()))?;
            Some(
                window_of(w)
                    .filter(|d| *d <= MAX_WINDOW)
                    .ok_or_else(|| UsageError::BadAge(echo(w)))?,
            )
        }
        [word, ..] => {
            return Err(UsageError::BadActionArgument {
                command: "purge-deactivated",
                word: echo(word),
                expected: "older-than D",
                closest: words::closest(word, &["older-than"]),
            });
        }
    };
    Ok(Command::Preview(ActionKind::PurgeDeactivated {
        older_than,
    }))
}

/// `confirm`.
pub(super) const CONFIRM: Spec = Spec {
    name: "confirm",
    aliases: &[],
    args: "CODE",
    summary: "carry out a preview (power level matrix.action_power_level; actions.enabled)",
    details: "A code is valid once, for actions.confirm_within (default 5 minutes); a \
              wrong, used or expired code does nothing.",
    examples: &["confirm K7Q2XP"],
    max_args: 1,
    parse: parse_confirm,
    is: |c| matches!(c, Command::Confirm { .. }),
};

pub(super) fn parse_confirm(args: &[&str]) -> Result<Command, UsageError> {
    let code = args.first().ok_or(UsageError::Missing {
        command: "confirm",
        what: "the code of a preview",
    })?;
    // Not echoed: whatever was typed instead of a code stays unwritten.
    if !actions::is_code(code) {
        return Err(UsageError::BadCode);
    }
    Ok(Command::Confirm {
        code: code.to_ascii_uppercase(),
    })
}

/// `media`, `purge`, `quarantine`, `purge-remote` (`command`, the name of
/// its entry in [`COMMANDS`]): a user ID (but for `purge-remote`), then
/// options in any order.
pub(super) fn parse_action(command: &'static str, args: &[&str]) -> Result<Command, UsageError> {
    let expected = match command {
        "media" => "older-than D, larger-than S, limit N, oldest, largest",
        "purge" => "older-than D, larger-than S",
        "quarantine" => "no option",
        _ => "older-than D",
    };
    let mut rest = args;
    let mut user_id = None;
    if command != "purge-remote" {
        match rest.split_first() {
            Some((id, more)) if id.starts_with('@') => {
                if !is_user_id(id) {
                    return Err(UsageError::BadUserId(echo(id)));
                }
                user_id = Some((*id).to_owned());
                rest = more;
            }
            _ => {
                return Err(UsageError::Missing {
                    command,
                    what: "a user ID (@alice:example.org)",
                });
            }
        }
    }
    let mut filter = MediaFilter::default();
    let mut order = MediaOrder::Largest;
    let mut limit = crate::core::commands::actions::DEFAULT_MEDIA_LIMIT;
    let bad = |w: &str| UsageError::BadActionArgument {
        command,
        word: echo(w),
        expected,
        closest: words::closest(w, &["older-than", "larger-than", "limit", "oldest"]),
    };
    while let Some((opt, more)) = rest.split_first() {
        rest = more;
        let key = opt.to_ascii_lowercase();
        let takes = |allowed: bool| if allowed { Ok(()) } else { Err(bad(opt)) };
        match key.as_str() {
            "older-than" => {
                takes(command != "quarantine")?;
                let (w, more) = rest
                    .split_first()
                    .ok_or(UsageError::BadAge(String::new()))?;
                rest = more;
                let d = window_of(w)
                    .filter(|d| *d <= MAX_WINDOW)
                    .ok_or_else(|| UsageError::BadAge(echo(w)))?;
                filter.older_than = Some(d);
            }
            "larger-than" => {
                takes(command == "media" || command == "purge")?;
                let (w, more) = rest
                    .split_first()
                    .ok_or(UsageError::BadSize(String::new()))?;
                rest = more;
                // `10 MB` as two words, or `10MB` as one.
                let (text, more) = match rest.split_first() {
                    Some((unit, after))
                        if w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                            && is_size_unit(unit) =>
                    {
                        (format!("{w} {unit}"), after)
                    }
                    _ => ((*w).to_owned(), rest),
                };
                rest = more;
                filter.larger_than =
                    Some(size_of(&text).ok_or_else(|| UsageError::BadSize(echo(&text)))?);
            }
            "limit" if command == "media" => {
                let (w, more) = rest.split_first().ok_or_else(|| bad(opt))?;
                rest = more;
                limit = w
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=crate::core::commands::actions::MAX_MEDIA_LIMIT).contains(n))
                    .ok_or_else(|| UsageError::TopOutOfRange(echo(w)))?;
            }
            "oldest" if command == "media" => order = MediaOrder::Oldest,
            "largest" if command == "media" => order = MediaOrder::Largest,
            _ => return Err(bad(opt)),
        }
    }
    Ok(match command {
        "media" => Command::Media {
            user_id: user_id.unwrap_or_default(),
            filter,
            order,
            limit,
        },
        "purge" => Command::Preview(ActionKind::Purge {
            user_id: user_id.unwrap_or_default(),
            filter,
        }),
        "quarantine" => Command::Preview(ActionKind::Quarantine {
            user_id: user_id.unwrap_or_default(),
        }),
        _ => Command::Preview(ActionKind::PurgeRemote {
            older_than: filter.older_than.ok_or(UsageError::Missing {
                command: "purge-remote",
                what: "`older-than D` (e.g. older-than 30d)",
            })?,
        }),
    })
}

/// A filter as words, the way [`parse`] reads it back.
pub(super) fn write_filter(f: &mut fmt::Formatter<'_>, filter: &MediaFilter) -> fmt::Result {
    if let Some(d) = filter.older_than {
        write!(
            f,
            " older-than {}",
            crate::core::doc::format::window_word(d)
        )?;
    }
    if let Some(s) = filter.larger_than {
        write!(f, " larger-than {s}")?;
    }
    Ok(())
}

/// A unit of size written apart: `MB`, `KiB`, `b`...
pub(super) fn is_size_unit(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "b" | "k" | "kb" | "kib" | "m" | "mb" | "mib" | "g" | "gb" | "gib" | "t" | "tb" | "tib"
    )
}

/// A size word: `10MB`, `10 MB`, `500KiB`, `1000` (bytes).
pub(super) fn size_of(text: &str) -> Option<u64> {
    if !text.starts_with(|c: char| c.is_ascii_digit()) || text.len() > 32 {
        return None;
    }
    text.parse::<bytesize::ByteSize>()
        .ok()
        .map(|s| s.as_u64())
        .filter(|b| *b < u64::MAX)
}
