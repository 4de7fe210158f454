//! End to end: the `synapse-warden` binary's `check` and `validate` commands.
//!
//! `check` runs against a real Synapse (SQLite and PostgreSQL) seeded with
//! users over and under each kind of rule — total bytes (with an early
//! warning and an exempted user), media count, an upload window, room size —
//! and must report exactly the expected violations, in JSON and as a table,
//! with exit status 1; 0 with a policy nothing breaks; 2 with a bad token.
//! `validate` must print the golden error list of `tests/golden/validate`.

use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");
const KIB: usize = 1024;
/// The environment variable the policies name for the admin token.
const TOKEN_VAR: &str = "WARDEN_E2E_ADMIN_TOKEN";

async fn start(backend: Backend) -> SynapseHarness {
    SynapseHarness::start(backend)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse on {backend}: {e:#}"))
}

/// Runs the binary with `args`, the admin token in [`TOKEN_VAR`], from the
/// repository root.
async fn warden(args: &[&str], token: &str) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(TOKEN_VAR, token)
        .env_remove("SYNAPSE_WARDEN_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running synapse-warden")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Writes a policy file for `synapse` with `rules` (the lines under
/// `rules:`); the admin token comes from [`TOKEN_VAR`], or from `token_file`.
fn write_policy(
    dir: &Path,
    name: &str,
    synapse: &SynapseHarness,
    token_file: Option<&Path>,
    rules: &str,
) -> String {
    let path = dir.join(name);
    let token = match token_file {
        Some(file) => SecretAt::File(file.to_owned()),
        None => SecretAt::Env(TOKEN_VAR.to_owned()),
    };
    // Pages of two users: the walk goes through several pages.
    Policy::new(synapse.base_url().as_str(), token)
        .set("synapse.timeout", "30s")
        .set("synapse.page_size", 2)
        .rules(rules)
        .write(&path)
        .unwrap();
    path.display().to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn upload(h: &SynapseHarness, user: &TestUser, sizes: &[usize]) {
    for &size in sizes {
        h.upload_media(user, size)
            .await
            .unwrap_or_else(|e| panic!("upload as {}: {e:#}", user.user_id));
    }
}

/// The violations of a `check --format json` output as comparable lines.
fn json_violations(stdout: &[u8]) -> (Vec<String>, Value) {
    let doc: Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("check printed invalid JSON ({e}):\n{}", text(stdout)));
    let lines = doc["violations"]
        .as_array()
        .expect("a violations array")
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {} {}/{}{}{}",
                v["severity"].as_str().unwrap(),
                v["rule"].as_str().unwrap(),
                v["subject"]["id"].as_str().unwrap(),
                v["measure"].as_str().unwrap(),
                v["observed"],
                v["limit"],
                match v["window_secs"].as_u64() {
                    Some(s) => format!(" window={s}s"),
                    None => String::new(),
                },
                if v["early_warning"] == Value::Bool(true) {
                    " early"
                } else {
                    ""
                },
            )
        })
        .collect();
    (lines, doc)
}

const USER_RULES: &str = "  user_media:
    - name: media-bytes
      description: At most 100 KiB of media per user.
      severity: critical
      max_media_length: 100 KiB
      warn_at: 80%
      exempt: ['@exempt-*:warden.test']
    - name: media-count
      severity: critical
      max_media_count: 5
      exempt: ['@warden-admin:warden.test']
    - name: upload-burst
      description: At most 2 uploads a day.
      severity: warning
      max_media_count: 2
      window: 24h
";

const ROOM_RULE: &str = "  rooms:
    - name: huge-rooms
      max_estimated_size: 1 GiB
";

