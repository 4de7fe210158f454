//! Examples and properties of the evaluation engine.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::core::model::coverage::RoomsUnavailable;
use crate::core::model::rooms::{ModuleUnavailable, RoomSource};
use crate::core::model::usage::RoomSize;
use crate::core::policy::{Patterns, UserSelector};
use crate::core::policy::{RoomRule, UserMediaRule};

const NOW: u64 = 1_700_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);

fn user(id: &str, bytes: Option<u64>, count: u64) -> UserMedia {
    UserMedia {
        user_id: id.to_owned(),
        displayname: None,
        media_count: count,
        media_length: bytes,
    }
}

fn rule(name: &str, max_length: Option<u64>, max_count: Option<u64>) -> UserMediaRule {
    UserMediaRule {
        notify_user: None,
        name: name.to_owned(),
        description: None,
        severity: Severity::Critical,
        users: UserSelector::everyone(),
        max_media_length: max_length,
        max_media_count: max_count,
        window: None,
        warn_at: None,
        enforce: None,
        units: Default::default(),
    }
}

fn room_rule(name: &str, max: u64) -> RoomRule {
    RoomRule {
        name: name.to_owned(),
        description: None,
        severity: Severity::Warning,
        exempt: Patterns::none(),
        max_estimated_size: Some(max),
        max_state_events: None,
        warn_at: None,
        units: Default::default(),
    }
}

fn room(id: &str, size: u64) -> RoomSize {
    RoomSize {
        room_id: id.to_owned(),
        estimated_size: size,
    }
}

/// Runs `rules` over `users` (every walk gets the same users) and `rooms`.
fn run(rules: &Rules, users: &[UserMedia], rooms: Option<&[RoomSize]>) -> RunOutcome {
    let mut eval = Evaluation::plan(rules, NOW);
    let ranges: Vec<TimeRange> = eval.walks().iter().map(|w| w.range).collect();
    for range in ranges {
        eval.feed(range, users).unwrap();
    }
    if let Some(rooms) = rooms {
        eval.room_sizes(RoomSizes {
            source: RoomSource::SynapseEstimate,
            rooms: rooms.to_vec(),
            asked: LARGEST_ROOMS_LISTED,
        });
    }
    eval.finish()
}

fn summary(outcome: &RunOutcome) -> Vec<String> {
    outcome
        .violations
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {:?} {}/{}{}",
                v.severity,
                v.rule,
                v.subject.id(),
                v.measure,
                v.observed,
                v.limit,
                if v.early_warning { " early" } else { "" }
            )
        })
        .collect()
}

#[test]
fn limits_are_inclusive_and_warn_at_comes_before_them() {
    let mut quota = rule("quota", Some(100), None);
    quota.warn_at = Some(Percent::from_basis_points(8000));
    let rules = Rules {
        user_media: vec![quota],
        rooms: vec![],
        overrides: vec![],
    };
    let users = [
        user("@a:hs", Some(79), 1),
        user("@b:hs", Some(80), 1),
        user("@c:hs", Some(100), 1),
        user("@d:hs", Some(101), 1),
        user("@e:hs", None, 5),
    ];
    assert_eq!(
        summary(&run(&rules, &users, None)),
        [
            "critical quota @d:hs MediaLength 101/100",
            "warning quota @c:hs MediaLength 100/100 early",
            "warning quota @b:hs MediaLength 80/100 early",
        ]
    );
}

#[test]
fn one_violation_per_rule_and_user_for_the_limit_broken_most() {
    let mut both = rule("both", Some(1000), Some(10));
    both.warn_at = Some(Percent::from_basis_points(5000));
    let rules = Rules {
        user_media: vec![both, rule("count", None, Some(4))],
        rooms: vec![],
        overrides: vec![],
    };
    let users = [
        // 150 % of bytes, 120 % of count: bytes.
        user("@a:hs", Some(1500), 12),
        // 90 % of bytes (early), 200 % of count: count, over.
        user("@b:hs", Some(900), 20),
        // 60 % and 70 %: early warning, count.
        user("@c:hs", Some(600), 7),
    ];
    assert_eq!(
        summary(&run(&rules, &users, None)),
        [
            "critical both @b:hs MediaCount 20/10",
            "critical both @a:hs MediaLength 1500/1000",
            "critical count @b:hs MediaCount 20/4",
            "critical count @a:hs MediaCount 12/4",
            "critical count @c:hs MediaCount 7/4",
            "warning both @c:hs MediaCount 7/10 early",
        ]
    );
}

