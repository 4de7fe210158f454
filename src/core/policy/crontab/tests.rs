//! Cron expressions mean what crontab(5) says, checked on real dates.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike as _, NaiveDate, Utc, Weekday};
use proptest::prelude::*;

use super::*;

/// Saturday 2026-11-28 00:00 UTC.
fn saturday() -> SystemTime {
    let t = NaiveDate::from_ymd_opt(2026, 11, 28)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    SystemTime::from(t)
}

fn runs(expression: &str, n: usize) -> Vec<DateTime<Utc>> {
    let cron = parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    let mut at: DateTime<Utc> = saturday().into();
    let mut out = Vec::new();
    for _ in 0..n {
        at = cron.next_after(&at).expect("a next time");
        out.push(at);
    }
    out
}

fn schedule(expression: &str) -> Schedule {
    Schedule {
        trigger: Trigger::Cron(parse(expression).unwrap()),
        run_at_start: false,
        jitter: Duration::ZERO,
    }
}

#[test]
fn weekdays_at_nine_fire_monday_to_friday_only() {
    let r = runs("0 9 * * 1-5", 10);
    let days: Vec<String> = r
        .iter()
        .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
        .collect();
    assert_eq!(
        days,
        [
            "Mon 2026-11-30 09:00",
            "Tue 2026-12-01 09:00",
            "Wed 2026-12-02 09:00",
            "Thu 2026-12-03 09:00",
            "Fri 2026-12-04 09:00",
            "Mon 2026-12-07 09:00",
            "Tue 2026-12-08 09:00",
            "Wed 2026-12-09 09:00",
            "Thu 2026-12-10 09:00",
            "Fri 2026-12-11 09:00",
        ]
    );
}

#[test]
fn zero_and_seven_are_sunday() {
    for t in runs("0 0 * * 0", 3) {
        assert_eq!(t.weekday(), Weekday::Sun, "{t}");
    }
    assert_eq!(
        runs("0 0 * * 0", 1)[0].to_string(),
        "2026-11-29 00:00:00 UTC"
    );
    let every_minute_on_sunday = runs("* * * * 7", 3);
    assert_eq!(
        every_minute_on_sunday[0].to_string(),
        "2026-11-29 00:00:00 UTC"
    );
    assert_eq!(
        every_minute_on_sunday[2].to_string(),
        "2026-11-29 00:02:00 UTC"
    );
    // Friday to Sunday, with 7 closing the range.
    let weekend: Vec<Weekday> = runs("0 0 * * 5-7", 4).iter().map(|t| t.weekday()).collect();
    assert_eq!(
        weekend,
        [Weekday::Sun, Weekday::Fri, Weekday::Sat, Weekday::Sun]
    );
}

#[test]
fn names_equal_numbers_and_every_form_agrees() {
    let five = runs("0 9 * * 1-5", 12);
    for same in [
        "0 9 * * MON-FRI",
        "0 9 * * mon-fri",
        "0 9 * * 1,2,3,4,5",
        "0 9 * * MON,TUE,WED,THU,FRI",
        "0 0 9 * * 1-5",
        "0 0 9 * * MON-FRI",
        "0 0 9 * * 1-5 *",
        "0 0 9 * * 1-5 2026-2030",
    ] {
        assert_eq!(runs(same, 12), five, "{same}");
    }
    // Steps count from Sunday as in crontab: Sun, Tue, Thu, Sat.
    let stepped: Vec<Weekday> = runs("0 0 * * */2", 4).iter().map(|t| t.weekday()).collect();
    assert_eq!(
        stepped,
        [Weekday::Sun, Weekday::Tue, Weekday::Thu, Weekday::Sat]
    );
    assert_eq!(runs("0 0 * * 1-5/2", 3), runs("0 0 * * MON,WED,FRI", 3));
    // @weekly is Sunday at midnight in both numberings.
    assert_eq!(runs("@weekly", 2), runs("0 0 * * 0", 2));
}

#[test]
fn either_day_field_fires_when_both_are_restricted() {
    // crontab(5): on the 1st of the month *and* on every Monday.
    let r: Vec<String> = runs("0 12 1 * MON", 4)
        .iter()
        .map(|t| t.format("%a %m-%d").to_string())
        .collect();
    assert_eq!(r, ["Mon 11-30", "Tue 12-01", "Mon 12-07", "Mon 12-14"]);
    // A `*` day of the month restricts nothing: Mondays only.
    let mondays = runs("0 12 * * MON", 3);
    assert!(mondays.iter().all(|t| t.weekday() == Weekday::Mon));
    // The 6-field form agrees.
    assert_eq!(runs("0 0 12 1 * 1", 4), runs("0 12 1 * MON", 4));
}

