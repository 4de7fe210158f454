//! The command grammar shared by the Matrix bot and the `stats` subcommand.
//!
//! ```text
//! !stats                              the same as `help`
//! !stats help
//! !stats top [N] [media_length|media_count] [WINDOW]
//! !stats user <@user:server | search term>
//! !stats rooms
//! !stats check
//! !stats policies
//! !stats status
//! !stats reload
//! !stats media @user:server [older-than D] [larger-than S] [limit N] [oldest]
//! !stats purge @user:server [older-than D] [larger-than S]
//! !stats quarantine @user:server
//! !stats purge-remote older-than D
//! !stats confirm CODE
//! !stats trend [@user:server] [WINDOW]
//! !stats growth [WINDOW] [N]
//! ```
//!
//! `N` is 1 to 100 (default 10), the metric defaults to `media_length`, and
//! `WINDOW` is a duration such as `7d`, `24h` or `1h30m` (only uploads of that
//! last span count); the arguments of `top` may come in any order. The
//! prefix, command words and metric names are case-insensitive (`!Stats top
//! 5`: phone keyboards capitalise the first letter).
//!
//! [`parse`] never panics and never allocates in proportion to a hostile
//! body: it reads the first line only (after a reply fallback, see below),
//! and at most a few words of it. Bodies that do not start with the prefix
//! followed by a space or the end are not addressed to us (`None`).
//!
//! Replies written by older clients start with a *reply fallback*: quoted
//! lines (`> <@alice:hs> ...`) and a blank line before the text typed. That
//! fallback is skipped, so a command sent as a reply still works.
//!
//! Pure: no I/O.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use super::actions::{MediaFilter, MediaOrder};
use super::model::MediaMetric;

/// Default number of users `top` lists.
pub const DEFAULT_TOP: u32 = 10;
/// Most users `top` lists.
pub const MAX_TOP: u32 = 100;
/// Longest window `top` accepts (ten years): beyond it, every upload counts
/// anyway.
pub const MAX_WINDOW: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Words of a command line looked at; anything longer is refused.
const MAX_WORDS: usize = 12;
/// Longest argument echoed back in an error.
const MAX_ECHO: usize = 40;

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The grammar, with examples.
    Help,
    /// The users using the most media.
    Top {
        /// How many users, 1..=100.
        n: u32,
        /// Ranked by.
        metric: MediaMetric,
        /// Only uploads of this last span count; `None`: all uploads.
        window: Option<Duration>,
    },
    /// One user's usage.
    User(UserQuery),
    /// The largest rooms.
    Rooms,
    /// Run the policies now.
    Check,
    /// The rules in force.
    Policies,
    /// Last run, next run, last error, health.
    Status,
    /// Re-read the policy file.
    Reload,
    /// One user's media, with totals.
    Media {
        /// The user.
        user_id: String,
        /// Which media.
        filter: MediaFilter,
        /// Largest or oldest first.
        order: MediaOrder,
        /// How many to list, 1..=100.
        limit: usize,
    },
    /// Preview a purge of a user's media.
    Purge {
        /// The user.
        user_id: String,
        /// Which media.
        filter: MediaFilter,
    },
    /// Preview a quarantine of a user's media.
    Quarantine {
        /// The user.
        user_id: String,
    },
    /// Preview a purge of the remote media cache.
    PurgeRemote {
        /// Media not accessed for this long.
        older_than: Duration,
    },
    /// Carry out a previewed action.
    Confirm {
        /// The one-time code of the preview.
        code: String,
    },
    /// Bytes over time, from the history: the server's or one user's.
    Trend {
        /// The user; `None`: the whole server.
        user_id: Option<String>,
        /// How far back (default 30 days).
        window: Duration,
    },
    /// The users whose stored bytes grew the most, from the history.
    Growth {
        /// Over this last span (default 7 days).
        window: Duration,
        /// How many users, 1..=100 (default 10).
        n: u32,
    },
}

/// Default span of `trend`: 30 days.
pub const DEFAULT_TREND_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// Default span of `growth`: 7 days.
pub const DEFAULT_GROWTH_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// Who `user` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserQuery {
    /// A full user ID (`@alice:example.org`): exactly that user.
    Exact(String),
    /// A search term (ASCII, as Synapse requires): users whose localpart or
    /// display name contains it.
    Search(String),
}

