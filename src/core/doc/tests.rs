//! The renderers on small documents.

use std::time::Duration;

use super::*;

fn sample() -> Doc {
    let mut t = Table::new(&[("NAME", Align::Left), ("SIZE", Align::Right)]);
    t.row(vec![
        Line::new().user("@a:hs", Some("日本")),
        Line::new().size(2048, Units::Binary),
    ]);
    t.row(vec![Line::new().room("!r:hs"), Line::new().number(7)]);
    Doc::paragraph(
        Line::new()
            .strong(Line::new().text("Bold"))
            .text(" and ")
            .em(Line::new().text("soft"))
            .text(" ")
            .command(Line::new().text("!stats help")),
    )
    .with(Block::Bullets(vec![
        Line::new().count(1, "user", "users"),
        Line::new().window(Duration::from_secs(5400)),
    ]))
    .with(Block::Numbered(vec![Line::new().share(6, 5)]))
    .with(Block::Table(t))
    .with(Block::Code(vec![Line::new().outside("a <b>", 99)]))
}

#[test]
fn plain_text() {
    assert_eq!(
        sample().plain(),
        "Bold and soft `!stats help`\n\
         • 1 user\n\
         • 1h 30m\n 1. 120.0%\n\
         NAME             SIZE\n\
         @a:hs (日本)  2.0 KiB\n\
         room !r:hs          7\n  a <b>"
    );
}

#[test]
fn terminal_bold_is_ansi_and_only_there() {
    let t = sample().terminal(true);
    assert!(t.starts_with("\u{1b}[1mBold\u{1b}[22m and soft"), "{t}");
    assert_eq!(t.matches('\u{1b}').count(), 2);
}

#[test]
fn html_uses_lists_and_pre_never_tables() {
    assert_eq!(
        sample().html(),
        "<p><strong>Bold</strong> and <em>soft</em> <code>!stats help</code></p>\n\
         <ul>\n<li>1 user</li>\n<li>1h 30m</li>\n</ul>\n\
         <ol>\n<li>120.0%</li>\n</ol>\n\
         <pre><code>NAME             SIZE\n@a:hs (日本)  2.0 KiB\nroom !r:hs          7</code></pre>\n\
         <pre><code>a &lt;b&gt;</code></pre>"
    );
}

#[test]
fn users_without_a_name_or_named_as_their_id() {
    for name in [None, Some(""), Some("  "), Some("@a:hs")] {
        assert_eq!(
            Doc::paragraph(Line::new().user("@a:hs", name)).plain(),
            "@a:hs"
        );
    }
    let long = "x".repeat(100);
    let plain = Doc::paragraph(Line::new().user("@a:hs", Some(&long))).plain();
    assert_eq!(plain, format!("@a:hs ({}…)", "x".repeat(63)));
}

proptest::proptest! {
    /// Whatever families a document's sizes were built in, nested or not,
    /// in a table or a list, `in_units` leaves one family in every
    /// rendering.
    #[test]
    fn in_units_leaves_one_family(sizes in proptest::collection::vec((1024u64..u64::MAX / 2, proptest::bool::ANY), 1..6)) {
        let units = |b: bool| if b { Units::Binary } else { Units::Decimal };
        let mut table = Table::new(&[("size", Align::Right)]);
        let mut doc = Doc::new();
        for (bytes, binary) in &sizes {
            let line = Line::new().size(*bytes, units(*binary));
            table.row(vec![line.clone()]);
            doc.push(Block::Paragraph(Line::new().strong(line.clone())));
            doc.push(Block::Bullets(vec![line]));
        }
        let doc = doc.with(Block::Table(table)).in_units(Units::Decimal);
        for out in [doc.plain(), doc.html(), doc.terminal(true)] {
            proptest::prop_assert!(!out.contains("iB"), "{}", out);
            proptest::prop_assert!(out.contains("B"), "{}", out);
        }
    }
}
