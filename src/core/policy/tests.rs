//! Tests of the whole policy parser: the example file, the golden file of
//! `validate`, and one test per kind of mistake.

use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../../policies.example.yaml");
const GOLDEN_INPUT: &str = include_str!("../../../tests/golden/validate/invalid.yaml");
const GOLDEN_OUTPUT: &str = include_str!("../../../tests/golden/validate/invalid.txt");
/// The name the golden file is given, as `validate` run from the repository
/// root names it.
const GOLDEN_NAME: &str = "tests/golden/validate/invalid.yaml";

/// A minimal valid file, with `extra` appended under `rules.user_media[0]`
/// (indented by six spaces).
fn minimal(extra: &str) -> String {
    format!(
        "synapse:\n  url: http://127.0.0.1:8008\n  token: {{env: TOKEN}}\n\
         rules:\n  user_media:\n    - name: quota\n      max_media_length: 1 GiB\n{extra}"
    )
}

fn errors(text: &str) -> Vec<String> {
    match parse("p.yaml", text) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_example_file_is_valid_and_means_what_it_says() {
    let config = parse("policies.example.yaml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.synapse.url.as_str(), "http://127.0.0.1:8008/");
    assert_eq!(
        config.synapse.token,
        SecretSource::Env("SYNAPSE_ADMIN_TOKEN".into())
    );
    assert_eq!(config.synapse.timeout, Duration::from_secs(60));
    assert_eq!(config.synapse.page_size.map(|p| p.get()), Some(500_000));
    assert_eq!(
        config.schedule.trigger,
        Trigger::Every(Duration::from_secs(900))
    );
    assert_eq!(config.schedule.jitter, Duration::from_secs(30));
    assert_eq!(config.alerts.max_lines.get(), 20);
    assert_eq!(config.alerts.lifecycle().growth_escalation, 1.5);
    let matrix = config.matrix.as_ref().expect("matrix section");
    assert_eq!(matrix.user, "@warden:example.org");
    assert_eq!(matrix.commands.prefix, "!stats");
    assert_eq!(matrix.commands.power_level, 50);
    assert!(
        matrix
            .commands
            .allowed_senders
            .matches("@oncall:example.org")
    );
    assert!(!matrix.commands.allowed_senders.matches("@bob:example.org"));
    assert_eq!(
        matrix.commands.rate_limit,
        RateLimit {
            burst: 20,
            per: Duration::from_secs(60)
        }
    );
    assert_eq!(config.http.listen, "127.0.0.1:9655".parse().unwrap());
    assert!(matrix.access_token.is_none());
    assert_eq!(
        matrix.store_passphrase,
        SecretSource::File("/etc/synapse-warden/store-passphrase".into())
    );

    let [quota, burst] = &config.rules.user_media[..] else {
        panic!("two user media rules");
    };
    assert_eq!(quota.name, "media-quota");
    assert_eq!(quota.severity, Severity::Critical);
    assert_eq!(quota.max_media_length, Some(5 << 30));
    assert_eq!(quota.max_media_count, Some(10_000));
    assert_eq!(quota.warn_at, Some(Percent::from_basis_points(8000)));
    assert!(quota.users.selects("@alice:example.org"));
    assert!(!quota.users.selects("@admin:example.org"));
    assert!(!quota.users.selects("@irc-bridge:example.org"));
    assert!(!quota.users.selects("@alice:elsewhere.org"));
    assert_eq!(burst.window, Some(Duration::from_secs(86400)));
    assert_eq!(burst.max_media_length, Some(1_000_000_000));
    assert_eq!(burst.severity, Severity::Warning);
    assert!(burst.users.selects("@anyone:anywhere"));
    let [rooms] = &config.rules.rooms[..] else {
        panic!("one room rule");
    };
    assert_eq!(rooms.max_estimated_size, Some(10 << 30));
    assert_eq!(rooms.max_state_events, Some(100_000));
    assert!(rooms.exempt.matches("!hq:example.org"));
}

#[test]
fn every_documented_key_is_in_the_example() {
    // The example documents every key: each key of the language appears in
    // it, commented out or not.
    for (_, keys) in raw::SECTIONS {
        for key in *keys {
            assert!(
                EXAMPLE.contains(&format!("{key}:")),
                "policies.example.yaml does not document `{key}`"
            );
        }
    }
}

/// The golden test of `validate`: a file with a misspelt key, a bad size, a
/// bad cron expression and more, every error with its line and column.
/// Regenerate with `UPDATE_GOLDEN=1 cargo test --lib golden`.
#[test]
fn golden_validate_output() {
    let err = parse(GOLDEN_NAME, GOLDEN_INPUT).expect_err("the golden file is invalid");
    let report = err.report();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/validate/invalid.txt"
        );
        std::fs::write(path, &report).unwrap();
        return;
    }
    assert_eq!(
        report, GOLDEN_OUTPUT,
        "validate output changed; if on purpose, regenerate with UPDATE_GOLDEN=1"
    );
    // The three mistakes of the issue, each with line and column.
    for needle in [
        "invalid.yaml:20:7: rules.user_media[0].max_media_lenght: unknown key; did you mean `max_media_length`?",
        "invalid.yaml:24:25: rules.user_media[1].max_media_length: `5 GB/s` is not a size",
        "invalid.yaml:9:9: schedule.cron: `*/15 * * *  MON-FRY` is not a valid cron expression",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
    // The inline token is refused without being repeated.
    assert!(!report.contains("syt_not_a_secret_source"), "{report}");
}

#[test]
fn unknown_keys_get_suggestions_or_a_hint_where_they_belong() {
    let e = errors(&minimal(
        "      max_estimated_size: 1 GiB\n      wndow: 1d\n",
    ));
    assert_eq!(
        e,
        [
            "p.yaml:8:7: rules.user_media[0].max_estimated_size: unknown key; this key belongs in `rules.rooms[]`",
            "p.yaml:9:7: rules.user_media[0].wndow: unknown key; did you mean `window`?",
        ]
    );
    let e = errors(&format!("{}schedul:\n  every: 1h\n", minimal("")));
    assert_eq!(
        e,
        ["p.yaml:8:1: schedul: unknown key; did you mean `schedule`?"]
    );
    let e = errors(&minimal("      <<: {window: 1d}\n"));
    assert!(e[0].contains("merge keys are not supported"), "{e:?}");
}

#[test]
fn a_misspelt_required_key_is_not_also_reported_missing() {
    let text = "synapse:\n  url: http://x\n  tokn: {env: T}\nrules:\n  rooms:\n    - nam: r\n      max_estimated_size: 1 GiB\n";
    assert_eq!(
        errors(text),
        [
            "p.yaml:3:3: synapse.tokn: unknown key; did you mean `token`?",
            "p.yaml:6:7: rules.rooms[0].nam: unknown key; did you mean `name`?",
        ]
    );
}

#[test]
fn impossible_values_are_refused() {
    let cases: &[(&str, &str)] = &[
        ("      warn_at: 150%\n", "`150%` is not an early warning"),
        ("      warn_at: 0%\n", "`0%` is not an early warning"),
        ("      window: 0s\n", "window: must be longer than 0"),
        ("      max_media_count: -1\n", "not negative"),
        ("      max_media_count: 0\n", "must be at least 1, not 0"),
        ("      severity: fatal\n", "`fatal` is not a severity"),
        ("      users_regex: '('\n", "invalid regular expression"),
        ("      exempt: ['[']\n", "invalid glob"),
        ("      description: [1]\n", "expected text, found a list"),
    ];
    for (extra, expected) in cases {
        let e = errors(&minimal(extra));
        assert_eq!(e.len(), 1, "{extra:?} gave {e:?}");
        assert!(e[0].starts_with("p.yaml:8:"), "{e:?}");
        assert!(e[0].contains(expected), "{extra:?} gave {e:?}");
    }
    let negative = minimal("").replace("1 GiB", "-1 GiB");
    assert_eq!(
        errors(&negative),
        ["p.yaml:7:25: rules.user_media[0].max_media_length: a size cannot be negative (`-1 GiB`)"]
    );
}

#[test]
fn rules_are_required_named_uniquely_and_limited() {
    let head = "synapse:\n  url: http://x\n  token: {file: /t}\n";
    assert_eq!(errors(head), ["p.yaml:1:1: missing required key `rules`"]);
    assert_eq!(
        errors(&format!("{head}rules:\n  user_media: []\n")),
        ["p.yaml:5:15: rules.user_media: the list is empty: add a rule or remove `user_media`"]
    );
    assert_eq!(
        errors(&format!("{head}rules: {{}}\n")),
        ["p.yaml:4:8: rules: no rules: declare at least one rule under `user_media` or `rooms`"]
    );
    let text = format!(
        "{head}rules:\n  user_media:\n    - name: a\n  rooms:\n    - name: a\n      max_estimated_size: 1 GB\n    - max_estimated_size: 1 GB\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:6:7: rules.user_media[0]: a user media rule needs a limit: `max_media_length`, `max_media_count` or both",
            "p.yaml:8:13: rules.rooms[0].name: the rule name `a` is already used by `rules.user_media[0]`",
            "p.yaml:10:7: rules.rooms[1]: missing required key `name`",
        ]
    );
}