impl UserQuery {
    /// The user ID or the search term.
    pub fn as_str(&self) -> &str {
        match self {
            UserQuery::Exact(s) | UserQuery::Search(s) => s,
        }
    }
}

/// What is wrong with a command addressed to us. The messages are short
/// and name the culprit; the reply adds the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsageError {
    /// The first word is not a command.
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    /// `top` got a number outside 1..=100.
    #[error("N must be between 1 and {max}, not {0}", max = MAX_TOP)]
    TopOutOfRange(String),
    /// `top` got a word that is neither a number, a metric nor a window.
    #[error(
        "unknown field or window `{0}` (fields: media_length, media_count; windows look like 7d, 24h)"
    )]
    UnknownTopArgument(String),
    /// `top` got the same kind of argument twice.
    #[error("{0} given twice")]
    Repeated(&'static str),
    /// A window of zero or of more than ten years.
    #[error("the window `{0}` must be more than 0s and at most 3650d")]
    WindowOutOfRange(String),
    /// `user` without an argument.
    #[error("`user` needs a user ID (@alice:example.org) or a search term")]
    MissingUser,
    /// A user ID that is not `@localpart:server`.
    #[error("`{0}` is not a user ID of the form @localpart:server")]
    BadUserId(String),
    /// A non-ASCII search term, which Synapse refuses.
    #[error("the search term `{0}` is not ASCII; Synapse only searches ASCII terms")]
    NotAscii(String),
    /// A command that takes no argument got some (or `user` got two).
    #[error("`{command}` takes {expected}, but got `{extra}`")]
    UnexpectedArgument {
        /// The command word.
        command: &'static str,
        /// What it takes.
        expected: &'static str,
        /// The first word too many.
        extra: String,
    },
    /// More words than any command takes.
    #[error("too many words")]
    TooLong,
    /// A media command without its user ID.
    #[error("`{0}` needs a user ID (@alice:example.org)")]
    MissingActionUser(&'static str),
    /// A word a media command does not know.
    #[error("`{command}` does not understand `{word}` (it takes {expected})")]
    BadActionArgument {
        /// The command word.
        command: &'static str,
        /// The word.
        word: String,
        /// What it takes.
        expected: &'static str,
    },
    /// `larger-than` without a size.
    #[error("`{0}` is not a size: write e.g. 10MB or 500KiB")]
    BadSize(String),
    /// `older-than` without a duration.
    #[error("`{0}` is not an age: write e.g. 90d or 12h")]
    BadAge(String),
    /// `purge-remote` without `older-than`.
    #[error("`purge-remote` needs `older-than D` (e.g. older-than 30d)")]
    MissingAge,
    /// `confirm` without its code.
    #[error("`confirm` needs the code of a preview")]
    MissingCode,
}

/// Parses `body` as a command for the bot answering to `prefix`.
///
/// `None` when the body is not addressed to the bot (it does not start with
/// the prefix followed by whitespace or its end); otherwise the command or
/// what is wrong with it.
pub fn parse(prefix: &str, body: &str) -> Option<Result<Command, UsageError>> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return None;
    }
    let line = strip_reply_fallback(body).lines().next().unwrap_or("");
    let rest = strip_prefix_ignoring_case(line.trim_start(), prefix)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let words: Vec<&str> = rest.split_whitespace().take(MAX_WORDS + 1).collect();
    if words.len() > MAX_WORDS {
        return Some(Err(UsageError::TooLong));
    }
    Some(parse_words(&words))
}

/// `text` without `prefix` at its start, compared without regard to case
/// (Unicode lower case, character by character).
fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut rest = text.char_indices();
    for wanted in prefix.chars() {
        let (_, got) = rest.next()?;
        if got != wanted && !got.to_lowercase().eq(wanted.to_lowercase()) {
            return None;
        }
    }
    Some(rest.as_str())
}

