//! Trends, forecasts and growth from recorded runs.
//!
//! - [`trend`]: now against then, and the growth per day as the
//!   least-squares slope through every point of the span (one noisy run
//!   does not make the trend), given only over [`RATE_SPAN`] at least.
//! - [`forecast`]: at a trend, when a size crosses a capacity.
//! - [`growth`]: which users' stored bytes grew the most between two runs
//!   (growth after deletions, unlike `top ... 7d`, which counts uploads).
//!
//! Pure.

use std::collections::HashMap;

use super::UserTotal;

const DAY_MS: f64 = 86_400_000.0;

/// The shortest span a growth per day (and a forecast) is drawn from: an
/// hour. A day is then at most 24 times what was measured, and with runs
/// every 15 minutes (a common schedule) the slope goes through five runs;
/// from a few minutes, one upload between two runs would read as hundreds
/// of megabytes a day. An hour is also what a newcomer waits, not a day.
pub const RATE_SPAN: std::time::Duration = std::time::Duration::from_secs(3600);

/// A size at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Bytes.
    pub bytes: u64,
}

/// How a size changed over a span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// The first point of the span.
    pub first: Point,
    /// The last point.
    pub last: Point,
    /// Points the slope was fitted through.
    pub points: usize,
    /// Bytes a day, least squares (negative when shrinking).
    pub per_day: f64,
}

impl Trend {
    /// `last - first`, in bytes.
    pub fn change(&self) -> i128 {
        i128::from(self.last.bytes) - i128::from(self.first.bytes)
    }

    /// How much longer the span must be for a growth per day (ms), `None`
    /// when it spans [`RATE_SPAN`] already.
    pub fn rate_needs_ms(&self) -> Option<u64> {
        let span = self.last.at_ms.saturating_sub(self.first.at_ms);
        let needed = crate::core::model::millis(RATE_SPAN);
        (span < needed).then(|| needed - span)
    }

    /// The change as a percentage of the first size; `None` from 0.
    pub fn change_percent(&self) -> Option<f64> {
        (self.first.bytes > 0).then(|| self.change() as f64 * 100.0 / self.first.bytes as f64)
    }
}

/// The trend of `points` (in any order). `None` with fewer than two
/// points at distinct times.
pub fn trend(points: &[Point]) -> Option<Trend> {
    let first = *points.iter().min_by_key(|p| p.at_ms)?;
    let last = *points.iter().max_by_key(|p| p.at_ms)?;
    if first.at_ms == last.at_ms {
        return None;
    }
    // Centred on the first point and in days, so the sums stay small.
    let n = points.len() as f64;
    let xs = points
        .iter()
        .map(|p| (p.at_ms - first.at_ms) as f64 / DAY_MS);
    let ys = points.iter().map(|p| p.bytes as f64);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = ys.clone().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in xs.zip(ys) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx <= 0.0 {
        return None;
    }
    Some(Trend {
        first,
        last,
        points: points.len(),
        per_day: sxy / sxx,
    })
}

/// When a size reaches a capacity, at a trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Forecast {
    /// It is at or over the capacity already.
    Reached,
    /// It does not grow: never, at this trend.
    Never,
    /// The history is too short for a rate: it needs this many more ms
    /// (see [`RATE_SPAN`]).
    NeedsHistory {
        /// Ms of history missing.
        missing_ms: u64,
    },
    /// In this many days after the last point, at `at_ms`.
    InDays {
        /// Days from the last point.
        days: f64,
        /// When (Unix ms).
        at_ms: u64,
    },
}

/// When `trend`'s size, from its last point, crosses `capacity` bytes.
/// Far futures (beyond a century) are `Never`.
pub fn forecast(trend: &Trend, capacity: u64) -> Forecast {
    if trend.last.bytes >= capacity {
        return Forecast::Reached;
    }
    if let Some(missing_ms) = trend.rate_needs_ms() {
        return Forecast::NeedsHistory { missing_ms };
    }
    if trend.per_day.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Forecast::Never;
    }
    let days = (capacity - trend.last.bytes) as f64 / trend.per_day;
    if !days.is_finite() || days > 36_500.0 {
        return Forecast::Never;
    }
    Forecast::InDays {
        days,
        at_ms: trend.last.at_ms + (days * DAY_MS) as u64,
    }
}

