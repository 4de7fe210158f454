//! `trend` and `growth`: change over time, from the usage history.

use crate::core::doc::{Block, Doc, Line, Units};
use crate::core::history::TOP_USERS;
use crate::core::history::trend::{Forecast, Trend};
use crate::core::history::view::{GrowthView, TrendView};

/// A signed size: `+2.0 GiB`, `-512 B`.
pub(super) fn change(bytes: i128, units: Units) -> Line {
    let abs = u64::try_from(bytes.unsigned_abs()).unwrap_or(u64::MAX);
    Line::new()
        .text(if bytes < 0 { "-" } else { "+" })
        .size(abs, units)
}

/// `the media store` or `@alice:hs`.
fn whose(view: &TrendView) -> Line {
    match &view.user_id {
        Some(id) => Line::new().user(id.as_str(), None),
        None => Line::new().text("The media store"),
    }
}

/// The chart's title: `The media store, last 30d`.
pub fn chart_title(view: &TrendView) -> String {
    match &view.user_id {
        Some(id) => format!(
            "{}, last {}",
            crate::core::doc::neutral(id, crate::core::doc::ID_CAP),
            crate::core::doc::format::window(view.window)
        ),
        None => format!(
            "Media store, last {}",
            crate::core::doc::format::window(view.window)
        ),
    }
}

/// The answer to `trend`.
pub fn trend(view: &TrendView) -> Doc {
    let heading = whose(view).text(", last ").window(view.window);
    let Some(t) = view.trend else {
        return no_trend(view, heading);
    };
    let mut heading = heading
        .text(": ")
        .size(t.last.bytes, view.units)
        .text(", ")
        .append(change(t.change(), view.units));
    if let Some(p) = t.change_percent() {
        heading = heading.text(" (").text(if p < 0.0 { "" } else { "+" });
        heading = heading.percent((p * 10.0).round() / 10.0).text(")");
    }
    let mut lines = vec![
        Line::new()
            .text("now: ")
            .size(t.last.bytes, view.units)
            .text(" (")
            .time(t.last.at_ms)
            .text(")"),
        Line::new()
            .text("then: ")
            .size(t.first.bytes, view.units)
            .text(" (")
            .time(t.first.at_ms)
            .text(")"),
        per_day(&t, view.units),
    ];
    if let Some((capacity, f)) = view.forecast {
        lines.push(forecast(capacity, f, view.units));
    }
    Doc::new()
        .with(Block::Heading(heading.text(":")))
        .with(Block::Bullets(lines))
        .with(Block::Paragraph(chart_note(view)))
}

pub(super) fn per_day(t: &Trend, units: Units) -> Line {
    if let Some(missing_ms) = t.rate_needs_ms() {
        return Line::new()
            .text("growth: needs ")
            .append(more_minutes(missing_ms))
            .text(" of history (a daily rate is measured over an hour at least)");
    }
    let rounded = t.per_day.round();
    let bytes = if rounded.is_finite() {
        rounded.abs().min(u64::MAX as f64) as u64
    } else {
        0
    };
    Line::new()
        .text("growth: ")
        .text(if rounded < 0.0 { "-" } else { "+" })
        .size(bytes, units)
        .text(" a day (least-squares trend through ")
        .count(t.points as u64, "run", "runs")
        .text(")")
}

/// `at the last 30 days' trend, the media store crosses 2.0 TB
/// (history.capacity) in 120 days, around 2027-03-30`.
pub(super) fn forecast(capacity: u64, f: Forecast, units: Units) -> Line {
    let start = Line::new().text("forecast: ");
    match f {
        Forecast::Reached => start
            .text("the media store is at or over ")
            .size(capacity, units)
            .text(" (history.capacity)"),
        Forecast::Never => start
            .text("at the last 30 days' trend the media store does not grow towards ")
            .size(capacity, units)
            .text(" (history.capacity)"),
        Forecast::NeedsHistory { missing_ms } => start
            .text("needs ")
            .append(more_minutes(missing_ms))
            .text(" of history"),
        Forecast::InDays { days, at_ms } => start
            .text("at the last 30 days' trend, the media store crosses ")
            .size(capacity, units)
            .text(" (history.capacity) in ")
            .count(days.ceil().max(0.0) as u64, "day", "days")
            .text(", around ")
            .date(at_ms),
    }
}