#[test]
fn rules_sharing_a_window_share_a_walk() {
    let r = |name: &str, window: Option<Duration>| {
        let mut r = rule(name, Some(1), None);
        r.window = window;
        r
    };
    let rules = Rules {
        user_media: vec![
            r("week", Some(7 * DAY)),
            r("day-1", Some(DAY)),
            r("total-1", None),
            r("day-2", Some(DAY)),
            r("total-2", None),
        ],
        rooms: vec![],
        overrides: vec![],
    };
    let eval = Evaluation::plan(&rules, NOW);
    let walks: Vec<(TimeRange, Vec<String>)> = eval
        .walks()
        .iter()
        .map(|w| (w.range, w.rules.clone()))
        .collect();
    let day_ago = NOW - DAY.as_millis() as u64;
    let week_ago = NOW - 7 * DAY.as_millis() as u64;
    assert_eq!(
        walks,
        [
            (TimeRange::ALL, vec!["total-1".into(), "total-2".into()]),
            (
                TimeRange {
                    from_ms: Some(day_ago),
                    until_ms: None
                },
                vec!["day-1".into(), "day-2".into()]
            ),
            (
                TimeRange {
                    from_ms: Some(week_ago),
                    until_ms: None
                },
                vec!["week".into()]
            ),
        ]
    );
    assert!(!eval.needs_rooms());
}

