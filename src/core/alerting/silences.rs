//! Silences, as Alertmanager has them: matchers (a rule, or every rule; a
//! user ID, a room ID or a glob), an author, a reason and an end. A
//! violation matched by an active silence is not announced — neither as
//! new, nor reminded, nor escalated — but it is still counted and listed
//! everywhere else; its resolution is announced as usual.
//!
//! Silences are plain data kept in the alert state
//! ([`crate::core::alerting::lifecycle::AlertState::silences`]), so they are saved with
//! it, atomically, and survive restarts and reloads. Pure: the time is an
//! argument.

use std::fmt;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::model::violation::Violation;

/// Longest rule name or subject pattern, in bytes.
const MAX_PATTERN: usize = 255;
/// Ended silences kept (for the record), newest last.
const KEEP_ENDED: usize = 100;

/// Which rule a silence matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RulePattern {
    /// `*`: every rule.
    Any,
    /// The rule of this name.
    Named(String),
}

impl RulePattern {
    /// `*` or a rule name (printable ASCII without spaces or glob
    /// characters, as the policy file's names are).
    pub fn parse(word: &str) -> Option<RulePattern> {
        if word == "*" {
            return Some(RulePattern::Any);
        }
        let ok = !word.is_empty()
            && word.len() <= MAX_PATTERN
            && word
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"*?[]{}".contains(&b));
        ok.then(|| RulePattern::Named(word.to_owned()))
    }

    /// Whether it matches the rule `name`.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            RulePattern::Any => true,
            RulePattern::Named(n) => n == name,
        }
    }
}

impl fmt::Display for RulePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulePattern::Any => f.write_str("*"),
            RulePattern::Named(n) => f.write_str(n),
        }
    }
}

impl From<RulePattern> for String {
    fn from(p: RulePattern) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for RulePattern {
    type Error = String;
    fn try_from(s: String) -> Result<RulePattern, String> {
        RulePattern::parse(&s).ok_or_else(|| format!("not a rule pattern: {s:?}"))
    }
}

/// Which users or rooms a silence matches: one ID exactly, or a glob
/// (`*` and `?` match any characters, `:` included; `[...]` a class).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SubjectPattern {
    pattern: String,
    glob: Option<GlobMatcher>,
}

impl SubjectPattern {
    /// A user ID (`@...`), a room ID (`!...`) or a glob: printable ASCII,
    /// no spaces, at most 255 bytes; a glob must compile.
    pub fn parse(word: &str) -> Option<SubjectPattern> {
        if word.is_empty()
            || word.len() > MAX_PATTERN
            || !word.bytes().all(|b| b.is_ascii_graphic())
        {
            return None;
        }
        let is_glob = word.contains(['*', '?', '[', '{']);
        if is_glob {
            let glob = Glob::new(word).ok()?.compile_matcher();
            Some(SubjectPattern {
                pattern: word.to_owned(),
                glob: Some(glob),
            })
        } else if (word.starts_with('@') || word.starts_with('!')) && word[1..].contains(':') {
            Some(SubjectPattern {
                pattern: word.to_owned(),
                glob: None,
            })
        } else {
            None
        }
    }

    /// Whether it matches the user or room `id`.
    pub fn matches(&self, id: &str) -> bool {
        match &self.glob {
            Some(glob) => glob.is_match(id),
            None => self.pattern == id,
        }
    }

    /// The pattern as typed.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether it matches every user or every room: a glob that matches
    /// each of [`EVERY_USER`] or each of [`EVERY_ROOM`] (IDs of every shape:
    /// any first character, any server, ports, IP literals). `*`, `**`,
    /// `@*`, `!*`, `*:*`, `@*:*`, `@?*` do; `@*:example.org` (one server)
    /// and `@bob*` do not. An exact ID never does.
    pub fn matches_everyone(&self) -> bool {
        self.glob.as_ref().is_some_and(|glob| {
            EVERY_USER.iter().all(|id| glob.is_match(id))
                || EVERY_ROOM.iter().all(|id| glob.is_match(id))
        })
    }
}

/// User IDs of every shape: a glob matching all of them matches every user.
pub const EVERY_USER: &[&str] = &[
    "@a:b",
    "@alice:example.org",
    "@Zed:example.com",
    "@0:10.0.0.1",
    "@_bridge.x=y-z/w+1:[::1]:8448",
    "@~:xn--e1afmkfd.xn--p1ai:443",
];

