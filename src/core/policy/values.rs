//! Readers of single values: sizes, counts, durations, percentages, cron
//! expressions, globs, regexes, URLs. Each takes a YAML leaf and returns the
//! typed value or a message saying what was expected; the validation pass
//! adds the position and field path.

use std::time::Duration;

use globset::{Glob, GlobSetBuilder};
use url::Url;

use super::yaml::{Number, Value};
use super::{CronSchedule, Patterns, Percent, RateLimit};
use crate::core::model::violation::Severity;

/// What a value is, for "expected X, found Y" messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
    }
}

/// Free text: a string, or a number or boolean taken as written.
pub fn text(value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(format!("expected text, found {}", describe(other))),
    };
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(text)
}

/// `true` or `false`.
pub fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if yaml_1_1_boolean(s).is_some() => Err(format!(
            "`{}` is text in YAML 1.2, not a boolean: write `{}`",
            s.escape_default(),
            yaml_1_1_boolean(s).unwrap_or_default()
        )),
        other => Err(format!(
            "expected `true` or `false`, found {}",
            describe(other)
        )),
    }
}

/// What YAML 1.1 read as a boolean (`yes`, `no`, `on`, `off`, `y`, `n`),
/// which YAML 1.2 (and this file) reads as text.
fn yaml_1_1_boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" => Some(true),
        "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// A whole number written with a leading zero (`0777`): octal in YAML 1.1,
/// decimal in YAML 1.2. Refused rather than guessed.
fn leading_zero(s: &str) -> Result<(), String> {
    let digits = s.trim().trim_start_matches(['+', '-']);
    let number = digits
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    if number.len() > 1 && number.starts_with('0') {
        return Err(format!(
            "`{}` starts with 0: YAML 1.1 reads it as an octal number, YAML 1.2 as a \
             decimal one; write it without the leading zero",
            s.trim().escape_default()
        ));
    }
    Ok(())
}

/// A decimal number where a whole number is expected (`1.5`, or `1e3`,
/// which YAML 1.2 reads as 1000.0).
fn not_whole(n: &Number) -> String {
    format!(
        "expected a whole number, found the decimal number {n}: write whole numbers in digits, e.g. `1000`"
    )
}

/// A whole number of at least `min`.
pub fn count(value: &Value, min: u64) -> Result<u64, String> {
    let n = match value {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                n
            } else if n.as_i64().is_some() {
                return Err(format!("must be at least {min}, not negative ({n})"));
            } else {
                return Err(not_whole(n));
            }
        }
        Value::String(s) => {
            leading_zero(s)?;
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("expected a whole number, found `{}`", s.escape_default()))?
        }
        other => {
            return Err(format!(
                "expected a whole number, found {}",
                describe(other)
            ));
        }
    };
    if n < min {
        return Err(format!("must be at least {min}, not {n}"));
    }
    Ok(n)
}

/// An integer, possibly negative (Matrix power levels).
pub fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) if n.is_f64() => Err(not_whole(n)),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("expected a whole number, found {n}")),
        Value::String(s) => {
            leading_zero(s)?;
            Err(format!(
                "expected a whole number, found `{}`",
                s.escape_default()
            ))
        }
        other => Err(format!(
            "expected a whole number, found {}",
            describe(other)
        )),
    }
}

const SIZE_HELP: &str = "write a number and a unit, e.g. `500 MB` or `5 GiB` \
     (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)";

/// A size in bytes: a number of bytes, or a human size (`5 GiB`, `500 MB`;
/// decimal units are powers of 1000, binary ones of 1024). At least 1 byte.
pub fn size(value: &Value) -> Result<u64, String> {
    let bytes = match value {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                n
            } else if n.as_i64().is_some() || n.as_f64() < 0.0 {
                return Err(format!("a size cannot be negative ({n})"));
            } else {
                return Err(format!(
                    "`{n}` is a decimal number, not a size: {SIZE_HELP}"
                ));
            }
        }
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.starts_with('-') {
                return Err(format!(
                    "a size cannot be negative (`{}`)",
                    trimmed.escape_default()
                ));
            }
            leading_zero(trimmed)?;
            let starts_with_digit = trimmed.starts_with(|c: char| c.is_ascii_digit());
            match trimmed.parse::<bytesize::ByteSize>() {
                Ok(size) if starts_with_digit && size.as_u64() < u64::MAX => size.as_u64(),
                Ok(_) if starts_with_digit => {
                    return Err(format!("`{}` is too large", trimmed.escape_default()));
                }
                _ => {
                    return Err(format!(
                        "`{}` is not a size: {SIZE_HELP}",
                        trimmed.escape_default()
                    ));
                }
            }
        }
        other => {
            return Err(format!(
                "expected a size, found {}: {SIZE_HELP}",
                describe(other)
            ));
        }
    };
    if bytes == 0 {
        return Err("must be more than 0 bytes".to_owned());
    }
    Ok(bytes)
}

