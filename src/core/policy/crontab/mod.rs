//! Cron expressions with crontab(5)'s meaning, on top of the `cron` crate.
//!
//! The `cron` crate numbers days of the week 1 = Sunday .. 7 = Saturday and
//! refuses 0; crontab(5) numbers them 0 = Sunday .. 6 = Saturday, 7 being
//! Sunday again. And where crontab runs a command when *either* the day of
//! the month or the day of the week matches (when both fields are
//! restricted, i.e. neither starts with `*`), the crate requires both. So
//! before the crate sees an expression:
//!
//! - the day-of-week field (5th of 5, 6th of 6 or 7) is read here, in
//!   crontab's numbering (`0`-`7`, `SUN`-`SAT`, ranges, lists, steps), and
//!   handed over as day names, which mean the same to both;
//! - when both day fields are restricted, the expression is split in two
//!   schedules, one per day field, and a run is due at the earlier of them.
//!
//! The 6- and 7-field forms (seconds first, a year last) and `@daily`...
//! follow the same rules. Also here, for `validate` and the daemon's log:
//! a schedule in words and its next runs, with weekday names, in UTC.

use std::collections::BTreeSet;
use std::time::SystemTime;

use chrono::{DateTime, Timelike as _, Utc};
use cron::TimeUnitSpec as _;

use crate::core::policy::{CronSchedule, Schedule, Trigger};

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FULL_DAY_NAMES: [&str; 7] = [
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Reads an expression as written in the policy file: 5 fields (minute
/// hour day-of-month month day-of-week), the `cron` crate's 6 or 7 (seconds
/// first, a year last), or `@hourly`, `@daily`, `@weekly`, `@monthly`,
/// `@yearly`; the error says what is wrong, for people.
pub fn parse(written: &str) -> Result<CronSchedule, String> {
    let written = written.trim();
    let fields = written.split_whitespace().count();
    let expression = match fields {
        _ if written.starts_with('@') => written.to_owned(),
        5 => format!("0 {written}"),
        6 | 7 => written.to_owned(),
        n => {
            return Err(format!(
                "`{}` has {n} field{}: a cron expression has 5 (minute hour day-of-month month day-of-week), \
                 or 6-7 with seconds first (and a year last)",
                written.escape_default(),
                if n == 1 { "" } else { "s" }
            ));
        }
    };
    let invalid = |reason: String| {
        format!(
            "`{}` is not a valid cron expression: {reason}",
            written.escape_default()
        )
    };
    let translated = translate(&expression).map_err(invalid)?;
    let weekdays = match translated
        .weekdays
        .as_deref()
        .map(str::parse::<cron::Schedule>)
    {
        None => None,
        Some(Ok(schedule)) => Some(schedule),
        Some(Err(e)) => return Err(invalid(crate_reason(&e, &translated.expression))),
    };
    match translated.expression.parse::<cron::Schedule>() {
        Ok(schedule) => Ok(CronSchedule {
            written: written.to_owned(),
            schedule,
            weekdays,
        }),
        Err(e) => Err(invalid(crate_reason(&e, &translated.expression))),
    }
}

/// The explanation in the `cron` crate's error: its message repeats the
/// expression and draws a caret on lines of their own; its last line is
/// the explanation.
fn crate_reason(e: &cron::error::Error, expression: &str) -> String {
    let text = e.to_string();
    let reason = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('^') && *l != expression)
        .unwrap_or("");
    if reason.is_empty() {
        "invalid syntax".to_owned()
    } else {
        reason.to_owned()
    }
}

/// An expression of the policy file in the `cron` crate's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The expression for the crate (with the day-of-week field as names,
    /// and the day-of-month field only, when both day fields are
    /// restricted).
    pub expression: String,
    /// When both day fields are restricted: the same expression with the
    /// day-of-week field only (crontab runs on either).
    pub weekdays: Option<String>,
}