/// Parses the words after the prefix (the command line of `synapse-warden
/// stats`). No words means `help`.
pub fn parse_words<S: AsRef<str>>(words: &[S]) -> Result<Command, UsageError> {
    let Some((first, args)) = words.split_first() else {
        return Ok(Command::Help);
    };
    if args.len() >= MAX_WORDS {
        return Err(UsageError::TooLong);
    }
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let word = first.as_ref();
    let no_args = |command: &'static str, value: Command| match args.first() {
        None => Ok(value),
        Some(extra) => Err(UsageError::UnexpectedArgument {
            command,
            expected: "no argument",
            extra: echo(extra),
        }),
    };
    match word.to_ascii_lowercase().as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help),
        "top" => parse_top(&args),
        "user" => parse_user(&args),
        "rooms" => no_args("rooms", Command::Rooms),
        "check" => no_args("check", Command::Check),
        "policies" => no_args("policies", Command::Policies),
        "status" => no_args("status", Command::Status),
        "reload" => no_args("reload", Command::Reload),
        "media" | "purge" | "quarantine" | "purge-remote" => parse_action(word, &args),
        "trend" | "growth" => parse_history(&word.to_ascii_lowercase(), &args),
        "confirm" => match args.as_slice() {
            [] => Err(UsageError::MissingCode),
            [code] => Ok(Command::Confirm {
                code: echo(code).to_ascii_uppercase(),
            }),
            [_, extra, ..] => Err(UsageError::UnexpectedArgument {
                command: "confirm",
                expected: "one code",
                extra: echo(extra),
            }),
        },
        _ => Err(UsageError::UnknownCommand(echo(word))),
    }
}

fn parse_top(args: &[&str]) -> Result<Command, UsageError> {
    let mut n = None;
    let mut metric = None;
    let mut window = None;
    for &arg in args {
        if arg.bytes().all(|b| b.is_ascii_digit()) {
            if n.is_some() {
                return Err(UsageError::Repeated("N"));
            }
            let value = arg
                .parse::<u32>()
                .ok()
                .filter(|v| (1..=MAX_TOP).contains(v))
                .ok_or_else(|| UsageError::TopOutOfRange(echo(arg)))?;
            n = Some(value);
        } else if let Some(m) = metric_of(arg) {
            if metric.is_some() {
                return Err(UsageError::Repeated("the field"));
            }
            metric = Some(m);
        } else if let Some(w) = window_of(arg) {
            if window.is_some() {
                return Err(UsageError::Repeated("the window"));
            }
            if w.is_zero() || w > MAX_WINDOW {
                return Err(UsageError::WindowOutOfRange(echo(arg)));
            }
            window = Some(w);
        } else if arg.starts_with('-') && arg[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(UsageError::TopOutOfRange(echo(arg)));
        } else {
            return Err(UsageError::UnknownTopArgument(echo(arg)));
        }
    }
    Ok(Command::Top {
        n: n.unwrap_or(DEFAULT_TOP),
        metric: metric.unwrap_or(MediaMetric::MediaLength),
        window,
    })
}

fn parse_user(args: &[&str]) -> Result<Command, UsageError> {
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

/// `media`, `purge`, `quarantine`, `purge-remote`: a user ID (but for
/// `purge-remote`), then options in any order.
fn parse_action(word: &str, args: &[&str]) -> Result<Command, UsageError> {
    let (command, expected): (&'static str, &'static str) = match word.to_ascii_lowercase().as_str()
    {
        "media" => (
            "media",
            "older-than D, larger-than S, limit N, oldest, largest",
        ),
        "purge" => ("purge", "older-than D, larger-than S"),
        "quarantine" => ("quarantine", "no option"),
        _ => ("purge-remote", "older-than D"),
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
            _ => return Err(UsageError::MissingActionUser(command)),
        }
    }
    let mut filter = MediaFilter::default();
    let mut order = MediaOrder::Largest;
    let mut limit = crate::core::actions::DEFAULT_MEDIA_LIMIT;
    let bad = |w: &str| UsageError::BadActionArgument {
        command,
        word: echo(w),
        expected,
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
                    .filter(|n| (1..=crate::core::actions::MAX_MEDIA_LIMIT).contains(n))
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
        "purge" => Command::Purge {
            user_id: user_id.unwrap_or_default(),
            filter,
        },
        "quarantine" => Command::Quarantine {
            user_id: user_id.unwrap_or_default(),
        },
        _ => Command::PurgeRemote {
            older_than: filter.older_than.ok_or(UsageError::MissingAge)?,
        },
    })
}

