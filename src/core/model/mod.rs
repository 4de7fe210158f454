//! The facts the core decides on: what Synapse reports about users' media
//! and rooms' sizes ([`usage`]), the official room list and where a room
//! ranking came from ([`rooms`]), a rule's violation ([`violation`]) and what
//! a run looked at ([`coverage`]).

pub mod coverage;
pub mod rooms;
pub mod usage;
pub mod users_source;
pub mod violation;

use std::time::Duration;

/// `d` in milliseconds, saturating at `u64::MAX` (durations come from the
/// policy file and reach far beyond what any clock compares).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
