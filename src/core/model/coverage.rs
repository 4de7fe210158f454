//! What a run actually checked: complete and cut-short walks, room sizes
//! that could not be read, and the one rule built on them — **what was not
//! checked is not resolved**.
//!
//! A run is *complete* when every walk of the users' media statistics saw
//! all of Synapse's users and the room rules (if any) could be checked. A
//! run that is not complete is a *partial run*: the violations it found are
//! real and are announced (new, escalated, reminded), but an open alert it
//! could not look at again is neither resolved nor forgotten: it stays open,
//! unchanged, until a run sees its subject again.
//!
//! Per rule, [`Coverage`] says which subjects were looked at:
//!
//! - all of them (a complete walk, or rooms read);
//! - the users up to a `user_id` (a walk cut short: the walk goes in
//!   ascending `user_id` order, so everyone up to the last user it passed on
//!   was seen);
//! - none that can be trusted (room sizes unavailable; a walk that ended
//!   with far fewer users than Synapse counts, where the gap could be
//!   anywhere).
//!
//! [`crate::core::alerting::lifecycle::AlertState::plan_covered`] and
//! [`crate::core::alerting::lifecycle::AlertState::apply_covered`] apply it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::core::model::violation::{Subject, Violation};

/// How a walk of the users' media statistics was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutCause {
    /// Synapse answered a `next_token` that did not move past the page.
    TokenStuck,
    /// Synapse answered a page without users before the walk had seen
    /// `total` of them.
    EmptyPage,
    /// Synapse said the walk was over (no `next_token`), but it had seen
    /// fewer users than Synapse's `total`, beyond the tolerance
    /// ([`allowed_shortfall`]): pages skipped users somewhere.
    FewerThanTotal,
}

/// A walk that ended before it had seen every user, even after its retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CutShort {
    /// Why it ended.
    pub cause: CutCause,
    /// Distinct users the last attempt saw.
    pub seen: u64,
    /// Synapse's `total` on the last page.
    pub total: u64,
}

impl fmt::Display for CutShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CutShort { seen, total, .. } = self;
        match self.cause {
            CutCause::TokenStuck => write!(
                f,
                "Synapse's next_token stopped advancing at {seen} of {total} users"
            ),
            CutCause::EmptyPage => write!(
                f,
                "Synapse answered an empty page at {seen} of {total} users"
            ),
            CutCause::FewerThanTotal => {
                write!(f, "Synapse ended the walk after {seen} of {total} users")
            }
        }
    }
}

/// Users a complete walk may miss against Synapse's last `total`: users
/// that appeared during the walk before the walk's position are not seen
/// (they are checked by the next run), so a walk that ended normally is
/// complete when it saw at least `total - allowed_shortfall(total)` distinct
/// users: 1 % of `total`, and at least one user. More users than `total`
/// (users that disappeared during the walk) is complete.
pub fn allowed_shortfall(total: u64) -> u64 {
    (total / 100).max(1)
}

/// Whether a walk that ended normally (Synapse gave no further
/// `next_token`) after seeing `seen` distinct users saw everyone, given the
/// `total` of its last page; `Some` is how it fell short.
pub fn judge_walk_end(seen: u64, total: u64, last_page_empty: bool) -> Option<CutShort> {
    if seen.saturating_add(allowed_shortfall(total)) >= total {
        return None;
    }
    Some(CutShort {
        cause: if last_page_empty {
            CutCause::EmptyPage
        } else {
            CutCause::FewerThanTotal
        },
        seen,
        total,
    })
}

/// Why the room rules could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomsUnavailable {
    /// Synapse runs on SQLite: it estimates room sizes only on PostgreSQL.
    /// This lasts as long as the server's database.
    Sqlite,
    /// Synapse failed to estimate room sizes (its known 500 until the
    /// PostgreSQL planner statistics cover the event tables); the error as
    /// Synapse's client reported it.
    Server(String),
    /// The largest rooms were not asked for.
    NotAsked,
}

impl fmt::Display for RoomsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomsUnavailable::Sqlite => f.write_str(
                "this Synapse uses SQLite, and Synapse estimates room sizes only on PostgreSQL",
            ),
            RoomsUnavailable::Server(error) => write!(
                f,
                "Synapse could not estimate room sizes ({error}); on PostgreSQL this happens \
                 until its planner statistics cover the event tables"
            ),
            RoomsUnavailable::NotAsked => f.write_str("the largest rooms were not asked for"),
        }
    }
}