/// `trend [@user:server] [WINDOW]` and `growth [WINDOW] [N]`, arguments in
/// any order.
fn parse_history(word: &str, args: &[&str]) -> Result<Command, UsageError> {
    let trend = word == "trend";
    let mut user_id = None;
    let mut window = None;
    let mut n = None;
    for &arg in args {
        if trend && arg.starts_with('@') {
            if user_id.is_some() {
                return Err(UsageError::Repeated("the user"));
            }
            if !is_user_id(arg) {
                return Err(UsageError::BadUserId(echo(arg)));
            }
            user_id = Some(arg.to_owned());
        } else if !trend && arg.bytes().all(|b| b.is_ascii_digit()) {
            if n.is_some() {
                return Err(UsageError::Repeated("N"));
            }
            n = Some(
                arg.parse::<u32>()
                    .ok()
                    .filter(|v| (1..=MAX_TOP).contains(v))
                    .ok_or_else(|| UsageError::TopOutOfRange(echo(arg)))?,
            );
        } else if let Some(w) = window_of(arg) {
            if window.is_some() {
                return Err(UsageError::Repeated("the window"));
            }
            if w.is_zero() || w > MAX_WINDOW {
                return Err(UsageError::WindowOutOfRange(echo(arg)));
            }
            window = Some(w);
        } else {
            return Err(UsageError::BadActionArgument {
                command: if trend { "trend" } else { "growth" },
                word: echo(arg),
                expected: if trend {
                    "a user ID and a window such as 30d"
                } else {
                    "a window such as 7d and a number of users"
                },
            });
        }
    }
    Ok(if trend {
        Command::Trend {
            user_id,
            window: window.unwrap_or(DEFAULT_TREND_WINDOW),
        }
    } else {
        Command::Growth {
            window: window.unwrap_or(DEFAULT_GROWTH_WINDOW),
            n: n.unwrap_or(DEFAULT_TOP),
        }
    })
}

/// A unit of size written apart: `MB`, `KiB`, `b`...
fn is_size_unit(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "b" | "k" | "kb" | "kib" | "m" | "mb" | "mib" | "g" | "gb" | "gib" | "t" | "tb" | "tib"
    )
}

/// A size word: `10MB`, `10 MB`, `500KiB`, `1000` (bytes).
fn size_of(text: &str) -> Option<u64> {
    if !text.starts_with(|c: char| c.is_ascii_digit()) || text.len() > 32 {
        return None;
    }
    text.parse::<bytesize::ByteSize>()
        .ok()
        .map(|s| s.as_u64())
        .filter(|b| *b < u64::MAX)
}

/// A filter as words, the way [`parse`] reads it back.
fn write_filter(f: &mut fmt::Formatter<'_>, filter: &MediaFilter) -> fmt::Result {
    if let Some(d) = filter.older_than {
        write!(f, " older-than {}", format_window(d))?;
    }
    if let Some(s) = filter.larger_than {
        write!(f, " larger-than {s}")?;
    }
    Ok(())
}

/// `@localpart:server`, both parts non-empty, ASCII (Synapse's localparts
/// are ASCII), no whitespace, at most 255 bytes as the spec says.
fn is_user_id(s: &str) -> bool {
    let Some((local, server)) = s.strip_prefix('@').and_then(|r| r.split_once(':')) else {
        return false;
    };
    s.len() <= 255
        && !local.is_empty()
        && !server.is_empty()
        && s.is_ascii()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

fn metric_of(word: &str) -> Option<MediaMetric> {
    match word.to_ascii_lowercase().as_str() {
        "media_length" | "length" | "size" | "bytes" => Some(MediaMetric::MediaLength),
        "media_count" | "count" => Some(MediaMetric::MediaCount),
        _ => None,
    }
}

/// A window word: humantime's syntax without spaces (`7d`, `1h30m`), which
/// always starts with a digit.
fn window_of(word: &str) -> Option<Duration> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) || word.len() > 32 {
        return None;
    }
    humantime::parse_duration(word).ok()
}

/// A window as one word, the way [`parse`] reads it back: `7d`, `1h30m`.
pub fn format_window(window: Duration) -> String {
    let secs = window.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let parts = [
        (secs / 86_400, 'd'),
        (secs % 86_400 / 3_600, 'h'),
        (secs % 3_600 / 60, 'm'),
        (secs % 60, 's'),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

/// Skips a reply fallback: leading lines starting with `>`, and the blank
/// line after them.
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with('>') {
        return body;
    }
    let mut rest = body;
    while rest.starts_with('>') {
        match rest.find('\n') {
            Some(i) => rest = &rest[i + 1..],
            None => return "",
        }
    }
    rest.strip_prefix('\n')
        .or_else(|| rest.strip_prefix("\r\n"))
        .unwrap_or(rest)
}

/// At most [`MAX_ECHO`] characters of `word`, for error messages.
fn echo(word: &str) -> String {
    match word.char_indices().nth(MAX_ECHO) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_owned(),
    }
}

