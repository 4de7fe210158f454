use super::*;
use proptest::prelude::*;

const P: &str = "!stats";

fn ok(body: &str) -> Command {
    match parse(P, body) {
        Some(Ok(c)) => c,
        other => panic!("{body:?} gave {other:?}"),
    }
}

fn err(body: &str) -> UsageError {
    match parse(P, body) {
        Some(Err(e)) => e.error,
        other => panic!("{body:?} gave {other:?}"),
    }
}

#[test]
fn not_addressed_to_us() {
    for body in [
        "",
        "hello",
        "!statsfoo",
        "stats top",
        " ! stats",
        "!stat top",
    ] {
        assert_eq!(parse(P, body), None, "{body:?}");
    }
    assert_eq!(parse("", "!stats top"), None);
}

#[test]
fn top_with_defaults_and_arguments_in_any_order() {
    let top = |n, metric, window| Command::Top { n, metric, window };
    assert_eq!(ok("!stats"), Command::Help(None));
    assert_eq!(ok("  !stats   help  "), Command::Help(None));
    assert_eq!(ok("!stats top"), top(10, MediaMetric::MediaLength, None));
    assert_eq!(
        ok("!stats top 10 media_length"),
        top(10, MediaMetric::MediaLength, None)
    );
    let day7 = Some(Duration::from_secs(7 * 86400));
    assert_eq!(
        ok("!stats top 5 media_count 7d"),
        top(5, MediaMetric::MediaCount, day7)
    );
    assert_eq!(
        ok("!stats TOP 7d MEDIA_COUNT 5"),
        top(5, MediaMetric::MediaCount, day7)
    );
    assert_eq!(
        ok("!stats top 1h30m"),
        top(
            10,
            MediaMetric::MediaLength,
            Some(Duration::from_secs(5400))
        )
    );
    assert_eq!(
        ok("!stats top 100"),
        top(100, MediaMetric::MediaLength, None)
    );
    assert_eq!(ok("!stats top 1"), top(1, MediaMetric::MediaLength, None));
}

#[test]
fn bad_top_arguments_are_named() {
    assert_eq!(err("!stats top 0"), UsageError::TopOutOfRange("0".into()));
    assert_eq!(
        err("!stats top 101"),
        UsageError::TopOutOfRange("101".into())
    );
    assert_eq!(err("!stats top -3"), UsageError::TopOutOfRange("-3".into()));
    assert_eq!(
        err("!stats top 99999999999999999999999"),
        UsageError::TopOutOfRange("99999999999999999999999".into())
    );
    assert_eq!(
        err("!stats top 10 media_size"),
        UsageError::UnknownTopArgument {
            word: "media_size".into(),
            closest: None
        }
    );
    // Misspelt words name the closest accepted one.
    assert_eq!(
        err("!stats top 3 media_lenght").to_string(),
        "unknown field or window `media_lenght`; did you mean `media_length`? (fields: \
         media_length, media_count; windows look like 7d, 24h)"
    );
    assert_eq!(
        err("!stats purge @a:hs oldr-than 3d").to_string(),
        "`purge` does not understand `oldr-than`; did you mean `older-than`? (it takes \
         older-than D, larger-than S)"
    );
    assert_eq!(err("!stats top 5 6"), UsageError::Repeated("N"));
    assert_eq!(
        err("!stats top 0s"),
        UsageError::WindowOutOfRange("0s".into())
    );
    assert_eq!(
        err("!stats top 4000d"),
        UsageError::WindowOutOfRange("4000d".into())
    );
    assert!(
        err("!stats top 101")
            .to_string()
            .contains("between 1 and 100")
    );
    assert!(err("!stats top x").to_string().contains("`x`"));
}

