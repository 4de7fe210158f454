//! One formatter per kind of value, used by every message.
//!
//! - Sizes in the unit family the admin wrote in the rule: a `10 kB` rule
//!   shows `kB`/`MB`/`GB` (powers of 1000), a `5 GiB` rule
//!   `KiB`/`MiB`/`GiB` (powers of 1024). A size not tied to a rule, or a
//!   rule written in bytes, uses the default, binary units.
//! - Windows and durations: `7d`, `1h 30m`, `45s`.
//! - Shares of a limit: one decimal, rounded away from the limit (up when
//!   over it, down otherwise), so one byte over never reads `100.0%`.
//! - Times in UTC: `2026-11-23 08:07 UTC`.
//! - Counts agree with their noun: `1 user`, `2 users`.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// A family of size units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Powers of 1024: KiB, MiB, GiB, TiB. The default.
    #[default]
    Binary,
    /// Powers of 1000: kB, MB, GB, TB.
    Decimal,
}

impl Units {
    /// The family of a size as written (`10 kB`, `5 GiB`, `1000`): binary
    /// for `KiB`..., decimal for `kB`/`KB`/`MB`..., the default for bytes.
    pub fn of_written(text: &str) -> Units {
        Units::written(text).unwrap_or_default()
    }

    /// The family a size was written in, `None` for a number of bytes
    /// (`1000`, `1000 B`), which names no family.
    pub fn written(text: &str) -> Option<Units> {
        let unit: String = text
            .trim()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .to_ascii_lowercase();
        if unit.contains('i') {
            Some(Units::Binary)
        } else if unit.is_empty() || unit == "b" {
            None
        } else {
            Some(Units::Decimal)
        }
    }

    /// The one family of a policy whose sizes were written in `written`
    /// (`None` for a number of bytes): decimal when every size names
    /// decimal units, binary when every one names binary units, and
    /// binary, the default, when they mix families or name none.
    pub fn of_policy(written: impl IntoIterator<Item = Option<Units>>) -> (Units, bool) {
        let mut seen = (false, false);
        for u in written.into_iter().flatten() {
            match u {
                Units::Binary => seen.0 = true,
                Units::Decimal => seen.1 = true,
            }
        }
        match seen {
            (false, true) => (Units::Decimal, false),
            (true, true) => (Units::default(), true),
            _ => (Units::default(), false),
        }
    }
}

/// `bytes` in `units`: `6.0 GiB`, `6.4 GB`, `512 B`.
pub fn size(bytes: u64, units: Units) -> String {
    let display = ByteSize::b(bytes).display();
    match units {
        Units::Binary => display.iec().to_string(),
        Units::Decimal => display.si().to_string(),
    }
}

/// `bytes` in the unit that [`size`] gives `top`, so that every label of a
/// chart's axis reads in one unit: `0.5 TB` beside `1.0 TB`, not
/// `500.0 GB`. Zero is `0 B`.
pub fn size_on_axis(bytes: u64, top: u64, units: Units) -> String {
    let (base, names) = match units {
        Units::Binary => (1024f64, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]),
        Units::Decimal => (1000f64, ["B", "kB", "MB", "GB", "TB", "PB", "EB"]),
    };
    let mut exp = 0;
    let mut scaled = top as f64;
    while scaled >= base && exp < names.len() - 1 {
        scaled /= base;
        exp += 1;
    }
    if exp == 0 || bytes == 0 {
        return format!("{bytes} B");
    }
    format!("{:.1} {}", bytes as f64 / base.powi(exp as i32), names[exp])
}

/// A window or duration: the non-zero days, hours, minutes and seconds,
/// `7d`, `1h 30m`; `0s` for none, `under 1s` below a second (one rendering
/// of zero and sub-unit spans in every message).
pub fn window(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d.as_secs() == 0 {
        return "under 1s".to_owned();
    }
    window_parts(d).join(" ")
}

/// A window as one word, the way commands read it back: `7d`, `1h30m`;
/// `0s` for none (whole seconds only).
pub fn window_word(d: Duration) -> String {
    if d.as_secs() == 0 {
        return "0s".to_owned();
    }
    window_parts(d).concat()
}