/// SQLite: every kind of user rule, in JSON and as a table; room rules are
/// reported as not checked; a clean policy exits 0; a bad token exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_exactly_the_expected_violations_on_sqlite() {
    let h = start(Backend::Sqlite).await;
    let admin = h.register("warden-admin", "pw-admin", true).await.unwrap();
    let big = h.register("big", "pw", false).await.unwrap();
    let near = h.register("near", "pw", false).await.unwrap();
    let under = h.register("under", "pw", false).await.unwrap();
    let many = h.register("many", "pw", false).await.unwrap();
    let burst = h.register("burst", "pw", false).await.unwrap();
    let exempt = h.register("exempt-bob", "pw", false).await.unwrap();

    upload(&h, &big, &[40 * KIB, 40 * KIB, 40 * KIB]).await; // 120 KiB: over
    upload(&h, &near, &[42 * KIB, 42 * KIB]).await; // 84 KiB: early warning
    upload(&h, &under, &[79 * KIB]).await; // 79 KiB: under warn_at
    upload(&h, &many, &[10; 6]).await; // 6 media: over the count
    upload(&h, &under, &[10; 4]).await; // 5 media in all: at the count
    upload(&h, &exempt, &[150 * KIB]).await; // over, but exempt
    upload(&h, &admin, &[10; 7]).await; // over the count, but exempt
    // Everything so far was uploaded ten days ago; only `burst` uploads now.
    let ten_days_ago = now_ms() - 10 * 86_400_000;
    h.sql(&format!(
        "UPDATE local_media_repository SET created_ts = {ten_days_ago};"
    ))
    .await
    .unwrap();
    upload(&h, &burst, &[1000, 1000, 1000]).await; // 3 today: over the window

    let dir = tempfile::tempdir().unwrap();
    let rules = format!("{USER_RULES}{ROOM_RULE}");
    let policy = write_policy(dir.path(), "policies.yaml", &h, None, &rules);
    let token = admin.access_token.as_str();

    let expected = [
        "critical media-bytes @big:warden.test media_length 122880/102400",
        "critical media-count @many:warden.test media_count 6/5",
        "warning media-bytes @near:warden.test media_length 86016/102400 early",
        "warning upload-burst @burst:warden.test media_count 3/2 window=86400s",
    ];

    // JSON.
    let out = warden(&["check", "--config", &policy, "--format", "json"], token).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (lines, doc) = json_violations(&out.stdout);
    assert_eq!(lines, expected, "{}", describe(&out));
    let summary = &doc["summary"];
    assert_eq!(summary["violations"], 4);
    assert_eq!(summary["critical"], 2);
    assert_eq!(summary["early_warnings"], 1);
    assert_eq!(summary["rules"], 4);
    assert_eq!(doc["violations"][0]["percent"], 120.0);
    assert_eq!(
        doc["violations"][0]["description"],
        "At most 100 KiB of media per user."
    );
    // Two walks: all media (7 users with media) and the last 24 h (1 user).
    let walks: Vec<(Value, Value)> = summary["walks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["window_secs"].clone(), w["users"].clone()))
        .collect();
    assert_eq!(
        walks,
        [
            (Value::Null, Value::from(7)),
            (Value::from(86_400), Value::from(1))
        ]
    );
    assert_eq!(summary["rooms"]["status"], "unavailable");
    let notes = summary["notes"].as_array().unwrap();
    // 2 of 7 users is over 10%, but a handful: no rule is questioned
    // (alerts.too_broad_at; see broad.rs).
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].as_str().unwrap().contains("SQLite"), "{notes:?}");

    // Text: the same violations as a table.
    let out = warden(&["check", "--config", &policy], token).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let table: Vec<&str> = stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        table,
        [
            "SEVERITY  RULE          SUBJECT                     MEASURE       OBSERVED      LIMIT   SHARE  WINDOW  NOTE",
            "critical  media-bytes   @big:warden.test (big)      media size   120.0 KiB  100.0 KiB  120.0%  -",
            "critical  media-count   @many:warden.test (many)    media count          6          5  120.0%  -",
            "warning   media-bytes   @near:warden.test (near)    media size    84.0 KiB  100.0 KiB   84.0%  -       early warning",
            "warning   upload-burst  @burst:warden.test (burst)  media count          3          2  150.0%  1d",
        ],
        "{}",
        describe(&out)
    );
    assert!(
        stdout.contains("\n4 violations: 2 critical, 2 warning (1 early warning among them).\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Checked 7 users with media, 1 user with uploads in the last 1d against 4 rules at "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: room size limits were not checked: this Synapse uses SQLite"),
        "{stdout}"
    );
    assert!(!stdout.contains(" meant?"), "{stdout}");

    // A policy nothing breaks (and a token read from a file): exit 0.
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let clean = write_policy(
        dir.path(),
        "clean.yaml",
        &h,
        Some(&token_file),
        "  user_media:\n    - name: roomy\n      max_media_length: 1 GiB\n      max_media_count: 100\n    - name: daily\n      max_media_count: 10\n      window: 1h\n",
    );
    let out = warden(&["check", "--config", &clean, "--format", "json"], "unused").await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (lines, doc) = json_violations(&out.stdout);
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(doc["summary"]["rooms"]["status"], "not_needed");
    let out = warden(&["check", "--config", &clean], "unused").await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stdout).starts_with("No violations.\n"),
        "{}",
        describe(&out)
    );

    // A token Synapse does not know: exit 2, said clearly, never echoed.
    let bad_token = "syt_not_a_real_token_e2e";
    let out = warden(&["check", "--config", &policy], bad_token).await;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Synapse refused the access token (401"),
        "{stderr}"
    );
    assert!(!stderr.contains(bad_token) && !text(&out.stdout).contains(bad_token));
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    // A user's token is not an admin's: exit 2 too.
    let out = warden(&["check", "--config", &policy], &big.access_token).await;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("not a server admin"),
        "{}",
        describe(&out)
    );
}

