//! Every message kind, built from the same outside inputs: golden files of
//! the three renderings, the allowed HTML tags, and property tests with
//! hostile inputs.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test --lib strings`
//! and read them before committing.

use std::time::Duration;

use proptest::prelude::*;

use crate::core::alerting::lifecycle::{AlertPlan, Announced, Change, ExpiredSilence};
use crate::core::alerting::refusals::UploadRefusal;
use crate::core::alerting::silences::{Matcher, RulePattern, Silences, SubjectPattern};
use crate::core::commands::{BadCommand, UsageError, UserQuery};
use crate::core::doc::{ALLOWED_TAGS, Block, Doc, Units, is_neutralised};
use crate::core::engine::eval::{RoomsChecked, RunOutcome, WalkReport};
use crate::core::engine::rooms::{RoomRow, RoomsView};
use crate::core::model::coverage::{Coverage, RoomsUnavailable};
use crate::core::model::rooms::{ModuleUnavailable, RoomSource, SizesUnavailable};
use crate::core::model::usage::{MediaMetric, TimeRange, UserMedia};
use crate::core::model::users_source::UsersSource;
use crate::core::model::violation::fixture;
use crate::core::model::violation::{Measure, Severity, Subject, Violation};
use crate::core::policy;
use crate::core::text;
use crate::core::text::check_report;
use crate::core::text::replies::{self, Health, RunView, StatusView, TopSource, TopView};

/// The outside text a message may carry.
#[derive(Debug, Clone)]
struct Inputs {
    user_id: String,
    name: String,
    room_id: String,
    term: String,
    error: String,
}

impl Inputs {
    fn benign() -> Inputs {
        Inputs {
            user_id: "@alice:example.org".into(),
            name: "Alice".into(),
            room_id: "!abc:example.org".into(),
            term: "ali".into(),
            error: "connection refused".into(),
        }
    }

    /// Stand-ins that occur nowhere in a template.
    fn placeholders() -> Inputs {
        Inputs {
            user_id: "QQUSERQQ".into(),
            name: "QQNAMEQQ".into(),
            room_id: "QQROOMQQ".into(),
            term: "QQTERMQQ".into(),
            error: "QQERRORQQ".into(),
        }
    }

    fn all(&self) -> [&str; 5] {
        [
            &self.user_id,
            &self.name,
            &self.room_id,
            &self.term,
            &self.error,
        ]
    }
}

const NOW: u64 = 1_764_000_000_000;
const GIB: u64 = 1 << 30;

fn violation(i: &Inputs, rule: &str, severity: Severity, observed: u64) -> Violation {
    Violation {
        description: Some("Each user may keep at most 5 GiB of media.".into()),
        severity,
        observed,
        limit: 5 * GIB,
        ..fixture::violation(rule, hostile_user(i))
    }
}

/// The user of the inputs, with its display name.
fn hostile_user(i: &Inputs) -> Subject {
    Subject::User {
        user_id: i.user_id.clone(),
        displayname: Some(i.name.clone()),
    }
}

fn violations(i: &Inputs) -> Vec<Violation> {
    let mut early = violation(i, "media-quota", Severity::Warning, 4 * GIB + GIB / 4);
    early.early_warning = true;
    early.subject = Subject::User {
        user_id: "@bob:example.org".into(),
        displayname: None,
    };
    let mut burst = violation(i, "upload-burst", Severity::Warning, 60);
    burst.measure = Measure::MediaCount;
    burst.limit = 50;
    burst.window = Some(Duration::from_secs(5400));
    burst.description = None;
    let mut decimal = violation(i, "small-quota", Severity::Critical, 12_345);
    decimal.limit = 10_000;
    decimal.units = Units::Decimal;
    let mut room = violation(i, "huge-rooms", Severity::Warning, 12 * GIB);
    room.subject = Subject::Room {
        room_id: i.room_id.clone(),
    };
    room.measure = Measure::RoomSize;
    room.limit = 10 * GIB;
    room.description = None;
    vec![
        violation(i, "media-quota", Severity::Critical, 6 * GIB),
        early,
        burst,
        decimal,
        room,
    ]
}

fn users(i: &Inputs) -> Vec<UserMedia> {
    vec![
        UserMedia {
            user_id: i.user_id.clone(),
            displayname: Some(i.name.clone()),
            media_count: 3,
            media_length: Some(6 * GIB),
        },
        UserMedia {
            user_id: "@bob:example.org".into(),
            displayname: None,
            media_count: 1,
            media_length: None,
        },
    ]
}

fn outcome(i: &Inputs) -> RunOutcome {
    RunOutcome {
        now_ms: NOW,
        violations: violations(i),
        walks: vec![
            WalkReport {
                source: Default::default(),
                range: TimeRange::ALL,
                window: None,
                users: 120,
                bytes: 40 * GIB,
                media: 4_321,
                cut_short: None,
            },
            WalkReport {
                source: Default::default(),
                range: TimeRange::last(Duration::from_secs(5400), NOW),
                window: Some(Duration::from_secs(5400)),
                users: 1,
                bytes: GIB,
                media: 12,
                cut_short: None,
            },
        ],
        rooms: RoomsChecked::Unavailable {
            reason: SizesUnavailable {
                synapse: RoomsUnavailable::Server(i.error.clone()),
                module: Some(ModuleUnavailable::Failed(i.error.clone())),
            },
        },
        rules: 4,
        notes: vec![i.error.clone()],
        coverage: Coverage::complete(),
    }
}