/// One user's growth between two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    /// The user.
    pub user_id: String,
    /// Bytes at the start; `None` when the user was not recorded then
    /// (they had at most the start's floor).
    pub from: Option<u64>,
    /// Bytes at the end.
    pub to: u64,
    /// Growth in bytes: exact when `from` is known, else at least this.
    pub grew: i128,
}

/// The `n` users whose bytes grew the most from `start` to `end` (the
/// users recorded at each run), largest growth first, ties by user ID.
/// A user recorded at the end but not at the start had at most
/// `start_floor` then: their growth is at least `to - start_floor`. Users
/// that did not grow are left out.
pub fn growth(start: &[UserTotal], start_floor: u64, end: &[UserTotal], n: usize) -> Vec<Growth> {
    let before: HashMap<&str, u64> = start
        .iter()
        .map(|u| (u.user_id.as_str(), u.bytes))
        .collect();
    let mut grown: Vec<Growth> = end
        .iter()
        .map(|u| {
            let from = before.get(u.user_id.as_str()).copied();
            let base = from.unwrap_or(start_floor);
            Growth {
                user_id: u.user_id.clone(),
                from,
                to: u.bytes,
                grew: i128::from(u.bytes) - i128::from(base),
            }
        })
        .filter(|g| g.grew > 0)
        .collect();
    grown.sort_by(|a, b| b.grew.cmp(&a.grew).then_with(|| a.user_id.cmp(&b.user_id)));
    grown.truncate(n);
    grown
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400_000;

    fn p(day: u64, bytes: u64) -> Point {
        Point {
            at_ms: day * DAY,
            bytes,
        }
    }

    #[test]
    fn a_rate_and_a_forecast_need_an_hour_of_history() {
        // The case: 120 kB gathered in 15 seconds.
        let at = |ms: u64, bytes: u64| Point { at_ms: ms, bytes };
        let t = trend(&[at(0, 1_000_000), at(15_000, 1_120_000)]).unwrap();
        assert_eq!(t.rate_needs_ms(), Some(3_600_000 - 15_000));
        assert_eq!(
            forecast(&t, 10_000_000),
            Forecast::NeedsHistory {
                missing_ms: 3_585_000
            }
        );
        // At or over the capacity is said whatever the span.
        assert_eq!(forecast(&t, 1_000_000), Forecast::Reached);
        // An hour exactly is enough.
        let t = trend(&[at(0, 1_000_000), at(3_600_000, 1_120_000)]).unwrap();
        assert_eq!(t.rate_needs_ms(), None);
        assert!(matches!(forecast(&t, 10_000_000), Forecast::InDays { .. }));
        let t = trend(&[at(0, 1), at(3_599_999, 2)]).unwrap();
        assert_eq!(t.rate_needs_ms(), Some(1));
    }

    #[test]
    fn a_straight_line_has_its_slope() {
        let points: Vec<Point> = (0..31).map(|d| p(d, 1_000 + d * 500)).collect();
        let t = trend(&points).unwrap();
        assert!((t.per_day - 500.0).abs() < 1e-6, "{}", t.per_day);
        assert_eq!(t.change(), 15_000);
        assert_eq!(t.points, 31);
        assert!((t.change_percent().unwrap() - 1500.0).abs() < 1e-9);
        // 1 000 000 - 16 000 = 984 000 bytes at 500 a day: 1 968 days.
        match forecast(&t, 1_000_000) {
            Forecast::InDays { days, at_ms } => {
                assert!((days - 1968.0).abs() < 1e-6, "{days}");
                assert_eq!(at_ms, 30 * DAY + 1968 * DAY);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(forecast(&t, 16_000), Forecast::Reached);
    }

    #[test]
    fn one_point_or_one_time_has_no_trend() {
        assert_eq!(trend(&[]), None);
        assert_eq!(trend(&[p(1, 5)]), None);
        assert_eq!(trend(&[p(1, 5), p(1, 9)]), None);
    }

    #[test]
    fn shrinking_never_fills() {
        let t = trend(&[p(0, 100), p(10, 50)]).unwrap();
        assert!(t.per_day < 0.0);
        assert_eq!(forecast(&t, 1000), Forecast::Never);
        let flat = trend(&[p(0, 100), p(10, 100)]).unwrap();
        assert_eq!(forecast(&flat, 1000), Forecast::Never);
    }

    fn u(id: &str, bytes: u64) -> UserTotal {
        UserTotal {
            user_id: id.into(),
            bytes,
            media: 1,
        }
    }

    #[test]
    fn growth_after_deletions_and_from_below_the_floor() {
        let start = [u("@a:hs", 100), u("@b:hs", 500), u("@c:hs", 300)];
        let end = [
            u("@a:hs", 400), // +300
            u("@b:hs", 200), // shrank: left out
            u("@c:hs", 300), // same: left out
            u("@d:hs", 350), // new: at least 350 - 50
        ];
        let g = growth(&start, 50, &end, 10);
        assert_eq!(
            g,
            vec![
                // Equal growth: by user ID.
                Growth {
                    user_id: "@a:hs".into(),
                    from: Some(100),
                    to: 400,
                    grew: 300
                },
                Growth {
                    user_id: "@d:hs".into(),
                    from: None,
                    to: 350,
                    grew: 300
                },
            ]
        );
        assert_eq!(growth(&start, 50, &end, 1).len(), 1);
    }

    proptest! {
        #[test]
        fn the_slope_of_a_line_plus_a_constant_is_the_line(
            slope in 0u64..1_000_000_000,
            base in 0u64..1u64 << 40,
            days in proptest::collection::btree_set(0u64..1000, 2..50),
        ) {
            let points: Vec<Point> = days.iter().map(|&d| p(d, base + slope * d)).collect();
            let t = trend(&points).unwrap();
            prop_assert!((t.per_day - slope as f64).abs() <= slope as f64 * 1e-9 + 1e-6);
        }

        #[test]
        fn forecasts_land_on_the_capacity(
            slope in 1u64..1_000_000_000,
            base in 0u64..1u64 << 40,
            extra in 1u64..1u64 << 40,
        ) {
            let t = trend(&[p(0, base), p(10, base + 10 * slope)]).unwrap();
            let capacity = t.last.bytes + extra;
            match forecast(&t, capacity) {
                Forecast::InDays { days, .. } => {
                    let reached = t.last.bytes as f64 + days * t.per_day;
                    prop_assert!((reached - capacity as f64).abs() <= capacity as f64 * 1e-9 + 1.0);
                }
                Forecast::Never => prop_assert!(extra as f64 / t.per_day > 36_500.0),
                Forecast::Reached | Forecast::NeedsHistory { .. } => prop_assert!(false),
            }
        }

        #[test]
        fn growth_is_sorted_positive_and_bounded(
            start in proptest::collection::btree_map("[a-e]", 0u64..1000, 0..5),
            end in proptest::collection::btree_map("[a-e]", 0u64..1000, 0..5),
            floor in 0u64..1000,
            n in 0usize..6,
        ) {
            let s: Vec<UserTotal> = start.iter().map(|(k, v)| u(k, *v)).collect();
            let e: Vec<UserTotal> = end.iter().map(|(k, v)| u(k, *v)).collect();
            let g = growth(&s, floor, &e, n);
            prop_assert!(g.len() <= n);
            for w in g.windows(2) {
                prop_assert!(w[0].grew >= w[1].grew);
            }
            for x in &g {
                prop_assert!(x.grew > 0);
                prop_assert_eq!(x.from, start.get(&x.user_id).copied());
                prop_assert_eq!(x.grew, i128::from(x.to) - i128::from(x.from.unwrap_or(floor)));
            }
        }
    }
}
