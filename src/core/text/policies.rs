//! `policies`: the rules in force.

use crate::core::doc::{DESCRIPTION_CAP, Line};
use crate::core::policy::{Patterns, RoomRule, Rules, UserMediaRule, UserSelector};

/// `2 rules in force:` or `No rule in force.`
pub fn heading(n: usize) -> Line {
    if n == 0 {
        Line::new().text("No rule in force.")
    } else {
        Line::new()
            .count(n as u64, "rule in force", "rules in force")
            .text(":")
    }
}

fn globs(p: &Patterns) -> Line {
    Line::join(
        p.written()
            .iter()
            .map(|g| Line::new().code(g.as_str(), DESCRIPTION_CAP)),
        ", ",
    )
}

fn selector(s: &UserSelector) -> Line {
    let mut line = if s.users.written() == ["*"] {
        Line::new().text("every user")
    } else {
        Line::new().text("users matching ").append(globs(&s.users))
    };
    if let Some(re) = &s.users_regex {
        line = line
            .text(" and ")
            .code(format!("/{}/", re.as_str()), DESCRIPTION_CAP);
    }
    if !s.exempt.is_empty() {
        line = line.text(", except ").append(globs(&s.exempt));
    }
    line
}

fn tail(line: Line, warn_at: Option<f64>, description: Option<&str>) -> Line {
    let mut line = line;
    if let Some(p) = warn_at {
        line = line.text("; early warning at ").percent(p);
    }
    if let Some(d) = description {
        line = line.append(super::description(d));
    }
    line
}

/// `media-quota (warning): at most 5.0 GiB and 1000 media per user uploaded in the last 7d; every user; early warning at 80% — ...`.
pub fn user_rule(r: &UserMediaRule) -> Line {
    let mut limits = Vec::new();
    if let Some(b) = r.max_media_length {
        limits.push(Line::new().size(b, r.units));
    }
    if let Some(c) = r.max_media_count {
        limits.push(Line::new().count(c, "media", "media"));
    }
    let mut line = super::rule(&r.name)
        .text(" (")
        .text(r.severity.as_str())
        .text("): at most ")
        .append(Line::join(limits, " and "))
        .text(" per user");
    if let Some(w) = r.window {
        line = line.text(" uploaded in the last ").window(w);
    }
    line = line.text("; ").append(selector(&r.users));
    tail(
        line,
        r.warn_at.map(|p| p.as_f64()),
        r.description.as_deref(),
    )
}

/// `huge-rooms (warning): rooms at most 10.0 GiB (estimated size) and
/// 50,000 state events`.
pub fn room_rule(r: &RoomRule) -> Line {
    let mut limits = Vec::new();
    if let Some(size) = r.max_estimated_size {
        limits.push(Line::new().size(size, r.units).text(" (estimated size)"));
    }
    if let Some(states) = r.max_state_events {
        limits.push(Line::new().count(states, "state event", "state events"));
    }
    let mut line = super::rule(&r.name)
        .text(" (")
        .text(r.severity.as_str())
        .text("): rooms at most ")
        .append(Line::join(limits, " and "));
    if !r.exempt.is_empty() {
        line = line.text(", except ").append(globs(&r.exempt));
    }
    tail(
        line,
        r.warn_at.map(|p| p.as_f64()),
        r.description.as_deref(),
    )
}

/// What `validate` says of where the room size limits can be checked;
/// `None` when no room rule has one.
pub fn room_sizes_reach(rules: &Rules, module_configured: bool) -> Option<Line> {
    let named: Vec<Line> = rules
        .rooms
        .iter()
        .filter(|r| r.max_estimated_size.is_some())
        .map(|r| super::rule(&r.name))
        .collect();
    if named.is_empty() {
        return None;
    }
    let line = Line::new()
        .text("note: `max_estimated_size` of ")
        .append(Line::join(named, ", "))
        .text(
            " is checked from Synapse's own estimate, which answers only on PostgreSQL servers \
               created before element-hq/synapse#19561 (never on SQLite), ",
        );
    Some(if module_configured {
        line.text(
            "else from the warden's Synapse module (every database) when it is installed in \
             Synapse with the same secret as http.module_secret. `max_state_events` is checked \
             everywhere.",
        )
    } else {
        line.text(
            "and http.module_secret is not set: set it and install the warden's Synapse module \
             for sizes on every Synapse, or use `max_state_events`, which is checked everywhere.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Doc;

    #[test]
    fn validate_says_where_room_sizes_can_be_checked() {
        let head = "synapse:\n  url: http://x\n  token: {env: T}\nrules:\n  rooms:\n";
        let parse =
            |rules: &str| crate::core::policy::parse("p.yaml", &format!("{head}{rules}")).unwrap();
        let states = parse("    - name: s\n      max_state_events: 10\n");
        assert!(room_sizes_reach(&states.rules, false).is_none());
        let sizes = parse("    - name: big\n      max_estimated_size: 1 GB\n");
        let without = Doc::paragraph(room_sizes_reach(&sizes.rules, false).unwrap()).plain();
        assert!(
            without.contains("of big is checked")
                && without.contains("http.module_secret is not set"),
            "{without}"
        );
        let with = Doc::paragraph(room_sizes_reach(&sizes.rules, true).unwrap()).plain();
        assert!(
            with.contains("else from the warden's Synapse module"),
            "{with}"
        );
    }
}