impl fmt::Display for Command {
    /// The canonical words of the command, without prefix: what [`parse`]
    /// reads back into the same command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Help => f.write_str("help"),
            Command::Top { n, metric, window } => {
                write!(f, "top {n} {metric}")?;
                if let Some(w) = window {
                    write!(f, " {}", format_window(*w))?;
                }
                Ok(())
            }
            Command::User(q) => write!(f, "user {}", q.as_str()),
            Command::Rooms => f.write_str("rooms"),
            Command::Check => f.write_str("check"),
            Command::Policies => f.write_str("policies"),
            Command::Status => f.write_str("status"),
            Command::Reload => f.write_str("reload"),
            Command::Media {
                user_id,
                filter,
                order,
                limit,
            } => {
                write!(f, "media {user_id}")?;
                write_filter(f, filter)?;
                write!(f, " limit {limit}")?;
                if *order == MediaOrder::Oldest {
                    f.write_str(" oldest")?;
                }
                Ok(())
            }
            Command::Purge { user_id, filter } => {
                write!(f, "purge {user_id}")?;
                write_filter(f, filter)
            }
            Command::Quarantine { user_id } => write!(f, "quarantine {user_id}"),
            Command::PurgeRemote { older_than } => {
                write!(f, "purge-remote older-than {}", format_window(*older_than))
            }
            Command::Confirm { code } => write!(f, "confirm {code}"),
            Command::Trend { user_id, window } => {
                f.write_str("trend")?;
                if let Some(u) = user_id {
                    write!(f, " {u}")?;
                }
                write!(f, " {}", format_window(*window))
            }
            Command::Growth { window, n } => {
                write!(f, "growth {} {n}", format_window(*window))
            }
        }
    }
}

impl Command {
    /// The command word, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Top { .. } => "top",
            Command::User(_) => "user",
            Command::Rooms => "rooms",
            Command::Check => "check",
            Command::Policies => "policies",
            Command::Status => "status",
            Command::Reload => "reload",
            Command::Media { .. } => "media",
            Command::Purge { .. } => "purge",
            Command::Quarantine { .. } => "quarantine",
            Command::PurgeRemote { .. } => "purge-remote",
            Command::Confirm { .. } => "confirm",
            Command::Trend { .. } => "trend",
            Command::Growth { .. } => "growth",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: &str = "!stats";

    fn ok(body: &str) -> Command {
        match parse(P, body) {
            Some(Ok(c)) => c,
            other => panic!("{body:?} gave {other:?}"),
        }
    }

    fn err(body: &str) -> UsageError {
        match parse(P, body) {
            Some(Err(e)) => e,
            other => panic!("{body:?} gave {other:?}"),
        }
    }

    #[test]
    fn not_addressed_to_us() {
        for body in [
            "",
            "hello",
            "!statsfoo",
            "stats top",
            " ! stats",
            "!stat top",
        ] {
            assert_eq!(parse(P, body), None, "{body:?}");
        }
        assert_eq!(parse("", "!stats top"), None);
    }

    #[test]
    fn top_with_defaults_and_arguments_in_any_order() {
        let top = |n, metric, window| Command::Top { n, metric, window };
        assert_eq!(ok("!stats"), Command::Help);
        assert_eq!(ok("  !stats   help  "), Command::Help);
        assert_eq!(ok("!stats top"), top(10, MediaMetric::MediaLength, None));
        assert_eq!(
            ok("!stats top 10 media_length"),
            top(10, MediaMetric::MediaLength, None)
        );
        let day7 = Some(Duration::from_secs(7 * 86400));
        assert_eq!(
            ok("!stats top 5 media_count 7d"),
            top(5, MediaMetric::MediaCount, day7)
        );
        assert_eq!(
            ok("!stats TOP 7d MEDIA_COUNT 5"),
            top(5, MediaMetric::MediaCount, day7)
        );
        assert_eq!(
            ok("!stats top 1h30m"),
            top(
                10,
                MediaMetric::MediaLength,
                Some(Duration::from_secs(5400))
            )
        );
        assert_eq!(
            ok("!stats top 100"),
            top(100, MediaMetric::MediaLength, None)
        );
        assert_eq!(ok("!stats top 1"), top(1, MediaMetric::MediaLength, None));
    }