const POLICY: &str = concat!(
    "synapse:\n",
    "  url: http://127.0.0.1:8008\n",
    "  token: {env: TOKEN}\n",
    "rules:\n",
    "  user_media:\n",
    "    - name: media-quota\n",
    "      description: Each user may keep at most 5 GiB of media.\n",
    "      max_media_length: 5 GiB\n",
    "      warn_at: 80%\n",
    "      enforce: upload\n",
    "    - name: small-quota\n",
    "      severity: critical\n",
    "      users: [\"@guest-*:example.org\"]\n",
    "      exempt: [\"@guest-admin:example.org\"]\n",
    "      max_media_length: 10 kB\n",
    "      max_media_count: 100\n",
    "      window: 7d\n",
    "  rooms:\n",
    "    - name: huge-rooms\n",
    "      max_estimated_size: 10 GB\n",
    "      exempt: [\"!lobby:example.org\"]\n",
    "overrides:\n",
    "  - users: \"@alice:example.org\"\n",
    "    rule: media-quota\n",
    "    max_media_length: 50 GiB\n",
    "    until: 2027-03-01\n",
    "    reason: \"Archive <b>project</b>\"\n",
    "  - users: \"@guest-*:example.org\"\n",
    "    exempt: true\n",
);

/// Every message kind, built from `i`.
fn catalogue(i: &Inputs) -> Vec<(&'static str, Doc)> {
    let vs = violations(i);
    let lines: Vec<Announced> = [
        Change::New,
        Change::New,
        Change::Escalated,
        Change::Reminder,
        Change::Resolved,
        Change::New,
    ]
    .into_iter()
    .zip(vs.iter().chain(&vs[..1]).cloned())
    .map(|(change, violation)| Announced {
        change,
        violation,
        since_ms: NOW - 3 * 86_400_000,
    })
    .collect();
    let plan = AlertPlan {
        silenced: Vec::new(),
        expired: Vec::new(),
        lines,
        quiet: Vec::new(),
    };
    let mut silences = Silences::default();
    let matcher = Matcher {
        rule: RulePattern::parse("media-quota").expect("a rule"),
        subject: SubjectPattern::parse("@*:example.org").expect("a glob"),
    };
    let day = Duration::from_secs(86_400);
    silences
        .add(
            matcher.clone(),
            &i.user_id,
            &i.error,
            14 * day,
            90 * day,
            NOW - 3_600_000,
        )
        .expect("a silence");
    let silence = silences.list[0].clone();
    let expiry = AlertPlan {
        expired: vec![ExpiredSilence {
            silence: silence.clone(),
            still: 2,
        }],
        ..AlertPlan::default()
    };
    let us = users(i);
    let row = |n: u64, size: Option<u64>| RoomRow {
        room_id: if n == 0 {
            i.room_id.clone()
        } else {
            format!("!room{n}:example.org")
        },
        name: match n {
            0 => Some(i.name.clone()),
            1 => Some("Town square".into()),
            _ => None,
        },
        estimated_size: size,
        state_events: Some(40_000 / (n + 1)),
        joined_members: Some(120 / (n + 1)),
        joined_local_members: Some(n),
    };
    let view = |source, rows: Vec<RoomRow>, sizes_unavailable| RoomsView {
        source,
        rooms: 57,
        abandoned: rows
            .iter()
            .filter(|r| r.joined_local_members == Some(0))
            .count(),
        rows,
        sizes_unavailable,
    };
    let rooms = view(
        RoomSource::SynapseEstimate,
        (0..3).map(|n| row(n, Some((3 - n) * GIB))).collect(),
        None,
    );
    let exact = view(
        RoomSource::ModuleExact,
        (0..3).map(|n| row(n, Some((3 - n) * 1_000_000))).collect(),
        None,
    );
    let no_rooms = view(RoomSource::ModuleEstimate, vec![], None);
    let by_states = view(
        RoomSource::StateEvents,
        (0..3).map(|n| row(n, None)).collect(),
        Some(SizesUnavailable {
            synapse: RoomsUnavailable::Sqlite,
            module: Some(ModuleUnavailable::NotConfigured),
        }),
    );
    let abandoned: Vec<RoomRow> = (0..2).map(|n| row(n * 2, None)).collect();
    let config = policy::parse("policies.yaml", POLICY).expect("the catalogue's policy");
    let status = StatusView {
        last_run: Some(RunView {
            started_ms: NOW - 300_000,
            took_ms: 2_500,
            violations: Some(1),
            silenced: 0,
            error: None,
            incomplete: Some(i.error.clone()),
            source: Some(UsersSource::Fallback(ModuleUnavailable::Failed(
                i.error.clone(),
            ))),
        }),
        next_run_ms: Some(NOW + 600_000),
        synapse_outage: Some((NOW - 60_000, i.error.clone())),
        synapse: Health::Down(i.error.clone()),
        delegated_auth: None,
        matrix: Health::Up("connected as device ABCDEF".into()),
        queued: 2,
    };
    let failed_status = StatusView {
        last_run: Some(RunView {
            started_ms: NOW - 300_000,
            took_ms: 61_000,
            violations: None,
            silenced: 0,
            error: Some(i.error.clone()),
            incomplete: None,
            source: None,
        }),
        next_run_ms: None,
        synapse_outage: None,
        synapse: Health::Up("Synapse 1.163.2".into()),
        delegated_auth: Some("https://auth.example.org/".into()),
        matrix: Health::Unknown,
        queued: 0,
    };
    let usage = BadCommand {
        command: Some("top"),
        error: UsageError::UnknownTopArgument {
            word: i.term.clone(),
            closest: Some("media_length"),
        },
    };
    let unknown = BadCommand::from(UsageError::UnknownCommand {
        word: i.term.clone(),
        closest: vec!["top", "trend"],
    });
    let mut clean = outcome(i);
    clean.violations.clear();
    clean.notes.clear();
    clean.rooms = RoomsChecked::Checked {
        rooms: 1,
        source: RoomSource::SynapseEstimate,
        sizes_unavailable: None,
    };
    vec![
        (
            "alert summary",
            text::summary::plan_doc(&plan, NOW, 5).expect("a plan"),
        ),
        ("alert summary (server notices)", {
            let summary = crate::core::alerting::settle::RunSummary {
                plan: plan.clone(),
                partial: Some(i.error.clone()),
                now_ms: NOW,
                max_lines: 5,
                too_broad: vec![crate::core::engine::too_broad::BroadRule {
                    rule: "media-quota".into(),
                    matched: 740,
                    users: 2000,
                    measure: crate::core::model::violation::Measure::MediaLength,
                    limit: 30_000_000,
                    units: Units::Decimal,
                }],
            };
            let tally = crate::core::alerting::server_notices::NoticeTally {
                notified: vec![i.user_id.clone(), "@bob:example.org".into()],
                waiting: vec!["@carol:example.org".into()],
                refused: vec![(i.user_id.clone(), i.error.clone())],
                disabled: vec!["@dave:example.org".into()],
            };
            text::summary::run(&summary, Some(&tally)).expect("a plan")
        }),
        ("alert summary (partial run)", {
            let mut doc = text::summary::plan_doc(&plan, NOW, 1).expect("a plan");
            doc.push(Block::Paragraph(text::daemon::partial_run(&i.error)));
            doc
        }),
        (
            "notice: state file set aside",
            text::daemon::state_set_aside(&format!("/var/lib/{}", i.term)),
        ),
        (
            "notice: reloaded",
            text::daemon::reloaded(&format!("/etc/{}.yaml", i.term), 1, &["matrix.user"]),
        ),
        (
            "notice: reload refused",
            text::daemon::reload_refused(
                "policies.yaml",
                &[
                    &format!("policies.yaml:3:5: {}", i.error),
                    "policies.yaml:9:1: second",
                ],
            ),
        ),
        (
            "notice: Synapse failing",
            text::daemon::synapse_failing(NOW - 60_000, &i.error),
        ),
        (
            "notice: Synapse back",
            text::daemon::synapse_back(NOW - 60_000),
        ),
        (
            "notice: rooms unsupported",
            text::daemon::rooms_unsupported(
                &SizesUnavailable {
                    synapse: RoomsUnavailable::Sqlite,
                    module: Some(ModuleUnavailable::NotConfigured),
                }
                .to_string(),
            ),
        ),
        (
            "notice: rooms failing",
            text::daemon::rooms_failing(&i.error),
        ),
        ("notice: rooms back", text::daemon::rooms_back(NOW - 60_000)),
        (
            "notice: walks incomplete",
            text::daemon::walks_incomplete(&i.error),
        ),
        (
            "notice: walks complete",
            text::daemon::walks_complete(NOW - 60_000),
        ),
        (
            "notice: module walk failing",
            text::daemon::module_walk_failing(&ModuleUnavailable::Failed(i.error.clone())),
        ),
        (
            "notice: module walk back",
            text::daemon::module_walk_back(NOW - 60_000),
        ),
        ("help", replies::help("!stats", None)),
        ("usage error", replies::usage("!stats", &usage)),
        (
            "top (last walk)",
            replies::top(&TopView {
                n: 10,
                metric: MediaMetric::MediaLength,
                window: None,
                users: &us,
                total: 2,
                source: TopSource::LastWalk {
                    age: Duration::from_secs(754),
                },
            }),
        ),
        (
            "top (live, window, more)",
            replies::top(&TopView {
                n: 1,
                metric: MediaMetric::MediaCount,
                window: Some(Duration::from_secs(7 * 86_400)),
                users: &us[..1],
                total: 5,
                source: TopSource::Live,
            }),
        ),
        (
            "top (nobody)",
            replies::top(&TopView {
                n: 10,
                metric: MediaMetric::MediaLength,
                window: Some(Duration::from_secs(86_400)),
                users: &[],
                total: 0,
                source: TopSource::Live,
            }),
        ),
        ("top (bad N)", text::top::bad_n()),
        (
            "user (found)",
            replies::user(&UserQuery::Exact(i.user_id.clone()), &us, false, 10),
        ),
        ("user (found, effective limits)", {
            let mut doc = replies::user(&UserQuery::Exact(i.user_id.clone()), &us, false, 10);
            let limits = crate::core::engine::limits::effective_user_all(
                &config.rules,
                "@alice:example.org",
                NOW,
            );
            for block in text::overrides::effective_limits(&limits) {
                doc.push(block);
            }
            doc
        }),
        (
            "notice: uploads refused",
            text::refusals::refusals(
                &[
                    UploadRefusal {
                        units: Default::default(),
                        user_id: i.user_id.clone(),
                        rule: Some("media-quota".into()),
                        max_bytes: 5 * GIB,
                        sent_bytes: 5 * GIB - 1000,
                        attempted_bytes: 20 << 20,
                        at_ms: NOW,
                    },
                    UploadRefusal {
                        units: Default::default(),
                        user_id: "@bob:example.org".into(),
                        rule: None,
                        max_bytes: 5 * GIB,
                        sent_bytes: GIB,
                        attempted_bytes: 5 * GIB,
                        at_ms: NOW,
                    },
                ],
                NOW - 60_000,
                1,
            ),
        ),
        (
            "notice: override ended",
            text::refusals::overrides_ended(&config.rules.overrides.iter().collect::<Vec<_>>()),
        ),
        (
            "user (not found)",
            replies::user(&UserQuery::Exact(i.user_id.clone()), &[], false, 10),
        ),
        (
            "user (search)",
            replies::user(&UserQuery::Search(i.term.clone()), &us, true, 1),
        ),
        (
            "user (no match)",
            replies::user(&UserQuery::Search(i.term.clone()), &[], false, 10),
        ),
        ("user (unsearchable)", text::user::unsearchable()),
        ("user (failed)", text::user::search_failed(&i.error)),
        ("rooms", replies::rooms(&rooms, Units::Decimal, 2)),
        (
            "rooms (module, SQLite)",
            replies::rooms(&exact, Units::Binary, 3),
        ),
        ("rooms (none)", replies::rooms(&no_rooms, Units::Binary, 2)),
        (
            "rooms (no size source, by state events)",
            replies::rooms(&by_states, Units::Binary, 2),
        ),
        (
            "rooms (module refused)",
            Doc::paragraph(text::rooms::no_sizes(&SizesUnavailable {
                synapse: RoomsUnavailable::Server(i.error.clone()),
                module: Some(ModuleUnavailable::Refused),
            })),
        ),
        ("rooms abandoned", replies::rooms_abandoned(&abandoned, 1)),
        ("rooms abandoned (none)", replies::rooms_abandoned(&[], 1)),
        ("rooms (failed)", text::rooms::failed(&i.error)),
        ("status", replies::status(&status, NOW, true)),
        (
            "status (failed run, command line)",
            replies::status(&failed_status, NOW, false),
        ),
        ("policies", replies::policies(&config.rules)),
        (
            "policies (none)",
            replies::policies(&policy::Rules {
                user_media: Vec::new(),
                rooms: Vec::new(),
                overrides: Vec::new(),
            }),
        ),
        ("check", replies::check(&outcome(i), 3)),
        ("check (clean)", replies::check(&clean, 3)),
        ("check (failed)", text::common::check_failed(&i.error)),
        (
            "check (needs the daemon)",
            replies::needs_daemon(&crate::core::commands::Command::Check),
        ),
        ("check report", check_report::doc(&outcome(i))),
        ("check report (clean)", check_report::doc(&clean)),
        ("reload", text::common::reloaded(&i.error)),
        ("reload (refused)", text::common::not_reloaded(&i.error)),
        (
            "rate limited",
            text::common::rate_limited(5, Duration::from_secs(60)),
        ),
        ("help top", replies::help("!stats", Some("top"))),
        ("help silence", replies::help("!stats", Some("silence"))),
        ("silence", text::silences::created(&silence, 1, NOW)),
        (
            "silences",
            text::silences::list(&silences.active(NOW).collect::<Vec<_>>(), NOW),
        ),
        ("silences (none)", text::silences::list(&[], NOW)),
        ("unsilence", text::silences::ended(&silence, &i.user_id, 2)),
        (
            "silence refused",
            text::silences::refused("there is no silence 9"),
        ),
        (
            "silence expired (summary)",
            text::summary::plan_doc(&expiry, NOW, 5).expect("an expiry"),
        ),
        (
            "silenced in check",
            Doc::paragraph(text::silences::in_check("!stats", 2)),
        ),
        (
            "acknowledged",
            text::silences::acknowledged(&i.user_id, &vs[..2], 1),
        ),
        (
            "acknowledged (nothing left)",
            text::silences::acknowledged(&i.user_id, &[], 5),
        ),
        ("unknown command", replies::usage("!stats", &unknown)),
    ]
    .into_iter()
    .chain(action_messages(i))
    .chain(trend_messages(i))
    .collect()
}

