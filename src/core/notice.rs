//! Server notices to users over a rule (`notify_user`): the message
//! template and its placeholders, which lifecycle events notify, the text a
//! user gets, the per-user rate limit and the persisted outbox.
//!
//! A notice is planned from the run's announcement ([`crate::core::alerts`]):
//! each new, escalated or reminded violation of a user whose rule asks for
//! that event gives one notice, at most one per user per run and per the
//! rule's `at_most_every` (default [`MIN_INTERVAL`]). Notices are queued in
//! the state, with a transaction ID, *before* they are sent (Synapse's
//! `PUT .../send_server_notice/<txn_id>` answers a repeated ID without
//! sending twice), and removed once Synapse took them.
//!
//! The run's summary says what became of the run's notices ("notified 3
//! users"): it is saved with them, held back ([`Held`]) while they are tried
//! once, then released with the [`Tally`] of that try — one message per run,
//! and a crash in between neither loses it nor sends a notice twice.
//!
//! Pure: the clock is an argument.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::alerts::{Announced, Change};
use super::announce::RunSummary;
use super::doc::{Doc, Line};
use super::violation::{Subject, Violation};

/// A user gets at most one notice per this long, unless the rule says
/// otherwise (`notify_user.at_most_every`).
pub const MIN_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest template.
const MAX_TEMPLATE: usize = 2000;

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

    /// The text for `v`, as a document: the admin's words as outside text
    /// (neutralised like every other), the values typed.
    pub fn render(&self, v: &Violation) -> Doc {
        Doc::paragraph(self.line(v))
    }

    /// [`Template::render`] as one line.
    pub fn line(&self, v: &Violation) -> Line {
        let mut line = Line::new();
        for part in &self.0 {
            line = match part {
                Part::Text(t) => line.outside(t.as_str(), MAX_TEMPLATE),
                Part::Value(Placeholder::User) => line.append(user_id(v)),
                Part::Value(Placeholder::Usage) => {
                    line.append(super::strings::amount(v.measure, v.observed, v.units))
                }
                Part::Value(Placeholder::Limit) => {
                    line.append(super::strings::amount(v.measure, v.limit, v.units))
                }
                Part::Value(Placeholder::Percent) => line.share(v.observed, v.limit),
                Part::Value(Placeholder::Rule) => line.outside(v.rule.as_str(), 100),
            };
        }
        line
    }
}

fn user_id(v: &Violation) -> Line {
    match &v.subject {
        Subject::User { user_id, .. } => Line::new().outside(user_id.as_str(), 255),
        Subject::Room { room_id } => Line::new().outside(room_id.as_str(), 255),
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

impl Events {
    /// Whether `change` notifies.
    pub fn notifies(&self, change: Change) -> bool {
        match change {
            Change::New => self.new,
            Change::Escalated => self.escalation,
            Change::Reminder => self.reminder,
            Change::Resolved => false,
        }
    }
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

/// A notice waiting for Synapse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedNotice {
    /// Sent with this transaction ID, every time.
    pub txn_id: String,
    /// The user.
    pub user_id: String,
    /// The rule.
    pub rule: String,
    /// Plain body.
    pub plain: String,
    /// HTML body.
    pub html: String,
    /// When it was queued (Unix ms).
    pub queued_ms: u64,
}

/// The notices part of the daemon's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeState {
    /// Waiting for Synapse, oldest first.
    pub outbox: Vec<QueuedNotice>,
    /// When each user was last sent a notice (Unix ms).
    pub last_sent: BTreeMap<String, u64>,
    /// Counter of transaction IDs.
    pub next_txn: u64,
    /// Whether the admins were told that Synapse has no server notices.
    pub disabled_said: bool,
    /// The last run's summary, waiting for its notices to be tried.
    pub held: Option<Held>,
}

/// A run's summary held back until the run's notices were tried once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The summary.
    pub summary: RunSummary,
    /// The transaction IDs of the run's notices not tried yet.
    pub untried: Vec<String>,
    /// What became of the others.
    pub tally: Tally,
}

/// What became of a run's notices, for its summary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    /// Users Synapse took a notice for.
    pub notified: Vec<String>,
    /// Users whose notice waits for Synapse to answer (sent later).
    pub waiting: Vec<String>,
    /// Users whose notice Synapse refused, with its reason.
    pub refused: Vec<(String, String)>,
    /// Users not notified because Synapse has no server notices.
    pub disabled: Vec<String>,
}

impl Tally {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.notified.is_empty()
            && self.waiting.is_empty()
            && self.refused.is_empty()
            && self.disabled.is_empty()
    }
}

/// A notice to send (or, for `check --notify`, to show).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The user.
    pub user_id: String,
    /// The rule.
    pub rule: String,
    /// The text.
    pub text: Line,
}

/// The notices `check --notify` shows for a run's `violations`: each as if
/// new, nobody notified yet.
pub fn preview(
    violations: &[Violation],
    notify: &dyn Fn(&str) -> Option<NotifyUser>,
) -> Vec<Planned> {
    let lines: Vec<Announced> = violations
        .iter()
        .map(|v| Announced {
            change: Change::New,
            violation: v.clone(),
            since_ms: 0,
        })
        .collect();
    plan(&lines, notify, &BTreeMap::new(), 0)
}

