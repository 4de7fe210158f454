//! When the next run is due, from the policy's schedule.
//!
//! Pure functions of the schedule, the previous run and the current time (the
//! daemon's loop does the sleeping). An interval counts from the previous
//! run's *start*; a run that took longer than the interval makes the next one
//! due at once, never a burst of catch-up runs. Cron expressions are read in
//! UTC. Jitter delays each run by a random part of `schedule.jitter`, so that
//! several instances do not hit Synapse at the same instant.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::core::policy::{Schedule, Trigger};

/// The next time a run is due after `now`, given when the previous run
/// started (`None` before the first run). `jitter_fraction` in `[0, 1)` picks
/// the part of the jitter to add.
pub fn next_due(
    schedule: &Schedule,
    previous_start: Option<SystemTime>,
    now: SystemTime,
    jitter_fraction: f64,
) -> SystemTime {
    let base = match &schedule.trigger {
        Trigger::Every(interval) => match previous_start {
            Some(start) => (start + *interval).max(now),
            None if schedule.run_at_start => now,
            None => now + *interval,
        },
        Trigger::Cron(cron) => {
            if previous_start.is_none() && schedule.run_at_start {
                now
            } else {
                let after: DateTime<Utc> = now.into();
                cron.next_after(&after)
                    .map(SystemTime::from)
                    // An expression with no future time (a past year): far away.
                    .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
            }
        }
    };
    base + schedule.jitter.mul_f64(jitter_fraction.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::CronSchedule;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn every(secs: u64, run_at_start: bool) -> Schedule {
        Schedule {
            trigger: Trigger::Every(Duration::from_secs(secs)),
            run_at_start,
            jitter: Duration::ZERO,
        }
    }

    #[test]
    fn interval_counts_from_the_previous_start() {
        let s = every(900, true);
        assert_eq!(next_due(&s, None, at(1000), 0.0), at(1000));
        assert_eq!(next_due(&s, Some(at(1000)), at(1010), 0.0), at(1900));
        // A run longer than the interval: due at once, not in the past.
        assert_eq!(next_due(&s, Some(at(1000)), at(5000), 0.0), at(5000));
        assert_eq!(next_due(&every(900, false), None, at(1000), 0.0), at(1900));
    }

    #[test]
    fn cron_in_utc() {
        let s = Schedule {
            trigger: Trigger::Cron(CronSchedule {
                written: "0 */15 * * * *".into(),
                schedule: "0 */15 * * * *".parse().unwrap(),
                weekdays: None,
            }),
            run_at_start: false,
            jitter: Duration::ZERO,
        };
        // 1970-01-01 00:07:00 -> 00:15:00
        assert_eq!(next_due(&s, None, at(420), 0.0), at(900));
        assert_eq!(next_due(&s, Some(at(900)), at(900), 0.0), at(1800));
    }

    #[test]
    fn jitter_is_bounded() {
        let s = Schedule {
            jitter: Duration::from_secs(60),
            ..every(900, true)
        };
        assert_eq!(next_due(&s, None, at(0), 0.5), at(30));
        assert_eq!(next_due(&s, None, at(0), 7.0), at(60));
    }
}