/// `trend` and `growth`, with the user ID from `i`.
fn trend_messages(i: &Inputs) -> Vec<(&'static str, Doc)> {
    use crate::core::history::UserTotal;
    use crate::core::history::trend::Point;
    use crate::core::history::view::{RunUsers, growth_view, trend_view};
    const DAY: u64 = 86_400_000;
    let days = |n: u64| Duration::from_secs(n * 86_400);
    let series: Vec<Point> = (0..=30u64)
        .map(|d| Point {
            at_ms: NOW - (30 - d) * DAY,
            bytes: 1_000_000_000_000 + d * 20_000_000_000,
        })
        .collect();
    let total = |id: &str, bytes: u64| UserTotal {
        user_id: id.to_owned(),
        bytes,
        media: 3,
    };
    let start = RunUsers {
        started_ms: NOW - 7 * DAY,
        floor_bytes: 1_000_000,
        users: vec![total(&i.user_id, 2 * GIB), total("@bob:example.org", GIB)],
    };
    let end = RunUsers {
        started_ms: NOW,
        floor_bytes: 2_000_000,
        users: vec![
            total(&i.user_id, 3 * GIB),
            total("@bob:example.org", GIB / 2),
            total("@carol:example.org", 50_000_000),
        ],
    };
    vec![
        (
            "trend (server, forecast)",
            text::trend::trend(&trend_view(
                None,
                days(30),
                series.clone(),
                Some(2_000_000_000_000),
                Units::Decimal,
                NOW,
            )),
        ),
        (
            "trend (server, capacity reached)",
            text::trend::trend(&trend_view(
                None,
                days(7),
                series.clone(),
                Some(1_000_000_000_000),
                Units::Decimal,
                NOW,
            )),
        ),
        (
            "trend (user)",
            text::trend::trend(&trend_view(
                Some(i.user_id.clone()),
                days(30),
                series[..5].to_vec(),
                None,
                Units::Binary,
                NOW,
            )),
        ),
        (
            "trend (user, not recorded)",
            text::trend::trend(&trend_view(
                Some(i.user_id.clone()),
                days(30),
                Vec::new(),
                None,
                Units::Binary,
                NOW,
            )),
        ),
        (
            // The issue's case: 120 kB gathered in 15 seconds, no daily
            // rate and no forecast from that.
            "trend (a quarter of a minute)",
            text::trend::trend(&trend_view(
                None,
                days(30),
                vec![
                    Point {
                        at_ms: NOW - 15_000,
                        bytes: 1_000_000,
                    },
                    Point {
                        at_ms: NOW,
                        bytes: 1_120_000,
                    },
                ],
                Some(2_000_000_000),
                Units::Decimal,
                NOW,
            )),
        ),
        (
            "trend (too little history)",
            text::trend::trend(&trend_view(
                None,
                days(30),
                series[30..].to_vec(),
                None,
                Units::Binary,
                NOW,
            )),
        ),
        ("digest", {
            use crate::core::alerting::digest::{DigestHistory, DigestState, RuleTally, digest};
            let mut state = DigestState {
                settled_ms: Some(NOW - 7 * DAY),
                ..DigestState::default()
            };
            state.tally.insert(
                i.name.clone(),
                RuleTally {
                    opened: 2,
                    closed: 1,
                },
            );
            let history = DigestHistory {
                points: series.clone(),
                start: Some(start.clone()),
                end: Some(end.clone()),
            };
            let mut d = digest(
                NOW,
                &state,
                history,
                3,
                Some(2_000_000_000_000),
                Units::Decimal,
                NOW,
            );
            d.rooms = Some((57, 4));
            text::digest::digest(&d)
        }),
        (
            "growth",
            text::trend::growth(&growth_view(
                days(7),
                10,
                Some(start.clone()),
                Some(end),
                Units::Binary,
                NOW,
            )),
        ),
        (
            "growth (nobody grew)",
            text::trend::growth(&growth_view(
                days(7),
                10,
                Some(start.clone()),
                Some(RunUsers {
                    started_ms: NOW,
                    ..start.clone()
                }),
                Units::Binary,
                NOW,
            )),
        ),
        (
            "growth (too little history)",
            text::trend::growth(&growth_view(
                days(7),
                5,
                None,
                Some(start),
                Units::Binary,
                NOW,
            )),
        ),
        ("history unavailable", text::trend::unavailable(&i.error)),
        ("history not configured", text::trend::not_configured()),
    ]
}

