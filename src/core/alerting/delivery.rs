//! How loudly the daemon says that a message could not be posted to the
//! admin room yet (it stays queued and is retried either way).
//!
//! At start-up the first run usually ends before the bot has connected (it
//! syncs, sets up encryption and joins the room first): its summary waits
//! a few seconds, which is the normal order and no warning. A delay that
//! lasts — more than [`QUIET_ATTEMPTS`] failed posts, or past
//! [`START_UP_GRACE`] after the start — is a warning, as is any failure
//! once a message has been delivered since the start.

use std::time::Duration;

/// How long after the start failed posts are expected (the bot connects in
/// seconds; a minute leaves room for a slow homeserver or a first login
/// with its key upload).
pub const START_UP_GRACE: Duration = Duration::from_secs(60);

/// Failed posts at start-up that stay quiet (each run tries twice; the
/// daemon retries when the bot connects and every 30 s).
pub const QUIET_ATTEMPTS: u32 = 5;

/// The level of the log line of a failed post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loudness {
    /// Expected during start-up.
    Info,
    /// Worth an admin's look.
    Warn,
}

/// The level of the `failed`-th failed post in a row (from 1), `now_ms`,
/// for a daemon started at `started_ms` that has (or has not yet)
/// delivered a message since.
pub fn undelivered(
    started_ms: u64,
    now_ms: u64,
    failed: u32,
    delivered_since_start: bool,
) -> Loudness {
    let grace = u64::try_from(START_UP_GRACE.as_millis()).unwrap_or(u64::MAX);
    let starting = !delivered_since_start && now_ms.saturating_sub(started_ms) < grace;
    if starting && failed <= QUIET_ATTEMPTS {
        Loudness::Info
    } else {
        Loudness::Warn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_700_000_000_000;

    #[test]
    fn the_first_failed_posts_of_the_start_up_are_no_warning() {
        // The first run's two attempts, before the bot has connected.
        assert_eq!(undelivered(START, START + 2_000, 1, false), Loudness::Info);
        assert_eq!(undelivered(START, START + 2_100, 2, false), Loudness::Info);
        assert_eq!(
            undelivered(START, START + 59_999, QUIET_ATTEMPTS, false),
            Loudness::Info
        );
    }

    #[test]
    fn a_delay_that_lasts_is_a_warning() {
        // Past the grace.
        assert_eq!(undelivered(START, START + 60_000, 1, false), Loudness::Warn);
        // Too many attempts within it.
        assert_eq!(
            undelivered(START, START + 10_000, QUIET_ATTEMPTS + 1, false),
            Loudness::Warn
        );
        // After a delivery: the room was reachable, failing now is news.
        assert_eq!(undelivered(START, START + 5_000, 1, true), Loudness::Warn);
    }

    #[test]
    fn a_clock_before_the_start_is_no_panic() {
        assert_eq!(undelivered(START, START - 5_000, 1, false), Loudness::Info);
        assert_eq!(undelivered(u64::MAX, 0, u32::MAX, false), Loudness::Warn);
    }
}