/// The non-zero days, hours, minutes and seconds of `d`.
fn window_parts(d: Duration) -> Vec<String> {
    let secs = d.as_secs();
    [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
        (secs % 60, "s"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| format!("{n}{unit}"))
    .collect()
}

/// An age rounded for people: seconds below a minute, minutes below an
/// hour, then to 5 minutes: `42s`, `12m`, `3h 5m`.
pub fn age(d: Duration) -> String {
    let secs = d.as_secs();
    let rounded = if secs < 60 {
        secs
    } else if secs < 3600 {
        secs / 60 * 60
    } else {
        secs / 300 * 300
    };
    if rounded == 0 {
        return "0s".to_owned();
    }
    window(Duration::from_secs(rounded))
}

/// `observed` as a share of `limit`: `120.0%`; `∞` for a limit of 0.
pub fn share(observed: u64, limit: u64) -> String {
    match share_value(observed, limit, 1) {
        Some(p) => format!("{p:.1}%"),
        None => "∞".to_owned(),
    }
}

/// The share in percent, rounded to `decimals` away from the limit; `None`
/// for a limit of 0.
pub fn share_value(observed: u64, limit: u64, decimals: i32) -> Option<f64> {
    if limit == 0 {
        return None;
    }
    let scale = 10f64.powi(decimals);
    let exact = observed as f64 * 100.0 / limit as f64 * scale;
    let rounded = if observed > limit {
        exact.ceil()
    } else {
        exact.floor()
    };
    Some(rounded / scale)
}

/// A configured percentage as written: `80%`, `82.5%`.
pub fn percent(p: f64) -> String {
    format!("{}%", (p * 100.0).round() / 100.0)
}

/// A Unix time in ms as `2026-11-23 08:07 UTC`.
pub fn utc(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A Unix time in ms as the day `2026-11-23`.
pub fn date(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `n` and its noun in agreement: `1 user`, `0 users`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `strftime` format of a chart's time labels for an axis spanning
/// `span_ms`: the time within a day (`14:30`), the day and time within a
/// few days (`Dec 02 14:30`), the day within 300 days (`Dec 02`), the
/// month beyond (`Dec 2026`).
pub fn time_axis(span_ms: u64) -> &'static str {
    const DAY: u64 = 86_400_000;
    match span_ms {
        s if s <= DAY => "%H:%M",
        s if s <= 4 * DAY => "%b %d %H:%M",
        s if s <= 300 * DAY => "%b %d",
        _ => "%b %Y",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_axis_follows_the_span() {
        let hour = 3_600_000;
        assert_eq!(super::time_axis(15 * 60_000), "%H:%M");
        assert_eq!(super::time_axis(24 * hour), "%H:%M");
        assert_eq!(super::time_axis(24 * hour + 1), "%b %d %H:%M");
        assert_eq!(super::time_axis(4 * 24 * hour), "%b %d %H:%M");
        assert_eq!(super::time_axis(30 * 24 * hour), "%b %d");
        assert_eq!(super::time_axis(400 * 24 * hour), "%b %Y");
    }

    use super::*;

    #[test]
    fn sizes_in_the_family_written() {
        assert_eq!(Units::of_written("10 kB"), Units::Decimal);
        assert_eq!(Units::of_written("10KB"), Units::Decimal);
        assert_eq!(Units::of_written("5 GiB"), Units::Binary);
        assert_eq!(Units::of_written("5gib"), Units::Binary);
        assert_eq!(Units::of_written("1000"), Units::Binary);
        assert_eq!(Units::of_written("1000 B"), Units::Binary);
        assert_eq!(size(10_000, Units::Decimal), "10.0 kB");
        assert_eq!(size(10_000, Units::Binary), "9.8 KiB");
        assert_eq!(
            size_on_axis(500_000_000_000, 2_200_000_000_000, Units::Decimal),
            "0.5 TB"
        );
        assert_eq!(size_on_axis(0, 2_200_000_000_000, Units::Decimal), "0 B");
        assert_eq!(size_on_axis(512, 900, Units::Binary), "512 B");
        assert_eq!(size_on_axis(1 << 29, 3 << 30, Units::Binary), "0.5 GiB");
        assert_eq!(size(6 << 30, Units::Binary), "6.0 GiB");
        assert_eq!(size(512, Units::Decimal), "512 B");
    }

    #[test]
    fn windows_and_ages() {
        assert_eq!(window(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(window(Duration::from_secs(5_400)), "1h 30m");
        assert_eq!(window(Duration::from_secs(86_401)), "1d 1s");
        assert_eq!(window(Duration::from_millis(250)), "under 1s");
        assert_eq!(window(Duration::ZERO), "0s");
        assert_eq!(age(Duration::from_secs(754)), "12m");
        assert_eq!(age(Duration::from_secs(11_130)), "3h 5m");
        assert_eq!(age(Duration::from_secs(42)), "42s");
        assert_eq!(age(Duration::ZERO), "0s");
    }

    #[test]
    fn shares_round_away_from_the_limit() {
        assert_eq!(share((5 << 30) + 1, 5 << 30), "100.1%");
        assert_eq!(share(5 << 30, 5 << 30), "100.0%");
        assert_eq!(share((5 << 30) - 1, 5 << 30), "99.9%");
        assert_eq!(share(6, 5), "120.0%");
        assert_eq!(share(1, 0), "∞");
        assert_eq!(percent(80.0), "80%");
        assert_eq!(percent(82.5), "82.5%");
    }

    #[test]
    fn counts_agree() {
        assert_eq!(count(1, "user", "users"), "1 user");
        assert_eq!(count(0, "user", "users"), "0 users");
        assert_eq!(count(2, "user", "users"), "2 users");
    }

    proptest::proptest! {
        /// At the top of the axis it says what `size` says; below, the
        /// same unit.
        #[test]
        fn the_axis_reads_in_the_unit_of_its_top(top in 0u64..u64::MAX / 2, share in 0.0f64..=1.0, decimal in proptest::bool::ANY) {
            let units = if decimal { Units::Decimal } else { Units::Binary };
            proptest::prop_assert_eq!(size_on_axis(top, top, units), size(top, units));
            let below = size_on_axis((top as f64 * share) as u64, top, units);
            let unit = |s: &str| s.rsplit(' ').next().map(str::to_owned);
            if (top as f64 * share) as u64 > 0 {
                proptest::prop_assert_eq!(unit(&below), unit(&size(top, units)));
            }
        }
    }
}
