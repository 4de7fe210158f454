//! `trend [@user:server] [WINDOW]` and `growth [WINDOW] [N]`: what the history shows.

use super::*;

/// `trend`.
pub(super) const TREND: Spec = Spec {
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
};

/// `growth`.
pub(super) const GROWTH: Spec = Spec {
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
};

/// `trend [@user:server] [WINDOW]` and `growth [WINDOW] [N]`, arguments in
/// any order.
pub(super) fn parse_history(word: &str, args: &[&str]) -> Result<Command, UsageError> {
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
                closest: None,
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
