//! The evaluation engine: which users and rooms break which rules.
//!
//! Pure: no I/O and no clock; the time of the run is an argument. One run
//! goes like this:
//!
//! 1. [`Evaluation::plan`] works out the walks the run needs: one walk of
//!    Synapse's users' media statistics per distinct rule `window` (media
//!    uploaded since `now - window`), plus one over all media when a rule
//!    has no window. Rules with the same window share a walk; there is
//!    never one walk per rule.
//! 2. The caller streams each walk's users in with [`Evaluation::feed`], in
//!    chunks of any size: the engine keeps only the violations found, never
//!    the users.
//! 3. When there are room rules ([`Evaluation::needs_rooms`]), the caller
//!    gives Synapse's largest rooms with [`Evaluation::rooms`], or says why
//!    it could not get them with [`Evaluation::rooms_unavailable`].
//! 4. A walk that was cut short is reported with [`Evaluation::walk_cut_short`].
//! 5. [`Evaluation::finish`] returns the violations in a stable order —
//!    severity (critical first), rule order in the file, share of the limit
//!    (largest first), subject ID — with what was checked and notes, and the
//!    run's [`Coverage`]: what a partial run did not look at is not resolved.
//!
//! Semantics: limits are inclusive. A subject breaks a limit when the
//! observed value is strictly greater than it; with `warn_at`, an early
//! warning (severity warning, `early_warning: true`) is raised when the
//! observed value is at least that share of the limit but not over it. A
//! user matching several rules gets one violation per rule; a rule with two
//! limits gives one violation, for the limit broken the most. Users a rule
//! does not select (or exempts) never appear in its violations.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::core::engine::limits::{self, EffectiveUser};

mod rooms;

use crate::core::model::coverage::{Checked, Coverage, CutCause, CutShort};
use crate::core::model::rooms::{RoomListEntry, RoomSizes, SizesUnavailable};
use crate::core::model::usage::{TimeRange, UserMedia};
use crate::core::model::users_source::UsersSource;
use crate::core::model::violation::{Measure, Severity, Subject, Violation};
use crate::core::policy::{Percent, Rules};
pub use rooms::RoomsChecked;

/// How many rooms Synapse's largest-rooms statistics list at most.
pub const LARGEST_ROOMS_LISTED: usize = 10;

/// Misuse of an [`Evaluation`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// Users were fed for a time range the plan has no walk for.
    #[error("no planned walk has the time range {0:?}")]
    UnplannedRange(TimeRange),
}

/// One walk of the users' media statistics that a run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWalk {
    /// The uploads counted (`from_ts`), for the walk's query.
    pub range: TimeRange,
    /// The rules' window; `None` for all media.
    pub window: Option<Duration>,
    /// Names of the rules evaluated on this walk, in file order.
    pub rules: Vec<String>,
    /// Positions of those rules in `rules.user_media`.
    rule_indexes: Vec<usize>,
    /// Users fed so far.
    users: u64,
    /// Their bytes so far.
    bytes: u64,
    /// Their media so far.
    media: u64,
    /// How it was cut short, if it was.
    cut_short: Option<CutShort>,
    /// The users it looked at.
    checked: Checked,
    /// Where its users were read.
    source: UsersSource,
}

/// One walk of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkReport {
    /// The uploads counted.
    pub range: TimeRange,
    /// The rules' window; `None` for all media.
    pub window: Option<Duration>,
    /// Users seen.
    pub users: u64,
    /// Their media bytes, all together.
    pub bytes: u64,
    /// Their media, all together (how many).
    pub media: u64,
    /// How the walk was cut short; `None` when it saw every user.
    pub cut_short: Option<CutShort>,
    /// Where its users were read.
    pub source: UsersSource,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// When the run happened (Unix ms), as given to [`Evaluation::plan`].
    pub now_ms: u64,
    /// Every violation, in the stable order described in the module docs.
    pub violations: Vec<Violation>,
    /// The walks of the users' media statistics.
    pub walks: Vec<WalkReport>,
    /// The rooms.
    pub rooms: RoomsChecked,
    /// Number of rules evaluated.
    pub rules: usize,
    /// Things the reader should know (rules not checked, partial data).
    pub notes: Vec<String>,
    /// What the run looked at, per rule.
    pub coverage: Coverage,
}