#[test]
fn each_walk_feeds_only_its_rules() {
    let mut burst = rule("burst", None, Some(2));
    burst.window = Some(DAY);
    let rules = Rules {
        user_media: vec![rule("total", None, Some(5)), burst],
        rooms: vec![],
        overrides: vec![],
    };
    let mut eval = Evaluation::plan(&rules, NOW);
    let day = TimeRange::last(DAY, NOW);
    eval.feed(
        TimeRange::ALL,
        &[user("@old:hs", Some(1), 9), user("@new:hs", Some(1), 3)],
    )
    .unwrap();
    eval.feed(day, &[user("@new:hs", Some(1), 3)]).unwrap();
    assert_eq!(
        eval.feed(TimeRange::last(2 * DAY, NOW), &[]),
        Err(EvalError::UnplannedRange(TimeRange::last(2 * DAY, NOW)))
    );
    let outcome = eval.finish();
    assert_eq!(
        summary(&outcome),
        [
            "critical total @old:hs MediaCount 9/5",
            "critical burst @new:hs MediaCount 3/2",
        ]
    );
    assert_eq!(outcome.violations[1].window, Some(DAY));
    assert_eq!(
        outcome.walks.iter().map(|w| w.users).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(outcome.rooms, RoomsChecked::NotNeeded);
    assert!(outcome.notes.is_empty());
}

#[test]
fn rooms_exemptions_notes_and_unavailability() {
    let mut big = room_rule("big", 1000);
    big.exempt = Patterns::new(&["!hq:hs"]).unwrap();
    big.warn_at = Some(Percent::from_basis_points(9000));
    let rules = Rules {
        user_media: vec![],
        rooms: vec![big],
        overrides: vec![],
    };
    let rooms = [
        room("!hq:hs", 5000),
        room("!a:hs", 1001),
        room("!b:hs", 950),
        room("!c:hs", 10),
    ];
    let outcome = run(&rules, &[], Some(&rooms));
    assert_eq!(
        summary(&outcome),
        [
            "warning big !a:hs RoomSize 1001/1000",
            "warning big !b:hs RoomSize 950/1000 early",
        ]
    );
    assert_eq!(
        outcome.rooms,
        RoomsChecked::Checked {
            rooms: 4,
            source: RoomSource::SynapseEstimate,
            sizes_unavailable: None
        }
    );
    assert!(outcome.notes.is_empty());

    // Ten rooms listed, all over: more may be.
    let full: Vec<RoomSize> = (0..10)
        .map(|i| room(&format!("!r{i}:hs"), 2000 + i))
        .collect();
    let outcome = run(&rules, &[], Some(&full));
    assert_eq!(outcome.violations.len(), 10);
    assert_eq!(outcome.violations[0].subject.id(), "!r9:hs");
    assert!(
        outcome.notes[0].contains("more rooms may be"),
        "{:?}",
        outcome.notes
    );

    let mut eval = Evaluation::plan(&rules, NOW);
    assert!(eval.needs_rooms());
    let why = SizesUnavailable {
        synapse: RoomsUnavailable::Sqlite,
        module: Some(ModuleUnavailable::NotInstalled),
    };
    eval.room_sizes_unavailable(why.clone());
    let outcome = eval.finish();
    assert_eq!(outcome.rooms, RoomsChecked::Unavailable { reason: why });
    assert_eq!(
        outcome.notes,
        [
            "room size limits were not checked: this Synapse uses SQLite, and Synapse estimates room \
             sizes only on PostgreSQL; the warden's Synapse module, which measures rooms on every \
             Synapse, does not answer (not installed, or older than its rooms endpoint)"
        ]
    );
    // What was not checked is not resolved: no room rule is covered.
    assert!(!outcome.coverage.is_complete());
    let outcome = Evaluation::plan(&rules, NOW).finish();
    assert!(matches!(outcome.rooms, RoomsChecked::Unavailable { .. }));
}

fn listed(id: &str, states: u64) -> RoomListEntry {
    RoomListEntry {
        room_id: id.to_owned(),
        name: None,
        state_events: states,
        joined_members: 1,
        joined_local_members: 1,
    }
}

#[test]
fn state_events_are_judged_on_every_room_and_the_worst_limit_wins() {
    let mut both = room_rule("both", 1000);
    both.max_state_events = Some(100);
    let mut states_only = room_rule("states", 0);
    states_only.max_estimated_size = None;
    states_only.max_state_events = Some(50);
    let rules = Rules {
        user_media: vec![],
        rooms: vec![both, states_only],
        overrides: vec![],
    };
    let mut eval = Evaluation::plan(&rules, NOW);
    assert!(eval.needs_room_sizes() && eval.needs_room_list());
    // !a: size 1100 (110 %) and 300 state events (300 %): the state events
    // are broken the most. !b: only its size is over. !c: not in the sizes
    // (smaller than those listed), 60 state events: over `states` only.
    eval.room_sizes(RoomSizes {
        source: RoomSource::ModuleEstimate,
        rooms: vec![room("!a:hs", 1100), room("!b:hs", 2000)],
        asked: 100,
    });
    eval.room_list(&[
        listed("!a:hs", 300),
        listed("!b:hs", 10),
        listed("!c:hs", 60),
    ]);
    let outcome = eval.finish();
    assert_eq!(
        summary(&outcome),
        [
            "warning both !a:hs StateEvents 300/100",
            "warning both !b:hs RoomSize 2000/1000",
            "warning states !a:hs StateEvents 300/50",
            "warning states !c:hs StateEvents 60/50",
        ]
    );
    assert_eq!(
        outcome.rooms,
        RoomsChecked::Checked {
            rooms: 3,
            source: RoomSource::ModuleEstimate,
            sizes_unavailable: None
        }
    );
    assert!(outcome.coverage.is_complete());

    // Without sizes: the state events are still judged, but the rule with
    // a size limit is not covered (its open alerts stay open).
    let mut eval = Evaluation::plan(&rules, NOW);
    let why = SizesUnavailable {
        synapse: RoomsUnavailable::Server("500".into()),
        module: Some(ModuleUnavailable::NotConfigured),
    };
    eval.room_sizes_unavailable(why.clone());
    eval.room_list(&[listed("!a:hs", 300), listed("!c:hs", 60)]);
    let outcome = eval.finish();
    assert_eq!(outcome.violations.len(), 3);
    assert_eq!(
        outcome.rooms,
        RoomsChecked::Checked {
            rooms: 2,
            source: RoomSource::StateEvents,
            sizes_unavailable: Some(why)
        }
    );
    let by = |rule: &str| {
        outcome
            .violations
            .iter()
            .find(|v| &*v.rule == rule)
            .unwrap()
            .clone()
    };
    assert!(!outcome.coverage.covers(&by("both")));
    assert!(outcome.coverage.covers(&by("states")));
}

#[test]
fn an_override_can_add_a_room_limit_the_rule_lacks() {
    let mut states_only = room_rule("states", 0);
    states_only.max_estimated_size = None;
    states_only.max_state_events = Some(50);
    let rules = Rules {
        user_media: vec![],
        rooms: vec![states_only],
        overrides: vec![],
    };
    assert!(!Evaluation::plan(&rules, NOW).needs_room_sizes());
    let eval = Evaluation::plan(&rules, NOW);
    assert!(eval.needs_room_list());
}

#[test]
fn order_is_severity_then_rule_then_share_then_subject() {
    let mut warn = rule("warn-rule", Some(10), None);
    warn.severity = Severity::Warning;
    let rules = Rules {
        user_media: vec![warn, rule("crit-rule", Some(10), None)],
        rooms: vec![room_rule("rooms", 10)],
        overrides: vec![],
    };
    let users = [
        user("@b:hs", Some(20), 1),
        user("@a:hs", Some(20), 1),
        user("@c:hs", Some(30), 1),
    ];
    let outcome = run(&rules, &users, Some(&[room("!r:hs", 11)]));
    assert_eq!(
        summary(&outcome),
        [
            "critical crit-rule @c:hs MediaLength 30/10",
            "critical crit-rule @a:hs MediaLength 20/10",
            "critical crit-rule @b:hs MediaLength 20/10",
            "warning warn-rule @c:hs MediaLength 30/10",
            "warning warn-rule @a:hs MediaLength 20/10",
            "warning warn-rule @b:hs MediaLength 20/10",
            "warning rooms !r:hs RoomSize 11/10",
        ]
    );
}

// ---------------------------------------------------------------------------
// Properties.

/// Users with IDs from a small alphabet, so that globs match some of them.
fn users_strategy() -> impl Strategy<Value = Vec<UserMedia>> {
    prop::collection::btree_map(
        "@[abc]{1,3}:(hs|other)",
        (prop::option::weighted(0.9, 0u64..2000), 0u64..30),
        0..40,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(id, (bytes, count))| user(&id, bytes, count))
            .collect()
    })
}