#[test]
fn user_queries() {
    assert_eq!(
        ok("!stats user @al_ice:example.org"),
        Command::User(UserQuery::Exact("@al_ice:example.org".into()))
    );
    assert_eq!(
        ok("!stats user alice"),
        Command::User(UserQuery::Search("alice".into()))
    );
    assert_eq!(err("!stats user"), UsageError::MissingUser);
    assert_eq!(
        err("!stats user @alice"),
        UsageError::BadUserId("@alice".into())
    );
    assert_eq!(err("!stats user zoë"), UsageError::NotAscii("zoë".into()));
    assert!(matches!(
        err("!stats user a b"),
        UsageError::UnexpectedArgument {
            command: "user",
            ..
        }
    ));
}

#[test]
fn other_commands_and_errors() {
    assert_eq!(ok("!stats rooms"), Command::Rooms { abandoned: false });
    assert_eq!(
        ok("!stats rooms Abandoned"),
        Command::Rooms { abandoned: true }
    );
    assert_eq!(
        err("!stats rooms biggest").to_string(),
        "`rooms` takes nothing or `abandoned`, but got `biggest`"
    );
    assert_eq!(ok("!stats Check"), Command::Check);
    assert_eq!(ok("!stats policies"), Command::Policies);
    assert_eq!(ok("!stats status"), Command::Status);
    assert_eq!(ok("!stats reload"), Command::Reload);
    assert_eq!(
        err("!stats frobnicate"),
        UsageError::UnknownCommand {
            word: "frobnicate".into(),
            closest: vec![]
        }
    );
    assert_eq!(
        err("!stats tpo").to_string(),
        "unknown command `tpo`; did you mean `top`?"
    );
    assert_eq!(
        err("!stats silnce").to_string(),
        "unknown command `silnce`; did you mean `silence` or `silences`?"
    );
    assert!(matches!(
        err("!stats rooms now"),
        UsageError::UnexpectedArgument {
            command: "rooms",
            ..
        }
    ));
    assert_eq!(
        err(&format!("!stats top {}", "7 ".repeat(60))),
        UsageError::TooLong
    );
}

/// Only a code of the code alphabet and length is a `confirm`: anything
/// else is refused as the command is read (so it reaches neither the audit
/// log nor the state), and the reply does not echo it.
#[test]
fn confirm_takes_only_codes() {
    use crate::core::commands::actions::{CODE_LEN, code_from, is_code};
    for random in [0, 1, 42, u64::MAX, 0x1234_5678_9abc_def0] {
        let code = code_from(random);
        assert_eq!(code.len(), CODE_LEN);
        assert!(is_code(&code), "{code}");
        assert_eq!(
            ok(&format!("!stats confirm {}", code.to_lowercase())),
            Command::Confirm { code }
        );
    }
    let long = "K".repeat(10_000);
    for bad in [
        "K7Q2X",
        "K7Q2XPP",
        "K7Q2X0",
        "K7Q2XI",
        "K7Q2X1",
        "K7Q2XL",
        "K7Q2XO",
        "K7Q2X\u{202e}",
        "K7Q2X\u{1b}",
        "K7-2XP",
        "K7Q2XÉ",
        "ＫＫＫＫＫＫ",
        "{\"a\"}",
        long.as_str(),
    ] {
        assert!(!is_code(bad), "{bad:?}");
        let e = err(&format!("!stats confirm {bad}"));
        assert_eq!(e, UsageError::BadCode, "{bad:?}");
        let said = e.to_string();
        assert!(said.contains("6 letters and digits"), "{said}");
        assert!(!said.contains(bad), "echoed: {said}");
    }
}