impl RunOutcome {
    /// Whether nothing is over (or near) a limit.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The first walk that was cut short, and how.
    pub fn cut_short(&self) -> Option<(&WalkReport, CutShort)> {
        self.walks
            .iter()
            .find_map(|w| w.cut_short.map(|cut| (w, cut)))
    }

    /// Where the run read the users' media totals (all its walks).
    pub fn users_source(&self) -> UsersSource {
        UsersSource::of_run(self.walks.iter().map(|w| &w.source))
    }

    /// Why the run was partial, for people: the first walk cut short,
    /// named when it is a windowed one.
    pub fn incomplete_cause(&self) -> Option<String> {
        let (walk, cut) = self.cut_short()?;
        Some(match walk.window {
            None => cut.to_string(),
            Some(w) => format!(
                "{cut} (walk of the uploads of the last {})",
                crate::core::doc::format::window(w)
            ),
        })
    }
}

/// A run in progress. See the [module docs](self).
#[derive(Debug)]
pub struct Evaluation<'r> {
    rules: &'r Rules,
    now_ms: u64,
    walks: Vec<PlannedWalk>,
    /// By rule position in file order (user media rules, then room
    /// rules): the violations found, in the order found. A subject fed
    /// again (a walk walked again) is kept once by [`Evaluation::finish`],
    /// the latest data winning; the subject ID is not copied into a key.
    found: Vec<Vec<Violation>>,
    /// Each rule's name and description, by the same position, shared by
    /// all its violations.
    interned: Vec<(Arc<str>, Option<Arc<str>>)>,
    rooms: rooms::RoomInputs,
    notes: Vec<String>,
}