const GLOBS: &[&str] = &["*", "@a*", "*:hs", "@?:hs", "@[ab]*:other", "@c*"];

#[derive(Debug, Clone)]
struct RuleSpec {
    users: Vec<&'static str>,
    exempt: Vec<&'static str>,
    max_length: Option<u64>,
    max_count: Option<u64>,
    warn_at: Option<u32>,
    critical: bool,
    window: Option<u64>,
}

fn rule_strategy() -> impl Strategy<Value = RuleSpec> {
    (
        prop::sample::subsequence(GLOBS, 1..3),
        prop::sample::subsequence(GLOBS, 0..2),
        prop::option::of(1u64..2000),
        prop::option::of(1u64..30),
        prop::option::of(1u32..10_000),
        any::<bool>(),
        prop::option::of(1u64..3),
    )
        .prop_filter("a rule needs a limit", |s| s.2.is_some() || s.3.is_some())
        .prop_map(
            |(users, exempt, max_length, max_count, warn_at, critical, window)| RuleSpec {
                users,
                exempt,
                max_length,
                max_count,
                warn_at,
                critical,
                window,
            },
        )
}

fn build(specs: &[RuleSpec]) -> Rules {
    Rules {
        user_media: specs
            .iter()
            .enumerate()
            .map(|(i, s)| UserMediaRule {
                notify_user: None,
                name: format!("rule-{i}"),
                description: None,
                severity: if s.critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                users: UserSelector {
                    users: Patterns::new(&s.users).unwrap(),
                    users_regex: None,
                    exempt: Patterns::new(&s.exempt).unwrap(),
                },
                max_media_length: s.max_length,
                max_media_count: s.max_count,
                window: s.window.map(|d| DAY * d as u32),
                warn_at: s.warn_at.map(Percent::from_basis_points),
                enforce: None,
                units: Default::default(),
            })
            .collect(),
        rooms: vec![],
        overrides: vec![],
    }
}

/// A plain-text glob check, independent of globset, for the few globs used.
fn glob_matches(glob: &str, id: &str) -> bool {
    let (local, server) = id[1..].split_once(':').unwrap();
    match glob {
        "*" => true,
        "@a*" => local.starts_with('a'),
        "*:hs" => server == "hs",
        "@?:hs" => local.len() == 1 && server == "hs",
        "@[ab]*:other" => local.starts_with(['a', 'b']) && server == "other",
        "@c*" => local.starts_with('c'),
        other => panic!("unknown glob {other}"),
    }
}

