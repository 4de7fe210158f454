//! The command grammar shared by the Matrix bot and the `stats` subcommand,
//! kept in **one table**, [`COMMANDS`]: each command's name, aliases,
//! syntax, help text, examples and parser live in one [`Spec`], and
//! parsing, `!stats help`, `!stats help <command>` and the usage errors all
//! come from it (as mini-redis's `cmd/mod.rs` keeps each command in one
//! place). Adding a command is: a [`Command`] variant, a parser function and
//! one entry of [`COMMANDS`] (plus an arm of `Display` when it takes
//! arguments, so that it reads back).
//!
//! ```text
//! !stats                              the same as `help`
//! !stats help [COMMAND]
//! !stats top [N] [media_length|media_count] [WINDOW]
//! !stats user <@user:server | search term>
//! !stats rooms
//! !stats check
//! !stats policies
//! !stats status
//! !stats reload
//! !stats silence <rule|*> <@user:server|!room:server|glob> <DURATION> [reason...]
//! !stats silences
//! !stats unsilence <ID>
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

pub mod answers;
pub mod cleanup;
pub mod rate_limit;

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::core::alerting::silences::{self, Matcher};
use crate::core::commands::cleanup::{ActionKind, MediaFilter, MediaOrder};
use crate::core::model::usage::MediaMetric;

/// Default number of users `top` lists.
pub const DEFAULT_TOP: u32 = 10;
/// Most users `top` lists.
pub const MAX_TOP: u32 = 100;
/// Longest window `top` accepts (ten years): beyond it, every upload counts
/// anyway.
pub const MAX_WINDOW: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Words of a command line looked at; anything longer is refused.
const MAX_WORDS: usize = 40;
/// Longest argument echoed back in an error.
const MAX_ECHO: usize = 40;
/// Longest reason of a silence, in characters.
pub const MAX_REASON: usize = 200;

/// One command of the table: everything about it in one place.
#[derive(Debug)]
pub struct Spec {
    /// The command word.
    pub name: &'static str,
    /// Other words for it.
    pub aliases: &'static [&'static str],
    /// The arguments after the name, as help shows them.
    pub args: &'static str,
    /// One line: what it does (in the list of `help`).
    pub summary: &'static str,
    /// More, for `help <command>`; may be empty.
    pub details: &'static str,
    /// Examples, without the prefix.
    pub examples: &'static [&'static str],
    /// Most words after the name.
    pub max_args: usize,
    /// Reads the words after the name.
    pub parse: fn(&[&str]) -> Result<Command, UsageError>,
    /// Whether a command is this one.
    pub is: fn(&Command) -> bool,
}

