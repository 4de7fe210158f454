use proptest::prelude::*;

use super::*;
use crate::core::policy::{self, OverrideTarget, Patterns};

const NOW: u64 = 1_800_000_000_000;
const GIB: u64 = 1 << 30;

fn parse(yaml: &str) -> Rules {
    match policy::parse("p.yaml", yaml) {
        Ok(c) => c.rules,
        Err(e) => panic!("{}", e.report()),
    }
}

const POLICY: &str = r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
rules:
  user_media:
    - name: media-quota
      max_media_length: 5 GiB
      max_media_count: 1000
      exempt: "@bot-*:example.org"
      enforce: upload
      info_uri: https://example.org/quota
      can_upgrade: true
    - name: upload-burst
      window: 1d
      max_media_length: 1 GiB
      enforce: upload
    - name: many-files
      max_media_count: 50
  rooms:
    - name: big-rooms
      max_estimated_size: 10 GiB
overrides:
  - users: "@photographer:example.org"
    rule: media-quota
    max_media_length: 50 GiB
    until: 2027-03-01
    reason: "Archive project"
  - users: ["@photographer:example.org", "@vip:example.org"]
    exempt: true
  - users: "@ops:example.org"
    rule: upload-burst
    max_media_length: 10 GiB
  - rooms: "!archive:example.org"
    max_estimated_size: 100 GiB
"#;

#[test]
fn the_first_override_in_force_wins() {
    let rules = parse(POLICY);
    let before_end = crate::core::policy::overrides::parse_until("2027-03-01").unwrap() - 1;
    let all = effective_user_all(&rules, "@photographer:example.org", before_end);
    // media-quota: the first override (50 GiB, count from the rule).
    assert_eq!(all[0].max_media_length, Some(50 * GIB));
    assert_eq!(all[0].max_media_count, Some(1000));
    assert!(matches!(all[0].source, LimitSource::Override(o) if o.index == 0));
    // upload-burst and many-files: the second (exempt).
    assert!(!all[1].applies());
    assert!(!all[2].applies());
    assert!(matches!(all[1].source, LimitSource::Override(o) if o.index == 1));
    // After `until`, the exemption is the first one in force.
    let after = crate::core::policy::overrides::parse_until("2027-03-01").unwrap();
    let all = effective_user_all(&rules, "@photographer:example.org", after);
    assert!(!all[0].applies());
    assert!(matches!(all[0].source, LimitSource::Override(o) if o.index == 1));
}

#[test]
fn overrides_never_bring_a_user_into_a_rule() {
    let rules = parse(POLICY);
    let e = effective_user(
        &rules.overrides,
        &rules.user_media[0],
        "@bot-1:example.org",
        NOW,
    );
    assert_eq!(e.source, LimitSource::NotSelected);
    assert!(!e.applies());
    assert_eq!(upload_limits(&rules, "@bot-1:example.org", NOW).len(), 1);
}

#[test]
fn upload_limits_follow_enforced_rules_and_overrides() {
    let rules = parse(POLICY);
    let plain = upload_limits(&rules, "@alice:example.org", NOW);
    assert_eq!(
        plain,
        vec![
            UploadLimit {
                rule: "media-quota".into(),
                max_bytes: 5 * GIB,
                time_period_ms: WHOLE_USAGE_PERIOD_MS,
                info_uri: Some("https://example.org/quota".into()),
                can_upgrade: true,
            },
            UploadLimit {
                rule: "upload-burst".into(),
                max_bytes: GIB,
                time_period_ms: 24 * 3600 * 1000,
                info_uri: None,
                can_upgrade: false,
            },
        ]
    );
    assert!(upload_limits(&rules, "@vip:example.org", NOW).is_empty());
    let ops = upload_limits(&rules, "@ops:example.org", NOW);
    assert_eq!(ops[1].max_bytes, 10 * GIB);
    assert_eq!(ops[0].max_bytes, 5 * GIB);
    assert_eq!(
        refused_under(&ops, 10 * GIB, 24 * 3600 * 1000).map(|l| l.rule.as_str()),
        Some("upload-burst")
    );
    assert_eq!(refused_under(&ops, 3, 4), None);
    // Whole usage counts every media of the server's life.
    const { assert!(WHOLE_USAGE_PERIOD_MS > NOW) };
}

