//! `top [N] [media_length|media_count] [WINDOW]`: the users with the most media.

use super::*;

/// `top`.
pub(super) const TOP: Spec = Spec {
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
};

pub(super) fn parse_top(args: &[&str]) -> Result<Command, UsageError> {
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
            return Err(UsageError::UnknownTopArgument {
                word: echo(arg),
                closest: words::closest(arg, &["media_length", "media_count"]),
            });
        }
    }
    Ok(Command::Top {
        n: n.unwrap_or(DEFAULT_TOP),
        metric: metric.unwrap_or(MediaMetric::MediaLength),
        window,
    })
}