    #[test]
    fn bad_top_arguments_are_named() {
        assert_eq!(err("!stats top 0"), UsageError::TopOutOfRange("0".into()));
        assert_eq!(
            err("!stats top 101"),
            UsageError::TopOutOfRange("101".into())
        );
        assert_eq!(err("!stats top -3"), UsageError::TopOutOfRange("-3".into()));
        assert_eq!(
            err("!stats top 99999999999999999999999"),
            UsageError::TopOutOfRange("99999999999999999999999".into())
        );
        assert_eq!(
            err("!stats top 10 media_size"),
            UsageError::UnknownTopArgument("media_size".into())
        );
        assert_eq!(err("!stats top 5 6"), UsageError::Repeated("N"));
        assert_eq!(
            err("!stats top 0s"),
            UsageError::WindowOutOfRange("0s".into())
        );
        assert_eq!(
            err("!stats top 4000d"),
            UsageError::WindowOutOfRange("4000d".into())
        );
        assert!(
            err("!stats top 101")
                .to_string()
                .contains("between 1 and 100")
        );
        assert!(err("!stats top x").to_string().contains("`x`"));
    }

    #[test]
    fn user_queries() {
        assert_eq!(
            ok("!stats user @al_ice:example.org"),
            Command::User(UserQuery::Exact("@al_ice:example.org".into()))
        );
        assert_eq!(
            ok("!stats user alice"),
            Command::User(UserQuery::Search("alice".into()))
        );
        assert_eq!(err("!stats user"), UsageError::MissingUser);
        assert_eq!(
            err("!stats user @alice"),
            UsageError::BadUserId("@alice".into())
        );
        assert_eq!(err("!stats user zoë"), UsageError::NotAscii("zoë".into()));
        assert!(matches!(
            err("!stats user a b"),
            UsageError::UnexpectedArgument {
                command: "user",
                ..
            }
        ));
    }

    #[test]
    fn other_commands_and_errors() {
        assert_eq!(ok("!stats rooms"), Command::Rooms);
        assert_eq!(ok("!stats Check"), Command::Check);
        assert_eq!(ok("!stats policies"), Command::Policies);
        assert_eq!(ok("!stats status"), Command::Status);
        assert_eq!(ok("!stats reload"), Command::Reload);
        assert_eq!(
            err("!stats frobnicate"),
            UsageError::UnknownCommand("frobnicate".into())
        );
        assert!(matches!(
            err("!stats rooms now"),
            UsageError::UnexpectedArgument {
                command: "rooms",
                ..
            }
        ));
        assert_eq!(
            err("!stats a b c d e f g h i j k l m n"),
            UsageError::TooLong
        );
    }

    #[test]
    fn media_commands() {
        let day90 = Some(Duration::from_secs(90 * 86400));
        assert_eq!(
            ok("!stats media @a:hs older-than 90d larger-than 10 MB limit 5 oldest"),
            Command::Media {
                user_id: "@a:hs".into(),
                filter: MediaFilter {
                    older_than: day90,
                    larger_than: Some(10_000_000)
                },
                order: MediaOrder::Oldest,
                limit: 5
            }
        );
        assert_eq!(
            ok("!stats purge @a:hs larger-than 1KiB"),
            Command::Purge {
                user_id: "@a:hs".into(),
                filter: MediaFilter {
                    older_than: None,
                    larger_than: Some(1024)
                }
            }
        );
        assert_eq!(
            ok("!stats quarantine @a:hs"),
            Command::Quarantine {
                user_id: "@a:hs".into()
            }
        );
        assert_eq!(
            ok("!stats purge-remote older-than 30d"),
            Command::PurgeRemote {
                older_than: Duration::from_secs(30 * 86400)
            }
        );
        assert_eq!(
            ok("!stats confirm abc123"),
            Command::Confirm {
                code: "ABC123".into()
            }
        );
        assert_eq!(err("!stats purge"), UsageError::MissingActionUser("purge"));
        assert_eq!(
            err("!stats purge older-than 1d"),
            UsageError::MissingActionUser("purge")
        );
        assert_eq!(err("!stats purge @a"), UsageError::BadUserId("@a".into()));
        assert_eq!(err("!stats purge-remote"), UsageError::MissingAge);
        assert_eq!(err("!stats confirm"), UsageError::MissingCode);
        assert_eq!(
            err("!stats purge @a:hs larger-than lots"),
            UsageError::BadSize("lots".into())
        );
        assert_eq!(
            err("!stats purge @a:hs older-than soon"),
            UsageError::BadAge("soon".into())
        );
        assert!(matches!(
            err("!stats quarantine @a:hs older-than 1d"),
            UsageError::BadActionArgument {
                command: "quarantine",
                ..
            }
        ));
        assert!(matches!(
            err("!stats purge @a:hs limit 3"),
            UsageError::BadActionArgument {
                command: "purge",
                ..
            }
        ));
    }