#[test]
fn room_overrides() {
    let rules = parse(POLICY);
    let e = effective_room(
        &rules.overrides,
        &rules.rooms[0],
        "!archive:example.org",
        NOW,
    );
    assert_eq!(e.max_estimated_size, Some(100 * GIB));
    let e = effective_room(&rules.overrides, &rules.rooms[0], "!other:example.org", NOW);
    assert_eq!(
        (e.max_estimated_size, e.source),
        (Some(10 * GIB), LimitSource::Rule)
    );
}

#[test]
fn until_is_a_day_or_a_time() {
    assert_eq!(
        crate::core::policy::overrides::parse_until("1970-01-01"),
        Ok(86_400_000)
    );
    assert_eq!(
        crate::core::policy::overrides::parse_until("1970-01-01T00:00:01Z"),
        Ok(1000)
    );
    assert!(
        crate::core::policy::overrides::parse_until("next week")
            .unwrap_err()
            .contains("not a date")
    );
    assert!(crate::core::policy::overrides::parse_until("2027-02-30").is_err());
}

#[test]
fn ended_overrides_are_announced_once() {
    let rules = parse(POLICY);
    let end = crate::core::policy::overrides::parse_until("2027-03-01").unwrap();
    assert!(ended_between(&rules, end - 10, end - 1).is_empty());
    assert_eq!(ended_between(&rules, end - 1, end + 5).len(), 1);
    assert!(ended_between(&rules, end, end + 10).is_empty());
}

#[test]
fn validate_reports_override_mistakes() {
    let bad = POLICY.to_owned()
        + r#"  - users: "@x:example.org"
    rule: media-qouta
    max_media_length: 1 GiB
  - rooms: "!r:example.org"
    rule: media-quota
    max_estimated_size: 1 GiB
  - users: "@y:example.org"
    exempt: true
    max_media_count: 3
  - users: "@z:example.org"
    until: soon
"#;
    let report = policy::parse("p.yaml", &bad).unwrap_err().report();
    assert!(
        report.contains(
            "overrides[4].rule: no rule is named `media-qouta`; did you mean `media-quota`?"
        ),
        "{report}"
    );
    assert!(
        report.contains("overrides[5].rule: `media-quota` is a user media rule"),
        "{report}"
    );
    assert!(
        report.contains("overrides[6]: an override either exempts"),
        "{report}"
    );
    assert!(
        report.contains("overrides[7].until: `soon` is not a date"),
        "{report}"
    );
    assert!(
        report.contains("overrides[7]: an override needs a new limit"),
        "{report}"
    );
    assert!(
        report.contains("p.yaml:35:11: overrides[4].rule"),
        "{report}"
    );
}