/// Room IDs of every shape: a glob matching all of them matches every room.
pub const EVERY_ROOM: &[&str] = &[
    "!a:b",
    "!AbCdEfGhIjKlMnOp:example.org",
    "!0zz:10.0.0.1",
    "!_-.=~:[::1]:8448",
    "!x:xn--e1afmkfd.xn--p1ai:443",
];

impl PartialEq for SubjectPattern {
    fn eq(&self, other: &SubjectPattern) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for SubjectPattern {}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl From<SubjectPattern> for String {
    fn from(p: SubjectPattern) -> String {
        p.pattern
    }
}

impl TryFrom<String> for SubjectPattern {
    type Error = String;
    fn try_from(s: String) -> Result<SubjectPattern, String> {
        SubjectPattern::parse(&s).ok_or_else(|| format!("not a subject pattern: {s:?}"))
    }
}

/// A silence's matchers: both must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// The rule.
    pub rule: RulePattern,
    /// The user or room.
    pub subject: SubjectPattern,
}

impl Matcher {
    /// Whether `v` is matched.
    pub fn matches(&self, v: &Violation) -> bool {
        self.rule.matches(&v.rule) && self.subject.matches(v.subject.id())
    }

    /// Whether it silences every user or every room, for one rule or for
    /// all (`silence * *`, `silence media-quota @*`): as much as turning
    /// the rule off, so the commands ask the power level to act for it.
    pub fn matches_everyone(&self) -> bool {
        self.subject.matches_everyone()
    }
}

/// How a silence ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Who ended it early; `None`: it expired.
    pub by: Option<String>,
}

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Its number, unique in this state.
    pub id: u64,
    /// What it matches.
    pub matcher: Matcher,
    /// Who created it (a Matrix user ID).
    pub author: String,
    /// Why; may be empty.
    pub reason: String,
    /// Created (Unix ms).
    pub created_ms: u64,
    /// Ends (Unix ms).
    pub ends_ms: u64,
    /// Set once it is over.
    #[serde(default)]
    pub ended: Option<Ended>,
}

impl Silence {
    /// Whether it silences at `now_ms`.
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.ended.is_none() && now_ms < self.ends_ms
    }
}

/// Why a silence cannot be created or ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SilenceError {
    /// Longer than `matrix.silence_max`.
    #[error("silences may last at most {max} (matrix.silence_max)", max = crate::core::doc::format::window(*.0))]
    TooLong(Duration),
    /// No silence has this ID.
    #[error("there is no silence {0}")]
    NotFound(u64),
    /// It is over already.
    #[error("silence {0} has already ended")]
    AlreadyEnded(u64),
}

/// Every silence, active or recently ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Silences {
    /// Oldest first.
    pub list: Vec<Silence>,
    /// The last ID given.
    pub last_id: u64,
}