/// As the sentence for people, as `check --format json` always wrote it.
impl Serialize for RoomsUnavailable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which subjects of one rule a run looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Every subject.
    All,
    /// The users whose ID sorts at or before this one (a walk cut short).
    UsersUpTo(Option<String>),
    /// None that can be trusted.
    Nothing,
}

impl Checked {
    fn covers(&self, subject: &Subject) -> bool {
        match (self, subject) {
            (Checked::All, _) => true,
            (Checked::UsersUpTo(Some(last)), Subject::User { user_id, .. }) => {
                user_id.as_str() <= last.as_str()
            }
            _ => false,
        }
    }

    /// The narrower of two.
    fn and(self, other: Checked) -> Checked {
        match (self, other) {
            (Checked::Nothing, _) | (_, Checked::Nothing) => Checked::Nothing,
            (Checked::All, c) | (c, Checked::All) => c,
            (Checked::UsersUpTo(a), Checked::UsersUpTo(b)) => Checked::UsersUpTo(a.min(b)),
        }
    }
}

/// What a run looked at, per rule; rules not named were checked fully.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    limited: BTreeMap<String, Checked>,
}

impl Coverage {
    /// A run that looked at everything.
    pub fn complete() -> Coverage {
        Coverage::default()
    }

    /// Records that `rule` looked only at what `checked` says (narrowing
    /// what was recorded before).
    pub fn limit(&mut self, rule: &str, checked: Checked) {
        let now = match self.limited.remove(rule) {
            Some(before) => before.and(checked),
            None => checked,
        };
        if now != Checked::All {
            self.limited.insert(rule.to_owned(), now);
        }
    }

    /// Whether the run looked at `violation`'s subject for its rule, so that
    /// its absence from the run means it is resolved.
    pub fn covers(&self, violation: &Violation) -> bool {
        self.limited
            .get(&*violation.rule)
            .is_none_or(|c| c.covers(&violation.subject))
    }

    /// Whether everything was looked at.
    pub fn is_complete(&self) -> bool {
        self.limited.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::violation::fixture::{user, violation as v};

    #[test]
    fn tolerance_is_one_percent_and_at_least_one_user() {
        assert_eq!(allowed_shortfall(0), 1);
        assert_eq!(allowed_shortfall(120), 1);
        assert_eq!(allowed_shortfall(20_000), 200);
        assert_eq!(judge_walk_end(119, 120, false), None);
        assert_eq!(judge_walk_end(125, 120, false), None);
        assert_eq!(judge_walk_end(0, 0, true), None);
        assert_eq!(
            judge_walk_end(118, 120, false),
            Some(CutShort {
                cause: CutCause::FewerThanTotal,
                seen: 118,
                total: 120
            })
        );
        assert_eq!(
            judge_walk_end(80, 120, true).unwrap().to_string(),
            "Synapse answered an empty page at 80 of 120 users"
        );
    }

    #[test]
    fn names_the_cause() {
        let cut = CutShort {
            cause: CutCause::TokenStuck,
            seen: 80,
            total: 120,
        };
        assert_eq!(
            cut.to_string(),
            "Synapse's next_token stopped advancing at 80 of 120 users"
        );
    }

    #[test]
    fn covers_per_rule_and_subject() {
        let mut c = Coverage::complete();
        assert!(c.is_complete());
        c.limit("quota", Checked::UsersUpTo(Some("@m:hs".into())));
        c.limit("rooms", Checked::Nothing);
        c.limit("other", Checked::All);
        assert!(!c.is_complete());
        assert!(c.covers(&v("quota", user("@a:hs"))));
        assert!(c.covers(&v("quota", user("@m:hs"))));
        assert!(!c.covers(&v("quota", user("@n:hs"))));
        assert!(c.covers(&v("other", user("@z:hs"))));
        assert!(!c.covers(&v(
            "rooms",
            Subject::Room {
                room_id: "!r:hs".into()
            }
        )));
        // Narrowing keeps the smaller.
        c.limit("quota", Checked::UsersUpTo(Some("@c:hs".into())));
        assert!(!c.covers(&v("quota", user("@d:hs"))));
        c.limit("quota", Checked::UsersUpTo(None));
        assert!(!c.covers(&v("quota", user("@a:hs"))));
    }
}