/// Every command, in the order `help` lists them.
pub static COMMANDS: &[Spec] = &[
    Spec {
        name: "help",
        aliases: &["-h", "--help"],
        args: "[COMMAND]",
        summary: "this help; with a command, its syntax, details and examples",
        details: "",
        examples: &["help", "help silence"],
        max_args: 1,
        parse: parse_help,
        is: |c| matches!(c, Command::Help(_)),
    },
    Spec {
        name: "top",
        aliases: &[],
        args: "[N] [media_length|media_count] [WINDOW]",
        summary: "the N (1 to 100, default 10) users with the most media, by size or count, \
                  optionally only uploads of the last WINDOW (e.g. 7d, 24h)",
        details: "The arguments may come in any order. From the last walk when it is fresh \
                  (the reply says how old), else one ordered, limited call to Synapse.",
        examples: &["top 10 media_length", "top 5 media_count 7d"],
        max_args: MAX_WORDS,
        parse: parse_top,
        is: |c| matches!(c, Command::Top { .. }),
    },
    Spec {
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
    },
    Spec {
        name: "rooms",
        aliases: &[],
        args: "",
        summary: "the largest rooms (needs Synapse on PostgreSQL)",
        details: "",
        examples: &["rooms"],
        max_args: 0,
        parse: |_| Ok(Command::Rooms),
        is: |c| matches!(c, Command::Rooms),
    },
    Spec {
        name: "check",
        aliases: &[],
        args: "",
        summary: "run the policies now",
        details: "Silenced violations are listed too, marked as silenced.",
        examples: &["check"],
        max_args: 0,
        parse: |_| Ok(Command::Check),
        is: |c| matches!(c, Command::Check),
    },
    Spec {
        name: "policies",
        aliases: &[],
        args: "",
        summary: "the rules in force",
        details: "",
        examples: &["policies"],
        max_args: 0,
        parse: |_| Ok(Command::Policies),
        is: |c| matches!(c, Command::Policies),
    },
    Spec {
        name: "status",
        aliases: &[],
        args: "",
        summary: "last run, next run, last error, health",
        details: "",
        examples: &["status"],
        max_args: 0,
        parse: |_| Ok(Command::Status),
        is: |c| matches!(c, Command::Status),
    },
    Spec {
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
    },
    Spec {
        name: "trend",
        aliases: &[],
        args: "[@user:server] [WINDOW]",
        summary: "the media store's (or a user's) size over the last WINDOW (default 30d), \
                  growth per day, forecast, and a chart",
        details: "From the usage history (complete runs only): now and then, the least-squares \
                  growth per day, with history.capacity the day the store crosses it at the \
                  last 30 days' trend, and a PNG chart posted as an image.",
        examples: &["trend", "trend @alice:example.org 90d"],
        max_args: 2,
        parse: |args| parse_history("trend", args),
        is: |c| matches!(c, Command::Trend { .. }),
    },
    Spec {
        name: "growth",
        aliases: &[],
        args: "[WINDOW] [N]",
        summary: "the N users whose stored media grew the most over the last WINDOW (default 7d)",
        details: "From the usage history: stored bytes (after deletions) between two complete \
                  runs, unlike `top ... 7d`, which counts uploads.",
        examples: &["growth", "growth 30d 5"],
        max_args: 2,
        parse: |args| parse_history("growth", args),
        is: |c| matches!(c, Command::Growth { .. }),
    },
    Spec {
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
    },
    Spec {
        name: "silences",
        aliases: &[],
        args: "",
        summary: "the active silences: ID, matchers, author, reason, end",
        details: "",
        examples: &["silences"],
        max_args: 0,
        parse: |_| Ok(Command::Silences),
        is: |c| matches!(c, Command::Silences),
    },
    Spec {
        name: "unsilence",
        aliases: &[],
        args: "<ID>",
        summary: "end a silence now",
        details: "The ID is the one `silence` answered and `silences` lists.",
        examples: &["unsilence 3"],
        max_args: 1,
        parse: parse_unsilence,
        is: |c| matches!(c, Command::Unsilence(_)),
    },
    Spec {
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
    },
    Spec {
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
    },
    Spec {
        name: "quarantine",
        aliases: &[],
        args: "@user:server",
        summary: "preview quarantining a user's media; confirm with the code",
        details: "`confirm CODE` then quarantines exactly the media of the preview.",
        examples: &["quarantine @spammer:example.org"],
        max_args: MAX_WORDS,
        parse: |args| parse_action("quarantine", args),
        is: |c| matches!(c, Command::Preview(ActionKind::Quarantine { .. })),
    },
    Spec {
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
    },
    Spec {
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
    },
];

/// The command called `word` (a name or an alias, any case).
pub fn spec(word: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| {
        s.name.eq_ignore_ascii_case(word) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    })
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The grammar, with examples; with a command name, that command's.
    Help(Option<&'static str>),
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
    /// Silence matching violations for a while.
    Silence(SilenceRequest),
    /// The active silences.
    Silences,
    /// End a silence now, by its ID.
    Unsilence(u64),
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
    /// Preview an action (`purge`, `quarantine`, `purge-remote`): what
    /// confirming it would act on.
    Preview(ActionKind),
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
/// What `silence` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRequest {
    /// Which violations.
    pub matcher: Matcher,
    /// For how long.
    pub duration: Duration,
    /// Why (words joined by single spaces); may be empty.
    pub reason: String,
}

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
    /// `help` about a command that does not exist.
    #[error("no command `{0}`")]
    UnknownTopic(String),
    /// A required argument is missing.
    #[error("`{command}` needs {what}")]
    Missing {
        /// The command word.
        command: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// A silence's subject that is not a user ID, a room ID or a glob.
    #[error("`{0}` is not a user ID, a room ID or a glob (e.g. @*:example.org)")]
    BadSubject(String),
    /// A silence's rule that is not a rule name or `*`.
    #[error("`{0}` is not a rule name or *")]
    BadRule(String),
    /// A duration that does not parse or is zero.
    #[error("`{0}` is not a duration such as 14d, 12h or 1h30m")]
    BadDuration(String),
    /// A silence ID that is not a number.
    #[error("`{0}` is not a silence ID (a number, as `silences` lists them)")]
    BadSilenceId(String),
    /// A reason longer than [`MAX_REASON`].
    #[error("the reason is longer than {max} characters", max = MAX_REASON)]
    ReasonTooLong,
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
}