fn keys(outcome: &RunOutcome) -> BTreeSet<(String, String)> {
    outcome
        .violations
        .iter()
        .map(|v| (v.rule.to_string(), v.subject.id().to_owned()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Users a rule does not select, or exempts, never appear in its
    /// violations; and every selected user over a limit does.
    #[test]
    fn unselected_and_exempted_users_never_appear(
        specs in prop::collection::vec(rule_strategy(), 1..4),
        users in users_strategy(),
    ) {
        let rules = build(&specs);
        let outcome = run(&rules, &users, None);
        for v in &outcome.violations {
            let i: usize = v.rule["rule-".len()..].parse().unwrap();
            let spec = &specs[i];
            let id = v.subject.id();
            prop_assert!(spec.users.iter().any(|g| glob_matches(g, id)), "{id} not selected by {spec:?}");
            prop_assert!(!spec.exempt.iter().any(|g| glob_matches(g, id)), "{id} exempted by {spec:?}");
        }
        for (i, spec) in specs.iter().enumerate() {
            for u in &users {
                let selected = spec.users.iter().any(|g| glob_matches(g, &u.user_id))
                    && !spec.exempt.iter().any(|g| glob_matches(g, &u.user_id));
                let over = spec.max_length.is_some_and(|l| u.bytes() > l)
                    || spec.max_count.is_some_and(|l| u.media_count > l);
                let key = (format!("rule-{i}"), u.user_id.clone());
                if selected && over {
                    prop_assert!(keys(&outcome).contains(&key), "missing {key:?}");
                }
            }
        }
    }

    /// Raising a limit never adds a violation, nor makes one more severe.
    #[test]
    fn raising_a_limit_never_adds_a_violation(
        specs in prop::collection::vec(rule_strategy(), 1..4),
        users in users_strategy(),
        which in any::<prop::sample::Index>(),
        raise in 0u64..500,
        raise_count in any::<bool>(),
        rooms in prop::collection::vec(0u64..5000, 0..12),
        room_limit in 1u64..5000,
        room_raise in 0u64..2000,
    ) {
        let mut rules = build(&specs);
        let rooms: Vec<RoomSize> = rooms.iter().enumerate().map(|(i, s)| room(&format!("!r{i}:hs"), *s)).collect();
        let mut rr = room_rule("rooms", room_limit);
        rr.warn_at = Some(Percent::from_basis_points(8000));
        rules.rooms.push(rr);
        let before = run(&rules, &users, Some(&rooms));

        let i = which.index(rules.user_media.len());
        let target = &mut rules.user_media[i];
        match (raise_count, target.max_media_count, target.max_media_length) {
            (true, Some(c), _) | (false, Some(c), None) => target.max_media_count = Some(c + raise),
            (_, _, Some(l)) => target.max_media_length = Some(l + raise),
            (_, None, None) => unreachable!("rules have a limit"),
        }
        rules.rooms[0].max_estimated_size = rules.rooms[0].max_estimated_size.map(|m| m + room_raise);
        let after = run(&rules, &users, Some(&rooms));

        prop_assert!(keys(&after).is_subset(&keys(&before)));
        for v in &after.violations {
            let old = before.violations.iter().find(|o| o.key() == v.key()).unwrap();
            prop_assert!(v.severity <= old.severity);
            prop_assert!(!old.early_warning || v.early_warning);
        }
    }

    /// The result does not depend on how the walk was cut into chunks.
    #[test]
    fn any_chunking_gives_the_same_result(
        specs in prop::collection::vec(rule_strategy(), 1..4),
        users in users_strategy(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let rules = build(&specs);
        let whole = run(&rules, &users, None);
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(users.len() + 1)).collect();
        bounds.push(0);
        bounds.push(users.len());
        bounds.sort_unstable();
        let mut eval = Evaluation::plan(&rules, NOW);
        let ranges: Vec<TimeRange> = eval.walks().iter().map(|w| w.range).collect();
        for range in ranges {
            for pair in bounds.windows(2) {
                eval.feed(range, &users[pair[0]..pair[1]]).unwrap();
            }
        }
        prop_assert_eq!(eval.finish(), whole);
    }
}

/// A windowed walk cut short narrows only its own rules: what it did not
/// reach is not covered, and the note names the walk and its rules; a walk
/// that ended with fewer users than the total covers nothing of its rules.
#[test]
fn a_walk_cut_short_limits_the_coverage_of_its_rules_only() {
    use crate::core::model::coverage::{CutCause, CutShort};
    let mut burst = rule("burst", Some(10), None);
    burst.window = Some(DAY);
    let rules = Rules {
        user_media: vec![rule("quota", Some(10), None), burst],
        rooms: vec![],
        overrides: vec![],
    };
    use crate::core::model::violation::fixture;
    let violation = |rule: &str, id: &str| Violation {
        severity: Severity::Critical,
        observed: 11,
        limit: 10,
        ..fixture::violation(rule, fixture::user(id))
    };
    let cut = CutShort {
        cause: CutCause::TokenStuck,
        seen: 80,
        total: 120,
    };

    let mut eval = Evaluation::plan(&rules, NOW);
    let windowed = eval.walks()[1].range;
    assert_eq!(eval.walks()[1].window, Some(DAY));
    eval.walk_cut_short(windowed, cut, Some("@m:hs".into()))
        .unwrap();
    let outcome = eval.finish();
    assert!(!outcome.coverage.is_complete());
    assert!(outcome.coverage.covers(&violation("quota", "@z:hs")));
    assert!(outcome.coverage.covers(&violation("burst", "@a:hs")));
    assert!(!outcome.coverage.covers(&violation("burst", "@z:hs")));
    assert_eq!(
        outcome.cut_short().map(|(w, c)| (w.window, c)),
        Some((Some(DAY), cut))
    );
    assert_eq!(
        outcome.notes,
        [
            "the walk of the uploads of the last 1d was cut short (Synapse's next_token stopped advancing at 80 of 120 users): rules `burst` were checked only for the users it reached"
        ]
    );

    let mut eval = Evaluation::plan(&rules, NOW);
    eval.walk_cut_short(
        TimeRange::ALL,
        CutShort {
            cause: CutCause::FewerThanTotal,
            ..cut
        },
        Some("@m:hs".into()),
    )
    .unwrap();
    let outcome = eval.finish();
    assert!(!outcome.coverage.covers(&violation("quota", "@a:hs")));
    assert!(outcome.coverage.covers(&violation("burst", "@z:hs")));
    assert!(
        Evaluation::plan(&rules, NOW)
            .finish()
            .coverage
            .is_complete()
    );
}

/// Figures at the edge of `u64` never panic nor wrap: the walk's totals
/// saturate, and a user over a limit stays over it.
#[test]
fn totals_saturate_and_extreme_figures_never_panic() {
    let mut with_warn = rule("q", Some(1024), Some(10));
    with_warn.warn_at = Some(Percent::from_basis_points(8000));
    let rules = Rules {
        user_media: vec![rule("quota", Some(1024), Some(10)), with_warn],
        rooms: vec![],
        overrides: vec![],
    };
    let users = [
        user("@a:hs", Some(u64::MAX), u64::MAX),
        user("@b:hs", Some(u64::MAX), u64::MAX),
        user("@c:hs", Some(u64::MAX - 1), 1),
        user("@d:hs", None, 0),
    ];
    let outcome = run(&rules, &users, None);
    let all = outcome.walks.iter().find(|w| w.window.is_none()).unwrap();
    assert_eq!(all.bytes, u64::MAX);
    assert_eq!(all.media, u64::MAX);
    assert_eq!(all.users, 4);
    let ids: BTreeSet<&str> = outcome.violations.iter().map(|v| v.subject.id()).collect();
    assert_eq!(ids, BTreeSet::from(["@a:hs", "@b:hs", "@c:hs"]));
    let _ = summary(&outcome);
}

/// A negative or absurd figure is Synapse's error, naming the user and
/// the field; plausible ones pass as they are.
#[test]
fn implausible_figures_are_named() {
    use crate::core::model::usage::{Implausible, MAX_PLAUSIBLE};
    let ok = UserMedia::checked("@a:hs".into(), None, 3, Some(5)).unwrap();
    assert_eq!(ok, user("@a:hs", Some(5), 3));
    let edge = i128::from(MAX_PLAUSIBLE);
    assert!(UserMedia::checked("@a:hs".into(), None, edge, Some(edge)).is_ok());
    assert!(UserMedia::checked("@a:hs".into(), None, 0, None).is_ok());
    for (count, length, field, value) in [
        (1, Some(-5), "media_length", -5),
        (1, Some(1 << 63), "media_length", 1 << 63),
        (1, Some(edge + 1), "media_length", edge + 1),
        (-1, Some(5), "media_count", -1),
        (
            i128::from(u64::MAX),
            None,
            "media_count",
            i128::from(u64::MAX),
        ),
    ] {
        assert_eq!(
            UserMedia::checked("@bob:hs".into(), None, count, length),
            Err(Implausible {
                user_id: "@bob:hs".into(),
                field,
                value
            })
        );
    }
}
