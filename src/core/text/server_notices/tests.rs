use super::*;
use crate::core::model::violation::{Subject, fixture};
use crate::core::policy::notify_user::TemplateError;
use proptest::prelude::*;

fn violation(user: &str, rule: &str) -> Violation {
    let subject = Subject::User {
        user_id: user.into(),
        displayname: Some("Ignored <b>".into()),
    };
    Violation {
        observed: 4_500 * 1024 * 1024,
        limit: 5 * 1024 * 1024 * 1024,
        early_warning: true,
        ..fixture::violation(rule, subject)
    }
}

fn render(t: &Template, v: &Violation) -> Doc {
    Doc::paragraph(notice(t, v))
}

#[test]
fn templates_fill_placeholders_and_escape_braces() {
    let t = Template::parse("{user}: you use {usage} of {limit} ({percent}) under {rule}. {{ok}}")
        .unwrap();
    let doc = render(&t, &violation("@bob:hs", "media-quota"));
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
    let doc = render(&t, &violation("@bob:hs", "q"));
    assert!(!doc.html().contains("<b>"), "{}", doc.html());
    assert!(!doc.plain().contains('\u{202e}'));
    assert!(!doc.plain().contains("@room"), "{}", doc.plain());
}

proptest! {
    #[test]
    fn parsing_never_panics_and_valid_templates_render(text in "\\PC{0,80}") {
        if let Ok(t) = Template::parse(&text) {
            let doc = render(&t, &violation("@u:hs", "q"));
            prop_assert!(crate::core::doc::is_neutralised(&doc.plain()));
        }
    }
}