/// A command addressed to us that cannot be read: the command it was for,
/// when known (the reply then shows that command's syntax), and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error}")]
pub struct BadCommand {
    /// The command's name, when the first word was one.
    pub command: Option<&'static str>,
    /// What is wrong.
    pub error: UsageError,
}

impl From<UsageError> for BadCommand {
    fn from(error: UsageError) -> BadCommand {
        BadCommand {
            command: None,
            error,
        }
    }
}

/// Parses `body` as a command for the bot answering to `prefix`.
///
/// `None` when the body is not addressed to the bot (it does not start with
/// the prefix followed by whitespace or its end); otherwise the command or
/// what is wrong with it.
pub fn parse(prefix: &str, body: &str) -> Option<Result<Command, BadCommand>> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return None;
    }
    let line = strip_reply_fallback(body).lines().next().unwrap_or("");
    let rest = strip_prefix_ignoring_case(line.trim_start(), prefix)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let words: Vec<&str> = rest.split_whitespace().take(MAX_WORDS + 2).collect();
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
pub fn parse_words<S: AsRef<str>>(words: &[S]) -> Result<Command, BadCommand> {
    let Some((first, args)) = words.split_first() else {
        return Ok(Command::Help(None));
    };
    let word = first.as_ref();
    let Some(spec) = spec(word) else {
        return Err(UsageError::UnknownCommand(echo(word)).into());
    };
    let bad = |error| BadCommand {
        command: Some(spec.name),
        error,
    };
    if args.len() > MAX_WORDS {
        return Err(bad(UsageError::TooLong));
    }
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    if let Some(extra) = args.get(spec.max_args) {
        return Err(bad(UsageError::UnexpectedArgument {
            command: spec.name,
            expected: match spec.max_args {
                0 => "no argument",
                1 => "one argument",
                _ => "fewer arguments",
            },
            extra: echo(extra),
        }));
    }
    (spec.parse)(&args).map_err(bad)
}

fn parse_help(args: &[&str]) -> Result<Command, UsageError> {
    match args.first() {
        None => Ok(Command::Help(None)),
        Some(topic) => spec(topic)
            .map(|s| Command::Help(Some(s.name)))
            .ok_or_else(|| UsageError::UnknownTopic(echo(topic))),
    }
}