/// The notices `check --notify` would show for a hostile template and user.
fn notices(i: &Inputs) -> Vec<crate::core::alerting::server_notices::Planned> {
    use crate::core::policy::notify_user::{Events, NotifyUser, Template};
    let template = format!(
        "Hi {{user}} ({}), you use {{usage}} of {{limit}} ({{percent}}).",
        i.name.replace(['{', '}'], "")
    );
    let Ok(message) = Template::parse(&template) else {
        return Vec::new();
    };
    let v = Violation {
        observed: 6 << 30,
        limit: 5 << 30,
        ..fixture::violation("media-quota", hostile_user(i))
    };
    crate::core::alerting::server_notices::preview(&[v], &|_| {
        Some(NotifyUser {
            on: Events {
                new: true,
                escalation: true,
                reminder: false,
            },
            message: message.clone(),
            at_most_every: crate::core::policy::notify_user::MIN_INTERVAL,
        })
    })
}

/// The clean-up commands' messages.
fn action_messages(i: &Inputs) -> Vec<(&'static str, Doc)> {
    use crate::core::commands::actions::{self as a, ItemOutcome, Media, MediaFilter, MediaOrder};
    let day = 86_400_000;
    let media = vec![
        Media {
            media_id: i.term.clone(),
            media_length: 12_000_000,
            created_ts: NOW - 200 * day,
            upload_name: Some(i.name.clone()),
            quarantined: false,
        },
        Media {
            media_id: "BbBbBb".into(),
            media_length: 2048,
            created_ts: NOW - 3 * day,
            upload_name: None,
            quarantined: true,
        },
    ];
    let filter = MediaFilter {
        older_than: Some(Duration::from_secs(90 * 86_400)),
        larger_than: Some(1_000_000),
    };
    let mut c = a::Confirmations::new();
    let purge = c.offer(
        a::preview_purge(&i.user_id, &media, filter, NOW),
        &i.user_id,
        a::code_from(12345),
        NOW,
        crate::core::policy::DEFAULT_CONFIRM_WITHIN,
    );
    let remote = c.offer(
        a::preview_purge_remote(Duration::from_secs(30 * 86_400), NOW),
        &i.user_id,
        a::code_from(6789),
        NOW,
        crate::core::policy::DEFAULT_CONFIRM_WITHIN,
    );
    let quarantine = a::preview_quarantine(&i.user_id, &media, NOW);
    let outcome = a::outcome(
        &purge.preview,
        &[(i.term.clone(), ItemOutcome::Failed(i.error.clone()))],
    );
    let done = a::outcome(&quarantine, &[(i.term.clone(), ItemOutcome::Done)]);
    let listing = |f, o, n| a::listing(&i.user_id, &media, f, o, n, NOW);
    vec![
        (
            "media",
            text::cleanup::listing(&listing(MediaFilter::default(), MediaOrder::Largest, 1)),
        ),
        (
            "media (filtered, oldest)",
            text::cleanup::listing(&listing(filter, MediaOrder::Oldest, 10)),
        ),
        ("actions (off)", text::cleanup::disabled()),
        ("actions (not allowed)", text::cleanup::not_allowed(100)),
        (
            "purge (preview)",
            text::cleanup::preview(
                "!stats",
                &purge,
                crate::core::policy::DEFAULT_CONFIRM_WITHIN,
            ),
        ),
        (
            "purge (command line preview)",
            text::cleanup::preview_cli(&quarantine),
        ),
        (
            "purge-remote (preview)",
            text::cleanup::preview(
                "!stats",
                &remote,
                crate::core::policy::DEFAULT_CONFIRM_WITHIN,
            ),
        ),
        (
            "purge (nothing)",
            text::cleanup::nothing_to_do(&purge.preview.kind),
        ),
        (
            "confirm (unknown code)",
            text::cleanup::refused(&a::ConfirmRefusal::UnknownCode),
        ),
        (
            "confirm (expired)",
            text::cleanup::refused(&a::ConfirmRefusal::Expired { at_ms: NOW }),
        ),
        ("confirm (command line)", text::cleanup::confirm_on_cli()),
        ("purge (progress)", text::cleanup::progress(25, 80)),
        (
            "purge (report, failures)",
            text::cleanup::report(&purge.preview.kind, &outcome, Some(&i.user_id), 5),
        ),
        (
            "quarantine (report)",
            text::cleanup::report(&quarantine.kind, &done, None, 5),
        ),
        (
            "media (unknown user)",
            text::cleanup::unknown_user(&i.user_id),
        ),
        (
            "media (remote user)",
            text::cleanup::remote_user(&i.user_id),
        ),
        ("media (failed)", text::cleanup::failed(&i.error)),
        (
            "server notices (disabled)",
            text::server_notices::disabled(2),
        ),
        (
            "server notices (sent late)",
            text::server_notices::sent_late(&[i.user_id.clone(), "@bob:example.org".into()]),
        ),
        ("check --notify", text::server_notices::preview(&notices(i))),
        ("check --notify (none)", text::server_notices::preview(&[])),
    ]
    .into_iter()
    .chain(room_action_messages(i))
    .collect()
}