/// The notices for `lines` (a run's announcement), by rule name: one per
/// user at most, skipping users notified less than the rule's
/// `at_most_every` before `now_ms` (by `last_sent`).
pub fn plan(
    lines: &[Announced],
    notify: &dyn Fn(&str) -> Option<NotifyUser>,
    last_sent: &BTreeMap<String, u64>,
    now_ms: u64,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for a in lines {
        let Subject::User { user_id, .. } = &a.violation.subject else {
            continue;
        };
        let Some(n) = notify(&a.violation.rule) else {
            continue;
        };
        let interval = millis(n.at_most_every);
        if !n.on.notifies(a.change)
            || out.iter().any(|p| &p.user_id == user_id)
            || last_sent
                .get(user_id)
                .is_some_and(|&t| now_ms.saturating_sub(t) < interval)
        {
            continue;
        }
        out.push(Planned {
            user_id: user_id.clone(),
            rule: a.violation.rule.clone(),
            text: n.message.line(&a.violation),
        });
    }
    out
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl NoticeState {
    /// Queues `planned` at `now_ms` (saved before sending), records the
    /// users as notified, and forgets notifications older than `keep` (the
    /// longest `at_most_every`). Returns the new transaction IDs.
    pub fn enqueue(&mut self, planned: Vec<Planned>, now_ms: u64, keep: Duration) -> Vec<String> {
        let mut txn_ids = Vec::new();
        for p in planned {
            self.next_txn += 1;
            let m = Doc::paragraph(p.text).message();
            self.last_sent.insert(p.user_id.clone(), now_ms);
            let txn_id = format!("warden-notice-{now_ms}-{}", self.next_txn);
            txn_ids.push(txn_id.clone());
            self.outbox.push(QueuedNotice {
                txn_id,
                user_id: p.user_id,
                rule: p.rule,
                plain: m.plain,
                html: m.html,
                queued_ms: now_ms,
            });
        }
        let horizon = millis(keep);
        self.last_sent
            .retain(|_, t| now_ms.saturating_sub(*t) < horizon);
        txn_ids
    }

    /// Removes the notice sent with `txn_id`.
    pub fn delivered(&mut self, txn_id: &str) {
        self.outbox.retain(|n| n.txn_id != txn_id);
    }

    /// Holds `summary` back until the notices `txn_ids` were tried once;
    /// a summary still held (its release was missed) is returned, to be
    /// posted first.
    pub fn hold(&mut self, summary: RunSummary, txn_ids: Vec<String>) -> Option<Doc> {
        let previous = self.release();
        self.held = Some(Held {
            summary,
            untried: txn_ids,
            tally: Tally::default(),
        });
        previous
    }

    /// Synapse took the notice `txn_id`; `false` when it was not one of the
    /// held summary's (it had been waiting: say so on its own).
    pub fn sent(&mut self, txn_id: &str) -> bool {
        let user = self.take(txn_id);
        if let (Some(user), Some(held)) = (user, self.held.as_mut())
            && untry(held, txn_id)
        {
            held.tally.notified.push(user);
            return true;
        }
        false
    }

    /// Synapse refused the notice `txn_id` for good, saying `reason`.
    pub fn refused(&mut self, txn_id: &str, reason: &str) {
        let user = self.take(txn_id);
        if let (Some(user), Some(held)) = (user, self.held.as_mut())
            && untry(held, txn_id)
        {
            held.tally.refused.push((user, reason.to_owned()));
        }
    }

    /// Synapse has no server notices: every queued notice is dropped.
    /// Returns how many.
    pub fn disabled(&mut self) -> usize {
        let dropped = std::mem::take(&mut self.outbox);
        if let Some(held) = self.held.as_mut() {
            for n in &dropped {
                if untry(held, &n.txn_id) {
                    held.tally.disabled.push(n.user_id.clone());
                }
            }
        }
        dropped.len()
    }

    /// The violations the held summary announces (reacting to it
    /// acknowledges them); empty when no summary is held.
    pub fn held_keys(&self) -> Vec<(String, String)> {
        self.held
            .as_ref()
            .map(|h| h.summary.plan.keys())
            .unwrap_or_default()
    }

    /// The held summary, once its notices were tried: those not tried are
    /// waiting for Synapse. `None` when no summary is held.
    pub fn release(&mut self) -> Option<Doc> {
        let mut held = self.held.take()?;
        for txn_id in std::mem::take(&mut held.untried) {
            if let Some(n) = self.outbox.iter().find(|n| n.txn_id == txn_id) {
                held.tally.waiting.push(n.user_id.clone());
            }
        }
        held.summary.doc(Some(&held.tally))
    }

    fn take(&mut self, txn_id: &str) -> Option<String> {
        let i = self.outbox.iter().position(|n| n.txn_id == txn_id)?;
        Some(self.outbox.remove(i).user_id)
    }
}

/// Takes `txn_id` off the held summary's untried notices; whether it was.
fn untry(held: &mut Held, txn_id: &str) -> bool {
    let before = held.untried.len();
    held.untried.retain(|t| t != txn_id);
    held.untried.len() != before
}

#[cfg(test)]
mod tests;