/// The unit family a size was written in (`10 kB`: decimal, `5 GiB`:
/// binary), so that it is shown in the same units; the default for a
/// number of bytes.
pub fn size_units(value: &Value) -> crate::core::doc::Units {
    match value {
        Value::String(s) => crate::core::doc::Units::of_written(s),
        _ => crate::core::doc::Units::default(),
    }
}

/// The unit family a size was written in, `None` for a number of bytes.
pub fn size_family(value: &Value) -> Option<crate::core::doc::Units> {
    match value {
        Value::String(s) => crate::core::doc::Units::written(s),
        _ => None,
    }
}

/// `display.units`: `decimal` or `binary`.
pub fn units(value: &Value) -> Result<crate::core::doc::Units, String> {
    match value {
        Value::String(s) if s.trim() == "decimal" => Ok(crate::core::doc::Units::Decimal),
        Value::String(s) if s.trim() == "binary" => Ok(crate::core::doc::Units::Binary),
        Value::String(s) => Err(format!(
            "`{}` is not a unit family: write `decimal` (kB, MB, GB) or `binary` (KiB, MiB, GiB)",
            s.trim().escape_default()
        )),
        other => Err(format!(
            "expected `decimal` or `binary`, found {}",
            describe(other)
        )),
    }
}

const DURATION_HELP: &str = "write a number and a unit, e.g. `90s`, `15m`, `24h` or `7d`";

/// A duration in humantime form (`15m`, `24h`, `7d`, `1h 30m`).
pub fn duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::String(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            format!(
                "`{}` is not a duration ({e}): {DURATION_HELP}",
                s.trim().escape_default()
            )
        }),
        Value::Number(n) => Err(format!("`{n}` has no unit: {DURATION_HELP}")),
        other => Err(format!(
            "expected a duration, found {}: {DURATION_HELP}",
            describe(other)
        )),
    }
}

/// A duration that is not zero.
pub fn positive_duration(value: &Value) -> Result<Duration, String> {
    let d = duration(value)?;
    if d.is_zero() {
        return Err("must be longer than 0".to_owned());
    }
    Ok(d)
}

/// A rate limit: `N/DURATION`, e.g. `20/1m` (also `20 per 1m`).
pub fn rate_limit(value: &Value) -> Result<RateLimit, String> {
    const HELP: &str = "write a number of commands and a duration, e.g. `20/1m`";
    let written = text(value)?;
    let written = written.trim();
    let Some((burst, per)) = written
        .split_once('/')
        .or_else(|| written.split_once(" per "))
    else {
        return Err(format!(
            "`{}` is not a rate limit: {HELP}",
            written.escape_default()
        ));
    };
    let burst = burst
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| {
            format!(
                "`{}` is not a number of commands of at least 1: {HELP}",
                burst.trim().escape_default()
            )
        })?;
    let per = positive_duration(&Value::String(per.trim().to_owned()))?;
    Ok(RateLimit { burst, per })
}

/// A percentage written with `%` (`80%`, `92.5%`), at most two decimals.
pub fn percent(value: &Value) -> Result<Percent, String> {
    let written = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => {
            return Err(format!("write a percentage with `%`, e.g. `{n}%`"));
        }
        other => {
            return Err(format!(
                "expected a percentage such as `80%`, found {}",
                describe(other)
            ));
        }
    };
    let Some(number) = written.strip_suffix('%') else {
        return Err(format!(
            "`{}` is not a percentage: write it with `%`, e.g. `80%`",
            written.escape_default()
        ));
    };
    let number = number.trim();
    if number.starts_with('-') {
        return Err(format!(
            "a percentage cannot be negative (`{}`)",
            written.escape_default()
        ));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(format!(
            "`{}` is not a percentage: write a number with at most two decimals and `%`, e.g. `80%`",
            written.escape_default()
        ));
    }
    let whole: u32 = whole
        .parse()
        .ok()
        .filter(|w| *w <= 1_000_000)
        .ok_or_else(|| format!("`{}` is too large", written.escape_default()))?;
    let hundredths: u32 = format!("{fraction:0<2}").parse().unwrap_or(0);
    Ok(Percent::from_basis_points(whole * 100 + hundredths))
}

