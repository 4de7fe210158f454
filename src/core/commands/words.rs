//! Words shared by the parsers: user IDs, metrics, windows, and how a
//! command line is read (reply fallbacks, echoes of what was typed).

use super::*;

/// `@localpart:server`, both parts non-empty, ASCII (Synapse's localparts
/// are ASCII), no whitespace, at most 255 bytes as the spec says.
pub(super) fn is_user_id(s: &str) -> bool {
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

/// A room ID: `!` and an opaque ASCII part (`!abc:server` in room versions
/// up to 11, `!hash` from version 12), no whitespace, at most 255 bytes.
pub(super) fn is_room_id(s: &str) -> bool {
    s.len() > 1
        && s.len() <= 255
        && s.starts_with('!')
        && s.is_ascii()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

pub(super) fn metric_of(word: &str) -> Option<MediaMetric> {
    match word.to_ascii_lowercase().as_str() {
        "media_length" | "length" | "size" | "bytes" => Some(MediaMetric::MediaLength),
        "media_count" | "count" => Some(MediaMetric::MediaCount),
        _ => None,
    }
}

/// A window word: humantime's syntax without spaces (`7d`, `1h30m`), which
/// always starts with a digit.
pub(super) fn window_of(word: &str) -> Option<Duration> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) || word.len() > 32 {
        return None;
    }
    humantime::parse_duration(word).ok()
}

/// Skips a reply fallback: leading lines starting with `>`, and the blank
/// line after them.
pub(super) fn strip_reply_fallback(body: &str) -> &str {
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
pub(super) fn echo(word: &str) -> String {
    match word.char_indices().nth(MAX_ECHO) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_owned(),
    }
}

/// The word among `candidates` closest in spelling to `word`, when close
/// enough to be a plausible typo (as the configuration errors suggest keys).
pub(super) fn closest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    crate::core::policy::error::closest(word, candidates)
}

/// At most the two words among `candidates` closest to `word`.
pub(super) fn closest_two(word: &str, candidates: &[&'static str]) -> Vec<&'static str> {
    let Some(first) = closest(word, candidates) else {
        return Vec::new();
    };
    let rest: Vec<&'static str> = candidates.iter().copied().filter(|c| *c != first).collect();
    std::iter::once(first).chain(closest(word, &rest)).collect()
}
