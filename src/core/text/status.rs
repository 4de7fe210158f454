//! `status`: last run, next run, health.

use std::time::Duration;

use crate::core::commands::answers::{Health, RunView};
use crate::core::doc::{ERROR_CAP, Line};

/// How long a run took: `2m 5s`, `340 ms`, `under 1 ms`.
fn took(ms: u64) -> Line {
    match ms {
        0 => Line::new().text("under 1 ms"),
        1..=999 => Line::new().number(ms).text(" ms"),
        _ => Line::new().window(Duration::from_secs(ms / 1000)),
    }
}

/// `Last run: 2026-11-23 08:07 UTC (5m ago, took 2s): 3 violations`.
pub fn last_run(run: Option<&RunView>, now_ms: u64) -> Line {
    let Some(run) = run else {
        return Line::new().text("Last run: none yet");
    };
    let line = Line::new()
        .text("Last run: ")
        .time(run.started_ms)
        .text(" (")
        .age(Duration::from_millis(now_ms.saturating_sub(run.started_ms)))
        .text(" ago, took ")
        .append(took(run.took_ms))
        .text("): ");
    match (&run.error, run.violations) {
        (Some(e), _) => line.text("failed: ").outside(e.as_str(), ERROR_CAP),
        (None, Some(0)) => line.text("no violation"),
        (None, Some(n)) if run.silenced > 0 => line
            .count(n as u64, "violation", "violations")
            .text(", ")
            .number(run.silenced as u64)
            .text(" of them silenced"),
        (None, Some(n)) => line.count(n as u64, "violation", "violations"),
        (None, None) => line.text("no result"),
    }
}

/// A partial last run, and what it means.
pub fn incomplete(cause: &str) -> Line {
    Line::new()
        .text("The last run was ")
        .strong(Line::new().text("INCOMPLETE"))
        .text(": ")
        .outside(cause, ERROR_CAP)
        .text("; open alerts of users it did not reach were neither resolved nor forgotten")
}

/// `Next run: 2026-11-23 09:07 UTC (in 59m)`.
pub fn next_run(next_ms: Option<u64>, now_ms: u64) -> Line {
    match next_ms {
        Some(next) if next > now_ms => Line::new()
            .text("Next run: ")
            .time(next)
            .text(" (in ")
            .age(Duration::from_millis(next - now_ms))
            .text(")"),
        Some(_) => Line::new().text("Next run: due now"),
        None => Line::new().text("Next run: not scheduled"),
    }
}

/// Synapse failing since, and why.
pub fn outage(since_ms: u64, error: &str) -> Line {
    Line::new()
        .text("Synapse failing since ")
        .time(since_ms)
        .text(": ")
        .outside(error, ERROR_CAP)
}

fn health(h: &Health) -> Line {
    match h {
        Health::Up(detail) if detail.is_empty() => Line::new().text("up"),
        Health::Up(detail) => Line::new()
            .text("up (")
            .outside(detail.as_str(), ERROR_CAP)
            .text(")"),
        Health::Down(why) => Line::new()
            .strong(Line::new().text("DOWN"))
            .text(": ")
            .outside(why.as_str(), ERROR_CAP),
        Health::Unknown => Line::new().text("unknown"),
    }
}

/// `Synapse: up (Synapse 1.163.2)`.
pub fn synapse(h: &Health) -> Line {
    Line::new().text("Synapse: ").append(health(h))
}

/// `Matrix: up`.
pub fn matrix(h: &Health) -> Line {
    Line::new().text("Matrix: ").append(health(h))
}

/// Messages waiting.
pub fn queued(n: usize) -> Line {
    Line::new()
        .text("Messages waiting for delivery: ")
        .number(n as u64)
}

/// The command line has no daemon.
pub fn no_daemon() -> Line {
    Line::new().text("(The daemon is not running in this process: no run history.)")
}

/// `Authentication: delegated to https://auth.example.org/ (...)`.
pub fn delegated_auth(issuer: &str) -> Line {
    Line::new()
        .text("Authentication: delegated to ")
        .outside(issuer, ERROR_CAP)
        .text(
            " (matrix-authentication-service); the admin token needs the scope urn:synapse:admin:*",
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Doc;

    #[test]
    fn a_run_that_took_no_time_reads_naturally() {
        let plain = |ms| Doc::paragraph(took(ms)).plain();
        assert_eq!(plain(0), "under 1 ms");
        assert_eq!(plain(340), "340 ms");
        assert_eq!(plain(61_500), "1m 1s");
    }
}