impl Silences {
    /// Creates a silence of `duration` from `now_ms`, at most `max` long.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        matcher: Matcher,
        author: &str,
        reason: &str,
        duration: Duration,
        max: Duration,
        now_ms: u64,
    ) -> Result<&Silence, SilenceError> {
        if duration > max {
            return Err(SilenceError::TooLong(max));
        }
        self.last_id += 1;
        let ms = crate::core::model::millis(duration);
        self.list.push(Silence {
            id: self.last_id,
            matcher,
            author: author.to_owned(),
            reason: reason.to_owned(),
            created_ms: now_ms,
            ends_ms: now_ms.saturating_add(ms),
            ended: None,
        });
        Ok(self.list.last().expect("just pushed"))
    }

    /// Ends silence `id` early, by `by`.
    pub fn end(&mut self, id: u64, by: &str, now_ms: u64) -> Result<Silence, SilenceError> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(SilenceError::NotFound(id))?;
        if !s.is_active(now_ms) {
            return Err(SilenceError::AlreadyEnded(id));
        }
        s.ended = Some(Ended {
            at_ms: now_ms,
            by: Some(by.to_owned()),
        });
        let ended = s.clone();
        self.prune();
        Ok(ended)
    }

    /// The silences in force at `now_ms`, oldest first.
    pub fn active(&self, now_ms: u64) -> impl Iterator<Item = &Silence> {
        self.list.iter().filter(move |s| s.is_active(now_ms))
    }

    /// The first silence in force at `now_ms` that matches `v`.
    pub fn silencing(&self, v: &Violation, now_ms: u64) -> Option<&Silence> {
        self.active(now_ms).find(|s| s.matcher.matches(v))
    }

    /// Silences past their end that were not yet marked as expired.
    pub fn expiring(&self, now_ms: u64) -> impl Iterator<Item = &Silence> {
        self.list
            .iter()
            .filter(move |s| s.ended.is_none() && now_ms >= s.ends_ms)
    }

    /// Marks the silences past their end as expired at `now_ms`.
    pub fn mark_expired(&mut self, now_ms: u64) {
        for s in &mut self.list {
            if s.ended.is_none() && now_ms >= s.ends_ms {
                s.ended = Some(Ended {
                    at_ms: s.ends_ms,
                    by: None,
                });
            }
        }
        self.prune();
    }

    /// Keeps the [`KEEP_ENDED`] most recently created ended silences.
    fn prune(&mut self) {
        let ended = self.list.iter().filter(|s| s.ended.is_some()).count();
        let mut drop = ended.saturating_sub(KEEP_ENDED);
        self.list.retain(|s| {
            if drop > 0 && s.ended.is_some() {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::violation::Subject;
    use crate::core::model::violation::fixture::violation;
    use proptest::prelude::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn v(rule: &str, id: &str) -> Violation {
        let subject = if id.starts_with('!') {
            Subject::Room { room_id: id.into() }
        } else {
            Subject::User {
                user_id: id.into(),
                displayname: Some("Bob".into()),
            }
        };
        violation(rule, subject)
    }

    fn m(rule: &str, subject: &str) -> Matcher {
        Matcher {
            rule: RulePattern::parse(rule).unwrap(),
            subject: SubjectPattern::parse(subject).unwrap(),
        }
    }

    #[test]
    fn exact_ids_globs_and_any_rule() {
        let bob = v("media-quota", "@bob:example.org");
        assert!(m("media-quota", "@bob:example.org").matches(&bob));
        assert!(m("*", "@bob:example.org").matches(&bob));
        assert!(m("*", "@*:example.org").matches(&bob));
        assert!(m("media-quota", "*").matches(&bob));
        assert!(m("media-quota", "@b?b:*").matches(&bob));
        assert!(!m("many-files", "@bob:example.org").matches(&bob));
        assert!(!m("media-quota", "@bob:example.com").matches(&bob));
        assert!(!m("media-quota", "@bo:example.org").matches(&bob));
        assert!(!m("*", "@*:other.org").matches(&bob));
        // An exact ID is not a prefix, and the display name never counts.
        assert!(!m("*", "@bob:example.or").matches(&bob));
        assert!(SubjectPattern::parse("Bob").is_none());
        let room = v("big-rooms", "!abc:example.org");
        assert!(m("big-rooms", "!abc:example.org").matches(&room));
        assert!(m("*", "!*").matches(&room));
        assert!(!m("*", "@*").matches(&room));
    }

    #[test]
    fn a_silence_of_everyone_is_told_from_a_narrow_one() {
        for everyone in [
            "*", "**", "@*", "!*", "*:*", "@*:*", "!*:*", "@?*", "?*", "*?", "[@!]*", "{@,!}*",
        ] {
            let p = SubjectPattern::parse(everyone).unwrap();
            assert!(p.matches_everyone(), "{everyone}");
            assert!(m("*", everyone).matches_everyone(), "{everyone}");
            assert!(m("media-quota", everyone).matches_everyone(), "{everyone}");
        }
        for narrow in [
            "@bob:example.org",
            "!abc:example.org",
            "@*:example.org",
            "@*:old.example.org",
            "@bob*",
            "@[a-z]*",
            "*:example.org",
            "!abc*",
            "@*bot:*",
        ] {
            let p = SubjectPattern::parse(narrow).unwrap();
            assert!(!p.matches_everyone(), "{narrow}");
        }
        // Each probe is a word `silence` accepts.
        for id in EVERY_USER.iter().chain(EVERY_ROOM) {
            assert!(SubjectPattern::parse(id).is_some(), "{id}");
        }
    }

    #[test]
    fn patterns_refused() {
        for bad in [
            "",
            "bob",
            "@bob",
            "@ bob:hs",
            "@bob:hs\u{202e}",
            "[",
            "@b{o:hs",
        ] {
            assert!(SubjectPattern::parse(bad).is_none(), "{bad:?}");
        }
        assert!(SubjectPattern::parse(&format!("@{}:hs", "a".repeat(300))).is_none());
        for bad in ["", "a b", "quota*", "ünï"] {
            assert!(RulePattern::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn life_of_a_silence() {
        let mut s = Silences::default();
        let bob = v("media-quota", "@bob:hs");
        let id = s
            .add(
                m("*", "@bob:hs"),
                "@admin:hs",
                "moving",
                14 * DAY,
                90 * DAY,
                1000,
            )
            .unwrap()
            .id;
        assert_eq!(id, 1);
        assert_eq!(s.silencing(&bob, 1000).map(|x| x.id), Some(1));
        let end = 1000 + 14 * 86_400_000;
        assert_eq!(s.silencing(&bob, end - 1).map(|x| x.id), Some(1));
        assert!(s.silencing(&bob, end).is_none());
        assert_eq!(s.expiring(end).count(), 1);
        s.mark_expired(end);
        assert_eq!(s.expiring(end).count(), 0);
        assert_eq!(
            s.list[0].ended,
            Some(Ended {
                at_ms: end,
                by: None
            })
        );
        assert_eq!(
            s.add(m("*", "*"), "@a:hs", "", 91 * DAY, 90 * DAY, 0),
            Err(SilenceError::TooLong(90 * DAY))
        );
        let id = s
            .add(m("*", "*"), "@a:hs", "", DAY, 90 * DAY, 0)
            .unwrap()
            .id;
        assert_eq!(id, 2);
        assert_eq!(
            s.end(2, "@b:hs", 10).unwrap().ended.unwrap().by.as_deref(),
            Some("@b:hs")
        );
        assert_eq!(s.end(2, "@b:hs", 11), Err(SilenceError::AlreadyEnded(2)));
        assert_eq!(s.end(9, "@b:hs", 11), Err(SilenceError::NotFound(9)));
        assert!(s.silencing(&bob, 11).is_none());
    }

    #[test]
    fn ended_silences_are_pruned_and_ids_never_reused() {
        let mut s = Silences::default();
        for i in 0..(KEEP_ENDED as u64 + 20) {
            let id = s.add(m("*", "*"), "@a:hs", "", DAY, DAY, i).unwrap().id;
            s.end(id, "@a:hs", i).unwrap();
        }
        assert_eq!(s.list.len(), KEEP_ENDED);
        assert_eq!(
            s.add(m("*", "*"), "@a:hs", "", DAY, DAY, 0).unwrap().id,
            KEEP_ENDED as u64 + 21
        );
    }

    #[test]
    fn round_trips_through_json() {
        let mut s = Silences::default();
        s.add(m("media-quota", "@*:hs"), "@a:hs", "why", DAY, DAY, 5)
            .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: Silences = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(back.silencing(&v("media-quota", "@x:hs"), 6).is_some());
        assert!(serde_json::from_str::<Silences>(&json.replace("@*:hs", "bob")).is_err());
    }

    proptest! {
        /// An exact subject matches exactly its own ID; `*` matches every
        /// ID; a glob of the server part matches exactly that server's users.
        #[test]
        fn matching_agrees_with_the_ids(
            local in "[a-z0-9._=-]{1,12}",
            other in "[a-z0-9._=-]{1,12}",
            server in "[a-z0-9.-]{1,12}",
            rule in "[a-z-]{1,10}",
            other_rule in "[a-z-]{1,10}",
        ) {
            let id = format!("@{local}:{server}");
            let viol = v(&rule, &id);
            prop_assert!(m(&rule, &id).matches(&viol));
            prop_assert!(m("*", &id).matches(&viol));
            prop_assert!(m(&rule, "*").matches(&viol));
            let glob = format!("@*:{server}");
            prop_assert!(m("*", &glob).matches(&viol));
            prop_assert_eq!(m(&other_rule, &id).matches(&viol), other_rule == rule);
            let other_id = format!("@{other}:{server}");
            prop_assert_eq!(m(&rule, &other_id).matches(&viol), other == local);
            let longer = format!("@*:{server}x");
            prop_assert!(!m(&rule, &longer).matches(&viol));
        }

        /// A silence silences from its creation to its end, exclusive, and
        /// never after it was ended.
        #[test]
        fn active_exactly_within_its_span(
            start in 0u64..1_000_000,
            secs in 1u64..10_000,
            at in 0u64..20_000_000,
            ended_at in proptest::option::of(0u64..20_000_000),
        ) {
            let mut s = Silences::default();
            let d = Duration::from_secs(secs);
            let id = s.add(m("*", "*"), "@a:hs", "", d, d, start).unwrap().id;
            let end = start + secs * 1000;
            if let Some(e) = ended_at {
                prop_assert_eq!(s.end(id, "@b:hs", e).is_ok(), e < end);
            }
            let expected = ended_at.is_none_or(|e| e >= end) && at < end;
            prop_assert_eq!(s.silencing(&v("r", "@x:hs"), at).is_some(), expected);
        }

        #[test]
        fn parsing_never_panics(word in "\\PC{0,300}") {
            let _ = SubjectPattern::parse(&word);
            let _ = RulePattern::parse(&word);
        }
    }
}