#[test]
fn secrets_are_named_never_written() {
    let with_token = |token: &str| {
        format!(
            "synapse:\n  url: http://x\n  token: {token}\nrules:\n  rooms:\n    - name: r\n      max_estimated_size: 1 GB\n"
        )
    };
    let e = errors(&with_token("hunter2-secret"));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("p.yaml:3:10: synapse.token: a secret must not be written"));
    assert!(!e[0].contains("hunter2"), "{e:?}");
    assert_eq!(
        errors(&with_token("{env: A, file: /b}")),
        ["p.yaml:3:10: synapse.token: give either `env` or `file`, not both"]
    );
    assert_eq!(
        errors(&with_token("{envv: A}")),
        ["p.yaml:3:11: synapse.token.envv: unknown key; did you mean `env`?"]
    );
    assert_eq!(
        errors(&with_token("{env: ''}")),
        [
            "p.yaml:3:16: synapse.token.env: expected the name of an environment variable, found nothing"
        ]
    );
    let ok = parse("p.yaml", &with_token("{file: /run/secrets/t}")).unwrap();
    assert_eq!(
        ok.synapse.token,
        SecretSource::File("/run/secrets/t".into())
    );
    assert!(ok.matrix.is_none());
    assert_eq!(ok.schedule, Schedule::default());
}

