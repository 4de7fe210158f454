//! A rule's `notify_user` section: which lifecycle events send the user a
//! server notice, the message template (parsed once, its placeholders
//! typed) and how often a user may be told. The notices themselves are
//! decided in [`crate::core::alerting::server_notices`] and worded in
//! [`crate::core::text::server_notices`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A user gets at most one notice per this long, unless the rule says
/// otherwise (`notify_user.at_most_every`).
pub const MIN_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest template.
pub const MAX_TEMPLATE: usize = 2000;

/// A placeholder of a notice template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placeholder {
    /// `{user}`: the user's ID.
    User,
    /// `{usage}`: what they use (`4.5 GiB`, `60 media`).
    Usage,
    /// `{limit}`: the limit (`5.0 GiB`, `50`).
    Limit,
    /// `{percent}`: usage of the limit (`90.0%`).
    Percent,
    /// `{rule}`: the rule's name.
    Rule,
}

/// The placeholders, as written.
pub const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("user", Placeholder::User),
    ("usage", Placeholder::Usage),
    ("limit", Placeholder::Limit),
    ("percent", Placeholder::Percent),
    ("rule", Placeholder::Rule),
];

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// A value of the violation.
    Value(Placeholder),
}

/// A validated template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template(Vec<Part>);

/// What is wrong with a template; `at` is the character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `{name}` with an unknown name.
    Unknown {
        /// The name.
        name: String,
        /// Where it starts (characters).
        at: usize,
    },
    /// A `{` never closed, or a lone `}`.
    Unbalanced {
        /// Where (characters).
        at: usize,
    },
    /// Empty or too long.
    Length,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = PLACEHOLDERS
            .iter()
            .map(|(n, _)| format!("{{{n}}}"))
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            TemplateError::Unknown { name, at } => write!(
                f,
                "unknown placeholder `{{{}}}` at character {}; the placeholders are {known}",
                name.escape_default(),
                at + 1
            ),
            TemplateError::Unbalanced { at } => write!(
                f,
                "unbalanced brace at character {}; write {{{{ or }}}} for a brace, placeholders are {known}",
                at + 1
            ),
            TemplateError::Length => write!(f, "must be 1 to {MAX_TEMPLATE} characters"),
        }
    }
}

impl Template {
    /// Parses `text`: `{name}` placeholders, `{{` and `}}` for braces.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let count = text.chars().count();
        if count == 0 || count > MAX_TEMPLATE {
            return Err(TemplateError::Length);
        }
        let chars: Vec<char> = text.chars().collect();
        let mut parts = Vec::new();
        let mut buf = String::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '{' if chars.get(i + 1) == Some(&'{') => {
                    buf.push('{');
                    i += 2;
                }
                '}' if chars.get(i + 1) == Some(&'}') => {
                    buf.push('}');
                    i += 2;
                }
                '{' => {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&c| c == '}' || c == '{')
                        .filter(|&p| chars[i + 1 + p] == '}')
                        .ok_or(TemplateError::Unbalanced { at: i })?;
                    let name: String = chars[i + 1..i + 1 + close].iter().collect();
                    let value = PLACEHOLDERS
                        .iter()
                        .find(|(n, _)| *n == name.trim())
                        .map(|(_, p)| *p)
                        .ok_or(TemplateError::Unknown { name, at: i })?;
                    if !buf.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut buf)));
                    }
                    parts.push(Part::Value(value));
                    i += close + 2;
                }
                '}' => return Err(TemplateError::Unbalanced { at: i }),
                c => {
                    buf.push(c);
                    i += 1;
                }
            }
        }
        if !buf.is_empty() {
            parts.push(Part::Text(buf));
        }
        Ok(Template(parts))
    }

    /// The template's parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.0
    }
}

/// Which lifecycle events notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Events {
    /// A new violation.
    pub new: bool,
    /// An escalation.
    pub escalation: bool,
    /// A reminder after `alerts.repeat_after`.
    pub reminder: bool,
}

/// A rule's `notify_user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyUser {
    /// Which events.
    pub on: Events,
    /// The message.
    pub message: Template,
    /// A user gets at most one notice per this long (any rule).
    pub at_most_every: Duration,
}
