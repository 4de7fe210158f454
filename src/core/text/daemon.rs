//! One-off notices of the daemon (Synapse unreachable, a refused reload,
//! a state file set aside...).

use super::common::said;
use crate::core::alerting::conditions::ConditionChange;
use crate::core::alerting::delivery::{Collapse, OUTBOX_CAP};
use crate::core::alerting::saving::SaveChange;
use crate::core::doc::{Block, Doc, ERROR_CAP, ID_CAP, Line};
use crate::core::model::rooms::ModuleUnavailable;

/// The state file could not be read and was set aside.
pub fn state_set_aside(set_aside: &str) -> Doc {
    said(
        Line::new()
            .text("my state file was unreadable and has been set aside as ")
            .code(set_aside, ERROR_CAP)
            .text("; I start afresh, so open violations will be announced again."),
    )
}

/// The policy file was reloaded; `needs_restart` are the keys whose change
/// waits for a restart.
pub fn reloaded(path: &str, rules: usize, needs_restart: &[&str]) -> Doc {
    said(reloaded_line(path, rules, needs_restart))
}

/// The answer to `reload`, as text.
pub fn reloaded_text(path: &str, rules: usize, needs_restart: &[&str]) -> String {
    Doc::paragraph(reloaded_line(path, rules, needs_restart)).plain()
}

/// `reloaded policies.yaml: 3 rules in force; `matrix.user` changed and
/// needs a restart to take effect.`
pub fn reloaded_line(path: &str, rules: usize, needs_restart: &[&str]) -> Line {
    let line = Line::new()
        .text("reloaded ")
        .code(path, ERROR_CAP)
        .text(": ")
        .count(rules as u64, "rule", "rules")
        .text(" in force");
    let keys: Vec<Line> = needs_restart
        .iter()
        .map(|k| Line::new().command(Line::new().outside(*k, ERROR_CAP)))
        .collect();
    match keys.len() {
        0 => line.text("."),
        1 => line
            .text("; ")
            .append(Line::join(keys, ""))
            .text(" changed and needs a restart to take effect."),
        _ => {
            let mut keys = keys;
            let last = keys.pop().unwrap_or_default();
            line.text("; ")
                .append(Line::join(keys, ", "))
                .text(" and ")
                .append(last)
                .text(" changed and need a restart to take effect.")
        }
    }
}

/// A reload refused, with the file's errors, one per line.
pub fn reload_refused(path: &str, errors: &[&str]) -> Doc {
    let mut doc = said(
        Line::new()
            .text("reload refused: ")
            .code(path, ERROR_CAP)
            .text(" has errors; the previous rules stay in force."),
    );
    doc.push(Block::Code(
        errors
            .iter()
            .map(|l| Line::new().outside(*l, ERROR_CAP))
            .collect(),
    ));
    doc
}

/// Runs started failing.
pub fn synapse_failing(since_ms: u64, error: &str) -> Doc {
    let mut doc = said(
        Line::new()
            .text("cannot check the policies: Synapse has not answered properly since ")
            .time(since_ms)
            .text(". I keep trying and will say when it answers again."),
    );
    doc.push(Block::Code(vec![Line::new().outside(error, ERROR_CAP)]));
    doc
}

/// Runs work again.
pub fn synapse_back(since_ms: u64) -> Doc {
    said(
        Line::new()
            .text("Synapse answers again (unreachable since ")
            .time(since_ms)
            .text(")."),
    )
}

/// Room rules cannot work on this Synapse.
pub fn rooms_unsupported(reason: &str) -> Doc {
    said(
        Line::new()
            .text("room size limits are not checked: ")
            .outside(reason, ERROR_CAP)
            .text(
                ". Install the warden's Synapse module and set http.module_secret for room sizes \
                 on every Synapse; `max_state_events` limits work everywhere. Media rules keep \
                 working.",
            ),
    )
}

/// Room sizes started failing.
pub fn rooms_failing(error: &str) -> Doc {
    let mut doc = said(Line::new().text(
        "room size limits could not be checked: no source gave room sizes (Synapse's own \
         estimate fails on current PostgreSQL servers; the warden's Synapse module measures \
         rooms on every Synapse). Media rules and state event limits keep working; open room \
         alerts stay open; I will say when room sizes are back.",
    ));
    doc.push(Block::Code(vec![Line::new().outside(error, ERROR_CAP)]));
    doc
}