#[test]
fn schedules() {
    let base = minimal("");
    let with = |s: &str| format!("{base}schedule:\n{s}");
    let c = parse("p", &with("  cron: '0 3 * * *'\n  run_at_start: false\n")).unwrap();
    match &c.schedule.trigger {
        Trigger::Cron(cron) => assert_eq!(cron.schedule.source(), "0 0 3 * * *"),
        other => panic!("{other:?}"),
    }
    assert!(!c.schedule.run_at_start);
    assert_eq!(
        errors(&with("  every: 1h\n  cron: '@daily'\n")),
        ["p.yaml:9:3: schedule: give either `cron` or `every`, not both"]
    );
    assert_eq!(
        errors(&with("  jitter: 5s\n")),
        ["p.yaml:9:3: schedule: missing required key: one of `every`, `cron`"]
    );
    assert_eq!(
        errors(&with("  every: 1h\n  run_at_start: yes\n")),
        [
            "p.yaml:10:17: schedule.run_at_start: `yes` is text in YAML 1.2, not a boolean: write `true`"
        ]
    );
}

#[test]
fn structural_errors_are_located_by_serde() {
    assert_eq!(
        errors("synapse: syt_secret\nrules: {}\n"),
        ["p.yaml:1:10: synapse: expected a mapping, found text"]
    );
    assert_eq!(
        errors(&minimal("    - 5\n")),
        ["p.yaml:8:7: rules.user_media[1]: expected a mapping, found a number"]
    );
    assert_eq!(
        errors("rules:\n  rooms: {a: 1}\n"),
        ["p.yaml:2:10: rules.rooms: expected a list, found a mapping"]
    );
    let e = errors("synapse:\n  url: a\n  url: b\n");
    assert!(e[0].contains("duplicate"), "{e:?}");
    // Where the parser saw the problem begin: the bracket never closed.
    assert_eq!(
        errors("synapse: [\n"),
        ["p.yaml:1:10: invalid YAML: unclosed bracket '['"]
    );
    assert_eq!(
        errors("# nothing\n\n"),
        ["p.yaml:1:1: the file is empty; see policies.example.yaml for a complete policy"]
    );
}

