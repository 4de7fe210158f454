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
//! !stats delete-room !room:server [block]
//! !stats purge-history !room:server older-than D [local-too]
//! !stats delete-abandoned
//! !stats purge-deactivated [older-than D]
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

pub mod actions;
mod admin;
pub mod answers;
mod cleanup;
mod error;
mod help;
mod history;
pub mod rate_limit;
mod room_cleanup;
mod silence;
mod top;
mod user;
mod words;

pub use error::{BadCommand, UsageError};

use cleanup::write_filter;
use words::*;

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::core::alerting::silences::{self, Matcher};
use crate::core::commands::actions::{ActionKind, MediaFilter, MediaOrder};
use crate::core::model::usage::MediaMetric;

/// Default number of users `top` lists.
pub const DEFAULT_TOP: u32 = 10;
/// Most users `top` lists.
pub const MAX_TOP: u32 = crate::core::engine::snapshot::TOP_KEPT as u32;
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
    help::HELP,
    top::TOP,
    user::USER,
    admin::ROOMS,
    admin::CHECK,
    admin::POLICIES,
    admin::STATUS,
    admin::RELOAD,
    history::TREND,
    history::GROWTH,
    silence::SILENCE,
    silence::SILENCES,
    silence::UNSILENCE,
    cleanup::MEDIA,
    cleanup::PURGE,
    cleanup::QUARANTINE,
    cleanup::PURGE_REMOTE,
    room_cleanup::DELETE_ROOM,
    room_cleanup::PURGE_HISTORY,
    room_cleanup::DELETE_ABANDONED,
    cleanup::PURGE_DEACTIVATED,
    cleanup::CONFIRM,
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
    /// The largest rooms; with `abandoned`, the rooms no local user is in.
    Rooms {
        /// Only the rooms without a local member.
        abandoned: bool,
    },
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

impl SilenceRequest {
    /// Whether it silences every user or every room (`silence * *`,
    /// `silence media-quota @*`, any glob that matches every ID): as much
    /// as turning a rule off, so it needs `matrix.action_power_level`; a
    /// narrower silence needs only the power level to command.
    pub fn needs_action_level(&self) -> bool {
        self.matcher.matches_everyone()
    }
}

/// Whether a sender whose power level in the admin room is `level`
/// (`None`: unknown) may set `request`, where acting needs `action_level`.
/// The allow-list (`matrix.allowed_senders`) grants the command, never the
/// action level.
pub fn may_silence(request: &SilenceRequest, level: Option<i64>, action_level: i64) -> bool {
    !request.needs_action_level() || actions::may_act(level, action_level)
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
        let names: Vec<&'static str> = COMMANDS.iter().map(|s| s.name).collect();
        return Err(UsageError::UnknownCommand {
            word: echo(word),
            closest: words::closest_two(word, &names),
        }
        .into());
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

impl fmt::Display for Command {
    /// The canonical words of the command, without prefix: what [`parse`]
    /// reads back into the same command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Help(Some(topic)) => write!(f, "help {topic}"),
            Command::Top { n, metric, window } => {
                write!(f, "top {n} {metric}")?;
                if let Some(w) = window {
                    write!(f, " {}", crate::core::doc::format::window_word(*w))?;
                }
                Ok(())
            }
            Command::User(q) => write!(f, "user {}", q.as_str()),
            Command::Rooms { abandoned: true } => f.write_str("rooms abandoned"),
            Command::Silence(s) => {
                write!(
                    f,
                    "silence {} {} {}",
                    s.matcher.rule,
                    s.matcher.subject,
                    crate::core::doc::format::window_word(s.duration)
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
                write!(
                    f,
                    "purge-remote older-than {}",
                    crate::core::doc::format::window_word(*older_than)
                )
            }
            Command::Preview(ActionKind::DeleteRoom { room_id, block }) => {
                write!(f, "delete-room {room_id}")?;
                if *block {
                    f.write_str(" block")?;
                }
                Ok(())
            }
            Command::Preview(ActionKind::PurgeHistory {
                room_id,
                older_than,
                local_too,
            }) => {
                write!(
                    f,
                    "purge-history {room_id} older-than {}",
                    crate::core::doc::format::window_word(*older_than)
                )?;
                if *local_too {
                    f.write_str(" local-too")?;
                }
                Ok(())
            }
            Command::Preview(ActionKind::PurgeDeactivated { older_than }) => {
                f.write_str("purge-deactivated")?;
                if let Some(d) = older_than {
                    write!(
                        f,
                        " older-than {}",
                        crate::core::doc::format::window_word(*d)
                    )?;
                }
                Ok(())
            }
            Command::Confirm { code } => write!(f, "confirm {code}"),
            Command::Trend { user_id, window } => {
                f.write_str("trend")?;
                if let Some(u) = user_id {
                    write!(f, " {u}")?;
                }
                write!(f, " {}", crate::core::doc::format::window_word(*window))
            }
            Command::Growth { window, n } => {
                write!(
                    f,
                    "growth {} {n}",
                    crate::core::doc::format::window_word(*window)
                )
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
mod tests;
