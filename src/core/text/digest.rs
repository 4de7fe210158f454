//! The digest (`digest.cron`): the media store's growth, the top growers
//! and the violations opened and closed since the previous one.

use super::trend::{change, forecast, growth_rows, per_day};
use crate::core::alerting::digest::Digest;
use crate::core::doc::{Block, Doc, Line};

/// The digest's message (its chart is posted after it).
pub fn digest(d: &Digest) -> Doc {
    let heading = Line::new()
        .text("synapse-warden summary, ")
        .time(d.since_ms)
        .text(" to ")
        .time(d.trend.now_ms);
    let mut doc = Doc::new().with(Block::Heading(heading));
    let units = d.trend.units;
    let mut store = Vec::new();
    match d.trend.trend {
        Some(t) => {
            let mut line = Line::new()
                .text("media store: ")
                .size(t.last.bytes, units)
                .text(", ")
                .append(change(t.change(), units));
            if let Some(p) = t.change_percent() {
                line = line
                    .text(" (")
                    .text(if p < 0.0 { "" } else { "+" })
                    .percent((p * 10.0).round() / 10.0)
                    .text(")");
            }
            store.push(line.text(" since ").time(t.first.at_ms));
            store.push(per_day(&t, units));
        }
        None => store.push(
            Line::new()
                .text("media store: not enough history in this span (")
                .count(d.trend.points.len() as u64, "complete run", "complete runs")
                .text("; a trend needs two)"),
        ),
    }
    if let Some((capacity, f)) = d.trend.forecast {
        store.push(forecast(capacity, f, units));
    }
    let totals = d.totals();
    store.push(
        Line::new()
            .text("violations: ")
            .number(totals.opened)
            .text(" opened, ")
            .number(totals.closed)
            .text(" closed, ")
            .number(d.open_now as u64)
            .text(" open now"),
    );
    if let Some((rooms, abandoned)) = d.rooms {
        store.push(super::rooms::totals(rooms, abandoned));
    }
    doc.push(Block::Bullets(store));
    if !d.tally.is_empty() {
        doc.push(Block::Paragraph(Line::new().text("By rule:")));
        doc.push(Block::Bullets(
            d.tally
                .iter()
                .map(|(rule, t)| {
                    super::rule(rule)
                        .text(": ")
                        .number(t.opened)
                        .text(" opened, ")
                        .number(t.closed)
                        .text(" closed")
                })
                .collect(),
        ));
    }
    match (d.growth.from_ms, d.growth.users.is_empty()) {
        (None, _) => doc.push(Block::Paragraph(Line::new().text(
            "Top growers: not enough history yet (growth compares two complete runs).",
        ))),
        (Some(_), true) => doc.push(Block::Paragraph(
            Line::new().text("Top growers: no recorded user's media grew in this span."),
        )),
        (Some(_), false) => {
            doc.push(Block::Paragraph(
                Line::new().text("Top growers (stored bytes, after deletions):"),
            ));
            doc.push(Block::Numbered(growth_rows(&d.growth)));
        }
    }
    doc
}
