use super::*;
use crate::core::doc::Units;
use crate::core::violation::{Measure, Severity};
use proptest::prelude::*;

fn violation(user: &str, rule: &str) -> Violation {
    Violation {
        rule: rule.into(),
        description: None,
        severity: Severity::Warning,
        subject: Subject::User {
            user_id: user.into(),
            displayname: Some("Ignored <b>".into()),
        },
        measure: Measure::MediaLength,
        observed: 4_500 * 1024 * 1024,
        limit: 5 * 1024 * 1024 * 1024,
        window: None,
        early_warning: true,
        units: Units::Binary,
    }
}

fn line(change: Change, user: &str, rule: &str) -> Announced {
    Announced {
        change,
        violation: violation(user, rule),
        since_ms: 0,
    }
}

#[test]
fn templates_fill_placeholders_and_escape_braces() {
    let t = Template::parse("{user}: you use {usage} of {limit} ({percent}) under {rule}. {{ok}}")
        .unwrap();
    let doc = t.render(&violation("@bob:hs", "media-quota"));
    assert_eq!(
        doc.plain(),
        "@bob:hs: you use 4.4 GiB of 5.0 GiB (87.8%) under media-quota. {ok}"
    );
}

#[test]
fn bad_templates_say_where() {
    assert_eq!(
        Template::parse("You use {usge}."),
        Err(TemplateError::Unknown {
            name: "usge".into(),
            at: 8
        })
    );
    assert_eq!(
        Template::parse("a { b"),
        Err(TemplateError::Unbalanced { at: 2 })
    );
    assert_eq!(
        Template::parse("a } b"),
        Err(TemplateError::Unbalanced { at: 2 })
    );
    assert_eq!(Template::parse(""), Err(TemplateError::Length));
    let e = Template::parse("x {nope}").unwrap_err().to_string();
    assert!(e.contains("character 3") && e.contains("{usage}"), "{e}");
}

#[test]
fn the_text_from_the_policy_file_is_neutralised() {
    let t = Template::parse("Hi @room <b>\u{202e}{usage}").unwrap();
    let doc = t.render(&violation("@bob:hs", "q"));
    assert!(!doc.html().contains("<b>"), "{}", doc.html());
    assert!(!doc.plain().contains('\u{202e}'));
    assert!(!doc.plain().contains("@room"), "{}", doc.plain());
}

fn notify(on: Events) -> impl Fn(&str) -> Option<NotifyUser> {
    move |rule: &str| {
        (rule == "q").then(|| NotifyUser {
            on,
            message: Template::parse("{usage}").unwrap(),
        })
    }
}

#[test]
fn plans_one_notice_per_user_and_event_chosen() {
    let on = Events {
        new: true,
        escalation: true,
        reminder: false,
    };
    let lines = [
        line(Change::New, "@a:hs", "q"),
        line(Change::Escalated, "@a:hs", "q"),
        line(Change::Reminder, "@b:hs", "q"),
        line(Change::New, "@c:hs", "other"),
        line(Change::Resolved, "@d:hs", "q"),
        line(Change::Escalated, "@e:hs", "q"),
    ];
    let planned = plan(&lines, &notify(on), &BTreeMap::new(), 0);
    let users: Vec<&str> = planned.iter().map(|p| p.user_id.as_str()).collect();
    assert_eq!(users, ["@a:hs", "@e:hs"]);
}

#[test]
fn a_user_is_notified_at_most_once_an_hour_and_txn_ids_are_unique() {
    let on = Events {
        new: true,
        escalation: true,
        reminder: true,
    };
    let mut state = NoticeState::default();
    let lines = [line(Change::New, "@a:hs", "q")];
    state.enqueue(plan(&lines, &notify(on), &state.last_sent, 1000), 1000);
    assert_eq!(state.outbox.len(), 1);
    let again = [line(Change::Escalated, "@a:hs", "q")];
    assert!(plan(&again, &notify(on), &state.last_sent, 1000 + 3_599_999).is_empty());
    let later = plan(&again, &notify(on), &state.last_sent, 1000 + 3_600_000);
    state.enqueue(later, 1000 + 3_600_000);
    assert_eq!(state.outbox.len(), 2);
    assert_ne!(state.outbox[0].txn_id, state.outbox[1].txn_id);
    let first = state.outbox[0].txn_id.clone();
    state.delivered(&first);
    assert_eq!(state.outbox.len(), 1);
    // The state survives a round trip through JSON (the daemon's file).
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<NoticeState>(&json).unwrap(), state);
    assert_eq!(
        serde_json::from_str::<NoticeState>("{}").unwrap(),
        NoticeState::default()
    );
}

proptest! {
    #[test]
    fn parsing_never_panics_and_valid_templates_render(text in "\\PC{0,80}") {
        if let Ok(t) = Template::parse(&text) {
            let doc = t.render(&violation("@u:hs", "q"));
            prop_assert!(crate::core::doc::is_neutralised(&doc.plain()));
        }
    }
}
