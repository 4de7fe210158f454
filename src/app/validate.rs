//! `synapse-warden validate`: checks the policy file and prints every
//! problem in it (standard error), or a one-line summary followed by the
//! schedule in words and its next three runs in UTC, with weekday names
//! (standard output), so an admin sees at once what a cron expression means:
//!
//! ```text
//! policies.yaml: valid; 2 user media rules, 1 room rule; schedule cron `0 9 * * 1-5`
//! schedule: cron `0 9 * * 1-5`: at minute 0 of hour 9, on Mon-Fri, in UTC; a first run when the daemon starts
//! next runs: Mon 2026-11-30 09:00 UTC, Tue 2026-12-01 09:00 UTC, Wed 2026-12-02 09:00 UTC
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;

use super::{EXIT_ERROR, EXIT_OK, load_policy};
use crate::core::policy::Config;
use crate::core::policy::crontab;

/// Runs `validate` on the file at `path`.
pub fn run(path: &Path) -> Result<ExitCode> {
    match load_policy(path)? {
        Ok(config) => {
            let now = crate::clock::now_ms();
            for w in crate::core::engine::limits::override_warnings(&config.rules, now) {
                eprintln!("{}", warning_line(&path.display().to_string(), &w));
            }
            println!("{}: valid; {}", path.display(), describe(&config));
            if let Some(note) = crate::core::text::policies::room_sizes_reach(
                &config.rules,
                config.http.module_secret.is_some(),
            ) {
                print!("{}", crate::core::doc::Doc::paragraph(note).plain());
            }
            println!("schedule: {}", crontab::schedule_in_words(&config.schedule));
            println!(
                "{}",
                crontab::next_runs_line(&config.schedule, SystemTime::now())
            );
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(errors) => {
            eprint!("{}", errors.report());
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

/// What a valid file declares, in one line.
pub fn describe(config: &Config) -> String {
    let n =
        |count: usize, what: &str| format!("{count} {what}{}", if count == 1 { "" } else { "s" });
    format!(
        "{}, {}; schedule {}{}",
        n(config.rules.user_media.len(), "user media rule"),
        n(config.rules.rooms.len(), "room rule"),
        config.schedule.trigger,
        if config.matrix.is_some() {
            "; Matrix bot configured"
        } else {
            ""
        }
    )
}

/// `policies.yaml:52:5: overrides[0]: warning: ended on 2027-03-01: ...`
pub fn warning_line(file: &str, w: &crate::core::engine::limits::OverrideWarning) -> String {
    let at = w
        .position
        .map(|p| format!(":{}:{}", p.line, p.column))
        .unwrap_or_default();
    format!("{file}{at}: overrides[{}]: warning: {}", w.index, w.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_read_like_errors() {
        let w = crate::core::engine::limits::OverrideWarning {
            index: 2,
            position: Some(crate::core::policy::Position {
                line: 40,
                column: 5,
            }),
            message: "ended on 2020-01-01: it no longer changes anything; remove it".into(),
        };
        assert_eq!(
            warning_line("policies.yaml", &w),
            "policies.yaml:40:5: overrides[2]: warning: ended on 2020-01-01: it no longer changes anything; remove it"
        );
    }
}
