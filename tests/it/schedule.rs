//! `synapse-warden validate` shows what a schedule means: after the "valid"
//! line, the schedule in words and its next three runs in UTC with weekday
//! names — for "weekdays at nine" in crontab's numbering, the next three
//! weekdays at 09:00, whatever day the test runs.

use chrono::{Datelike as _, NaiveDateTime, Weekday};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

fn validate(schedule: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policies.yaml");
    std::fs::write(
        &path,
        format!(
            "synapse:\n  url: http://127.0.0.1:8008\n  token: {{env: WARDEN_TOKEN}}\nschedule:\n{schedule}rules:\n  user_media:\n    - name: quota\n      max_media_length: 1 GiB\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "validate"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The runs of a `next runs: ...` line, checked to be `Www YYYY-MM-DD HH:MM
/// UTC` (or `HH:MM:SS`) with the weekday that date has.
fn next_runs(stdout: &str) -> Vec<NaiveDateTime> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("next runs: "))
        .unwrap_or_else(|| panic!("no next runs in:\n{stdout}"));
    line.split(", ")
        .map(|run| {
            let (weekday, rest) = run.split_once(' ').unwrap();
            // Seconds only when they are not zero (an interval from now).
            let at = NaiveDateTime::parse_from_str(rest, "%Y-%m-%d %H:%M UTC")
                .or_else(|_| NaiveDateTime::parse_from_str(rest, "%Y-%m-%d %H:%M:%S UTC"))
                .unwrap_or_else(|e| panic!("{run}: {e}"));
            assert_eq!(weekday, at.format("%a").to_string(), "{run}");
            at
        })
        .collect()
}

#[test]
fn validate_prints_the_schedule_in_words_and_the_next_three_runs() {
    let (status, stdout, stderr) = validate("  cron: \"0 9 * * 1-5\"\n");
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].ends_with("schedule cron `0 9 * * 1-5`"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "schedule: cron `0 9 * * 1-5`: at minute 0 of hour 9, on Mon-Fri, in UTC; a first run when the daemon starts"
    );
    let runs = next_runs(&stdout);
    assert_eq!(runs.len(), 3, "{stdout}");
    for (run, next) in runs.iter().zip(runs.iter().skip(1)) {
        assert!(run < next, "{stdout}");
    }
    for run in &runs {
        assert!(
            !matches!(run.weekday(), Weekday::Sat | Weekday::Sun),
            "{run} is not a weekday:\n{stdout}"
        );
        assert_eq!(run.format("%H:%M").to_string(), "09:00", "{stdout}");
    }
    // Consecutive weekdays: at most three days apart (Friday to Monday).
    assert!((runs[2] - runs[0]).num_days() <= 5, "{stdout}");

    // Sunday, written 7.
    let (status, stdout, _) = validate("  cron: \"30 6 * * 7\"\n  run_at_start: false\n");
    assert_eq!(status, Some(0), "{stdout}");
    let runs = next_runs(&stdout);
    assert!(runs.iter().all(|r| r.weekday() == Weekday::Sun), "{stdout}");
    assert!(stdout.contains("on Sun, in UTC\n"), "{stdout}");
    assert_eq!((runs[1] - runs[0]).num_days(), 7, "{stdout}");

    // An interval: counted from now.
    let (status, stdout, _) = validate("  every: 15m\n");
    assert_eq!(status, Some(0), "{stdout}");
    assert!(
        stdout.contains("schedule: every 15m, counted from the start of the previous run"),
        "{stdout}"
    );
    assert_eq!(next_runs(&stdout).len(), 3, "{stdout}");
}