fn room_action_messages(i: &Inputs) -> Vec<(&'static str, Doc)> {
    use crate::core::commands::actions::{self as a, ItemOutcome};
    use crate::core::model::rooms::RoomListEntry;
    let within = crate::core::policy::DEFAULT_CONFIRM_WITHIN;
    let named = RoomListEntry {
        room_id: i.room_id.clone(),
        name: Some(i.name.clone()),
        state_events: 9,
        joined_members: 3,
        joined_local_members: 1,
    };
    let bare = RoomListEntry {
        room_id: "!old:example.org".into(),
        name: None,
        state_events: 1,
        joined_members: 0,
        joined_local_members: 0,
    };
    let mut c = a::Confirmations::new();
    let delete = c.offer(
        a::preview_delete_room(named.clone(), true),
        &i.user_id,
        a::code_from(111),
        NOW,
        within,
    );
    let purge = c.offer(
        a::preview_purge_history(named.clone(), Duration::from_secs(180 * 86_400), false, NOW),
        &i.user_id,
        a::code_from(222),
        NOW,
        within,
    );
    let local_too = a::preview_purge_history(named.clone(), Duration::from_secs(86_400), true, NOW);
    let mut many: Vec<RoomListEntry> = (0..22)
        .map(|n| RoomListEntry {
            room_id: format!("!r{n:02}:example.org"),
            ..bare.clone()
        })
        .collect();
    many.push(RoomListEntry {
        joined_local_members: 0,
        ..named.clone()
    });
    let abandoned = c.offer(
        a::preview_delete_abandoned(&many, &[]),
        &i.user_id,
        a::code_from(333),
        NOW,
        within,
    );
    let deleted = a::outcome(&delete.preview, &[(i.room_id.clone(), ItemOutcome::Done)]);
    let not_deleted = a::outcome(
        &delete.preview,
        &[(i.room_id.clone(), ItemOutcome::Failed(i.error.clone()))],
    );
    let purged = a::outcome(&purge.preview, &[(i.room_id.clone(), ItemOutcome::Done)]);
    let mixed = a::outcome(
        &abandoned.preview,
        &[
            ("!r00:example.org".into(), ItemOutcome::Done),
            ("!r01:example.org".into(), ItemOutcome::AlreadyGone),
            (i.room_id.clone(), ItemOutcome::Kept),
            (
                "!r02:example.org".into(),
                ItemOutcome::Failed(i.error.clone()),
            ),
        ],
    );
    let day = 86_400_000;
    let file = |id: &str, len: u64, age: u64| a::Media {
        media_id: id.into(),
        media_length: len,
        created_ts: NOW - age * day,
        upload_name: None,
        quarantined: false,
    };
    let deactivated = c.offer(
        a::preview_purge_deactivated(
            &[
                // A fixed ID: users of another server than the first are
                // left out, which would change the message's shape.
                (
                    "@gone:example.org".into(),
                    vec![file(&i.term, 3_000_000, 40), file("Bb", 5, 2)],
                ),
                ("@left:example.org".into(), vec![file("Cc", 70_000, 90)]),
            ],
            Some(Duration::from_secs(30 * 86_400)),
            NOW,
        ),
        &i.user_id,
        a::code_from(444),
        NOW,
        within,
    );
    let purged_deactivated = a::outcome(
        &deactivated.preview,
        &[
            (i.term.clone(), ItemOutcome::Done),
            ("Cc".into(), ItemOutcome::AlreadyGone),
        ],
    );
    vec![
        (
            "purge-deactivated (preview)",
            text::cleanup::preview("!stats", &deactivated, within),
        ),
        (
            "purge-deactivated (report)",
            text::cleanup::report(&deactivated.preview.kind, &purged_deactivated, None, 5),
        ),
        (
            "delete-room (preview)",
            text::cleanup::preview("!stats", &delete, within),
        ),
        (
            "purge-history (preview)",
            text::cleanup::preview("!stats", &purge, within),
        ),
        (
            "purge-history local-too (command line preview)",
            text::cleanup::preview_cli(&local_too),
        ),
        (
            "delete-abandoned (preview)",
            text::cleanup::preview("!stats", &abandoned, within),
        ),
        (
            "delete-abandoned (nothing)",
            text::cleanup::nothing_to_do(&a::ActionKind::DeleteAbandoned),
        ),
        (
            "delete-room (report)",
            text::cleanup::report(&delete.preview.kind, &deleted, Some(&i.user_id), 5),
        ),
        (
            "delete-room (report, failed)",
            text::cleanup::report(&delete.preview.kind, &not_deleted, None, 5),
        ),
        (
            "purge-history (report)",
            text::cleanup::report(&purge.preview.kind, &purged, Some(&i.user_id), 5),
        ),
        (
            "delete-abandoned (report, kept and failed)",
            text::cleanup::report(&abandoned.preview.kind, &mixed, Some(&i.user_id), 5),
        ),
        (
            "delete-abandoned (progress)",
            text::room_cleanup::progress(5, 23),
        ),
        (
            "delete-room (still running)",
            text::room_cleanup::still_running(&i.room_id, "active"),
        ),
        (
            "delete-room (unknown room)",
            text::room_cleanup::unknown_room(&i.room_id),
        ),
        (
            "delete-room (admin room)",
            text::room_cleanup::admin_room(&i.room_id),
        ),
    ]
}

