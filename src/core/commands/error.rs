//! What is wrong with a command: a typed usage error, with the command it
//! was for.

use super::*;

/// What is wrong with a command addressed to us. The messages are short
/// and name the culprit; the reply adds the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsageError {
    /// The first word is not a command; the closest commands in spelling.
    #[error("unknown command `{word}`{}", did_you_mean(closest))]
    UnknownCommand {
        /// The word.
        word: String,
        /// At most two commands spelt like it.
        closest: Vec<&'static str>,
    },
    /// `top` got a number outside 1..=100.
    #[error("N must be between 1 and {max}, not {0}", max = MAX_TOP)]
    TopOutOfRange(String),
    /// `top` got a word that is neither a number, a metric nor a window.
    #[error(
        "unknown field or window `{word}`{} (fields: media_length, media_count; windows look like 7d, 24h)",
        did_you_mean(closest.as_slice())
    )]
    UnknownTopArgument {
        /// The word.
        word: String,
        /// The field spelt like it, if any.
        closest: Option<&'static str>,
    },
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
    #[error("`{command}` does not understand `{word}`{} (it takes {expected})", did_you_mean(closest.as_slice()))]
    BadActionArgument {
        /// The command word.
        command: &'static str,
        /// The word.
        word: String,
        /// What it takes.
        expected: &'static str,
        /// The option spelt like it, if any.
        closest: Option<&'static str>,
    },
    /// `larger-than` without a size.
    #[error("`{0}` is not a size: write e.g. 10MB or 500KiB")]
    BadSize(String),
    /// `older-than` without a duration.
    #[error("`{0}` is not an age: write e.g. 90d or 12h")]
    BadAge(String),
    /// A room alias where a room ID is needed.
    #[error(
        "`{0}` is a room alias; a room clean-up needs the room ID (!abc:example.org), which the room's settings show"
    )]
    RoomAlias(String),
    /// Not a room ID.
    #[error("`{0}` is not a room ID (!abc:example.org)")]
    BadRoomId(String),
    /// `confirm` with something that is not a code (not echoed).
    #[error(
        "that is not a confirmation code: a code is {len} letters and digits, as the preview gave it",
        len = actions::CODE_LEN
    )]
    BadCode,
}

/// `; did you mean `top`?`, `; did you mean `top` or `trend`?`, or nothing.
fn did_you_mean(closest: &[&'static str]) -> String {
    match closest {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        [one, two, ..] => format!("; did you mean `{one}` or `{two}`?"),
    }
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