/// `warning` or `critical`.
pub fn severity(value: &Value) -> Result<Severity, String> {
    const CHOICES: &[&str] = &["warning", "critical"];
    match value {
        Value::String(s) if s == "warning" => Ok(Severity::Warning),
        Value::String(s) if s == "critical" => Ok(Severity::Critical),
        Value::String(s) => Err(match super::error::closest(s, CHOICES) {
            Some(close) => format!(
                "`{}` is not a severity; did you mean `{close}`?",
                s.escape_default()
            ),
            None => format!(
                "`{}` is not a severity: expected `warning` or `critical`",
                s.escape_default()
            ),
        }),
        other => Err(format!(
            "expected `warning` or `critical`, found {}",
            describe(other)
        )),
    }
}

/// A cron expression: 5 fields (minute hour day-of-month month
/// day-of-week, as in crontab), or the `cron` crate's 6 or 7 fields (with
/// seconds first, and a year last), or `@hourly`, `@daily`, `@weekly`,
/// `@monthly`, `@yearly`. The 5-field form is run at second 0. Days of the
/// week mean what they mean in crontab(5) in every form (0 and 7 are
/// Sunday): see [`crate::core::policy::crontab`].
pub fn cron(value: &Value) -> Result<CronSchedule, String> {
    let Value::String(written) = value else {
        return Err(format!(
            "expected a cron expression such as `*/15 * * * *`, found {}",
            describe(value)
        ));
    };
    crate::core::policy::crontab::parse(written)
}