    #[test]
    fn trend_and_growth_take_their_arguments_in_any_order() {
        let d = |days: u64| Duration::from_secs(days * 86_400);
        assert_eq!(
            ok("!stats trend"),
            Command::Trend {
                user_id: None,
                window: d(30)
            }
        );
        assert_eq!(
            ok("!stats Trend 90d @a:hs"),
            Command::Trend {
                user_id: Some("@a:hs".into()),
                window: d(90)
            }
        );
        assert_eq!(
            ok("!stats growth"),
            Command::Growth {
                window: d(7),
                n: 10
            }
        );
        assert_eq!(
            ok("!stats growth 5 30d"),
            Command::Growth {
                window: d(30),
                n: 5
            }
        );
        assert_eq!(err("!stats trend @a"), UsageError::BadUserId("@a".into()));
        assert_eq!(
            err("!stats trend @a:hs @b:hs"),
            UsageError::Repeated("the user")
        );
        assert_eq!(
            err("!stats growth 0"),
            UsageError::TopOutOfRange("0".into())
        );
        assert_eq!(
            err("!stats growth 0d"),
            UsageError::WindowOutOfRange("0d".into())
        );
        assert!(matches!(
            err("!stats trend 5"),
            UsageError::BadActionArgument {
                command: "trend",
                ..
            }
        ));
        assert!(matches!(
            err("!stats growth @a:hs"),
            UsageError::BadActionArgument {
                command: "growth",
                ..
            }
        ));
    }

    #[test]
    fn only_the_first_line_after_a_reply_fallback_counts() {
        assert_eq!(
            ok("> <@bob:hs> something\n> more\n\n!stats rooms\nignored words here"),
            Command::Rooms
        );
        assert_eq!(parse(P, "> <@bob:hs> !stats rooms"), None);
        assert_eq!(parse(P, "hello\n!stats rooms"), None);
    }

    #[test]
    fn long_arguments_are_cut_in_errors() {
        let long = "x".repeat(10_000);
        let e = err(&format!("!stats {long}"));
        assert!(e.to_string().len() < 100, "{e}");
    }