/// PostgreSQL: room rules on a fresh server, as installed. Synapse cannot
/// estimate room sizes (500) and the warden's module is not set up: a note,
/// and the media rules still decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_rooms_on_postgres() {
    let h = start(Backend::Postgres).await;
    let admin = h.register("warden-admin", "pw-admin", true).await.unwrap();
    let hoarder = h.register("hoarder", "pw", false).await.unwrap();
    upload(&h, &hoarder, &[20 * KIB]).await;
    let dir = tempfile::tempdir().unwrap();
    let token = admin.access_token.as_str();
    let user_rule = "  user_media:\n    - name: tiny-quota\n      max_media_length: 10 KiB\n";

    // Before any statistics: Synapse answers 500 (after the client's retries).
    let policy = write_policy(
        dir.path(),
        "fresh.yaml",
        &h,
        None,
        &format!("{user_rule}{ROOM_RULE}"),
    );
    let out = warden(&["check", "--config", &policy, "--format", "json"], token).await;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (lines, doc) = json_violations(&out.stdout);
    assert_eq!(
        lines,
        ["warning tiny-quota @hoarder:warden.test media_length 20480/10240"]
    );
    assert_eq!(doc["summary"]["rooms"]["status"], "unavailable");
    let reason = doc["summary"]["rooms"]["reason"].as_str().unwrap();
    assert!(reason.contains("(500"), "{reason}");

    // Nothing is repaired in Synapse's tables here: room sizes through the
    // warden's module on such a server are tested in `room_sizes`, and
    // Synapse's own estimate (old servers) in the conformance suite.
}

/// `validate` prints the golden error list, exit 2; the example is valid.
#[tokio::test]
async fn validate_prints_every_error_with_its_position() {
    let out = warden(
        &["validate", "--config", "tests/golden/validate/invalid.yaml"],
        "",
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/validate/invalid.txt"
    ))
    .unwrap();
    assert_eq!(text(&out.stderr), golden);
    assert!(out.stdout.is_empty());

    let out = warden(&["validate", "--config", "policies.example.yaml"], "").await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // Then the schedule in words and its next runs (tests/it/schedule.rs).
    assert_eq!(
        text(&out.stdout).lines().next(),
        Some(
            "policies.example.yaml: valid; 2 user media rules, 1 room rule; schedule every 15m; Matrix bot configured"
        )
    );

    let out = warden(&["validate", "--config", "no/such/policies.yaml"], "").await;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).starts_with("error: cannot read the policy file no/such/policies.yaml: "),
        "{}",
        describe(&out)
    );
}