/// One glob, or a list of them.
pub fn patterns(value: &Value) -> Result<Patterns, String> {
    let items: Vec<&Value> = match value {
        Value::Sequence(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut builder = GlobSetBuilder::new();
    let mut written = Vec::new();
    for item in items {
        let Value::String(pattern) = item else {
            return Err(format!(
                "expected a glob such as `@*:example.org` or a list of them, found {}",
                describe(item)
            ));
        };
        if pattern.is_empty() {
            return Err("a glob must not be empty".to_owned());
        }
        let glob = Glob::new(pattern).map_err(|e| format!("invalid glob: {e}"))?;
        builder.add(glob);
        written.push(pattern.clone());
    }
    let set = builder.build().map_err(|e| format!("invalid glob: {e}"))?;
    Ok(Patterns { set, written })
}

/// A regular expression (Rust `regex` syntax; no look-around).
pub fn regex(value: &Value) -> Result<regex::Regex, String> {
    let Value::String(pattern) = value else {
        return Err(format!(
            "expected a regular expression, found {}",
            describe(value)
        ));
    };
    regex::Regex::new(pattern).map_err(|e| {
        // The syntax error's last line is the explanation; the lines
        // before it repeat the pattern.
        let text = e.to_string();
        let reason = text
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_owned();
        format!("invalid regular expression: {reason}")
    })
}

/// An `http` or `https` URL.
pub fn http_url(value: &Value) -> Result<Url, String> {
    let Value::String(s) = value else {
        return Err(format!("expected a URL, found {}", describe(value)));
    };
    let url = Url::parse(s.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "expected an http:// or https:// URL, not {}://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not hold credentials".to_owned());
    }
    Ok(url)
}

/// A socket address to listen on, e.g. `127.0.0.1:9655` or `[::]:9655`.
pub fn socket_address(value: &Value) -> Result<std::net::SocketAddr, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "expected an address and port such as `127.0.0.1:9655`, found {}",
            describe(value)
        ));
    };
    s.trim().parse().map_err(|_| {
        format!("`{s}` is not an address and port: write e.g. `127.0.0.1:9655`, `0.0.0.0:9655` or `[::]:9655`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    fn yaml(text: &str) -> Value {
        super::super::yaml::parse(text).unwrap().to_value()
    }

    #[test]
    fn sizes() {
        assert_eq!(size(&s("5 GiB")), Ok(5 << 30));
        assert_eq!(size(&s("500 MB")), Ok(500_000_000));
        assert_eq!(size(&s("1.5 KiB")), Ok(1536));
        assert_eq!(size(&s("10kb")), Ok(10_000));
        assert_eq!(size(&yaml("1024")), Ok(1024));
        assert_eq!(size(&s("1024")), Ok(1024));
        assert_eq!(
            size(&s("-5 GiB")),
            Err("a size cannot be negative (`-5 GiB`)".into())
        );
        assert_eq!(
            size(&yaml("-5")),
            Err("a size cannot be negative (-5)".into())
        );
        assert!(
            size(&s("5 GB/s"))
                .unwrap_err()
                .starts_with("`5 GB/s` is not a size")
        );
        assert!(
            size(&s("lots"))
                .unwrap_err()
                .starts_with("`lots` is not a size")
        );
        assert!(size(&s("GiB")).is_err());
        assert!(
            size(&s("99999999999 EiB"))
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(size(&s("0 B")), Err("must be more than 0 bytes".into()));
        assert!(size(&yaml("[1]")).unwrap_err().contains("found a list"));
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(count(&yaml("10"), 1), Ok(10));
        assert_eq!(count(&s("10"), 1), Ok(10));
        assert!(count(&yaml("0"), 1).is_err());
        assert!(count(&yaml("-3"), 1).unwrap_err().contains("negative"));
        assert!(count(&yaml("1.5"), 1).is_err());
        assert_eq!(duration(&s("15m")), Ok(Duration::from_secs(900)));
        assert_eq!(duration(&s("7d")), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(duration(&s("1h 30m")), Ok(Duration::from_secs(5400)));
        assert!(duration(&yaml("15")).unwrap_err().contains("no unit"));
        assert!(duration(&s("soon")).is_err());
        assert_eq!(
            positive_duration(&s("0s")),
            Err("must be longer than 0".into())
        );
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(&s("80%")).map(|p| p.basis_points()), Ok(8000));
        assert_eq!(percent(&s("92.5%")).map(|p| p.basis_points()), Ok(9250));
        assert_eq!(percent(&s("0.25 %")).map(|p| p.basis_points()), Ok(25));
        assert_eq!(percent(&s("150%")).map(|p| p.basis_points()), Ok(15000));
        assert!(percent(&yaml("80")).unwrap_err().contains("`80%`"));
        assert!(percent(&s("80")).is_err());
        assert!(percent(&s("-5%")).unwrap_err().contains("negative"));
        assert!(percent(&s("1.234%")).is_err());
        assert!(percent(&s("abc%")).is_err());
        assert!(percent(&s("%")).is_err());
    }

    #[test]
    fn cron_expressions() {
        let five = cron(&s("*/15 * * * *")).unwrap();
        assert_eq!(five.written, "*/15 * * * *");
        assert_eq!(five.schedule.source(), "0 */15 * * * *");
        assert!(cron(&s("0 0 9 * * MON-FRI")).is_ok());
        assert!(cron(&s("0 9 * * MON-FRI")).is_ok());
        assert!(cron(&s("@daily")).is_ok());
        let err = cron(&s("0 61 * * *")).unwrap_err();
        assert!(
            err.starts_with("`0 61 * * *` is not a valid cron expression: "),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert!(cron(&s("every day")).unwrap_err().contains("2 fields"));
        assert!(!cron(&s("* * * * * * * *")).unwrap_err().contains('\n'));
    }

    #[test]
    fn globs_regexes_urls_severities() {
        let p = patterns(&yaml("['@admin:hs', '@bot-*:hs']")).unwrap();
        assert!(p.matches("@bot-irc:hs"));
        assert!(!p.matches("@alice:hs"));
        assert_eq!(p.written(), ["@admin:hs", "@bot-*:hs"]);
        assert!(patterns(&s("[a")).unwrap_err().starts_with("invalid glob"));
        assert!(patterns(&yaml("[1]")).is_err());
        assert!(regex(&s("^@bot-")).is_ok());
        let err = regex(&s("^@(?!bot)")).unwrap_err();
        assert!(err.contains("look-around"), "{err}");
        assert!(!err.contains('\n'));
        assert!(http_url(&s("https://matrix.example.org")).is_ok());
        assert!(http_url(&s("ftp://x")).is_err());
        assert!(http_url(&s("http://u:p@x")).is_err());
        assert_eq!(severity(&s("critical")), Ok(Severity::Critical));
        assert!(
            severity(&s("critcal"))
                .unwrap_err()
                .contains("did you mean `critical`")
        );
        assert!(severity(&s("fatal")).is_err());
    }
}
