//! Texts about overrides and effective limits: the lines `!stats policies`
//! adds for overrides, the "effective limits" part of `!stats user @x`, and
//! the line naming an override in other messages. One function per text.

use std::fmt::Write as _;

use html_escape::encode_text;

use super::announce::Message;
use super::limits::{EffectiveUser, Source};
use super::policy::{Override, OverrideTarget, Rules};
use super::render::size;

/// Text on one line: control characters (newlines...) shown escaped, the
/// rest as is (HTML bodies escape it separately).
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// One override, on one line: `overrides[0]: @photographer:example.org,
/// rule media-quota: 50.0 GiB until 2027-03-01 — Archive project`.
pub fn override_line(o: &Override) -> String {
    let who = match &o.target {
        OverrideTarget::Users(p) | OverrideTarget::Rooms(p) => p
            .written()
            .iter()
            .map(|g| format!("`{}`", one_line(g)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let rule = o
        .rule
        .as_deref()
        .map_or_else(|| "every rule".to_owned(), |r| format!("rule {r}"));
    let mut text = format!("{}: {who}, {rule}: {}", o.label(), override_effect(o));
    if let Some(until) = &o.until_written {
        let _ = write!(text, " until {until}");
    }
    if let Some(reason) = &o.reason {
        let _ = write!(text, " — {}", one_line(reason));
    }
    text
}

/// What an override does: `exempt`, or its limits.
fn override_effect(o: &Override) -> String {
    if o.exempt {
        return "exempt".to_owned();
    }
    let mut parts = Vec::new();
    if let Some(b) = o.max_media_length {
        parts.push(size(b));
    }
    if let Some(c) = o.max_media_count {
        parts.push(format!("{c} media"));
    }
    if let Some(b) = o.max_estimated_size {
        parts.push(size(b));
    }
    parts.join(" and ")
}

/// The lines `!stats policies` adds: the overrides, in precedence order.
pub fn overrides_lines(rules: &Rules) -> Vec<String> {
    if rules.overrides.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{} override{} (the first that matches wins):",
        rules.overrides.len(),
        if rules.overrides.len() == 1 { "" } else { "s" }
    )];
    lines.extend(rules.overrides.iter().map(override_line));
    lines
}

/// One rule's effective limit for a user, and why.
pub fn effective_line(e: &EffectiveUser<'_>) -> String {
    let mut limits = Vec::new();
    if let Some(b) = e.max_media_length {
        limits.push(size(b));
    }
    if let Some(c) = e.max_media_count {
        limits.push(format!("{c} media"));
    }
    let window = e
        .rule
        .window
        .map(|w| format!(" in {}", super::command::format_window(w)))
        .unwrap_or_default();
    let enforced = if e.rule.enforce.is_some() && e.max_media_length.is_some() {
        ", enforced at upload"
    } else {
        ""
    };
    let name = &e.rule.name;
    match e.source {
        Source::NotSelected => {
            format!("{name}: does not apply (not selected, or exempt in the rule)")
        }
        Source::Rule => format!(
            "{name}: {}{window} by the rule{enforced}",
            limits.join(" and ")
        ),
        Source::Override(o) if o.exempt => format!("{name}: exempt by {}", why(o)),
        Source::Override(o) => format!(
            "{name}: {}{window} by {}{enforced}",
            limits.join(" and "),
            why(o)
        ),
    }
}

/// `override overrides[0] until 2027-03-01: Archive project`.
fn why(o: &Override) -> String {
    let mut text = format!("override {}", o.label());
    if let Some(until) = &o.until_written {
        let _ = write!(text, " until {until}");
    }
    if let Some(reason) = &o.reason {
        let _ = write!(text, ": {}", one_line(reason));
    }
    text
}

/// The "effective limits" part of `!stats user @x`.
pub fn effective_limits(limits: &[EffectiveUser<'_>]) -> Message {
    if limits.is_empty() {
        return Message {
            plain: "No user media rule.".to_owned(),
            html: "<p>No user media rule.</p>".to_owned(),
        };
    }
    let lines: Vec<String> = limits.iter().map(effective_line).collect();
    let plain = format!("Effective limits:\n{}", lines.join("\n"));
    let items: Vec<String> = lines
        .iter()
        .map(|l| format!("<li>{}</li>", encode_text(l)))
        .collect();
    Message {
        plain,
        html: format!(
            "<p>Effective limits:</p>\n<ul>\n{}\n</ul>",
            items.join("\n")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::limits::effective_user_all;

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
        let limits = effective_user_all(&rules, "@photographer:example.org", 0);
        let m = effective_limits(&limits);
        assert_eq!(
            m.plain,
            "Effective limits:\n\
             media-quota: 50.0 GiB by override overrides[0] until 2027-03-01: Archive <b>project</b>, enforced at upload\n\
             burst: does not apply (not selected, or exempt in the rule)\n\
             files: exempt by override overrides[1]"
        );
        assert!(m.html.contains("Archive &lt;b&gt;project&lt;/b&gt;"));
        let lines = overrides_lines(&rules);
        assert_eq!(lines[0], "2 overrides (the first that matches wins):");
        assert_eq!(
            lines[1],
            "overrides[0]: `@photographer:example.org`, rule media-quota: 50.0 GiB until 2027-03-01 — Archive <b>project</b>"
        );
        assert_eq!(
            lines[2],
            "overrides[1]: `@photographer:*`, every rule: exempt"
        );
        let plain = effective_limits(&effective_user_all(&rules, "@a:example.org", 0)).plain;
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
