//! Saving the daemon's state: a condition like Synapse's outage, said once
//! when saves start failing (a full disk, a read-only file system) and once
//! when one works again, with the retry pace in between.
//!
//! A failed save stops nothing: alerts, silences and the outbox stay in
//! memory (and in the outbox that is saved once saving works), `/ready`
//! says why, and the save is retried at every change and on its own, with
//! [`SAVE_RETRY`] backoff. Not persisted: a daemon that cannot save cannot
//! remember that it could not.

use std::time::Duration;

use crate::core::alerting::conditions::Outage;
use crate::core::engine::backoff::Backoff;

/// Retries of a failed save when nothing else saves meanwhile: 5 s,
/// doubling, at most 5 minutes apart.
pub const SAVE_RETRY: Backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(300));

/// Something to tell the admins about saving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveChange {
    /// Saves started failing.
    Failing {
        /// Since (Unix ms).
        since_ms: u64,
        /// The first failure.
        error: String,
    },
    /// A save worked after failures.
    Back {
        /// Failing since (Unix ms).
        since_ms: u64,
        /// Saves that failed meanwhile.
        failed: u32,
    },
}

/// Whether saves fail, and since when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saving {
    failing: Option<Outage>,
    failed: u32,
}

impl Saving {
    /// A save failed with `error` at `now_ms`: the notice when it is the
    /// first failure since saves worked.
    pub fn failed(&mut self, error: &str, now_ms: u64) -> Option<SaveChange> {
        self.failed = self.failed.saturating_add(1);
        if self.failing.is_some() {
            return None;
        }
        self.failing = Some(Outage {
            since_ms: now_ms,
            error: error.to_owned(),
        });
        Some(SaveChange::Failing {
            since_ms: now_ms,
            error: error.to_owned(),
        })
    }

    /// A save worked: the notice when saves were failing.
    pub fn saved(&mut self) -> Option<SaveChange> {
        let failed = std::mem::take(&mut self.failed);
        self.failing.take().map(|outage| SaveChange::Back {
            since_ms: outage.since_ms,
            failed,
        })
    }

    /// Whether the last save failed.
    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }

    /// How long after the last failed save to try again on its own
    /// (`None` while saves work).
    pub fn retry_in(&self) -> Option<Duration> {
        self.failing
            .as_ref()
            .map(|_| SAVE_RETRY.step(self.failed.saturating_sub(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notice_when_saves_fail_and_one_when_they_work_again() {
        let mut saving = Saving::default();
        assert_eq!(saving.saved(), None);
        assert_eq!(saving.retry_in(), None);
        assert_eq!(
            saving.failed("No space left on device", 10),
            Some(SaveChange::Failing {
                since_ms: 10,
                error: "No space left on device".into()
            })
        );
        assert!(saving.is_failing());
        assert_eq!(saving.retry_in(), Some(Duration::from_secs(5)));
        for n in 0..40 {
            assert_eq!(saving.failed("again", 20 + n), None);
        }
        assert_eq!(saving.retry_in(), Some(Duration::from_secs(300)));
        assert_eq!(
            saving.saved(),
            Some(SaveChange::Back {
                since_ms: 10,
                failed: 41
            })
        );
        assert_eq!(saving.saved(), None);
        assert!(!saving.is_failing());
        // A new failure is a new notice.
        assert!(matches!(
            saving.failed("read-only", 99),
            Some(SaveChange::Failing { since_ms: 99, .. })
        ));
        assert_eq!(saving.retry_in(), Some(Duration::from_secs(5)));
    }
}