/// Room sizes are back.
pub fn rooms_back(since_ms: u64) -> Doc {
    said(
        Line::new()
            .text("room sizes are available again (failing since ")
            .time(since_ms)
            .text(")."),
    )
}

/// Why the warden's Synapse module gave no users' page, for people.
pub fn module_walk_reason(reason: &ModuleUnavailable) -> String {
    match reason {
        ModuleUnavailable::NotConfigured => "http.module_secret is not set".to_owned(),
        ModuleUnavailable::NotInstalled => "Synapse does not know its users/media path (the \
             module is not loaded, or older than synapse-warden)"
            .to_owned(),
        ModuleUnavailable::Refused => "it refused the warden's secret: http.module_secret and \
             the module's secret_path must hold the same secret"
            .to_owned(),
        ModuleUnavailable::TimedOut => {
            "a page took longer than its budget inside Synapse".to_owned()
        }
        ModuleUnavailable::Failed(why) => why.clone(),
    }
}

/// The module's users' walk started failing: runs read the admin API.
pub fn module_walk_failing(reason: &ModuleUnavailable) -> Doc {
    said(
        Line::new()
            .text("the warden's Synapse module did not give the users' media totals: ")
            .outside(module_walk_reason(reason), ERROR_CAP)
            .text(
                ". Runs read them through Synapse's admin API instead (every user is still \
                 checked, at Synapse's own cost); I will say when the module answers again.",
            ),
    )
}

/// The module gives the users' media totals again.
pub fn module_walk_back(since_ms: u64) -> Doc {
    said(
        Line::new()
            .text("the warden's Synapse module gives the users' media totals again (failing since ")
            .time(since_ms)
            .text(")."),
    )
}

/// Walks started being cut short, and how.
pub fn walks_incomplete(cause: &str) -> Doc {
    said(
        Line::new()
            .text("runs are incomplete: ")
            .outside(cause, ERROR_CAP)
            .text(
                ". New violations and escalations among the users seen are announced; open \
                 alerts of users not reached are neither resolved nor forgotten. I will say \
                 when a walk is complete again.",
            ),
    )
}

/// Walks see every user again.
pub fn walks_complete(since_ms: u64) -> Doc {
    said(
        Line::new()
            .text("walks are complete again (cut short since ")
            .time(since_ms)
            .text(")."),
    )
}

/// The line a partial run's summary ends with.
pub fn partial_run(cause: &str) -> Line {
    Line::new().em(Line::new()
        .text("Partial run: ")
        .outside(cause, ERROR_CAP)
        .text(". Open alerts of users it did not reach are neither resolved nor forgotten."))
}

/// A condition's notice ([`ConditionChange`]), as posted.
pub fn condition(notice: &ConditionChange) -> Doc {
    match notice {
        ConditionChange::SynapseFailing { since_ms, error } => synapse_failing(*since_ms, error),
        ConditionChange::SynapseBack { since_ms } => synapse_back(*since_ms),
        ConditionChange::RoomsUnsupported { reason } => rooms_unsupported(reason),
        ConditionChange::RoomsFailing { error } => rooms_failing(error),
        ConditionChange::RoomsBack { since_ms } => rooms_back(*since_ms),
        ConditionChange::WalksIncomplete { cause } => walks_incomplete(cause),
        ConditionChange::WalksComplete { since_ms } => walks_complete(*since_ms),
        ConditionChange::ModuleWalkFailing { reason } => module_walk_failing(reason),
        ConditionChange::ModuleWalkBack { since_ms } => module_walk_back(*since_ms),
    }
}

/// Saves of the state started failing (a full disk, say).
pub fn saving_failing(since_ms: u64, error: &str) -> Doc {
    let mut doc = said(
        Line::new()
            .text("cannot save my state since ")
            .time(since_ms)
            .text(
                ": alerts, silences and acknowledgements are kept in memory and I keep trying; \
                 a restart now would lose what changed since. /ready says not ready until a \
                 save works; I will say when one does.",
            ),
    );
    doc.push(Block::Code(vec![Line::new().outside(error, ERROR_CAP)]));
    doc
}

/// Saves work again.
pub fn saving_back(since_ms: u64, failed: u32) -> Doc {
    said(
        Line::new()
            .text("my state is saved again (saves failed since ")
            .time(since_ms)
            .text(", ")
            .count(u64::from(failed), "failed save", "failed saves")
            .text(")."),
    )
}