    #[test]
    fn windows_are_one_word() {
        assert_eq!(format_window(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(format_window(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_window(Duration::from_secs(86400 + 1)), "1d1s");
    }

    #[test]
    fn other_prefixes() {
        assert_eq!(parse("!warden", "!warden rooms"), Some(Ok(Command::Rooms)));
        assert_eq!(parse("!warden", "!stats rooms"), None);
    }

    #[test]
    fn the_prefix_ignores_case_and_alone_is_help() {
        let top5 = Some(Ok(Command::Top {
            n: 5,
            metric: MediaMetric::MediaLength,
            window: None,
        }));
        assert_eq!(parse(P, "!Stats top 5"), top5);
        assert_eq!(parse(P, "!STATS TOP 5"), top5);
        assert_eq!(parse("!Stats", "!stats top 5"), top5);
        assert_eq!(parse("!wärden", "!WÄRDEN rooms"), Some(Ok(Command::Rooms)));
        assert_eq!(parse(P, "!stats"), Some(Ok(Command::Help)));
        assert_eq!(parse(P, "  !Stats  "), Some(Ok(Command::Help)));
        assert_eq!(parse(P, "!Statsx top"), None);
        assert_eq!(parse(P, "!stat"), None);
        assert_eq!(parse(P, "!ßtats"), None);
    }

    fn any_command() -> impl Strategy<Value = Command> {
        let metric = prop_oneof![
            Just(MediaMetric::MediaLength),
            Just(MediaMetric::MediaCount)
        ];
        let window = proptest::option::of((1u64..=3650 * 86400).prop_map(Duration::from_secs));
        prop_oneof![
            Just(Command::Help),
            Just(Command::Rooms),
            Just(Command::Check),
            Just(Command::Policies),
            Just(Command::Status),
            Just(Command::Reload),
            (1u32..=100, metric, window).prop_map(|(n, metric, window)| Command::Top {
                n,
                metric,
                window
            }),
            "@[a-z0-9._=/+-]{1,20}:[a-z0-9.-]{1,20}(:[0-9]{1,5})?"
                .prop_map(|u| Command::User(UserQuery::Exact(u))),
            "[a-zA-Z0-9._=/+%-][!-~]{0,20}".prop_map(|s| Command::User(UserQuery::Search(s))),
            (filter(), any::<bool>(), 1usize..=100).prop_map(|(filter, oldest, limit)| {
                Command::Media {
                    user_id: "@a:hs".into(),
                    filter,
                    order: if oldest {
                        MediaOrder::Oldest
                    } else {
                        MediaOrder::Largest
                    },
                    limit,
                }
            }),
            filter().prop_map(|filter| Command::Purge {
                user_id: "@b:hs".into(),
                filter
            }),
            Just(Command::Quarantine {
                user_id: "@c:hs".into()
            }),
            (1u64..=3650 * 86400).prop_map(|s| Command::PurgeRemote {
                older_than: Duration::from_secs(s)
            }),
            "[A-Z0-9]{1,8}".prop_map(|code| Command::Confirm { code }),
            (
                proptest::option::of(Just("@d:hs".to_owned())),
                (1u64..=3650 * 86400).prop_map(Duration::from_secs)
            )
                .prop_map(|(user_id, window)| Command::Trend { user_id, window }),
            (
                (1u64..=3650 * 86400).prop_map(Duration::from_secs),
                1u32..=100
            )
                .prop_map(|(window, n)| Command::Growth { window, n }),
        ]
    }

    fn filter() -> impl Strategy<Value = MediaFilter> {
        (
            proptest::option::of((1u64..=3650 * 86400).prop_map(Duration::from_secs)),
            proptest::option::of(0u64..=1u64 << 50),
        )
            .prop_map(|(older_than, larger_than)| MediaFilter {
                older_than,
                larger_than,
            })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_body(body in "\\PC{0,300}") {
            let _ = parse(P, &body);
            let _ = parse(P, &format!("!stats {body}"));
            let _ = parse(P, &format!("!stats top {body}"));
            let _ = parse(P, &format!("!stats user {body}"));
            let _ = parse(P, &format!("> {body}\n\n!stats {body}"));
        }

        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let body = String::from_utf8_lossy(&body);
            let _ = parse(P, &body);
            let _ = parse(P, &format!("!stats {body}"));
        }

        #[test]
        fn html_and_formatting_are_not_commands(body in "<[a-z]{1,5}>\\PC{0,50}") {
            prop_assert_eq!(parse(P, &body), None);
        }

        #[test]
        fn the_prefix_matches_in_any_case(
            cmd in any_command(),
            upper in proptest::collection::vec(any::<bool>(), 6),
        ) {
            let prefix: String = P
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            prop_assert_eq!(parse(P, &format!("{prefix} {cmd}")), Some(Ok(cmd.clone())));
            prop_assert_eq!(parse(&prefix, &format!("{P} {cmd}")), Some(Ok(cmd)));
        }

        #[test]
        fn display_round_trips(cmd in any_command()) {
            prop_assert_eq!(parse(P, &format!("{P} {cmd}")), Some(Ok(cmd.clone())));
            let words: Vec<String> = cmd.to_string().split_whitespace().map(str::to_owned).collect();
            prop_assert_eq!(parse_words(&words), Ok(cmd));
        }

        #[test]
        fn errors_are_short(body in "\\PC{0,2000}") {
            if let Some(Err(e)) = parse(P, &format!("!stats {body}")) {
                prop_assert!(e.to_string().chars().count() < 200);
            }
        }
    }
}
