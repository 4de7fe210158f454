use super::*;
use crate::core::doc::Doc;
use crate::core::engine::eval::{RoomsChecked, WalkReport};
use crate::core::model::coverage::Coverage;
use crate::core::model::usage::TimeRange;
use crate::core::model::violation::Violation;
use crate::core::model::violation::fixture::{user, violation};
use crate::core::policy;

const POLICY: &str = concat!(
    "synapse:\n  url: http://127.0.0.1:8008\n  token: {env: T}\n",
    "rules:\n  user_media:\n",
    "    - name: media-quota\n      max_media_length: 30 MB\n      warn_at: 80%\n",
    "    - name: many-files\n      max_media_count: 50\n",
    "    - name: burst\n      max_media_length: 1 GiB\n      window: 1h\n",
);

fn rules() -> Vec<UserMediaRule> {
    policy::parse("p.yaml", POLICY)
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .rules
        .user_media
}

fn v(rule: &str, i: u64, early: bool) -> Violation {
    Violation {
        early_warning: early,
        units: Units::Decimal,
        ..violation(rule, user(&format!("@u{i}:hs")))
    }
}

fn outcome(users: Option<u64>, violations: Vec<Violation>) -> RunOutcome {
    RunOutcome {
        now_ms: 0,
        violations,
        walks: users
            .map(|users| WalkReport {
                source: Default::default(),
                range: TimeRange::ALL,
                window: None,
                users,
                bytes: 0,
                media: 0,
                cut_short: None,
            })
            .into_iter()
            .collect(),
        rooms: RoomsChecked::NotNeeded,
        rules: 3,
        notes: Vec::new(),
        coverage: Coverage::complete(),
    }
}

fn ten_percent() -> Percent {
    Percent::from_basis_points(1000)
}

#[test]
fn a_rule_over_the_share_is_named_once_with_its_numbers() {
    // 37 of 100 users break media-quota (early warnings count), 10 exactly
    // many-files (not more than 10%), 11 burst.
    let mut vs: Vec<Violation> = (0..37).map(|i| v("media-quota", i, i % 2 == 0)).collect();
    vs.extend((0..10).map(|i| v("many-files", i, false)));
    vs.extend((0..11).map(|i| v("burst", i, false)));
    let broad = too_broad(&outcome(Some(100), vs), &rules(), ten_percent());
    let names: Vec<&str> = broad.iter().map(|b| b.rule.as_str()).collect();
    assert_eq!(names, ["media-quota", "burst"]);
    assert_eq!(
        Doc::paragraph(crate::core::text::check::too_broad(&broad[0])).plain(),
        "media-quota matches 37.0% of users with media (37 of 100): is 30.0 MB meant?"
    );
    assert_eq!(
        Doc::paragraph(crate::core::text::check::too_broad(&broad[1])).plain(),
        "burst matches 11.0% of users with media (11 of 100): is 1.0 GiB meant?"
    );
}

#[test]
fn counts_rules_read_as_counts() {
    let vs: Vec<Violation> = (0..60).map(|i| v("many-files", i, false)).collect();
    let broad = too_broad(&outcome(Some(100), vs), &rules(), ten_percent());
    assert_eq!(
        Doc::paragraph(crate::core::text::check::too_broad(&broad[0])).plain(),
        "many-files matches 60.0% of users with media (60 of 100): is 50 media meant?"
    );
}

#[test]
fn nothing_without_a_walk_of_all_media_under_the_share_or_for_a_handful() {
    let vs: Vec<Violation> = (0..10).map(|i| v("media-quota", i, false)).collect();
    assert!(too_broad(&outcome(None, vs.clone()), &rules(), ten_percent()).is_empty());
    assert!(too_broad(&outcome(Some(0), vs.clone()), &rules(), ten_percent()).is_empty());
    assert!(too_broad(&outcome(Some(100), vs.clone()), &rules(), ten_percent()).is_empty());
    assert_eq!(
        too_broad(&outcome(Some(99), vs.clone()), &rules(), ten_percent()).len(),
        1
    );
    // Nine of nine users is 100%, but nine users are a handful.
    assert!(too_broad(&outcome(Some(9), vs[..9].to_vec()), &rules(), ten_percent()).is_empty());
    // 100%: more than every user cannot be.
    let all = Percent::from_basis_points(10_000);
    assert!(too_broad(&outcome(Some(10), vs), &rules(), all).is_empty());
}
