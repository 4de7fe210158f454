//! The room half of a run: room sizes (from one source, the largest rooms
//! only) and current state events (from the official room list, every
//! room), joined per room and judged by the room rules.
//!
//! A rule with both limits gives one violation per room, for the limit
//! broken the most. Rooms a size source leaves out are no larger than the
//! smallest it lists. A rule whose measure could not be read (no size
//! source answered) is *not covered*: its open alerts are not resolved by
//! the run, though what the other measure found is reported.

use std::collections::BTreeMap;

use super::{Interned, Level, keep_worst, level, violation};
use crate::core::engine::limits::{self, EffectiveRoom};
use crate::core::model::coverage::{Checked, Coverage, RoomsUnavailable};
use crate::core::model::rooms::{RoomListEntry, RoomSizes, RoomSource, SizesUnavailable};
use crate::core::model::violation::{Measure, Subject, Violation};
use crate::core::policy::{RoomRule, Rules};

/// What is known of the rooms of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RoomsChecked {
    /// No room rule: rooms were not asked for.
    NotNeeded,
    /// Rooms were checked.
    Checked {
        /// Rooms judged (those a size source listed, and every room of the
        /// room list when state events were needed).
        rooms: usize,
        /// Where the sizes came from; [`RoomSource::StateEvents`] when only
        /// state events were read.
        source: RoomSource,
        /// Sizes were needed but no source gave them (the rules' state
        /// events were still checked).
        #[serde(skip_serializing_if = "Option::is_none")]
        sizes_unavailable: Option<SizesUnavailable>,
    },
    /// No room rule could be checked.
    Unavailable {
        /// Why (serialized as the sentence for people).
        reason: SizesUnavailable,
    },
}

/// What the caller gave of the rooms, kept until the run ends.
#[derive(Debug, Default)]
pub(super) struct RoomInputs {
    sizes: Option<Result<RoomSizes, SizesUnavailable>>,
    /// `(room_id, current state events)` of every room of the room list.
    states: Option<Vec<(String, u64)>>,
}

/// Which measures a rule may need at `now_ms`, overrides in force included.
fn needs(rules: &Rules, rule: &RoomRule, now_ms: u64) -> (bool, bool) {
    let overrides = rules
        .overrides
        .iter()
        .filter(|o| o.active(now_ms) && o.names_rule(&rule.name) && !o.exempt);
    let mut sizes = rule.max_estimated_size.is_some();
    let mut states = rule.max_state_events.is_some();
    for o in overrides {
        sizes |= o.max_estimated_size.is_some();
        states |= o.max_state_events.is_some();
    }
    (sizes, states)
}

/// Whether any room rule needs room sizes.
pub(super) fn needs_sizes(rules: &Rules, now_ms: u64) -> bool {
    rules.rooms.iter().any(|r| needs(rules, r, now_ms).0)
}

/// Whether any room rule needs the room list (state events).
pub(super) fn needs_list(rules: &Rules, now_ms: u64) -> bool {
    rules.rooms.iter().any(|r| needs(rules, r, now_ms).1)
}

impl RoomInputs {
    pub(super) fn sizes(&mut self, sizes: RoomSizes) {
        self.sizes = Some(Ok(sizes));
    }

    pub(super) fn sizes_unavailable(&mut self, why: SizesUnavailable) {
        self.sizes = Some(Err(why));
    }

    pub(super) fn list(&mut self, rooms: &[RoomListEntry]) {
        self.states = Some(
            rooms
                .iter()
                .map(|r| (r.room_id.clone(), r.state_events))
                .collect(),
        );
    }
}

/// The room rules judged: violations per rule (room rules' positions),
/// what was checked, notes and coverage.
pub(super) struct Judged {
    pub found: Vec<Vec<Violation>>,
    pub checked: RoomsChecked,
}