/// A change of saving ([`SaveChange`]), as posted.
pub fn saving(change: &SaveChange) -> Doc {
    match change {
        SaveChange::Failing { since_ms, error } => saving_failing(*since_ms, error),
        SaveChange::Back { since_ms, failed } => saving_back(*since_ms, *failed),
    }
}

/// Run summaries that waited, collapsed into one message: the latest
/// state of each alert they announced, at most `max_lines` lines of each
/// kind, and the other messages dropped to keep the queue short.
pub fn collapsed(c: &Collapse, max_lines: usize) -> Doc {
    let max_lines = max_lines.max(1);
    let t = &c.tally;
    let mut head = Line::new()
        .text("while the homeserver was unreachable, ")
        .count(t.summaries as u64, "run summary", "run summaries")
        .text(" waited (since ")
        .time(t.since_ms)
        .text(")");
    head = if c.open.is_empty() && t.resolved.is_empty() {
        head.text(".")
    } else {
        head.text("; instead of each, the latest state of the alerts they announced:")
    };
    let mut doc = said(head);
    let mut lines: Vec<Line> = c
        .open
        .iter()
        .take(max_lines)
        .map(super::alerts::line)
        .collect();
    if c.open.len() > max_lines {
        lines.push(super::alerts::more(c.open.len() - max_lines));
    }
    lines.extend(t.resolved.iter().take(max_lines).map(|(rule, subject)| {
        Line::new()
            .text("✅ ")
            .strong(Line::new().text("RESOLVED"))
            .text(" ")
            .append(super::rule(rule))
            .text(": ")
            .outside(subject.as_str(), ID_CAP)
    }));
    if t.resolved.len() > max_lines {
        lines.push(super::and_more(t.resolved.len() - max_lines).text(" resolved"));
    }
    if !lines.is_empty() {
        doc.push(Block::Bullets(lines));
    }
    if t.dropped > 0 {
        doc.push(Block::Paragraph(
            Line::new()
                .count(t.dropped as u64, "other message", "other messages")
                .text(
                    " (conditions, answers, digests) were dropped, oldest first, to keep at most ",
                )
                .number(OUTBOX_CAP as u64)
                .text(" messages waiting."),
        ));
    }
    doc
}

/// The admin room's alias points to another room than the one the bot
/// obeys (the one it pointed to when first resolved).
pub fn alias_moved(alias: &str, obeyed: &str, now: &str) -> Doc {
    said(
        Line::new()
            .text("the alias ")
            .code(alias, ID_CAP)
            .text(" now points to ")
            .code(now, ID_CAP)
            .text("; I keep obeying this room (")
            .code(obeyed, ID_CAP)
            .text(
                "), where it pointed when I first resolved it. To move me, configure the room ID.",
            ),
    )
}

/// Why `/ready` says not ready while saves fail.
pub fn not_ready_saving(error: &str) -> String {
    format!(
        "the state file cannot be saved (alerts are kept in memory and saves are retried): {}",
        crate::core::doc::neutral(error, ERROR_CAP)
    )
}

/// The startup log's line when the homeserver delegates authentication.
pub fn auth_delegated_log() -> &'static str {
    "the homeserver delegates authentication (matrix-authentication-service): \
     the admin token must carry the scope urn:synapse:admin:*"
}

/// Appended to a 403 from the admin API when the homeserver delegates
/// authentication: what is missing, and the two ways to get it.
pub fn not_admin_under_mas() -> &'static str {
    "; the homeserver delegates authentication (MAS), where only a token with the \
     scope urn:synapse:admin:* is an admin's: issue one with `mas-cli manage \
     issue-compatibility-token <localpart> --yes-i-want-to-grant-synapse-admin-privileges`, \
     or create a MAS personal access token with that scope"
}

#[cfg(test)]
mod tests {
    use super::reloaded_text;

    #[test]
    fn the_reload_answer_names_what_needs_a_restart() {
        assert_eq!(
            reloaded_text("p.yaml", 3, &[]),
            "reloaded p.yaml: 3 rules in force."
        );
        assert_eq!(
            reloaded_text("p.yaml", 3, &["matrix.user"]),
            "reloaded p.yaml: 3 rules in force; `matrix.user` changed and needs a restart to take effect."
        );
        assert_eq!(
            reloaded_text("p.yaml", 1, &["matrix.user", "matrix.room", "http.listen"]),
            "reloaded p.yaml: 1 rule in force; `matrix.user`, `matrix.room` and `http.listen` changed and need a restart to take effect."
        );
    }
}