/// A silence of every user or every room needs the power level to act; a
/// narrow one the power level to command, as before.
#[test]
fn a_silence_of_everyone_needs_the_action_level() {
    let request = |line: &str| match ok(line) {
        Command::Silence(r) => r,
        other => panic!("{other:?}"),
    };
    for line in [
        "!stats silence * * 1d",
        "!stats silence * ** 1d",
        "!stats silence * @* 1d",
        "!stats silence * *:* 1d",
        "!stats silence media-quota @*:* 30d",
        "!stats silence big-rooms !* 1d",
    ] {
        let r = request(line);
        assert!(r.needs_action_level(), "{line}");
        assert!(!may_silence(&r, Some(50), 100), "{line}");
        assert!(!may_silence(&r, None, 100), "{line}");
        assert!(may_silence(&r, Some(100), 100), "{line}");
        assert!(may_silence(&r, Some(i64::MAX), 100), "{line}");
    }
    for line in [
        "!stats silence media-quota @bob:example.org 14d",
        "!stats silence * @*:old.example.org 30d",
        "!stats silence * !abc:example.org 1d",
    ] {
        let r = request(line);
        assert!(!r.needs_action_level(), "{line}");
        assert!(may_silence(&r, Some(50), 100), "{line}");
        // The bot admitted the sender (level or allow-list) already.
        assert!(may_silence(&r, None, 100), "{line}");
    }
}

#[test]
fn silences() {
    let Command::Silence(r) =
        ok("!stats silence media-quota @bob:example.org 14d moving  to a new server")
    else {
        panic!()
    };
    assert_eq!(r.matcher.rule.to_string(), "media-quota");
    assert_eq!(r.matcher.subject.as_str(), "@bob:example.org");
    assert_eq!(r.duration, Duration::from_secs(14 * 86400));
    assert_eq!(r.reason, "moving to a new server");
    let Command::Silence(r) = ok("!stats silence * @*:old.org 12h") else {
        panic!()
    };
    assert_eq!(r.reason, "");
    assert_eq!(r.matcher.rule.to_string(), "*");
    assert_eq!(ok("!stats silences"), Command::Silences);
    assert_eq!(ok("!stats unsilence 3"), Command::Unsilence(3));
    assert_eq!(ok("!stats unsilence #3"), Command::Unsilence(3));
    assert!(matches!(
        err("!stats silence"),
        UsageError::Missing {
            command: "silence",
            ..
        }
    ));
    assert!(matches!(
        err("!stats silence quota @bob:hs"),
        UsageError::Missing {
            command: "silence",
            ..
        }
    ));
    assert_eq!(
        err("!stats silence quota bob 1d"),
        UsageError::BadSubject("bob".into())
    );
    assert_eq!(
        err("!stats silence quo*ta @bob:hs 1d"),
        UsageError::BadRule("quo*ta".into())
    );
    assert_eq!(
        err("!stats silence quota @bob:hs forever"),
        UsageError::BadDuration("forever".into())
    );
    assert_eq!(
        err("!stats silence quota @bob:hs 0s"),
        UsageError::BadDuration("0s".into())
    );
    assert_eq!(
        err(&format!("!stats silence q @b:hs 1d {}", "w".repeat(201))),
        UsageError::ReasonTooLong
    );
    assert_eq!(
        err("!stats unsilence x"),
        UsageError::BadSilenceId("x".into())
    );
    assert!(matches!(
        err("!stats unsilence"),
        UsageError::Missing {
            command: "unsilence",
            ..
        }
    ));
}

#[test]
fn help_about_one_command() {
    assert_eq!(ok("!stats help top"), Command::Help(Some("top")));
    assert_eq!(ok("!stats help TOP"), Command::Help(Some("top")));
    assert_eq!(ok("!stats --help"), Command::Help(None));
    assert_eq!(
        err("!stats help frob"),
        UsageError::UnknownTopic("frob".into())
    );
}