pub(super) fn judge(
    rules: &Rules,
    interned: &[Interned],
    inputs: RoomInputs,
    now_ms: u64,
    notes: &mut Vec<String>,
    coverage: &mut Coverage,
) -> Judged {
    let mut found = vec![Vec::new(); rules.rooms.len()];
    let want_sizes = needs_sizes(rules, now_ms);
    let want_states = needs_list(rules, now_ms);
    if !want_sizes && !want_states {
        return Judged {
            found,
            checked: RoomsChecked::NotNeeded,
        };
    }
    let not_asked = || SizesUnavailable {
        synapse: RoomsUnavailable::NotAsked,
        module: None,
    };
    let (sizes, sizes_missing) = match inputs.sizes {
        Some(Ok(sizes)) if want_sizes => (Some(sizes), None),
        Some(Err(why)) if want_sizes => (None, Some(why)),
        None if want_sizes => (None, Some(not_asked())),
        _ => (None, None),
    };
    let states_missing = want_states && inputs.states.is_none();

    // Per room: (estimated size, current state events), as known.
    let mut facts: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
    if let Some(sizes) = &sizes {
        for r in &sizes.rooms {
            facts.entry(r.room_id.clone()).or_default().0 = Some(r.estimated_size);
        }
    }
    if want_states {
        for (room_id, states) in inputs.states.iter().flatten() {
            facts.entry(room_id.clone()).or_default().1 = Some(*states);
        }
    }

    let offset = rules.user_media.len();
    for (i, rule) in rules.rooms.iter().enumerate() {
        let (rule_sizes, rule_states) = needs(rules, rule, now_ms);
        for (room_id, &(size, states)) in &facts {
            let limit = limits::effective_room(&rules.overrides, rule, room_id, now_ms);
            if let Some(v) = judge_room(&interned[offset + i], &limit, room_id, size, states) {
                found[i].push(v);
            }
        }
        if let Some(sizes) = &sizes {
            // Rooms not listed are no larger than the smallest listed one:
            // if that one is flagged, unlisted rooms may be too.
            let smallest = sizes.rooms.iter().map(|r| r.estimated_size).min();
            if rule_sizes
                && sizes.rooms.len() >= sizes.asked
                && let (Some(s), Some(max)) = (smallest, rule.max_estimated_size)
                && level(s, max, rule.warn_at).is_some()
            {
                notes.push(format!(
                    "the size source lists only the {} largest rooms and the smallest of them is \
                     over (or near) the limit of `{}`: more rooms may be",
                    sizes.asked, rule.name
                ));
            }
        }
        if (rule_sizes && sizes_missing.is_some()) || (rule_states && states_missing) {
            coverage.limit(&rule.name, Checked::Nothing);
        }
    }
    if let Some(why) = &sizes_missing {
        notes.push(format!("room size limits were not checked: {why}"));
    }
    if states_missing {
        notes.push("room state event limits were not checked: the room list was not read".into());
    }
    let checked = match (&sizes, sizes_missing) {
        (_, Some(why)) if !want_states => RoomsChecked::Unavailable { reason: why },
        (Some(s), _) => RoomsChecked::Checked {
            rooms: facts.len(),
            source: s.source,
            sizes_unavailable: None,
        },
        (None, missing) => RoomsChecked::Checked {
            rooms: facts.len(),
            source: RoomSource::StateEvents,
            sizes_unavailable: missing,
        },
    };
    Judged { found, checked }
}

fn judge_room(
    interned: &Interned,
    effective: &EffectiveRoom<'_>,
    room_id: &str,
    size: Option<u64>,
    states: Option<u64>,
) -> Option<Violation> {
    let rule = effective.rule;
    let limits = [
        (Measure::RoomSize, effective.max_estimated_size, size),
        (Measure::StateEvents, effective.max_state_events, states),
    ];
    let mut worst: Option<(Level, Violation)> = None;
    for (measure, limit, observed) in limits {
        let (Some(limit), Some(observed)) = (limit, observed) else {
            continue;
        };
        let Some(found) = level(observed, limit, rule.warn_at) else {
            continue;
        };
        let candidate = Violation {
            units: rule.units,
            ..violation(
                interned,
                rule.severity,
                found,
                Subject::Room {
                    room_id: room_id.to_owned(),
                },
                measure,
                observed,
                limit,
                None,
            )
        };
        keep_worst(&mut worst, found, candidate);
    }
    worst.map(|(_, v)| v)
}