/// Translates a written expression (5, 6 or 7 fields, or `@...`) into the
/// `cron` crate's terms; the error names the day-of-week problem.
pub fn translate(written: &str) -> Result<Translated, String> {
    let written = written.trim();
    if written.starts_with('@') {
        // @weekly is Sunday in both numberings.
        return Ok(Translated {
            expression: written.to_owned(),
            weekdays: None,
        });
    }
    let mut fields: Vec<String> = written.split_whitespace().map(str::to_owned).collect();
    if fields.len() == 5 {
        fields.insert(0, "0".to_owned());
    }
    if !(6..=7).contains(&fields.len()) {
        // The caller explains field counts.
        return Ok(Translated {
            expression: written.to_owned(),
            weekdays: None,
        });
    }
    let (dom, dow) = (3, 5);
    fields[dow] = weekdays_field(&fields[dow])?;
    let restricted = |f: &str| !(f.starts_with('*') || f.starts_with('?'));
    if restricted(&fields[dom]) && restricted(&fields[dow]) {
        let mut by_weekday = fields.clone();
        by_weekday[dom] = "*".to_owned();
        fields[dow] = "*".to_owned();
        return Ok(Translated {
            expression: fields.join(" "),
            weekdays: Some(by_weekday.join(" ")),
        });
    }
    Ok(Translated {
        expression: fields.join(" "),
        weekdays: None,
    })
}

/// A crontab(5) day-of-week field as a list of day names (`*` and `?` kept).
fn weekdays_field(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u8 = step
                    .parse()
                    .ok()
                    .filter(|s| (1..=7).contains(s))
                    .ok_or_else(|| {
                        format!("`{item}`: the step of a day of the week is a number from 1 to 7")
                    })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range.split_once('-') {
            _ if range == "*" => (0, 6),
            Some((a, b)) => (day(a)?, day(b)?),
            // `MON/2`: from Monday on.
            None if step > 1 => (day(range)?, 6),
            None => (day(range)?, day(range)?),
        };
        // 7 is Sunday: `5-7` is Friday to Sunday.
        if first > last {
            return Err(format!(
                "`{range}`: a range of days of the week goes from the earlier day to the later one (0 or SUN first, 7 is Sunday too)"
            ));
        }
        for d in (first..=last).step_by(usize::from(step)) {
            days.insert(d % 7);
        }
    }
    Ok(days
        .into_iter()
        .map(|d| DAY_NAMES[usize::from(d)])
        .collect::<Vec<_>>()
        .join(","))
}

/// One day of the week: 0-7 (0 and 7 are Sunday) or a name.
fn day(text: &str) -> Result<u8, String> {
    if let Ok(n) = text.parse::<u8>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "`{text}` is not a day of the week: write 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT"
            ))
        };
    }
    let upper = text.to_ascii_uppercase();
    DAY_NAMES
        .iter()
        .position(|n| *n == upper)
        .or_else(|| FULL_DAY_NAMES.iter().position(|n| *n == upper))
        .map(|d| d as u8)
        .ok_or_else(|| {
            format!(
                "`{}` is not a day of the week: write 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT",
                text.escape_default()
            )
        })
}

impl CronSchedule {
    /// The first time strictly after `after` this expression fires.
    pub fn next_after(&self, after: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.schedule.after(after).next();
        let second = self.weekdays.as_ref().and_then(|s| s.after(after).next());
        match (first, second) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The expression in words, e.g. "at minute 0 of hour 9, on Mon-Fri, in UTC".
    pub fn in_words(&self) -> String {
        let s = &self.schedule;
        let mut parts = Vec::new();
        let seconds: Vec<u32> = s.seconds().iter().collect();
        if seconds != [0] {
            parts.push(unit("second", &seconds, s.seconds().is_all(), |n| {
                n.to_string()
            }));
        }
        parts.push(unit(
            "minute",
            &s.minutes().iter().collect::<Vec<_>>(),
            s.minutes().is_all(),
            |n| n.to_string(),
        ));
        parts.push(unit(
            "hour",
            &s.hours().iter().collect::<Vec<_>>(),
            s.hours().is_all(),
            |n| n.to_string(),
        ));
        let mut text = format!("at {}", parts.join(" of "));
        let dom: Vec<u32> = s.days_of_month().iter().collect();
        let dom_text = format!("on day {} of the month", ranges(&dom, |n| n.to_string()));
        // The crate's days of the week run 1 (Sunday) .. 7.
        let days = |sched: &cron::Schedule| {
            let d: Vec<u32> = sched.days_of_week().iter().map(|d| d - 1).collect();
            format!("on {}", ranges(&d, |n| title(DAY_NAMES[n as usize])))
        };
        match &self.weekdays {
            Some(weekdays) => {
                text.push_str(&format!(", {dom_text} or {}", days(weekdays)));
            }
            None => {
                if !s.days_of_month().is_all() {
                    text.push_str(&format!(", {dom_text}"));
                }
                if !s.days_of_week().is_all() {
                    text.push_str(&format!(", {}", days(s)));
                }
            }
        }
        if !s.months().is_all() {
            let months: Vec<u32> = s.months().iter().collect();
            text.push_str(&format!(
                ", in {}",
                ranges(&months, |m| MONTH_NAMES[(m - 1) as usize].to_owned())
            ));
        }
        if !s.years().is_all() {
            let years: Vec<u32> = s.years().iter().collect();
            text.push_str(&format!(", in {}", ranges(&years, |y| y.to_string())));
        }
        text.push_str(", in UTC");
        text
    }
}

fn title(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| {
        format!("{c}{}", chars.as_str().to_ascii_lowercase())
    })
}