/// `45 more minutes`, rounded up.
fn more_minutes(ms: u64) -> Line {
    Line::new().count(ms.div_ceil(60_000), "more minute", "more minutes")
}

fn chart_note(view: &TrendView) -> Line {
    Line::new()
        .count(view.points.len() as u64, "complete run", "complete runs")
        .text(" in the span (partial runs are left out).")
}

fn no_trend(view: &TrendView, heading: Line) -> Doc {
    let why = match (&view.user_id, view.points.len()) {
        (Some(_), 0) => Line::new()
            .text("No recorded size in this span: the history keeps, at each run, every user over or near a limit and the ")
            .number(TOP_USERS as u64)
            .text(" largest."),
        (_, n) => Line::new()
            .text("Not enough history yet: ")
            .count(n as u64, "complete run", "complete runs")
            .text(" in this span, and a trend needs two."),
    };
    Doc::new()
        .with(Block::Heading(heading.text(":")))
        .with(Block::Paragraph(why))
}

/// The answer to `growth`.
pub fn growth(view: &GrowthView) -> Doc {
    let (Some(from), Some(to)) = (view.from_ms, view.to_ms) else {
        return Doc::new()
            .with(Block::Heading(
                Line::new()
                    .text("Growth over the last ")
                    .window(view.window)
                    .text(":"),
            ))
            .with(Block::Paragraph(Line::new().text(
                "Not enough history yet: growth compares two complete runs, and the history has fewer.",
            )));
    };
    let mut heading = Line::new()
        .text("Largest growth of stored media over the last ")
        .window(view.window)
        .text(" (")
        .time(from)
        .text(" to ")
        .time(to)
        .text(")");
    if view.shorter_history {
        heading = heading.text(", since the history's first run");
    }
    let mut doc = Doc::new().with(Block::Heading(heading.text(":")));
    if view.users.is_empty() {
        return doc.with(Block::Paragraph(
            Line::new().text("No recorded user's media grew in this span."),
        ));
    }
    doc.push(Block::Numbered(growth_rows(view)));
    doc.push(Block::Paragraph(
        Line::new().text(
            "Stored bytes (after deletions) compared between two complete runs; `top ... 7d` counts uploads instead.",
        ),
    ));
    doc
}

/// `@mal:hs — +1.0 GiB, 2.0 GiB → 3.0 GiB`, one line per user of `view`.
pub(super) fn growth_rows(view: &GrowthView) -> Vec<Line> {
    view.users
        .iter()
        .map(|g| {
            let line = Line::new().user(g.user_id.as_str(), None).text(" — ");
            match g.from {
                Some(from) => line
                    .append(change(g.grew, view.units))
                    .text(", ")
                    .size(from, view.units)
                    .text(" → ")
                    .size(g.to, view.units),
                None => line
                    .text("at least ")
                    .append(change(g.grew, view.units))
                    .text(", now ")
                    .size(g.to, view.units)
                    .text(" (not recorded then: at most ")
                    .size(view.floor_bytes, view.units)
                    .text(")"),
            }
        })
        .collect()
}

/// No history file, or it cannot be read.
pub fn unavailable(error: &str) -> Doc {
    super::common::failure("The usage history cannot answer", error)
}

/// No history configured.
pub fn not_configured() -> Doc {
    Doc::paragraph(Line::new().text(
        "There is no usage history: set `matrix.data_dir` or `history.file`, and leave `history.enabled` true.",
    ))
}
