//! [`Backoff`]: how long to wait before the next attempt of something that
//! failed — a Synapse request, a run, the bot's login or sync.
//!
//! Exponential: the first delay, doubled at each attempt, never more than
//! the cap. With jitter ("equal jitter"), each delay is somewhere between
//! half and all of its step, so that many clients failing together do not
//! come back together. Pure: the jitter is an argument (a number in
//! `0.0..=1.0`, `rand::random()` in production, fixed in tests).

use std::time::Duration;

/// An exponential backoff policy. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `first`, doubling, up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The step before retry number `retry` (0 for the first retry):
    /// `first × 2^retry`, at most `max`.
    pub fn step(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max)
    }

    /// The delay before retry number `retry`, with `jitter` in `0.0..=1.0`
    /// (clamped; NaN counts as 0): between half (`0.0`) and all (`1.0`) of
    /// [`Backoff::step`].
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let step = self.step(retry);
        if jitter >= 1.0 {
            return step;
        }
        let half = step / 2;
        (half + (step - half).mul_f64(jitter)).min(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::new(S(2), S(300));
        let steps: Vec<u64> = (0..10).map(|r| b.step(r).as_secs()).collect();
        assert_eq!(steps, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.step(u32::MAX), S(300));
        assert_eq!(b.delay(0, 1.0), S(2));
        assert_eq!(b.delay(0, 0.0), S(1));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(12));
        assert_eq!(b.delay(0, f64::NAN), S(1));
        assert_eq!(b.delay(0, 7.0), S(2));
        assert_eq!(b.delay(0, -1.0), S(1));
    }

    proptest! {
        #[test]
        fn delays_are_bounded_and_grow(
            first_ms in 1u64..100_000,
            max_ms in 1u64..10_000_000,
            retry in 0u32..200,
            jitter in -1.0f64..2.0,
        ) {
            let b = Backoff::new(Duration::from_millis(first_ms), Duration::from_millis(max_ms));
            let step = b.step(retry);
            let delay = b.delay(retry, jitter);
            // Never more than the cap, never less than half the step.
            prop_assert!(step <= b.max);
            prop_assert!(delay <= step);
            prop_assert!(delay >= step / 2);
            // Steps never shrink from one retry to the next.
            prop_assert!(b.step(retry + 1) >= step);
            // The first step is the first delay (or the cap, if smaller).
            prop_assert_eq!(b.step(0), b.first.min(b.max));
            // Full jitter is the step itself; the same jitter, the same delay.
            prop_assert_eq!(b.delay(retry, 1.0), step);
            prop_assert_eq!(b.delay(retry, jitter), delay);
        }
    }
}