fn parse_silence(args: &[&str]) -> Result<Command, UsageError> {
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

fn parse_unsilence(args: &[&str]) -> Result<Command, UsageError> {
    let id = args.first().ok_or(UsageError::Missing {
        command: "unsilence",
        what: "a silence ID",
    })?;
    id.trim_start_matches('#')
        .parse::<u64>()
        .map(Command::Unsilence)
        .map_err(|_| UsageError::BadSilenceId(echo(id)))
}

fn parse_confirm(args: &[&str]) -> Result<Command, UsageError> {
    let code = args.first().ok_or(UsageError::Missing {
        command: "confirm",
        what: "the code of a preview",
    })?;
    Ok(Command::Confirm {
        code: echo(code).to_ascii_uppercase(),
    })
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

/// `media`, `purge`, `quarantine`, `purge-remote` (`command`, the name of
/// its entry in [`COMMANDS`]): a user ID (but for `purge-remote`), then
/// options in any order.
fn parse_action(command: &'static str, args: &[&str]) -> Result<Command, UsageError> {
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
    let mut limit = crate::core::commands::cleanup::DEFAULT_MEDIA_LIMIT;
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
                    .filter(|n| (1..=crate::core::commands::cleanup::MAX_MEDIA_LIMIT).contains(n))
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
            Command::Help(Some(topic)) => write!(f, "help {topic}"),
            Command::Top { n, metric, window } => {
                write!(f, "top {n} {metric}")?;
                if let Some(w) = window {
                    write!(f, " {}", format_window(*w))?;
                }
                Ok(())
            }
            Command::User(q) => write!(f, "user {}", q.as_str()),
            Command::Silence(s) => {
                write!(
                    f,
                    "silence {} {} {}",
                    s.matcher.rule,
                    s.matcher.subject,
                    format_window(s.duration)
                )?;
                if !s.reason.is_empty() {
                    write!(f, " {}", s.reason)?;
                }
                Ok(())
            }
            Command::Unsilence(id) => write!(f, "unsilence {id}"),
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
            Command::Preview(ActionKind::Purge { user_id, filter }) => {
                write!(f, "purge {user_id}")?;
                write_filter(f, filter)
            }
            Command::Preview(ActionKind::Quarantine { user_id }) => {
                write!(f, "quarantine {user_id}")
            }
            Command::Preview(ActionKind::PurgeRemote { older_than }) => {
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
            _ => f.write_str(self.name()),
        }
    }
}

impl Command {
    /// The command word, for logs and metrics.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The command's entry of [`COMMANDS`].
    pub fn spec(&self) -> &'static Spec {
        COMMANDS
            .iter()
            .find(|s| (s.is)(self))
            .unwrap_or(&COMMANDS[0])
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
            Some(Err(e)) => e.error,
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
        assert_eq!(ok("!stats"), Command::Help(None));
        assert_eq!(ok("  !stats   help  "), Command::Help(None));
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
            err(&format!("!stats top {}", "7 ".repeat(60))),
            UsageError::TooLong
        );
    }

    #[test]
    fn silences() {
        let Command::Silence(r) =
            ok("!stats silence media-quota @bob:example.org 14d moving  to a new server")
        else {
            panic!()
        };
        assert_eq!(r.matcher.rule.to_string(), "media-quota");
        assert_eq!(r.matcher.subject.as_str(), "@bob:example.org");
        assert_eq!(r.duration, Duration::from_secs(14 * 86400));
        assert_eq!(r.reason, "moving to a new server");
        let Command::Silence(r) = ok("!stats silence * @*:old.org 12h") else {
            panic!()
        };
        assert_eq!(r.reason, "");
        assert_eq!(r.matcher.rule.to_string(), "*");
        assert_eq!(ok("!stats silences"), Command::Silences);
        assert_eq!(ok("!stats unsilence 3"), Command::Unsilence(3));
        assert_eq!(ok("!stats unsilence #3"), Command::Unsilence(3));
        assert!(matches!(
            err("!stats silence"),
            UsageError::Missing {
                command: "silence",
                ..
            }
        ));
        assert!(matches!(
            err("!stats silence quota @bob:hs"),
            UsageError::Missing {
                command: "silence",
                ..
            }
        ));
        assert_eq!(
            err("!stats silence quota bob 1d"),
            UsageError::BadSubject("bob".into())
        );
        assert_eq!(
            err("!stats silence quo*ta @bob:hs 1d"),
            UsageError::BadRule("quo*ta".into())
        );
        assert_eq!(
            err("!stats silence quota @bob:hs forever"),
            UsageError::BadDuration("forever".into())
        );
        assert_eq!(
            err("!stats silence quota @bob:hs 0s"),
            UsageError::BadDuration("0s".into())
        );
        assert_eq!(
            err(&format!("!stats silence q @b:hs 1d {}", "w".repeat(201))),
            UsageError::ReasonTooLong
        );
        assert_eq!(
            err("!stats unsilence x"),
            UsageError::BadSilenceId("x".into())
        );
        assert!(matches!(
            err("!stats unsilence"),
            UsageError::Missing {
                command: "unsilence",
                ..
            }
        ));
    }

    #[test]
    fn help_about_one_command() {
        assert_eq!(ok("!stats help top"), Command::Help(Some("top")));
        assert_eq!(ok("!stats help TOP"), Command::Help(Some("top")));
        assert_eq!(ok("!stats --help"), Command::Help(None));
        assert_eq!(
            err("!stats help frob"),
            UsageError::UnknownTopic("frob".into())
        );
    }

    #[test]
    fn usage_errors_name_their_command() {
        let bad = |body| match parse(P, body) {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad("!stats top 0").command, Some("top"));
        assert_eq!(bad("!stats rooms now").command, Some("rooms"));
        assert_eq!(bad("!stats user").command, Some("user"));
        assert_eq!(bad("!stats frob").command, None);
    }

    /// The table is consistent: names and aliases unique, every example
    /// parses to a command of its own entry, every command finds its entry.
    #[test]
    fn the_table_holds_together() {
        let mut words = std::collections::BTreeSet::new();
        for s in COMMANDS {
            for w in std::iter::once(&s.name).chain(s.aliases) {
                assert!(words.insert(w.to_ascii_lowercase()), "{w} twice");
            }
            assert!(
                !s.summary.is_empty() && !s.examples.is_empty(),
                "{}",
                s.name
            );
            for e in s.examples {
                let c = parse_words(&e.split_whitespace().collect::<Vec<_>>())
                    .unwrap_or_else(|b| panic!("{e}: {b}"));
                assert_eq!(c.name(), s.name, "{e}");
                assert!(std::ptr::eq(c.spec(), s));
            }
        }
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
            Command::Preview(ActionKind::Purge {
                user_id: "@a:hs".into(),
                filter: MediaFilter {
                    older_than: None,
                    larger_than: Some(1024)
                }
            })
        );
        assert_eq!(
            ok("!stats quarantine @a:hs"),
            Command::Preview(ActionKind::Quarantine {
                user_id: "@a:hs".into()
            })
        );
        assert_eq!(
            ok("!stats purge-remote older-than 30d"),
            Command::Preview(ActionKind::PurgeRemote {
                older_than: Duration::from_secs(30 * 86400)
            })
        );
        assert_eq!(
            ok("!stats confirm abc123"),
            Command::Confirm {
                code: "ABC123".into()
            }
        );
        let no_user = UsageError::Missing {
            command: "purge",
            what: "a user ID (@alice:example.org)",
        };
        assert_eq!(err("!stats purge"), no_user);
        assert_eq!(err("!stats purge older-than 1d"), no_user);
        assert_eq!(
            err("!stats purge").to_string(),
            "`purge` needs a user ID (@alice:example.org)"
        );
        assert_eq!(err("!stats purge @a"), UsageError::BadUserId("@a".into()));
        assert_eq!(
            err("!stats purge-remote").to_string(),
            "`purge-remote` needs `older-than D` (e.g. older-than 30d)"
        );
        assert_eq!(
            err("!stats confirm").to_string(),
            "`confirm` needs the code of a preview"
        );
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
        assert_eq!(parse(P, "!stats"), Some(Ok(Command::Help(None))));
        assert_eq!(parse(P, "  !Stats  "), Some(Ok(Command::Help(None))));
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
            Just(Command::Help(None)),
            proptest::sample::select(COMMANDS.iter().map(|s| s.name).collect::<Vec<_>>())
                .prop_map(|n| Command::Help(Some(n))),
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
            Just(Command::Silences),
            any::<u64>().prop_map(Command::Unsilence),
            (
                "[a-z][a-z0-9-]{0,15}|\\*",
                "@[a-z0-9*?]{1,10}:[a-z0-9.*-]{1,12}|![a-z]{1,8}:[a-z.]{1,8}|\\*",
                1u64..=90 * 86400,
                proptest::collection::vec("[!-~]{1,12}", 0..5),
            )
                .prop_map(|(rule, subject, secs, reason)| {
                    Command::Silence(SilenceRequest {
                        matcher: Matcher {
                            rule: silences::RulePattern::parse(&rule).expect("a rule"),
                            subject: silences::SubjectPattern::parse(&subject).expect("a subject"),
                        },
                        duration: Duration::from_secs(secs),
                        reason: reason.join(" "),
                    })
                }),
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
            filter().prop_map(|filter| Command::Preview(ActionKind::Purge {
                user_id: "@b:hs".into(),
                filter
            })),
            Just(Command::Preview(ActionKind::Quarantine {
                user_id: "@c:hs".into()
            })),
            (1u64..=3650 * 86400).prop_map(|s| Command::Preview(ActionKind::PurgeRemote {
                older_than: Duration::from_secs(s)
            })),
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
