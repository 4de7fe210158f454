//! Overrides and effective limits: the lines `policies` adds for
//! overrides, the "effective limits" part of `user @x`, and the line naming
//! an override in other messages.

use crate::core::doc::{Block, DESCRIPTION_CAP, Line, Units};
use crate::core::engine::limits::{EffectiveUser, LimitSource};
use crate::core::policy::{Override, OverrideTarget, Rules};

/// `overrides[0]: @photographer:example.org, rule media-quota: 50.0 GiB
/// until 2027-03-01 — Archive project`.
pub fn override_line(o: &Override) -> Line {
    let who = match &o.target {
        OverrideTarget::Users(p) | OverrideTarget::Rooms(p) => Line::join(
            p.written()
                .iter()
                .map(|g| Line::new().code(g.as_str(), DESCRIPTION_CAP)),
            ", ",
        ),
    };
    let rule = match o.rule.as_deref() {
        None => Line::new().text("every rule"),
        Some(r) => Line::new().text("rule ").append(super::rule(r)),
    };
    let mut line = Line::new()
        .code(o.label(), DESCRIPTION_CAP)
        .text(": ")
        .append(who)
        .text(", ")
        .append(rule)
        .text(": ")
        .append(effect(o));
    if let Some(until) = &o.until_written {
        line = line
            .text(" until ")
            .outside(until.as_str(), DESCRIPTION_CAP);
    }
    if let Some(reason) = &o.reason {
        line = line.append(super::description(reason));
    }
    line
}

/// What an override does: `exempt`, or its limits.
fn effect(o: &Override) -> Line {
    if o.exempt {
        return Line::new().text("exempt");
    }
    let mut parts = Vec::new();
    if let Some(b) = o.max_media_length {
        parts.push(Line::new().size(b, Units::default()));
    }
    if let Some(c) = o.max_media_count {
        parts.push(Line::new().count(c, "media", "media"));
    }
    if let Some(b) = o.max_estimated_size {
        parts.push(Line::new().size(b, Units::default()));
    }
    if let Some(c) = o.max_state_events {
        parts.push(Line::new().count(c, "state event", "state events"));
    }
    Line::join(parts, " and ")
}

/// The blocks `policies` adds: the overrides, in precedence order.
pub fn overrides(rules: &Rules) -> Vec<Block> {
    if rules.overrides.is_empty() {
        return Vec::new();
    }
    vec![
        Block::Paragraph(
            Line::new()
                .count(rules.overrides.len() as u64, "override", "overrides")
                .text(" (the first that matches wins):"),
        ),
        Block::Bullets(rules.overrides.iter().map(override_line).collect()),
    ]
}

/// `override overrides[0] until 2027-03-01: Archive project`.
fn why(o: &Override) -> Line {
    let mut line = Line::new()
        .text("override ")
        .code(o.label(), DESCRIPTION_CAP);
    if let Some(until) = &o.until_written {
        line = line
            .text(" until ")
            .outside(until.as_str(), DESCRIPTION_CAP);
    }
    if let Some(reason) = &o.reason {
        line = line.text(": ").outside(reason.as_str(), DESCRIPTION_CAP);
    }
    line
}

/// One rule's effective limit for a user, and why.
pub fn effective_line(e: &EffectiveUser<'_>) -> Line {
    let mut limits = Vec::new();
    if let Some(b) = e.max_media_length {
        limits.push(Line::new().size(b, e.rule.units));
    }
    if let Some(c) = e.max_media_count {
        limits.push(Line::new().count(c, "media", "media"));
    }
    let mut amount = Line::join(limits, " and ");
    if let Some(w) = e.rule.window {
        amount = amount.text(" in ").window(w);
    }
    let enforced = e.rule.enforce.is_some() && e.max_media_length.is_some();
    let name = super::rule(&e.rule.name).text(": ");
    let line = match e.source {
        LimitSource::NotSelected => {
            return name.text("does not apply (not selected, or exempt in the rule)");
        }
        LimitSource::Rule => name.append(amount).text(" by the rule"),
        LimitSource::Override(o) if o.exempt => return name.text("exempt by ").append(why(o)),
        LimitSource::Override(o) => name.append(amount).text(" by ").append(why(o)),
    };
    if enforced {
        line.text(", enforced at upload")
    } else {
        line
    }
}

/// The "effective limits" part of `user @x`.
pub fn effective_limits(limits: &[EffectiveUser<'_>]) -> Vec<Block> {
    if limits.is_empty() {
        return vec![Block::Paragraph(Line::new().text("No user media rule."))];
    }
    vec![
        Block::Paragraph(Line::new().text("Effective limits:")),
        Block::Bullets(limits.iter().map(effective_line).collect()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Doc;
    use crate::core::engine::limits::effective_user_all;

    #[test]
    fn explains_each_rule_and_lists_overrides() {
        let rules = crate::core::policy::parse(
            "p.yaml",
            r#"
synapse: { url: "http://127.0.0.1:8008", token: { env: T } }
rules:
  user_media:
    - name: media-quota
      max_media_length: 5 GiB
      enforce: upload
    - name: burst
      window: 1d
      max_media_count: 10
      exempt: "@photographer:example.org"
    - name: files
      max_media_count: 10
overrides:
  - users: "@photographer:example.org"
    rule: media-quota
    max_media_length: 50 GiB
    until: 2027-03-01
    reason: "Archive <b>project</b>"
  - users: "@photographer:*"
    exempt: true
"#,
        )
        .unwrap()
        .rules;
        let doc = |blocks: Vec<Block>| {
            let mut d = Doc::new();
            for b in blocks {
                d.push(b);
            }
            d
        };
        let limits = effective_user_all(&rules, "@photographer:example.org", 0);
        let m = doc(effective_limits(&limits));
        assert_eq!(
            m.plain(),
            "Effective limits:\n\
             • media-quota: 50.0 GiB by override overrides[0] until 2027-03-01: Archive <b>project</b>, enforced at upload\n\
             • burst: does not apply (not selected, or exempt in the rule)\n\
             • files: exempt by override overrides[1]"
        );
        assert!(m.html().contains("Archive &lt;b&gt;project&lt;/b&gt;"));
        assert_eq!(
            doc(overrides(&rules)).plain(),
            "2 overrides (the first that matches wins):\n\
             • overrides[0]: @photographer:example.org, rule media-quota: 50.0 GiB until 2027-03-01 — Archive <b>project</b>\n\
             • overrides[1]: @photographer:*, every rule: exempt"
        );
        let plain = doc(effective_limits(&effective_user_all(
            &rules,
            "@a:example.org",
            0,
        )))
        .plain();
        assert!(
            plain.contains("media-quota: 5.0 GiB by the rule, enforced at upload"),
            "{plain}"
        );
        assert!(
            plain.contains("burst: 10 media in 1d by the rule"),
            "{plain}"
        );
    }
}
