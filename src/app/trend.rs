//! `trend` and `growth`: answered from the usage history
//! ([`crate::history`]), decided by [`crate::core::history::view`], worded
//! by [`crate::core::text::trend`], and for `trend` a chart
//! ([`crate::chart`]).

use std::time::Duration;

use super::context::{Reply, StatsContext, rules_in_force};
use crate::chart::{self, Png};
use crate::core::commands::Command;
use crate::core::doc::Units;
use crate::core::history::FORECAST_BASIS;
use crate::core::history::view;
use crate::core::policy::history::HistorySettings;
use crate::core::text;
use crate::history::{History, HistoryError, HistoryStore};

/// The answer to `trend` or `growth` at `now_ms`, and the chart of a
/// `trend` when there is one.
pub async fn answer(command: &Command, ctx: &StatsContext, now_ms: u64) -> (Reply, Option<Png>) {
    let Some(history) = ctx.history.clone() else {
        return (Reply::failed(text::trend::not_configured()), None);
    };
    if !history.path().exists() {
        let e = HistoryError::Missing(history.path().to_owned());
        return (
            Reply::failed(text::trend::unavailable(&e.to_string())),
            None,
        );
    }
    let config = rules_in_force(ctx).await;
    let (settings, units) = match &config {
        Some(c) => (c.history.clone(), view::admin_units(c)),
        None => (HistorySettings::default(), Units::default()),
    };
    match command {
        Command::Trend { user_id, window } => {
            trend(&history, user_id.clone(), *window, &settings, units, now_ms).await
        }
        Command::Growth { window, n } => (growth(&history, *window, *n, units, now_ms).await, None),
        _ => (Reply::failed(text::trend::not_configured()), None),
    }
}

async fn trend(
    history: &History,
    user_id: Option<String>,
    window: Duration,
    settings: &HistorySettings,
    units: Units,
    now_ms: u64,
) -> (Reply, Option<Png>) {
    let from = now_ms.saturating_sub(crate::core::model::millis(window.max(FORECAST_BASIS)));
    let who = user_id.clone();
    let points = history
        .with(move |s: &mut HistoryStore| match &who {
            Some(id) => s.user_points(id, from),
            None => s.server_points(from),
        })
        .await;
    let points = match points {
        Ok(p) => p,
        Err(e) => {
            return (
                Reply::failed(text::trend::unavailable(&e.to_string())),
                None,
            );
        }
    };
    let capacity = settings.capacity.map(|(bytes, _)| bytes);
    let view = view::trend_view(user_id, window, points, capacity, units, now_ms);
    let doc = text::trend::trend(&view);
    if view.trend.is_none() {
        return (Reply::ok(doc), None);
    }
    // Drawing is CPU work: off the async threads.
    let drawn = tokio::task::spawn_blocking(move || chart::trend_chart(&view)).await;
    match drawn {
        Ok(Ok(png)) => (Reply::ok(doc), Some(png)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot draw the trend chart; answering with text only");
            (Reply::ok(doc), None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the chart task failed; answering with text only");
            (Reply::ok(doc), None)
        }
    }
}

async fn growth(history: &History, window: Duration, n: u32, units: Units, now_ms: u64) -> Reply {
    let start_at = now_ms.saturating_sub(crate::core::model::millis(window));
    let runs = history
        .with(move |s: &mut HistoryStore| s.growth_runs(start_at, now_ms))
        .await;
    match runs {
        Ok((start, end)) => Reply::ok(text::trend::growth(&view::growth_view(
            window, n, start, end, units, now_ms,
        ))),
        Err(e) => Reply::failed(text::trend::unavailable(&e.to_string())),
    }
}