impl<'r> Evaluation<'r> {
    /// Plans a run of `rules` at `now_ms` (Unix ms).
    pub fn plan(rules: &'r Rules, now_ms: u64) -> Evaluation<'r> {
        let mut by_window: BTreeMap<Option<Duration>, Vec<usize>> = BTreeMap::new();
        for (i, rule) in rules.user_media.iter().enumerate() {
            by_window.entry(rule.window).or_default().push(i);
        }
        let walks: Vec<PlannedWalk> = by_window
            .into_iter()
            .map(|(window, rule_indexes)| PlannedWalk {
                range: window.map_or(TimeRange::ALL, |w| TimeRange::last(w, now_ms)),
                window,
                rules: rule_indexes
                    .iter()
                    .map(|&i| rules.user_media[i].name.clone())
                    .collect(),
                rule_indexes,
                users: 0,
                bytes: 0,
                media: 0,
                cut_short: None,
                source: UsersSource::AdminApi,
                checked: Checked::All,
            })
            .collect();
        Evaluation {
            rules,
            now_ms,
            walks,
            found: vec![Vec::new(); rules.user_media.len() + rules.rooms.len()],
            interned: rules
                .user_media
                .iter()
                .map(|r| (&r.name, &r.description))
                .chain(rules.rooms.iter().map(|r| (&r.name, &r.description)))
                .map(|(name, description)| {
                    (
                        Arc::from(name.as_str()),
                        description.as_deref().map(Arc::from),
                    )
                })
                .collect(),
            rooms: rooms::RoomInputs::default(),
            notes: Vec::new(),
        }
    }

    /// The walks to run (all media first, then by window, shortest first).
    pub fn walks(&self) -> &[PlannedWalk] {
        &self.walks
    }

    /// Whether rooms are needed at all (there are room rules).
    pub fn needs_rooms(&self) -> bool {
        self.needs_room_sizes() || self.needs_room_list()
    }

    /// Whether room sizes are needed (a room rule, or an override in force,
    /// sets `max_estimated_size`).
    pub fn needs_room_sizes(&self) -> bool {
        rooms::needs_sizes(self.rules, self.now_ms)
    }

    /// Whether the official room list is needed (a room rule, or an
    /// override in force, sets `max_state_events`).
    pub fn needs_room_list(&self) -> bool {
        rooms::needs_list(self.rules, self.now_ms)
    }

    /// Evaluates one chunk of the walk of `range`. Chunks may have any size;
    /// feeding the same users in other chunks gives the same result.
    pub fn feed(&mut self, range: TimeRange, users: &[UserMedia]) -> Result<(), EvalError> {
        let walk = self
            .walks
            .iter_mut()
            .find(|w| w.range == range)
            .ok_or(EvalError::UnplannedRange(range))?;
        // Saturating: no figure from Synapse can make a total wrap (or
        // panic).
        walk.users = walk.users.saturating_add(users.len() as u64);
        walk.bytes = users
            .iter()
            .fold(walk.bytes, |sum, u| sum.saturating_add(u.bytes()));
        walk.media = users
            .iter()
            .fold(walk.media, |sum, u| sum.saturating_add(u.media_count));
        for &i in &walk.rule_indexes {
            let rule = &self.rules.user_media[i];
            for user in users {
                let limits =
                    limits::effective_user(&self.rules.overrides, rule, &user.user_id, self.now_ms);
                if let Some(v) = judge_user(&self.interned[i], &limits, user) {
                    self.found[i].push(v);
                }
            }
        }
        Ok(())
    }

    /// Gives the largest rooms by size, from the first source that
    /// answered.
    pub fn room_sizes(&mut self, sizes: RoomSizes) {
        self.rooms.sizes(sizes);
    }

    /// Records that no source gave room sizes, and why: size limits are not
    /// checked (and not resolved) by this run.
    pub fn room_sizes_unavailable(&mut self, why: SizesUnavailable) {
        self.rooms.sizes_unavailable(why);
    }

    /// Gives every room of the official room list (for state events).
    pub fn room_list(&mut self, rooms: &[RoomListEntry]) {
        self.rooms.list(rooms);
    }

    /// Records that the walk of `range` was cut short after passing on the
    /// users up to `last_user` (in ascending order): its rules' open alerts
    /// beyond it are not resolved by this run.
    pub fn walk_cut_short(
        &mut self,
        range: TimeRange,
        cut: CutShort,
        last_user: Option<String>,
    ) -> Result<(), EvalError> {
        let walk = self.walk_mut(range)?;
        walk.cut_short = Some(cut);
        // A walk that ended with too few users may have skipped anyone.
        walk.checked = match cut.cause {
            CutCause::FewerThanTotal => Checked::Nothing,
            CutCause::TokenStuck | CutCause::EmptyPage => Checked::UsersUpTo(last_user),
        };
        Ok(())
    }

    /// Says where the walk of `range` read its users.
    pub fn walked_through(
        &mut self,
        range: TimeRange,
        source: UsersSource,
    ) -> Result<(), EvalError> {
        self.walk_mut(range)?.source = source;
        Ok(())
    }

    /// The planned walk of `range`.
    fn walk_mut(&mut self, range: TimeRange) -> Result<&mut PlannedWalk, EvalError> {
        self.walks
            .iter_mut()
            .find(|w| w.range == range)
            .ok_or(EvalError::UnplannedRange(range))
    }

    /// Ends the run.
    pub fn finish(mut self) -> RunOutcome {
        let mut coverage = Coverage::complete();
        for walk in &self.walks {
            let Some(cut) = walk.cut_short else { continue };
            for rule in &walk.rules {
                coverage.limit(rule, walk.checked.clone());
            }
            self.notes.push(format!(
                "the walk of {} was cut short ({cut}): rules {} were checked only for the users it reached",
                match walk.window {
                    None => "all media".to_owned(),
                    Some(w) => format!("the uploads of the last {}", crate::core::doc::format::window(w)),
                },
                walk.rules.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        let judged = rooms::judge(
            self.rules,
            &self.interned,
            std::mem::take(&mut self.rooms),
            self.now_ms,
            &mut self.notes,
            &mut coverage,
        );
        let rooms = judged.checked;
        let offset = self.rules.user_media.len();
        for (i, found) in judged.found.into_iter().enumerate() {
            self.found[offset + i].extend(found);
        }
        let mut ranked: Vec<(usize, Violation)> = Vec::new();
        for (rule, mut found) in self.found.into_iter().enumerate() {
            // One per subject, the latest data winning: latest first among
            // equal IDs (a stable sort of the reversed list), then the first
            // of each ID kept.
            found.reverse();
            found.sort_by(|a, b| a.subject.id().cmp(b.subject.id()));
            found.dedup_by(|later, kept| later.subject.id() == kept.subject.id());
            ranked.extend(found.into_iter().map(|v| (rule, v)));
        }
        ranked.sort_by(|(ra, a), (rb, b)| {
            b.severity
                .cmp(&a.severity)
                .then(ra.cmp(rb))
                .then_with(|| compare_share(b, a))
                .then_with(|| a.subject.id().cmp(b.subject.id()))
                .then_with(|| a.measure.cmp(&b.measure))
        });
        RunOutcome {
            now_ms: self.now_ms,
            violations: ranked.into_iter().map(|(_, v)| v).collect(),
            walks: self
                .walks
                .into_iter()
                .map(|w| WalkReport {
                    range: w.range,
                    window: w.window,
                    users: w.users,
                    bytes: w.bytes,
                    media: w.media,
                    cut_short: w.cut_short,
                    source: w.source,
                })
                .collect(),
            rooms,
            rules: self.rules.len(),
            notes: self.notes,
            coverage,
        }
    }
}

/// How far a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// Within the limit but at or above `warn_at`.
    Early,
    /// Over the limit.
    Over,
}

fn level(observed: u64, limit: u64, warn_at: Option<Percent>) -> Option<Level> {
    if observed > limit {
        Some(Level::Over)
    } else if warn_at.is_some_and(|p| p.reached(observed, limit)) {
        Some(Level::Early)
    } else {
        None
    }
}

/// `a.observed / a.limit` compared with `b.observed / b.limit`, exactly.
fn compare_share(a: &Violation, b: &Violation) -> Ordering {
    let left = u128::from(a.observed) * u128::from(b.limit);
    let right = u128::from(b.observed) * u128::from(a.limit);
    left.cmp(&right)
}

/// Keeps `candidate` (found at `found`) when it is worse than what `worst`
/// holds: a higher level, then a larger share of its limit. A rule with two
/// limits gives one violation, for the limit broken the most.
fn keep_worst(worst: &mut Option<(Level, Violation)>, found: Level, candidate: Violation) {
    let better = match worst {
        None => true,
        Some((level, current)) => found
            .cmp(level)
            .then_with(|| compare_share(&candidate, current))
            .is_gt(),
    };
    if better {
        *worst = Some((found, candidate));
    }
}

/// A rule's interned name and description.
type Interned = (Arc<str>, Option<Arc<str>>);

fn judge_user(
    interned: &Interned,
    effective: &EffectiveUser<'_>,
    user: &UserMedia,
) -> Option<Violation> {
    let rule = effective.rule;
    let limits = [
        (
            Measure::MediaLength,
            effective.max_media_length,
            user.bytes(),
        ),
        (
            Measure::MediaCount,
            effective.max_media_count,
            user.media_count,
        ),
    ];
    let mut worst: Option<(Level, Violation)> = None;
    for (measure, limit, observed) in limits {
        let Some(limit) = limit else { continue };
        let Some(found) = level(observed, limit, rule.warn_at) else {
            continue;
        };
        let candidate = violation(
            interned,
            rule.severity,
            found,
            Subject::User {
                user_id: user.user_id.clone(),
                displayname: user.displayname.clone(),
            },
            measure,
            observed,
            limit,
            rule.window,
        );
        let candidate = Violation {
            units: rule.units,
            ..candidate
        };
        keep_worst(&mut worst, found, candidate);
    }
    worst.map(|(_, v)| v)
}

#[allow(clippy::too_many_arguments)]
fn violation(
    (rule, description): &Interned,
    severity: Severity,
    level: Level,
    subject: Subject,
    measure: Measure,
    observed: u64,
    limit: u64,
    window: Option<Duration>,
) -> Violation {
    Violation {
        rule: rule.clone(),
        description: description.clone(),
        severity: match level {
            Level::Over => severity,
            Level::Early => Severity::Warning,
        },
        subject,
        measure,
        observed,
        limit,
        window,
        early_warning: level == Level::Early,
        units: Default::default(),
    }
}

#[cfg(test)]
mod tests;
