//! The per-sender command rate limit: a token bucket per sender, refilled
//! at `burst` per `per` ([`crate::core::policy::RateLimit`], the
//! `matrix.rate_limit` key). Pure: the time is an argument. Past the
//! limit, the first refused command is answered once ([`Admission::LimitedFirst`])
//! and later ones are dropped until a token comes back.

use std::collections::HashMap;

use crate::core::policy::RateLimit;

/// What the rate limiter says about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Over the limit, for the first time since the bucket was last
    /// non-empty: say so once.
    LimitedFirst,
    /// Over the limit again: drop silently.
    Limited,
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens, in thousandths.
    milli_tokens: u64,
    last_ms: u64,
    warned: bool,
}

/// A token bucket per sender. Pure: the time is an argument.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// Buckets of `limit.burst` commands, refilled over `limit.per`.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token of `sender`'s bucket at `now_ms`.
    pub fn admit(&mut self, sender: &str, now_ms: u64) -> Admission {
        let full = u64::from(self.limit.burst) * 1000;
        let per_ms = u64::try_from(self.limit.per.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // Forget senders whose bucket is full again, so the map stays small.
        if self.buckets.len() > 1000 {
            let limit = per_ms;
            self.buckets
                .retain(|_, b| now_ms.saturating_sub(b.last_ms) < limit);
        }
        let bucket = self.buckets.entry(sender.to_owned()).or_insert(Bucket {
            milli_tokens: full,
            last_ms: now_ms,
            warned: false,
        });
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        let refill = u128::from(elapsed) * u128::from(full) / u128::from(per_ms);
        bucket.milli_tokens = full.min(
            bucket
                .milli_tokens
                .saturating_add(u64::try_from(refill).unwrap_or(u64::MAX)),
        );
        bucket.last_ms = now_ms;
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            bucket.warned = false;
            Admission::Allowed
        } else if bucket.warned {
            Admission::Limited
        } else {
            bucket.warned = true;
            Admission::LimitedFirst
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn token_bucket_per_sender_warns_once() {
        let mut l = RateLimiter::new(RateLimit {
            burst: 2,
            per: Duration::from_secs(10),
        });
        assert_eq!(l.admit("@a:hs", 0), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 0), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 0), Admission::LimitedFirst);
        assert_eq!(l.admit("@a:hs", 1000), Admission::Limited);
        assert_eq!(l.admit("@b:hs", 1000), Admission::Allowed, "per sender");
        // 2 per 10 s: one token back after 5 s.
        assert_eq!(l.admit("@a:hs", 5000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 5000), Admission::LimitedFirst);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::Allowed);
        assert_eq!(l.admit("@a:hs", 100_000), Admission::LimitedFirst);
        // Time going backwards refills nothing and does not panic.
        assert_eq!(l.admit("@a:hs", 0), Admission::Limited);
    }

    #[test]
    fn the_default_lets_a_person_exploring_send_twenty_in_a_row() {
        let mut l = RateLimiter::new(RateLimit::default());
        for i in 0..20 {
            assert_eq!(l.admit("@a:hs", i * 10), Admission::Allowed, "command {i}");
        }
        assert_eq!(l.admit("@a:hs", 200), Admission::LimitedFirst);
        assert_eq!(l.admit("@a:hs", 2_000), Admission::Limited);
        // 20 per minute: one back every 3 s.
        assert_eq!(l.admit("@a:hs", 3_200), Admission::Allowed);
    }

    proptest! {
        /// In any span of `per`, at most twice the burst get through (a full
        /// bucket plus what refills), and after a quiet `per` the next one
        /// always does; one refusal is answered per run of refusals.
        #[test]
        fn bounded_and_live(
            burst in 1u32..30,
            per_s in 1u64..120,
            gaps in proptest::collection::vec(0u64..20_000, 1..200),
        ) {
            let per_ms = per_s * 1000;
            let mut l = RateLimiter::new(RateLimit { burst, per: Duration::from_secs(per_s) });
            let mut now = 0;
            let mut admitted: Vec<u64> = Vec::new();
            let mut last = Admission::Allowed;
            for gap in gaps {
                now += gap;
                let quiet = admitted.last().is_none_or(|t| now - t >= per_ms)
                    && last == Admission::Allowed;
                let a = l.admit("@a:hs", now);
                if quiet || gap >= per_ms {
                    prop_assert_eq!(a, Admission::Allowed, "after a quiet {} ms", gap);
                }
                if a == Admission::Limited {
                    prop_assert_ne!(last, Admission::Allowed, "a first refusal is answered");
                }
                if a == Admission::Allowed {
                    admitted.push(now);
                    let within = admitted.iter().filter(|t| now - **t < per_ms).count();
                    prop_assert!(within <= 2 * burst as usize, "{} in {} ms", within, per_ms);
                }
                last = a;
            }
        }
    }
}