#[test]
fn matrix_section() {
    let base = minimal("");
    let with = |m: &str| format!("{base}matrix:\n{m}");
    let e = errors(&with(
        "  homeserver: https://hs\n  user: warden\n  room: admins\n  data_dir: /d\n",
    ));
    assert_eq!(
        e,
        [
            "p.yaml:9:3: matrix: missing required key: one of `password`, `access_token`",
            "p.yaml:9:3: matrix: missing required key `store_passphrase`",
            "p.yaml:10:9: matrix.user: `warden` is not a Matrix user ID such as `@warden:example.org`",
            "p.yaml:11:9: matrix.room: `admins` is neither a room alias (`#admins:example.org`) nor a room ID (`!...`)",
        ]
    );
    let ok = parse(
        "p",
        &with("  homeserver: https://hs\n  user: '@w:hs'\n  room: '!abc'\n  data_dir: /d\n  access_token: {env: T}\n  store_passphrase: {env: P}\n"),
    )
    .unwrap();
    let m = ok.matrix.unwrap();
    let defaults = CommandAccess::default();
    assert_eq!(m.commands.prefix, defaults.prefix);
    assert_eq!(m.commands.power_level, defaults.power_level);
    assert_eq!(m.commands.rate_limit, defaults.rate_limit);
    assert_eq!(m.commands.silence_max, super::DEFAULT_SILENCE_MAX);
    assert!(m.commands.allowed_senders.is_empty());
}

#[test]
fn rate_limit_is_n_per_duration() {
    let with_key = |key: &str, limit: &str| {
        format!(
            "synapse: {{url: http://localhost:8008, token: {{env: T}}}}\nmatrix:\n  homeserver: https://hs\n  user: '@w:hs'\n  room: '!abc'\n  data_dir: /d\n  access_token: {{env: T}}\n  store_passphrase: {{env: P}}\n  {key}: {limit}\nrules:\n  user_media:\n    - {{name: q, max_media_count: 1}}\n"
        )
    };
    let with = |limit: &str| with_key("rate_limit", limit);
    for (written, burst, secs) in [("3/1m", 3, 60), ("3 / 90s", 3, 90), ("3 per 1m", 3, 60)] {
        let config = parse("p", &with(written)).unwrap();
        assert_eq!(
            config.matrix.unwrap().commands.rate_limit,
            RateLimit {
                burst,
                per: Duration::from_secs(secs)
            },
            "{written}"
        );
    }
    assert_eq!(RateLimit::default().to_string(), "20/1m");
    for (bad, message) in [
        (
            "5",
            "`5` is not a rate limit: write a number of commands and a duration, e.g. `20/1m`",
        ),
        (
            "0/1m",
            "`0` is not a number of commands of at least 1: write a number of commands and a duration, e.g. `20/1m`",
        ),
        ("5/0s", "must be longer than 0"),
        ("5/soon", "`soon` is not a duration"),
    ] {
        let e = parse("p.yaml", &with(bad)).unwrap_err().report();
        assert!(
            e.contains("p.yaml:9:15: matrix.rate_limit: ") && e.contains(message),
            "{bad}: {e}"
        );
    }
    // The key's earlier name is an error that names its replacement.
    let e = parse("p.yaml", &with_key("command_rate_limit", "5 per 30s"))
        .unwrap_err()
        .report();
    assert!(
        e.contains(
            "p.yaml:9:3: matrix.command_rate_limit: unknown key; renamed to `matrix.rate_limit`, written as `20/1m`"
        ),
        "{e}"
    );
}