#[test]
fn warnings_name_expired_and_useless_overrides() {
    let text = POLICY.to_owned()
        + r#"  - users: "@x:example.org"
    rule: upload-burst
    max_media_count: 3
  - users: "@bot-2:example.org"
    rule: media-quota
    max_media_length: 1 GiB
"#;
    let rules = parse(&text);
    let late = crate::core::policy::overrides::parse_until("2027-03-01").unwrap() + 1;
    let warnings = override_warnings(&rules, late);
    let messages: Vec<(usize, &str)> = warnings
        .iter()
        .map(|w| (w.index, w.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        vec![
            (
                0,
                "ended on 2027-03-01: it no longer changes anything; remove it"
            ),
            (
                4,
                "matches no rule: no user media rule it names has the limit it sets"
            ),
            (
                5,
                "matches no rule for `@bot-2:example.org`: no rule it names applies to that user"
            ),
        ]
    );
    assert!(warnings[0].position.is_some());
    assert!(override_warnings(&parse(POLICY), NOW).is_empty());
}

#[test]
fn enforcement_keys_are_checked() {
    let bad = r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
rules:
  user_media:
    - name: a
      max_media_count: 3
      enforce: upload
    - name: b
      max_media_length: 3 MB
      info_uri: https://example.org
    - name: c
      max_media_length: 3 MB
      enforce: always
"#;
    let report = policy::parse("p.yaml", bad).unwrap_err().report();
    assert!(
        report.contains("rules.user_media[0].enforce: `enforce: upload` needs `max_media_length`"),
        "{report}"
    );
    assert!(
        report.contains(
            "rules.user_media[1].info_uri: `info_uri` is only used with `enforce: upload`"
        ),
        "{report}"
    );
    assert!(
        report.contains("rules.user_media[2].enforce: `always` is not an enforcement"),
        "{report}"
    );
}

// Property tests of the matching: a small world of users and rules, and
// random override lists.

const USERS: &[&str] = &["@a:hs", "@b:hs", "@c:hs", "@bot:hs"];

fn world() -> Rules {
    parse(
        r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
rules:
  user_media:
    - name: quota
      max_media_length: 1000
      exempt: "@bot:hs"
      enforce: upload
    - name: count
      max_media_count: 10
    - name: burst
      window: 1h
      max_media_length: 100
      max_media_count: 5
      enforce: upload
"#,
    )
}

#[derive(Debug, Clone)]
struct Spec {
    users: Vec<usize>,
    rule: Option<usize>,
    exempt: bool,
    length: Option<u64>,
    count: Option<u64>,
    ended: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec(0..USERS.len(), 1..3),
        proptest::option::of(0..3usize),
        any::<bool>(),
        proptest::option::of(1..5000u64),
        proptest::option::of(1..50u64),
        any::<bool>(),
    )
        .prop_map(|(users, rule, exempt, length, count, ended)| Spec {
            users,
            rule,
            exempt,
            length,
            count,
            ended,
        })
}

fn build(rules: &Rules, specs: &[Spec]) -> Vec<Override> {
    specs
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let users: Vec<&str> = s.users.iter().map(|&u| USERS[u]).collect();
            Override {
                target: OverrideTarget::Users(Patterns::new(&users).unwrap()),
                rule: s.rule.map(|r| rules.user_media[r].name.clone()),
                exempt: s.exempt,
                max_media_length: s.length,
                max_media_count: s.count,
                max_estimated_size: None,
                max_state_events: None,
                until_ms: Some(if s.ended { NOW } else { NOW + 1 }),
                until_written: None,
                reason: None,
                index,
                position: None,
            }
        })
        .collect()
}

/// The documented precedence, written as plainly as possible.
fn model(rules: &Rules, specs: &[Spec], rule: usize, user: usize) -> (Option<u64>, Option<u64>) {
    let r = &rules.user_media[rule];
    if user == 3 && rule == 0 {
        return (None, None);
    }
    for s in specs {
        if s.ended || s.rule.is_some_and(|x| x != rule) || !s.users.contains(&user) {
            continue;
        }
        if s.exempt {
            return (None, None);
        }
        return (
            s.length.or(r.max_media_length),
            s.count.or(r.max_media_count),
        );
    }
    (r.max_media_length, r.max_media_count)
}

