//! What `trend` and `growth` answer, decided from recorded runs: the
//! messages ([`crate::core::text::trend`]) and the chart render these.
//!
//! Pure.

use std::time::Duration;

use super::trend::{self, Forecast, Growth, Point, Trend};
use super::{FORECAST_BASIS, UserTotal};
use crate::core::doc::Units;
use crate::core::policy::Config;

/// The answer to `trend`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendView {
    /// The user; `None`: the whole server.
    pub user_id: Option<String>,
    /// The span asked for.
    pub window: Duration,
    /// The sizes of the span, oldest first (complete runs only).
    pub points: Vec<Point>,
    /// Their trend, with at least two points.
    pub trend: Option<Trend>,
    /// The capacity, its forecast at the last 30 days' trend (server
    /// only, with `history.capacity`).
    pub forecast: Option<(u64, Forecast)>,
    /// The unit family of sizes.
    pub units: Units,
    /// When asked (Unix ms).
    pub now_ms: u64,
}

/// `trend` from `points` (complete runs, any span at least as long as
/// `window` and [`FORECAST_BASIS`], any order).
pub fn trend_view(
    user_id: Option<String>,
    window: Duration,
    mut points: Vec<Point>,
    capacity: Option<u64>,
    units: Units,
    now_ms: u64,
) -> TrendView {
    points.sort_by_key(|p| p.at_ms);
    let since = |d: Duration| now_ms.saturating_sub(crate::core::model::millis(d));
    let basis: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.at_ms >= since(FORECAST_BASIS))
        .collect();
    let forecast = match (capacity, &user_id) {
        (Some(capacity), None) => {
            trend::trend(&basis).map(|t| (capacity, trend::forecast(&t, capacity)))
        }
        _ => None,
    };
    let points: Vec<Point> = points
        .into_iter()
        .filter(|p| p.at_ms >= since(window))
        .collect();
    TrendView {
        trend: trend::trend(&points),
        user_id,
        window,
        points,
        forecast,
        units,
        now_ms,
    }
}

/// The answer to `growth`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthView {
    /// The span asked for.
    pub window: Duration,
    /// The run compared from (Unix ms), when there are two runs.
    pub from_ms: Option<u64>,
    /// The run compared to.
    pub to_ms: Option<u64>,
    /// Whether the history starts after the span did (compared from its
    /// first run).
    pub shorter_history: bool,
    /// A user not recorded at the start had at most this many bytes.
    pub floor_bytes: u64,
    /// The largest growths, largest first.
    pub users: Vec<Growth>,
    /// How many users were asked for.
    pub n: u32,
    /// The unit family of sizes.
    pub units: Units,
}

/// A run's users, as `growth` compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUsers {
    /// When the run started (Unix ms).
    pub started_ms: u64,
    /// A user not recorded had at most this many bytes.
    pub floor_bytes: u64,
    /// The users recorded.
    pub users: Vec<UserTotal>,
}

/// `growth` between `start` (the last complete run at or before the
/// span's start, else the first one) and `end` (the last complete run).
pub fn growth_view(
    window: Duration,
    n: u32,
    start: Option<RunUsers>,
    end: Option<RunUsers>,
    units: Units,
    now_ms: u64,
) -> GrowthView {
    let span_start = now_ms.saturating_sub(crate::core::model::millis(window));
    let mut view = GrowthView {
        window,
        from_ms: None,
        to_ms: None,
        shorter_history: false,
        floor_bytes: 0,
        users: Vec::new(),
        n,
        units,
    };
    if let (Some(start), Some(end)) = (start, end)
        && start.started_ms < end.started_ms
    {
        view.from_ms = Some(start.started_ms);
        view.to_ms = Some(end.started_ms);
        view.shorter_history = start.started_ms > span_start;
        view.floor_bytes = start.floor_bytes;
        view.users = trend::growth(&start.users, start.floor_bytes, &end.users, n as usize);
    }
    view
}

/// Sizes in the policy's one family ([`Config::units`]).
pub fn admin_units(config: &Config) -> Units {
    config.units
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[test]
    fn the_span_and_the_forecast_basis_are_cut_from_one_series() {
        let now = 100 * DAY;
        // 60 days, 1 MB a day over the first 30, then 2 MB a day.
        let points: Vec<Point> = (0..=60u64)
            .map(|d| Point {
                at_ms: now - (60 - d) * DAY,
                bytes: if d <= 30 {
                    d * 1_000_000
                } else {
                    30_000_000 + (d - 30) * 2_000_000
                },
            })
            .collect();
        let v = trend_view(
            None,
            Duration::from_secs(7 * 86_400),
            points.clone(),
            Some(190_000_000),
            Units::Decimal,
            now,
        );
        assert_eq!(v.points.len(), 8);
        let t = v.trend.unwrap();
        assert!((t.per_day - 2_000_000.0).abs() < 1e-3);
        // 100 MB left at 2 MB a day (the last 30 days): 50 days.
        match v.forecast {
            Some((190_000_000, Forecast::InDays { days, .. })) => {
                assert!((days - 50.0).abs() < 1e-6, "{days}")
            }
            other => panic!("{other:?}"),
        }
        let user = trend_view(
            Some("@a:hs".into()),
            Duration::from_secs(60 * 86_400),
            points,
            Some(1),
            Units::Decimal,
            now,
        );
        assert_eq!(user.forecast, None, "no forecast for a user");
        assert_eq!(user.points.len(), 61);
    }

    fn run(at: u64, floor: u64, users: &[(&str, u64)]) -> RunUsers {
        RunUsers {
            started_ms: at,
            floor_bytes: floor,
            users: users
                .iter()
                .map(|(id, b)| UserTotal {
                    user_id: (*id).into(),
                    bytes: *b,
                    media: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn growth_needs_two_runs_and_says_when_history_is_short() {
        let week = Duration::from_secs(7 * 86_400);
        let now = 50 * DAY;
        let v = growth_view(week, 10, None, Some(run(now, 0, &[])), Units::Binary, now);
        assert_eq!((v.from_ms, v.users.len()), (None, 0));
        let same = run(now, 0, &[("@a:hs", 5)]);
        let v = growth_view(week, 10, Some(same.clone()), Some(same), Units::Binary, now);
        assert_eq!(v.from_ms, None);
        let v = growth_view(
            week,
            10,
            Some(run(now - 3 * DAY, 7, &[("@a:hs", 5)])),
            Some(run(now, 0, &[("@a:hs", 9), ("@b:hs", 20)])),
            Units::Binary,
            now,
        );
        assert!(v.shorter_history);
        assert_eq!(v.floor_bytes, 7);
        assert_eq!(
            v.users
                .iter()
                .map(|g| (g.user_id.as_str(), g.grew))
                .collect::<Vec<_>>(),
            [("@b:hs", 13), ("@a:hs", 4)]
        );
    }
}