#[test]
fn what_a_reload_cannot_change() {
    let base = "synapse: {url: http://localhost:8008, token: {env: T}}\nmatrix:\n  homeserver: https://hs\n  user: '@w:hs'\n  room: '!abc'\n  data_dir: /d\n  password: {env: PW}\n  store_passphrase: {env: P}\nrules:\n  user_media:\n    - {name: q, max_media_count: 1}\n";
    let old = parse("p", base).unwrap();
    let changed = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        let new = parse("p", &base.replace(from, to)).unwrap();
        old.needs_restart(&new)
    };
    assert!(old.needs_restart(&old).is_empty());
    // The module's endpoints: served or not takes a restart; a new secret
    // in place of another does not.
    let with_secret = |file: &str| {
        parse(
            "p",
            &format!("{base}http: {{module_secret: {{file: {file}}}}}\n"),
        )
        .unwrap()
    };
    assert_eq!(
        old.needs_restart(&with_secret("/s")),
        ["http.module_secret"]
    );
    assert_eq!(
        with_secret("/s").needs_restart(&old),
        ["http.module_secret"]
    );
    assert!(
        with_secret("/s")
            .needs_restart(&with_secret("/t"))
            .is_empty()
    );
    // What a reload swaps in place.
    assert!(
        changed(
            "{name: q, max_media_count: 1}",
            "{name: r, max_media_count: 9}"
        )
        .is_empty()
    );
    assert!(changed("url: http://localhost:8008", "url: http://other:8008").is_empty());
    assert!(
        changed(
            "  data_dir: /d\n",
            "  data_dir: /d\n  command_prefix: '!w'\n  command_power_level: 0\n  allowed_senders: '@a:*'\n  rate_limit: 1/1h\n"
        )
        .is_empty()
    );
    // What takes a restart, each named.
    assert_eq!(
        changed("https://hs", "https://other"),
        ["matrix.homeserver"]
    );
    assert_eq!(changed("'@w:hs'", "'@x:hs'"), ["matrix.user"]);
    assert_eq!(changed("{env: PW}", "{env: PW2}"), ["matrix.password"]);
    assert_eq!(changed("'!abc'", "'!def'"), ["matrix.room"]);
    assert_eq!(changed("/d\n", "/e\n"), ["matrix.data_dir"]);
    assert_eq!(changed("{env: P}", "{env: Q}"), ["matrix.store_passphrase"]);
    assert_eq!(
        changed(
            "  room: '!abc'\n",
            "  room: '!abc'\n  recovery_key: {env: R}\n"
        ),
        ["matrix.recovery_key"]
    );
    assert_eq!(
        changed("rules:", "http: {listen: '127.0.0.1:1'}\nrules:"),
        ["http.listen"]
    );
    assert_eq!(
        changed(
            "  homeserver: https://hs\n  user: '@w:hs'",
            "  homeserver: https://other\n  user: '@x:hs'"
        ),
        ["matrix.homeserver", "matrix.user"],
        "several at once, in file order"
    );
}

#[test]
fn percent_display_and_thresholds() {
    assert_eq!(Percent::from_basis_points(8000).to_string(), "80%");
    assert_eq!(Percent::from_basis_points(9250).to_string(), "92.5%");
    assert_eq!(Percent::from_basis_points(25).to_string(), "0.25%");
    let p = Percent::from_basis_points(8000);
    assert!(p.reached(80, 100));
    assert!(!p.reached(79, 100));
    assert!(p.reached(u64::MAX, u64::MAX));
}

#[test]
fn http_listen_must_be_an_address_and_port() {
    let text = "synapse: {url: http://localhost:8008, token: {env: T}}\nhttp:\n  listen: localhost\n  lsiten: x\nrules:\n  user_media:\n    - {name: q, max_media_count: 1}\n";
    let errors = errors(text);
    assert_eq!(
        errors,
        vec![
            "p.yaml:3:11: http.listen: `localhost` is not an address and port: write e.g. `127.0.0.1:9655`, `0.0.0.0:9655` or `[::]:9655`".to_owned(),
            "p.yaml:4:3: http.lsiten: unknown key; did you mean `listen`?".to_owned(),
        ]
    );
}

#[test]
fn actions_are_off_by_default_and_their_keys_are_checked() {
    let config = parse("p.yaml", &minimal("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.actions, ActionSettings::default());
    assert!(!config.actions.enabled);
    assert_eq!(config.actions.confirm_within, Duration::from_secs(300));
    assert_eq!(config.audit_log(), None);
    let on = minimal("actions:\n  enabled: true\n  confirm_within: 90s\n  audit_log: /tmp/a.log\n");
    let config = parse("p.yaml", &on).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.actions.enabled);
    assert_eq!(config.actions.confirm_within, Duration::from_secs(90));
    assert_eq!(
        config.audit_log(),
        Some(std::path::PathBuf::from("/tmp/a.log"))
    );
    let bad = minimal("actions:\n  enabled: maybe\n  confirm_within: 0s\n  purge: yes\n");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("p.yaml:9:12: actions.enabled"),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("p.yaml:10:19: actions.confirm_within")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("actions.purge: unknown key")),
        "{errs:?}"
    );
}