#[test]
fn bad_days_say_what_a_day_is() {
    for (expression, error) in [
        (
            "0 9 * * 8",
            "`8` is not a day of the week: write 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT",
        ),
        ("0 9 * * MON-FRY", "`FRY` is not a day of the week"),
        (
            "0 9 * * 5-1",
            "`5-1`: a range of days of the week goes from the earlier day to the later one",
        ),
        (
            "0 9 * * */0",
            "`*/0`: the step of a day of the week is a number from 1 to 7",
        ),
    ] {
        let e = parse(expression).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "`{expression}` is not a valid cron expression: {error}"
            )),
            "{e}"
        );
    }
    // Other fields are the crate's to judge, as before.
    assert!(
        parse("0 61 * * *")
            .unwrap_err()
            .starts_with("`0 61 * * *` is not a valid cron expression: ")
    );
}

#[test]
fn in_words_and_next_runs() {
    let s = schedule("0 9 * * 1-5");
    assert_eq!(
        schedule_in_words(&s),
        "cron `0 9 * * 1-5`: at minute 0 of hour 9, on Mon-Fri, in UTC"
    );
    assert_eq!(
        next_runs_line(&s, saturday()),
        "next runs: Mon 2026-11-30 09:00 UTC, Tue 2026-12-01 09:00 UTC, Wed 2026-12-02 09:00 UTC"
    );
    assert_eq!(
        parse("*/15 * * * *").unwrap().in_words(),
        "at minutes 0, 15, 30, 45 of every hour, in UTC"
    );
    assert_eq!(
        parse("0 12 1 * MON").unwrap().in_words(),
        "at minute 0 of hour 12, on day 1 of the month or on Mon, in UTC"
    );
    assert_eq!(
        parse("30 0 0 1 1,7 * 2027").unwrap().in_words(),
        "at second 30 of minute 0 of hour 0, on day 1 of the month, in Jan, Jul, in 2027, in UTC"
    );
    assert_eq!(
        next_runs_line(&schedule("*/30 * * * * *"), saturday()),
        "next runs: Sat 2026-11-28 00:00:30 UTC, Sat 2026-11-28 00:01 UTC, Sat 2026-11-28 00:01:30 UTC"
    );
    assert_eq!(
        next_runs_line(&schedule("0 0 0 1 1 * 2020"), saturday()),
        "next runs: none (the expression has no future time)"
    );
    let every = Schedule {
        trigger: Trigger::Every(Duration::from_secs(900)),
        run_at_start: true,
        jitter: Duration::from_secs(30),
    };
    assert_eq!(
        schedule_in_words(&every),
        "every 15m, counted from the start of the previous run; a first run when the daemon starts; each run delayed by up to 30s of jitter"
    );
    assert_eq!(
        next_runs_line(&every, saturday()),
        "next runs: Sat 2026-11-28 00:15 UTC, Sat 2026-11-28 00:30 UTC, Sat 2026-11-28 00:45 UTC"
    );
}

proptest! {
    /// Any crontab day number fires only on that weekday (7 on Sunday).
    #[test]
    fn a_day_number_fires_on_its_weekday(day in 0u32..=7, hour in 0u32..24) {
        let expected = Weekday::try_from((day % 7 + 6) as u8 % 7).unwrap();
        for t in runs(&format!("0 {hour} * * {day}"), 3) {
            prop_assert_eq!(t.weekday(), expected);
        }
    }

    /// A list of days fires exactly on those days, in any form.
    #[test]
    fn a_list_of_days_fires_exactly_on_them(days in proptest::collection::btree_set(0u32..=7, 1..5)) {
        let list = days.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let wanted: BTreeSet<u32> = days.iter().map(|d| d % 7).collect();
        let five = runs(&format!("0 3 * * {list}"), 14);
        let fired: BTreeSet<u32> = five.iter().map(|t| t.weekday().num_days_from_sunday()).collect();
        prop_assert_eq!(&fired, &wanted);
        prop_assert_eq!(runs(&format!("0 0 3 * * {list}"), 14), five.clone());
        prop_assert_eq!(runs(&format!("0 0 3 * * {list} *"), 14), five);
    }
}