fn kind(inputs: &Inputs, name: &str) -> Doc {
    catalogue(inputs)
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, d)| d)
        .expect("a kind of the catalogue")
}

fn golden(name: &str, actual: &str) {
    let path = format!(
        "{}/tests/golden/messages/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; regenerate with UPDATE_GOLDEN=1"));
    assert_eq!(
        actual, expected,
        "{name} changed; if on purpose, regenerate with UPDATE_GOLDEN=1 and read it"
    );
}

fn book(i: &Inputs, render: impl Fn(&Doc) -> String) -> String {
    catalogue(i)
        .iter()
        .map(|(kind, doc)| format!("==== {kind} ====\n{}\n", render(doc)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The issue's display name, and the like.
fn hostile() -> Inputs {
    Inputs {
        user_id: "@mal:example.org".into(),
        name: "Mal\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\n<b>x</b> @room \u{202e}gnp.exe".into(),
        room_id: "!r\u{1b}[2J:example.org".into(),
        term: "<script>`@room`\u{2028}".into(),
        error: "boom\r\n\u{1b}]0;pwned\u{7}<img src=x>".into(),
    }
}

#[test]
fn rules_keep_the_unit_family_they_were_written_in() {
    let config = policy::parse("policies.yaml", POLICY).unwrap();
    let units: Vec<Units> = config
        .rules
        .user_media
        .iter()
        .map(|r| r.units)
        .chain(config.rules.rooms.iter().map(|r| r.units))
        .collect();
    assert_eq!(units, [Units::Binary, Units::Decimal, Units::Decimal]);
    let text = replies::policies(&config.rules).plain();
    assert!(text.contains("at most 10.0 kB and 100 media"), "{text}");
    assert!(text.contains("rooms at most 10.0 GB"), "{text}");
}

#[test]
fn golden_plain() {
    golden("plain.txt", &book(&Inputs::benign(), Doc::plain));
    golden("hostile.plain.txt", &book(&hostile(), Doc::plain));
}

#[test]
fn golden_html() {
    golden("html.txt", &book(&Inputs::benign(), Doc::html));
    golden("hostile.html.txt", &book(&hostile(), Doc::html));
}

#[test]
fn golden_terminal() {
    golden(
        "terminal.txt",
        &book(&Inputs::benign(), |d| d.terminal(true)),
    );
}

/// Elements of an HTML rendering, in document order, and its text.
fn parse_html(html: &str) -> (Vec<String>, String) {
    fn walk(node: ruma_html::NodeRef, tags: &mut Vec<String>, text: &mut String) {
        if let Some(e) = node.as_element() {
            tags.push(e.name.local.to_string());
        }
        if let Some(t) = node.as_text() {
            text.push_str(&t.borrow());
        }
        for child in node.children() {
            walk(child, tags, text);
        }
    }
    let doc = ruma_html::Html::parse(html);
    let (mut tags, mut text) = (Vec::new(), String::new());
    for child in doc.children() {
        walk(child, &mut tags, &mut text);
    }
    (tags, text)
}

#[test]
fn html_of_every_kind_uses_only_the_allowed_tags() {
    for inputs in [Inputs::benign(), hostile()] {
        for (kind, doc) in catalogue(&inputs) {
            let (tags, _) = parse_html(&doc.html());
            for tag in &tags {
                assert!(
                    ALLOWED_TAGS.contains(&tag.as_str()),
                    "{kind}: <{tag}> in {}",
                    doc.html()
                );
            }
        }
    }
    assert!(!ALLOWED_TAGS.contains(&"table"));
}

/// Text without whitespace, list markers, backticks and list numbers: what
/// plain text and HTML must agree on.
fn comparable(text: &str, plain: bool) -> String {
    let lines: Vec<&str> = if plain {
        text.lines()
            .map(|l| {
                let t = l.trim_start();
                let digits = t.chars().take_while(char::is_ascii_digit).count();
                if digits > 0 && t[digits..].starts_with(". ") {
                    &t[digits + 2..]
                } else {
                    t
                }
            })
            .collect()
    } else {
        vec![text]
    };
    lines
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '•' && *c != '`')
        .collect()
}

/// The template's part of each line: what comes before the first
/// placeholder.
fn template_prefixes(text: &str) -> Vec<String> {
    let p = Inputs::placeholders();
    text.split('\n')
        .map(|l| {
            let cut = p
                .all()
                .iter()
                .filter_map(|ph| l.find(ph))
                .min()
                .unwrap_or(l.len());
            l[..cut].to_owned()
        })
        .collect()
}

fn check_kinds(inputs: &Inputs) -> Result<(), TestCaseError> {
    let reference = catalogue(&Inputs::placeholders());
    for ((kind, doc), (_, model)) in catalogue(inputs).iter().zip(&reference) {
        for (medium, text, model_text) in [
            ("plain", doc.plain(), model.plain()),
            (
                "terminal",
                doc.terminal(true)
                    .replace("\u{1b}[1m", "")
                    .replace("\u{1b}[22m", ""),
                model.plain(),
            ),
        ] {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(
                lines.iter().all(|l| is_neutralised(l)),
                "{} {}: {:?}",
                kind,
                medium,
                text
            );
            let prefixes = template_prefixes(&model_text);
            prop_assert_eq!(
                lines.len(),
                prefixes.len(),
                "{} {}: {:?}",
                kind,
                medium,
                text
            );
            // Spaces are collapsed: a table's padding depends on its cells.
            let collapse = |s: &str| {
                s.split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            for (line, prefix) in lines.iter().zip(&prefixes) {
                prop_assert!(
                    collapse(line).starts_with(&collapse(prefix)),
                    "{} {}: a line not from the template: {:?}",
                    kind,
                    medium,
                    line
                );
            }
        }
        let html = doc.html();
        let (tags, text) = parse_html(&html);
        let (model_tags, _) = parse_html(&model.html());
        prop_assert_eq!(
            &tags,
            &model_tags,
            "{}: elements from outside in {}",
            kind,
            html
        );
        prop_assert_eq!(
            comparable(&text, false),
            comparable(&doc.plain(), true),
            "{}: the HTML does not read as the text: {}",
            kind,
            html
        );
    }
    Ok(())
}

#[test]
fn the_issues_hostile_name_forges_nothing() {
    check_kinds(&hostile()).unwrap();
    let alert = &kind(&hostile(), "alert summary");
    let plain = alert.plain();
    // Cut at 64 characters, newlines as escapes: one alert line, not two.
    assert!(
        plain.contains(
            "• 🔴 NEW critical media-quota: @mal:example.org (Mal\\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\\n<b>x<…): 6.0 GiB"
        ),
        "{plain}"
    );
    assert_eq!(plain.matches("\n• 🔴 NEW").count(), 1, "{plain}");
    let html = alert.html();
    assert!(
        html.contains(
            "(Mal\\n🔴 NEW critical media-quota: @ceo:example.org 99 GiB\\n&lt;b&gt;x&lt;…)"
        ),
        "{html}"
    );
    // The rest of the name, shorter: `@room` and the override escaped.
    let mut short = hostile();
    short.name = "<b>x</b> @room \u{202e}gnp.exe".into();
    let found = &kind(&short, "user (found)");
    assert_eq!(
        found.plain(),
        "@mal:example.org (<b>x</b> \\u{40}room \\u{202e}gnp.exe): 6.0 GiB in 3 media (all uploads)."
    );
    assert_eq!(
        found.html(),
        "<p><code>@mal:example.org</code> (&lt;b&gt;x&lt;/b&gt; \\u{40}room \\u{202e}gnp.exe): <strong>6.0 GiB</strong> in 3 media (all uploads).</p>"
    );
}

/// Any character, with the classes that could act over-represented.
fn outside() -> impl Strategy<Value = String> {
    let tricky = prop_oneof![
        Just('\n'),
        Just('\r'),
        Just('\t'),
        Just('\u{1b}'),
        Just('\u{7f}'),
        Just('\u{85}'),
        Just('\u{9b}'),
        Just('\u{202e}'),
        Just('\u{2066}'),
        Just('\u{200b}'),
        Just('\u{feff}'),
        Just('\u{2028}'),
        Just('<'),
        Just('>'),
        Just('&'),
        Just('`'),
        Just('@'),
    ];
    let piece = prop_oneof![
        3 => any::<char>().prop_map(|c| c.to_string()),
        2 => tricky.prop_map(|c| c.to_string()),
        1 => Just("@room".to_owned()),
        1 => Just("</code><table>".to_owned()),
        1 => Just("QQ".to_owned()),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_outside_text_forges_a_line_an_escape_or_an_element(
        user_id in outside(),
        name in outside(),
        room_id in outside(),
        term in outside(),
        error in outside(),
    ) {
        check_kinds(&Inputs { user_id, name, room_id, term, error })?;
    }
}

/// A policy every size of which is written in decimal units.
const POLICY_KB: &str = "synapse:\n  url: http://127.0.0.1:8008\n  token: {env: TOKEN}\n\
    rules:\n  user_media:\n    - name: media-quota\n      max_media_length: 100 kB\n    \
    - name: small\n      max_media_length: 50 kB\n";

/// Every message as the warden says it under [`POLICY_KB`].
fn book_kb(render: impl Fn(&Doc) -> String) -> String {
    let config = policy::parse("kb.yaml", POLICY_KB).unwrap();
    assert_eq!((config.units, config.units_mixed), (Units::Decimal, false));
    book(&Inputs::benign(), |d| render(&config.in_units(d.clone())))
}

#[test]
fn golden_for_a_policy_in_kb_shows_no_binary_unit() {
    for (name, out) in [
        ("kb.plain.txt", book_kb(Doc::plain)),
        ("kb.html.txt", book_kb(Doc::html)),
        ("kb.terminal.txt", book_kb(|d| d.terminal(true))),
    ] {
        golden(name, &out);
        // The catalogue's rule description is the admin's own text.
        let ours = out.replace("at most 5 GiB of media", "");
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            assert!(!ours.contains(unit), "{name} shows {unit}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// For any policy whose sizes are written in one family, every message
    /// of the catalogue shows sizes in that family only (the catalogue's
    /// rule description, the admin's own words, aside).
    #[test]
    fn every_size_shown_uses_the_policy_family(
        decimal in any::<bool>(),
        sizes in prop::collection::vec((1u64..5000, 0usize..4), 1..4),
    ) {
        let (units, other): (&[&str], &[&str]) = if decimal {
            (&["kB", "MB", "GB", "TB"], &["KiB", "MiB", "GiB", "TiB"])
        } else {
            (&["KiB", "MiB", "GiB", "TiB"], &["kB", "MB", "GB", "TB"])
        };
        let mut policy = String::from(
            "synapse:\n  url: http://127.0.0.1:8008\n  token: {env: TOKEN}\nrules:\n  user_media:\n",
        );
        for (i, (n, u)) in sizes.iter().enumerate() {
            policy.push_str(&format!(
                "    - name: rule-{i}\n      max_media_length: {n} {}\n",
                units[*u]
            ));
        }
        let config = policy::parse("p.yaml", &policy).unwrap();
        let out = book(&Inputs::benign(), |d| config.in_units(d.clone()).plain());
        let ours = out.replace("at most 5 GiB of media", "");
        for unit in other {
            // `kB` is inside no binary unit, and `KiB` inside no decimal one;
            // match whole units (after a digit and a space).
            let shown = ours.match_indices(&format!(" {unit}")).any(|(i, _)| {
                ours[..i].chars().last().is_some_and(|c| c.is_ascii_digit())
            });
            prop_assert!(!shown, "{} shown under a policy in {}", unit, units[0]);
        }
    }
}
