//! Uploads Synapse refused under the warden's limits, and overrides that
//! ended.

use super::common::said;
use crate::core::alerting::refusals::UploadRefusal;
use crate::core::doc::{Block, Doc, ID_CAP, Line, Message};
use crate::core::policy::Override;

/// `@bob:hs — 20.0 MiB over media-quota (5.0 GiB): had 5.0 GiB, tried 20.0 MiB`.
pub fn refusal(r: &UploadRefusal) -> Line {
    let size = |b| Line::new().size(b, r.units);
    let rule = match r.rule.as_deref() {
        Some(rule) => super::rule(rule),
        None => Line::new().text("a limit no longer in the policy"),
    };
    Line::new()
        .code(r.user_id.as_str(), ID_CAP)
        .text(" — ")
        .append(size(r.over_by()))
        .text(" over ")
        .append(rule)
        .text(" (")
        .append(size(r.max_bytes))
        .text("): had ")
        .append(size(r.sent_bytes))
        .text(", tried ")
        .append(size(r.attempted_bytes))
}

/// `3 uploads refused by Synapse since 2027-01-15 08:00 UTC:` and the
/// refusals, cut at `max_lines`.
pub fn refusals(refusals: &[UploadRefusal], since_ms: u64, max_lines: usize) -> Doc {
    let max_lines = max_lines.max(1);
    let mut doc = said(
        Line::new()
            .count(refusals.len() as u64, "upload", "uploads")
            .text(" refused by Synapse since ")
            .time(since_ms)
            .text(":"),
    )
    .with(Block::Bullets(
        refusals.iter().take(max_lines).map(refusal).collect(),
    ));
    let left = refusals.len().saturating_sub(max_lines);
    if left > 0 {
        doc.push(Block::Paragraph(super::and_more(left)));
    }
    doc
}

/// Overrides that ended.
pub fn overrides_ended(overrides: &[&Override]) -> Doc {
    let head = if overrides.len() == 1 {
        Line::new().text("an override has ended; the rules' own limits apply again:")
    } else {
        Line::new()
            .number(overrides.len() as u64)
            .text(" overrides have ended; the rules' own limits apply again:")
    };
    said(head).with(Block::Bullets(
        overrides
            .iter()
            .map(|o| super::overrides::override_line(o))
            .collect(),
    ))
}

/// "3 uploads refused: ..." for the admin room; `None` when there is
/// nothing to say. At most `max_lines` lines, then a count of the rest.
pub fn message(batch: &[UploadRefusal], max_lines: usize) -> Option<Message> {
    let first = batch.first()?;
    Some(refusals(batch, first.at_ms, max_lines).message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: &str, rule: Option<&str>) -> UploadRefusal {
        UploadRefusal {
            units: Default::default(),
            user_id: user.into(),
            rule: rule.map(Into::into),
            max_bytes: 5 << 30,
            sent_bytes: (5 << 30) - 1000,
            attempted_bytes: 20 << 20,
            at_ms: 1_800_000_000_000,
        }
    }

    #[test]
    fn batches_one_line_per_refusal_escaped() {
        let m = message(
            &[
                r("@bob:hs", Some("media-quota")),
                r("@<b>evil</b>\n:hs", None),
                r("@c:hs", Some("x")),
            ],
            2,
        )
        .unwrap();
        assert!(
            m.plain.starts_with(
                "synapse-warden: 3 uploads refused by Synapse since 2027-01-15 08:00 UTC:"
            ),
            "{}",
            m.plain
        );
        assert!(
            m.plain.contains(
                "• @bob:hs — 20.0 MiB over media-quota (5.0 GiB): had 5.0 GiB, tried 20.0 MiB"
            ),
            "{}",
            m.plain
        );
        assert!(
            m.plain
                .contains("@<b>evil</b>\\n:hs — 20.0 MiB over a limit no longer in the policy"),
            "{}",
            m.plain
        );
        assert!(
            m.html.contains("@&lt;b&gt;evil&lt;/b&gt;\\n:hs"),
            "{}",
            m.html
        );
        assert!(!m.html.contains("<b>evil"));
        assert!(m.plain.ends_with("… and 1 more"));
        assert_eq!(message(&[], 5), None);
    }
}