fn unit(name: &str, values: &[u32], all: bool, show: impl Fn(u32) -> String) -> String {
    if all {
        format!("every {name}")
    } else if values.len() == 1 {
        format!("{name} {}", show(values[0]))
    } else {
        format!("{name}s {}", ranges(values, show))
    }
}

/// `1, 2, 3, 5` as `1-3, 5`.
fn ranges(values: &[u32], show: impl Fn(u32) -> String) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let start = values[i];
        let mut end = start;
        while i + 1 < values.len() && values[i + 1] == end + 1 {
            i += 1;
            end = values[i];
        }
        out.push(if end >= start + 2 {
            format!("{}-{}", show(start), show(end))
        } else if end == start + 1 {
            format!("{}, {}", show(start), show(end))
        } else {
            show(start)
        });
        i += 1;
    }
    out.join(", ")
}

/// A run's time as admins read it: `Mon 2026-11-30 09:00 UTC` (with
/// seconds when they are not zero).
pub fn run_time(t: SystemTime) -> String {
    let t: DateTime<Utc> = t.into();
    if t.second() == 0 {
        t.format("%a %Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%a %Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// The schedule in words, e.g. "cron `0 9 * * 1-5`: at minute 0 of hour 9,
/// on Mon-Fri, in UTC".
pub fn schedule_in_words(schedule: &Schedule) -> String {
    let mut text = match &schedule.trigger {
        Trigger::Cron(cron) => format!("cron `{}`: {}", cron.written, cron.in_words()),
        Trigger::Every(d) => format!(
            "every {}, counted from the start of the previous run",
            crate::core::doc::format::window(*d)
        ),
    };
    if schedule.run_at_start {
        text.push_str("; a first run when the daemon starts");
    }
    if !schedule.jitter.is_zero() {
        text.push_str(&format!(
            "; each run delayed by up to {} of jitter",
            crate::core::doc::format::window(schedule.jitter)
        ));
    }
    text
}

/// The next `n` scheduled runs after `now` (the run at start, and jitter,
/// left out): for `every`, counted from `now`.
pub fn next_runs(schedule: &Schedule, now: SystemTime, n: usize) -> Vec<SystemTime> {
    let mut runs = Vec::with_capacity(n);
    let mut at = now;
    while runs.len() < n {
        let next = match &schedule.trigger {
            Trigger::Every(d) => at.checked_add(*d),
            Trigger::Cron(cron) => cron.next_after(&at.into()).map(SystemTime::from),
        };
        let Some(next) = next else { break };
        runs.push(next);
        at = next;
    }
    runs
}

/// `next runs: Mon 2026-11-30 09:00 UTC, Tue ..., Wed ...`.
pub fn next_runs_line(schedule: &Schedule, now: SystemTime) -> String {
    let runs = next_runs(schedule, now, 3);
    if runs.is_empty() {
        return "next runs: none (the expression has no future time)".to_owned();
    }
    format!(
        "next runs: {}",
        runs.into_iter()
            .map(run_time)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests;