#[test]
fn notify_user_placeholders_are_checked_with_positions() {
    let ok = minimal(
        "      notify_user:\n        on: [new, reminder]\n        message: \"{user}: {usage} of {limit}\"\n",
    );
    let config = parse("p.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
    let n = config.rules.user_media[0].notify_user.clone().unwrap();
    assert!(n.on.new && n.on.reminder && !n.on.escalation);
    assert_eq!(
        n.at_most_every,
        crate::core::policy::notify_user::MIN_INTERVAL
    );
    let daily =
        minimal("      notify_user:\n        message: \"{usage}\"\n        at_most_every: 1d\n");
    let config = parse("p.yaml", &daily).unwrap_or_else(|e| panic!("{e}"));
    let n = config.rules.user_media[0].notify_user.clone().unwrap();
    assert_eq!(n.at_most_every, std::time::Duration::from_secs(86_400));
    assert_eq!(config.rules.notice_memory(), n.at_most_every);
    let rule = config.rules.user_media[0].name.clone();
    assert_eq!(config.rules.notify_user(&rule), Some(n));
    assert_eq!(config.rules.notify_user("no-such-rule"), None);
    let bad = minimal(
        "      notify_user:\n        on: [new, later]\n        message: \"You use {usge}.\"\n        extra: 1\n        at_most_every: often\n",
    );
    let errs = errors(&bad);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs.iter().any(|e| e
            .starts_with("p.yaml:12:24: rules.user_media[0].notify_user.at_most_every")
            && e.contains("`often` is not a duration")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("p.yaml:9:13: rules.user_media[0].notify_user.on")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(
            |e| e.starts_with("p.yaml:10:18: rules.user_media[0].notify_user.message")
                && e.contains("unknown placeholder `{usge}` at character 9")
        ),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("notify_user.extra")),
        "{errs:?}"
    );
    let example = parse("policies.example.yaml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert!(example.rules.user_media[0].notify_user.is_some());
    assert_eq!(
        example.rules.notice_memory(),
        crate::core::policy::notify_user::MIN_INTERVAL
    );
}

/// YAML 1.1's surprises, decided on purpose (see `policies.example.yaml`):
/// the file is read as YAML 1.2, and where 1.1 would have meant something
/// else the reader says so instead of guessing.
#[test]
fn yaml_1_1_surprises_are_decided_on_purpose() {
    // `no`, `on`, `off`, `yes`: text, refused where a boolean is expected.
    let base = minimal("");
    for (written, meant) in [("no", false), ("on", true), ("off", false), ("yes", true)] {
        let e = errors(&format!("{base}alerts:\n  announce_resolved: {written}\n"));
        assert_eq!(
            e,
            [format!(
                "p.yaml:9:22: alerts.announce_resolved: `{written}` is text in YAML 1.2, not a boolean: write `{meant}`"
            )]
        );
    }
    // ... and kept as written where text is expected.
    let c = parse("p", &minimal("      description: no\n")).unwrap();
    assert_eq!(c.rules.user_media[0].description.as_deref(), Some("no"));
    let c = parse("p", &format!("{base}matrix:\n  homeserver: https://hs\n  user: '@w:hs'\n  access_token: {{env: T}}\n  room: '!r:hs'\n  data_dir: /d\n  store_passphrase: {{env: P}}\n  command_prefix: on\n")).unwrap();
    assert_eq!(c.matrix.unwrap().commands.prefix, "on");

    // `0777`: octal in YAML 1.1, 777 in YAML 1.2; refused for numbers, kept
    // as written for text.
    let e = errors(&minimal("      max_media_count: 0777\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("p.yaml:8:24: rules.user_media[0].max_media_count: `0777` starts with 0: YAML 1.1 reads it as an octal number"),
        "{e:?}"
    );
    let e = errors(
        &minimal("      max_media_count: 10\n      warn_at: 80%\n")
            .replace("max_media_length: 1 GiB", "max_media_length: 0777 MB"),
    );
    assert!(e[0].contains("`0777 MB` starts with 0"), "{e:?}");
    let c = parse("p", &minimal("").replace("name: quota", "name: 0777")).unwrap();
    assert_eq!(c.rules.user_media[0].name, "0777");
    assert_eq!(
        parse("p", &minimal("      max_media_count: 0.5e3\n"))
            .map(|_| ())
            .unwrap_err()
            .diagnostics()
            .len(),
        1
    );

    // `1e3`: the decimal number 1000.0, refused where a whole number is
    // expected (write `1000`).
    assert_eq!(
        errors(&minimal("      max_media_count: 1e3\n")),
        [
            "p.yaml:8:24: rules.user_media[0].max_media_count: expected a whole number, found the decimal number 1000.0: write whole numbers in digits, e.g. `1000`"
        ]
    );
    assert_eq!(
        errors(&minimal("").replace("max_media_length: 1 GiB", "max_media_length: 1e9")),
        [
            "p.yaml:7:25: rules.user_media[0].max_media_length: `1000000000.0` is a decimal number, not a size: write a number and a unit, e.g. `500 MB` or `5 GiB` (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        ]
    );
    // Quoted, it is text: `'1000'` is still a count.
    let c = parse("p", &minimal("      max_media_count: '1000'\n")).unwrap();
    assert_eq!(c.rules.user_media[0].max_media_count, Some(1000));
}

#[test]
fn duplicate_keys_are_reported_at_the_second() {
    assert_eq!(
        errors("synapse:\n  url: a\n  url: b\n"),
        ["p.yaml:3:3: synapse.url: duplicate key `url`: each key may appear once in a mapping"]
    );
}

#[test]
fn too_broad_at_is_a_share_of_at_most_100_percent() {
    let config = parse("p.yaml", &minimal("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.alerts.too_broad_at, Percent::from_basis_points(1000));
    let set = format!("{}alerts:\n  too_broad_at: 25%\n", minimal(""));
    let config = parse("p.yaml", &set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.alerts.too_broad_at, Percent::from_basis_points(2500));
    let errs = errors(&format!("{}alerts:\n  too_broad_at: 150%\n", minimal("")));
    assert!(
        errs.len() == 1
            && errs[0].starts_with("p.yaml:9:17: alerts.too_broad_at")
            && errs[0].contains("at most 100%"),
        "{errs:?}"
    );
}

/// A file whose two rules write sizes as given, with `tail` appended at
/// the top level.
fn two_rules(user: &str, room: &str, tail: &str) -> String {
    format!(
        "synapse:\n  url: http://127.0.0.1:8008\n  token: {{env: TOKEN}}\n\
         rules:\n  user_media:\n    - name: quota\n      max_media_length: {user}\n  \
         rooms:\n    - name: big\n      max_estimated_size: {room}\n{tail}"
    )
}

#[test]
fn one_unit_family_is_decided_from_the_whole_policy() {
    use crate::core::doc::Units::{Binary, Decimal};
    let units = |user: &str, room: &str, tail: &str| {
        let c = parse("p.yaml", &two_rules(user, room, tail)).unwrap_or_else(|e| panic!("{e}"));
        (
            c.units,
            c.units_mixed,
            c.rules.user_media[0].units,
            c.rules.rooms[0].units,
        )
    };
    // Every size in decimal units: decimal, rules included.
    assert_eq!(
        units("100 kB", "5 GB", ""),
        (Decimal, false, Decimal, Decimal)
    );
    // A size in bytes names no family: the others decide.
    assert_eq!(
        units("100 kB", "1000", ""),
        (Decimal, false, Decimal, Decimal)
    );
    assert_eq!(
        units("100 KiB", "5 GiB", ""),
        (Binary, false, Binary, Binary)
    );
    // None named: binary.
    assert_eq!(units("1000", "2000", ""), (Binary, false, Binary, Binary));
    // Mixed: binary where no rule says otherwise, each rule its own.
    assert_eq!(
        units("100 kB", "5 GiB", ""),
        (Binary, true, Decimal, Binary)
    );
    // `history.capacity` counts too.
    assert_eq!(
        units("100 kB", "5 GB", "history:\n  capacity: 2 TiB\n"),
        (Binary, true, Decimal, Decimal)
    );
    // `display.units` says it outright, for every size.
    assert_eq!(
        units("100 kB", "5 GiB", "display:\n  units: decimal\n"),
        (Decimal, false, Decimal, Decimal)
    );
    assert_eq!(
        units("100 kB", "5 GB", "display:\n  units: binary\n"),
        (Binary, false, Binary, Binary)
    );
}

#[test]
fn display_units_is_checked_with_its_position() {
    let errs = errors(&two_rules("1 kB", "1 GB", "display:\n  units: metric\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("p.yaml:12:10:"), "{errs:?}");
    assert!(
        errs[0].contains("`metric` is not a unit family"),
        "{errs:?}"
    );
    let errs = errors(&two_rules("1 kB", "1 GB", "display:\n  unit: decimal\n"));
    assert!(errs[0].contains("did you mean `units`"), "{errs:?}");
}