#[test]
fn usage_errors_name_their_command() {
    let bad = |body| match parse(P, body) {
        Some(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(bad("!stats top 0").command, Some("top"));
    assert_eq!(bad("!stats rooms now").command, Some("rooms"));
    assert_eq!(bad("!stats user").command, Some("user"));
    assert_eq!(bad("!stats frob").command, None);
}

/// The table is consistent: names and aliases unique, every example
/// parses to a command of its own entry, every command finds its entry.
#[test]
fn the_table_holds_together() {
    let mut words = std::collections::BTreeSet::new();
    for s in COMMANDS {
        for w in std::iter::once(&s.name).chain(s.aliases) {
            assert!(words.insert(w.to_ascii_lowercase()), "{w} twice");
        }
        assert!(
            !s.summary.is_empty() && !s.examples.is_empty(),
            "{}",
            s.name
        );
        for e in s.examples {
            let c = parse_words(&e.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_else(|b| panic!("{e}: {b}"));
            assert_eq!(c.name(), s.name, "{e}");
            assert!(std::ptr::eq(c.spec(), s));
        }
    }
}

#[test]
fn room_clean_up_commands() {
    assert_eq!(
        ok("!stats delete-room !abc:hs Block"),
        Command::Preview(ActionKind::DeleteRoom {
            room_id: "!abc:hs".into(),
            block: true
        })
    );
    assert_eq!(
        ok("!stats delete-room !abcV12hash"),
        Command::Preview(ActionKind::DeleteRoom {
            room_id: "!abcV12hash".into(),
            block: false
        })
    );
    assert_eq!(
        ok("!stats purge-history !abc:hs local-too older-than 180d"),
        Command::Preview(ActionKind::PurgeHistory {
            room_id: "!abc:hs".into(),
            older_than: Duration::from_secs(180 * 86400),
            local_too: true
        })
    );
    assert_eq!(
        ok("!stats delete-abandoned"),
        Command::Preview(ActionKind::DeleteAbandoned)
    );
    assert_eq!(
        err("!stats delete-room #busy:hs"),
        UsageError::RoomAlias("#busy:hs".into())
    );
    assert!(
        err("!stats purge-history #busy:hs older-than 1d")
            .to_string()
            .contains("needs the room ID")
    );
    assert_eq!(
        err("!stats delete-room busy"),
        UsageError::BadRoomId("busy".into())
    );
    assert_eq!(
        err("!stats delete-room !"),
        UsageError::BadRoomId("!".into())
    );
    assert_eq!(
        err("!stats purge-history !a:hs").to_string(),
        "`purge-history` needs `older-than D` (e.g. older-than 180d)"
    );
    assert_eq!(
        err("!stats purge-history !a:hs older-than never"),
        UsageError::BadAge("never".into())
    );
    assert!(matches!(
        err("!stats delete-room !a:hs local-too"),
        UsageError::BadActionArgument {
            command: "delete-room",
            ..
        }
    ));
    assert!(matches!(
        err("!stats delete-abandoned now"),
        UsageError::UnexpectedArgument { .. }
    ));
    assert!(matches!(
        err("!stats delete-room"),
        UsageError::Missing { .. }
    ));
    assert_eq!(
        ok("!stats purge-deactivated"),
        Command::Preview(ActionKind::PurgeDeactivated { older_than: None })
    );
    assert_eq!(
        ok("!stats purge-deactivated OLDER-THAN 30d"),
        Command::Preview(ActionKind::PurgeDeactivated {
            older_than: Some(Duration::from_secs(30 * 86400))
        })
    );
    assert_eq!(
        err("!stats purge-deactivated older-than"),
        UsageError::BadAge(String::new())
    );
    assert!(matches!(
        err("!stats purge-deactivated @a:hs"),
        UsageError::BadActionArgument { .. }
    ));
}

#[test]
fn media_commands() {
    let day90 = Some(Duration::from_secs(90 * 86400));
    assert_eq!(
        ok("!stats media @a:hs older-than 90d larger-than 10 MB limit 5 oldest"),
        Command::Media {
            user_id: "@a:hs".into(),
            filter: MediaFilter {
                older_than: day90,
                larger_than: Some(10_000_000)
            },
            order: MediaOrder::Oldest,
            limit: 5
        }
    );
    assert_eq!(
        ok("!stats purge @a:hs larger-than 1KiB"),
        Command::Preview(ActionKind::Purge {
            user_id: "@a:hs".into(),
            filter: MediaFilter {
                older_than: None,
                larger_than: Some(1024)
            }
        })
    );
    assert_eq!(
        ok("!stats quarantine @a:hs"),
        Command::Preview(ActionKind::Quarantine {
            user_id: "@a:hs".into()
        })
    );
    assert_eq!(
        ok("!stats purge-remote older-than 30d"),
        Command::Preview(ActionKind::PurgeRemote {
            older_than: Duration::from_secs(30 * 86400)
        })
    );
    assert_eq!(
        ok("!stats confirm abc234"),
        Command::Confirm {
            code: "ABC234".into()
        }
    );
    let no_user = UsageError::Missing {
        command: "purge",
        what: "a user ID (@alice:example.org)",
    };
    assert_eq!(err("!stats purge"), no_user);
    assert_eq!(err("!stats purge older-than 1d"), no_user);
    assert_eq!(
        err("!stats purge").to_string(),
        "`purge` needs a user ID (@alice:example.org)"
    );
    assert_eq!(err("!stats purge @a"), UsageError::BadUserId("@a".into()));
    assert_eq!(
        err("!stats purge-remote").to_string(),
        "`purge-remote` needs `older-than D` (e.g. older-than 30d)"
    );
    assert_eq!(
        err("!stats confirm").to_string(),
        "`confirm` needs the code of a preview"
    );
    assert_eq!(
        err("!stats purge @a:hs larger-than lots"),
        UsageError::BadSize("lots".into())
    );
    assert_eq!(
        err("!stats purge @a:hs older-than soon"),
        UsageError::BadAge("soon".into())
    );
    assert!(matches!(
        err("!stats quarantine @a:hs older-than 1d"),
        UsageError::BadActionArgument {
            command: "quarantine",
            ..
        }
    ));
    assert!(matches!(
        err("!stats purge @a:hs limit 3"),
        UsageError::BadActionArgument {
            command: "purge",
            ..
        }
    ));
}

#[test]
fn trend_and_growth_take_their_arguments_in_any_order() {
    let d = |days: u64| Duration::from_secs(days * 86_400);
    assert_eq!(
        ok("!stats trend"),
        Command::Trend {
            user_id: None,
            window: d(30)
        }
    );
    assert_eq!(
        ok("!stats Trend 90d @a:hs"),
        Command::Trend {
            user_id: Some("@a:hs".into()),
            window: d(90)
        }
    );
    assert_eq!(
        ok("!stats growth"),
        Command::Growth {
            window: d(7),
            n: 10
        }
    );
    assert_eq!(
        ok("!stats growth 5 30d"),
        Command::Growth {
            window: d(30),
            n: 5
        }
    );
    assert_eq!(err("!stats trend @a"), UsageError::BadUserId("@a".into()));
    assert_eq!(
        err("!stats trend @a:hs @b:hs"),
        UsageError::Repeated("the user")
    );
    assert_eq!(
        err("!stats growth 0"),
        UsageError::TopOutOfRange("0".into())
    );
    assert_eq!(
        err("!stats growth 0d"),
        UsageError::WindowOutOfRange("0d".into())
    );
    assert!(matches!(
        err("!stats trend 5"),
        UsageError::BadActionArgument {
            command: "trend",
            ..
        }
    ));
    assert!(matches!(
        err("!stats growth @a:hs"),
        UsageError::BadActionArgument {
            command: "growth",
            ..
        }
    ));
}

#[test]
fn only_the_first_line_after_a_reply_fallback_counts() {
    assert_eq!(
        ok("> <@bob:hs> something\n> more\n\n!stats rooms\nignored words here"),
        Command::Rooms { abandoned: false }
    );
    assert_eq!(parse(P, "> <@bob:hs> !stats rooms"), None);
    assert_eq!(parse(P, "hello\n!stats rooms"), None);
}

#[test]
fn long_arguments_are_cut_in_errors() {
    let long = "x".repeat(10_000);
    let e = err(&format!("!stats {long}"));
    assert!(e.to_string().len() < 100, "{e}");
}

#[test]
fn windows_are_one_word() {
    assert_eq!(
        crate::core::doc::format::window_word(Duration::from_secs(7 * 86400)),
        "7d"
    );
    assert_eq!(
        crate::core::doc::format::window_word(Duration::from_secs(5400)),
        "1h30m"
    );
    assert_eq!(
        crate::core::doc::format::window_word(Duration::from_secs(86400 + 1)),
        "1d1s"
    );
}

#[test]
fn other_prefixes() {
    assert_eq!(
        parse("!warden", "!warden rooms"),
        Some(Ok(Command::Rooms { abandoned: false }))
    );
    assert_eq!(parse("!warden", "!stats rooms"), None);
}

#[test]
fn the_prefix_ignores_case_and_alone_is_help() {
    let top5 = Some(Ok(Command::Top {
        n: 5,
        metric: MediaMetric::MediaLength,
        window: None,
    }));
    assert_eq!(parse(P, "!Stats top 5"), top5);
    assert_eq!(parse(P, "!STATS TOP 5"), top5);
    assert_eq!(parse("!Stats", "!stats top 5"), top5);
    assert_eq!(
        parse("!wärden", "!WÄRDEN rooms"),
        Some(Ok(Command::Rooms { abandoned: false }))
    );
    assert_eq!(parse(P, "!stats"), Some(Ok(Command::Help(None))));
    assert_eq!(parse(P, "  !Stats  "), Some(Ok(Command::Help(None))));
    assert_eq!(parse(P, "!Statsx top"), None);
    assert_eq!(parse(P, "!stat"), None);
    assert_eq!(parse(P, "!ßtats"), None);
}

fn any_command() -> impl Strategy<Value = Command> {
    let metric = prop_oneof![
        Just(MediaMetric::MediaLength),
        Just(MediaMetric::MediaCount)
    ];
    let window = proptest::option::of((1u64..=3650 * 86400).prop_map(Duration::from_secs));
    prop_oneof![
        Just(Command::Help(None)),
        proptest::sample::select(COMMANDS.iter().map(|s| s.name).collect::<Vec<_>>())
            .prop_map(|n| Command::Help(Some(n))),
        Just(Command::Rooms { abandoned: false }),
        Just(Command::Rooms { abandoned: true }),
        Just(Command::Check),
        Just(Command::Policies),
        Just(Command::Status),
        Just(Command::Reload),
        (1u32..=100, metric, window).prop_map(|(n, metric, window)| Command::Top {
            n,
            metric,
            window
        }),
        "@[a-z0-9._=/+-]{1,20}:[a-z0-9.-]{1,20}(:[0-9]{1,5})?"
            .prop_map(|u| Command::User(UserQuery::Exact(u))),
        "[a-zA-Z0-9._=/+%-][!-~]{0,20}".prop_map(|s| Command::User(UserQuery::Search(s))),
        Just(Command::Silences),
        any::<u64>().prop_map(Command::Unsilence),
        (
            "[a-z][a-z0-9-]{0,15}|\\*",
            "@[a-z0-9*?]{1,10}:[a-z0-9.*-]{1,12}|![a-z]{1,8}:[a-z.]{1,8}|\\*",
            1u64..=90 * 86400,
            proptest::collection::vec("[!-~]{1,12}", 0..5),
        )
            .prop_map(|(rule, subject, secs, reason)| {
                Command::Silence(SilenceRequest {
                    matcher: Matcher {
                        rule: silences::RulePattern::parse(&rule).expect("a rule"),
                        subject: silences::SubjectPattern::parse(&subject).expect("a subject"),
                    },
                    duration: Duration::from_secs(secs),
                    reason: reason.join(" "),
                })
            }),
        (filter(), any::<bool>(), 1usize..=100).prop_map(|(filter, oldest, limit)| {
            Command::Media {
                user_id: "@a:hs".into(),
                filter,
                order: if oldest {
                    MediaOrder::Oldest
                } else {
                    MediaOrder::Largest
                },
                limit,
            }
        }),
        filter().prop_map(|filter| Command::Preview(ActionKind::Purge {
            user_id: "@b:hs".into(),
            filter
        })),
        Just(Command::Preview(ActionKind::Quarantine {
            user_id: "@c:hs".into()
        })),
        (1u64..=3650 * 86400).prop_map(|s| Command::Preview(ActionKind::PurgeRemote {
            older_than: Duration::from_secs(s)
        })),
        "[A-HJKMNP-Z2-9]{6}".prop_map(|code| Command::Confirm { code }),
        any::<bool>().prop_map(|block| Command::Preview(ActionKind::DeleteRoom {
            room_id: "!r:hs".into(),
            block
        })),
        ((1u64..=3650 * 86400), any::<bool>()).prop_map(|(s, local_too)| Command::Preview(
            ActionKind::PurgeHistory {
                room_id: "!r:hs".into(),
                older_than: Duration::from_secs(s),
                local_too
            }
        )),
        Just(Command::Preview(ActionKind::DeleteAbandoned)),
        proptest::option::of((1u64..=3650 * 86400).prop_map(Duration::from_secs))
            .prop_map(|older_than| Command::Preview(ActionKind::PurgeDeactivated { older_than })),
        (
            proptest::option::of(Just("@d:hs".to_owned())),
            (1u64..=3650 * 86400).prop_map(Duration::from_secs)
        )
            .prop_map(|(user_id, window)| Command::Trend { user_id, window }),
        (
            (1u64..=3650 * 86400).prop_map(Duration::from_secs),
            1u32..=100
        )
            .prop_map(|(window, n)| Command::Growth { window, n }),
    ]
}

fn filter() -> impl Strategy<Value = MediaFilter> {
    (
        proptest::option::of((1u64..=3650 * 86400).prop_map(Duration::from_secs)),
        proptest::option::of(0u64..=1u64 << 50),
    )
        .prop_map(|(older_than, larger_than)| MediaFilter {
            older_than,
            larger_than,
        })
}

proptest! {
    #[test]
    fn never_panics_on_any_body(body in "\\PC{0,300}") {
        let _ = parse(P, &body);
        let _ = parse(P, &format!("!stats {body}"));
        let _ = parse(P, &format!("!stats top {body}"));
        let _ = parse(P, &format!("!stats user {body}"));
        let _ = parse(P, &format!("> {body}\n\n!stats {body}"));
    }

    #[test]
    fn never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let body = String::from_utf8_lossy(&body);
        let _ = parse(P, &body);
        let _ = parse(P, &format!("!stats {body}"));
    }

    #[test]
    fn html_and_formatting_are_not_commands(body in "<[a-z]{1,5}>\\PC{0,50}") {
        prop_assert_eq!(parse(P, &body), None);
    }

    #[test]
    fn the_prefix_matches_in_any_case(
        cmd in any_command(),
        upper in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let prefix: String = P
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(parse(P, &format!("{prefix} {cmd}")), Some(Ok(cmd.clone())));
        prop_assert_eq!(parse(&prefix, &format!("{P} {cmd}")), Some(Ok(cmd)));
    }

    #[test]
    fn display_round_trips(cmd in any_command()) {
        prop_assert_eq!(parse(P, &format!("{P} {cmd}")), Some(Ok(cmd.clone())));
        let words: Vec<String> = cmd.to_string().split_whitespace().map(str::to_owned).collect();
        prop_assert_eq!(parse_words(&words), Ok(cmd));
    }

    #[test]
    fn errors_are_short(body in "\\PC{0,2000}") {
        if let Some(Err(e)) = parse(P, &format!("!stats {body}")) {
            prop_assert!(e.to_string().chars().count() < 200);
        }
    }
}