proptest! {
    #[test]
    fn effective_limits_follow_the_documented_precedence(
        specs in proptest::collection::vec(spec(), 0..6),
    ) {
        let mut rules = world();
        rules.overrides = build(&rules, &specs);
        for (user, id) in USERS.iter().enumerate() {
            for (rule, r) in rules.user_media.iter().enumerate() {
                let e = effective_user(&rules.overrides, r, id, NOW);
                prop_assert_eq!((e.max_media_length, e.max_media_count), model(&rules, &specs, rule, user));
            }
            // The module's limits are the enforced rules' effective bytes.
            let limits = upload_limits(&rules, id, NOW);
            let expected: Vec<(String, u64)> = [0usize, 2]
                .iter()
                .filter_map(|&r| model(&rules, &specs, r, user).0.map(|b| (rules.user_media[r].name.clone(), b)))
                .collect();
            let got: Vec<(String, u64)> = limits.iter().map(|l| (l.rule.clone(), l.max_bytes)).collect();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn ended_and_later_overrides_change_nothing(
        specs in proptest::collection::vec(spec(), 1..6),
        extra in spec(),
    ) {
        let mut rules = world();
        rules.overrides = build(&rules, &specs);
        let before: Vec<_> = USERS.iter().map(|u| {
            effective_user_all(&rules, u, NOW).iter().map(|e| (e.max_media_length, e.max_media_count)).collect::<Vec<_>>()
        }).collect();
        // An ended override anywhere changes nothing.
        let mut ended = extra.clone();
        ended.ended = true;
        let mut with_ended = specs.clone();
        with_ended.insert(0, ended);
        let mut other = world();
        other.overrides = build(&other, &with_ended);
        for (u, user) in USERS.iter().enumerate() {
            let after: Vec<_> = effective_user_all(&other, user, NOW).iter().map(|e| (e.max_media_length, e.max_media_count)).collect();
            prop_assert_eq!(&after, &before[u]);
        }
        // An override after one that already matches changes nothing for
        // that user and rule.
        let mut appended = specs.clone();
        appended.push(extra);
        other.overrides = build(&other, &appended);
        for (u, user) in USERS.iter().enumerate() {
            for (r, e) in effective_user_all(&other, user, NOW).iter().enumerate() {
                let decided = rules.overrides.iter().any(|o| o.active(NOW) && o.names_user(user) && o.names_rule(&rules.user_media[r].name));
                if decided {
                    prop_assert_eq!((e.max_media_length, e.max_media_count), before[u][r]);
                }
            }
        }
    }
}

#[test]
fn evaluation_judges_by_effective_limits() {
    use crate::core::engine::eval::Evaluation;
    use crate::core::model::usage::{TimeRange, UserMedia};
    let rules = parse(POLICY);
    let user = |id: &str, bytes: u64| UserMedia {
        user_id: id.to_owned(),
        displayname: None,
        media_count: 1,
        media_length: Some(bytes),
    };
    let mut eval = Evaluation::plan(&rules, NOW);
    let all = eval
        .walks()
        .iter()
        .find(|w| w.window.is_none())
        .unwrap()
        .range;
    assert_eq!(all, TimeRange::ALL);
    eval.feed(
        all,
        &[
            user("@alice:example.org", 6 * GIB),
            user("@photographer:example.org", 6 * GIB),
            user("@vip:example.org", 600 * GIB),
        ],
    )
    .unwrap();
    let outcome = eval.finish();
    let found: Vec<(&str, &str, u64)> = outcome
        .violations
        .iter()
        .map(|v| (&*v.rule, v.subject.id(), v.limit))
        .collect();
    assert_eq!(found, vec![("media-quota", "@alice:example.org", 5 * GIB)]);
}

#[test]
fn the_module_secret_is_a_secret_source() {
    let with = |secret: &str| {
        format!(
            "synapse: {{ url: \"http://127.0.0.1:8008\", token: {{ env: T }} }}\nhttp:\n  module_secret: {secret}\nrules:\n  user_media:\n    - name: a\n      max_media_length: 1 MB\n"
        )
    };
    let config = policy::parse("p.yaml", &with("{file: /run/secrets/m}")).unwrap();
    assert_eq!(
        config.http.module_secret,
        Some(policy::SecretSource::File("/run/secrets/m".into()))
    );
    let report = policy::parse("p.yaml", &with("hunter2-inline"))
        .unwrap_err()
        .report();
    assert!(
        report.contains("http.module_secret: a secret must not be written"),
        "{report}"
    );
    assert!(!report.contains("hunter2"), "{report}");
    assert_eq!(
        policy::parse(
            "p.yaml",
            &with("{env: M}").replace("http:\n  module_secret: {env: M}\n", "")
        )
        .unwrap()
        .http
        .module_secret,
        None
    );
}
