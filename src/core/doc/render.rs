//! The renderers: text (plain and terminal) and HTML. Each part of a line
//! becomes neutralised text ([`super::neutral`]) between style marks; only
//! the renderers write marks (tags, backticks, ANSI bold) and line breaks.

use std::fmt::Write as _;

use html_escape::encode_text;
use unicode_width::UnicodeWidthStr;

use super::format;
use super::neutral::{ID_CAP, NAME_CAP, neutral};
use super::{Align, Block, Doc, Line, Span, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Strong,
    Emphasis,
    Code,
    Command,
}

enum Piece {
    Text(String),
    Open(Style),
    Close(Style),
}

fn pieces(line: &Line, out: &mut Vec<Piece>) {
    let text = |out: &mut Vec<Piece>, s: String| out.push(Piece::Text(s));
    let styled = |out: &mut Vec<Piece>, style: Style, line: &Line| {
        out.push(Piece::Open(style));
        pieces(line, out);
        out.push(Piece::Close(style));
    };
    for span in line.spans() {
        match span {
            Span::Text(words) => text(out, neutral(words, usize::MAX)),
            Span::Outside(s, cap) => text(out, neutral(s, *cap)),
            Span::Strong(l) => styled(out, Style::Strong, l),
            Span::Emphasis(l) => styled(out, Style::Emphasis, l),
            Span::Code(l) => styled(out, Style::Code, l),
            Span::Command(l) => styled(out, Style::Command, l),
            Span::User { id, name } => {
                styled(out, Style::Code, &Line::new().outside(id.as_str(), ID_CAP));
                if let Some(name) = name
                    && !name.trim().is_empty()
                    && name != id
                {
                    text(out, " (".to_owned());
                    text(out, neutral(name, NAME_CAP));
                    text(out, ")".to_owned());
                }
            }
            Span::Room(id) => {
                text(out, "room ".to_owned());
                styled(out, Style::Code, &Line::new().outside(id.as_str(), ID_CAP));
            }
            Span::Size(bytes, units) => text(out, format::size(*bytes, *units)),
            Span::Number(n) => text(out, n.to_string()),
            Span::Count(n, one, many) => text(out, format::count(*n, one, many)),
            Span::Window(d) => text(out, format::window(*d)),
            Span::Age(d) => text(out, format::age(*d)),
            Span::Share(observed, limit) => text(out, format::share(*observed, *limit)),
            Span::Percent(p) => text(out, format::percent(*p)),
            Span::Time(ms) => text(out, format::utc(*ms)),
            Span::Date(ms) => text(out, format::date(*ms)),
        }
    }
}

/// A line as text; `bold` writes ANSI bold for stressed parts.
fn line_text(line: &Line, bold: bool) -> String {
    let mut parts = Vec::new();
    pieces(line, &mut parts);
    let mut out = String::new();
    for p in parts {
        match p {
            Piece::Text(s) => out.push_str(&s),
            Piece::Open(Style::Strong) if bold => out.push_str("\u{1b}[1m"),
            Piece::Close(Style::Strong) if bold => out.push_str("\u{1b}[22m"),
            Piece::Open(Style::Command) | Piece::Close(Style::Command) => out.push('`'),
            Piece::Open(_) | Piece::Close(_) => {}
        }
    }
    out
}

fn line_html(line: &Line) -> String {
    let mut parts = Vec::new();
    pieces(line, &mut parts);
    let mut out = String::new();
    for p in parts {
        match p {
            Piece::Text(s) => out.push_str(&encode_text(&s)),
            Piece::Open(style) => {
                let _ = write!(out, "<{}>", tag(style));
            }
            Piece::Close(style) => {
                let _ = write!(out, "</{}>", tag(style));
            }
        }
    }
    out
}

fn tag(style: Style) -> &'static str {
    match style {
        Style::Strong => "strong",
        Style::Emphasis => "em",
        Style::Code | Style::Command => "code",
    }
}

/// The table's lines, aligned on display width (wide characters count
/// two columns), without trailing spaces.
fn table_lines(table: &Table) -> Vec<String> {
    let header: Vec<String> = table.columns.iter().map(|(t, _)| (*t).to_owned()).collect();
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(|c| line_text(c, false)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|cells| {
            let mut l = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i].saturating_sub(cell.width()));
                if i > 0 {
                    l.push_str("  ");
                }
                match table.columns[i].1 {
                    Align::Left => {
                        l.push_str(cell);
                        l.push_str(&pad);
                    }
                    Align::Right => {
                        l.push_str(&pad);
                        l.push_str(cell);
                    }
                }
            }
            l.trim_end().to_owned()
        })
        .collect()
}

fn number_width(items: usize) -> usize {
    items.to_string().len().max(2)
}

/// Plain text (`bold` false) or terminal text.
pub(super) fn text(doc: &Doc, bold: bool) -> String {
    let mut lines: Vec<String> = Vec::new();
    for block in doc.blocks() {
        match block {
            Block::Heading(l) => lines.push(line_text(&Line::new().strong(l.clone()), bold)),
            Block::Paragraph(l) => lines.push(line_text(l, bold)),
            Block::Bullets(items) => {
                lines.extend(items.iter().map(|l| format!("• {}", line_text(l, bold))));
            }
            Block::Numbered(items) => {
                let w = number_width(items.len());
                lines.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("{:>w$}. {}", i + 1, line_text(l, bold))),
                );
            }
            Block::Table(t) => lines.extend(table_lines(t)),
            Block::Code(code) => {
                lines.extend(code.iter().map(|l| format!("  {}", line_text(l, false))));
            }
        }
    }
    lines.join("\n")
}

/// HTML with the tags of [`super::ALLOWED_TAGS`] only.
pub(super) fn html(doc: &Doc) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let list = |tag: &str, items: &[Line]| {
        let items: Vec<String> = items
            .iter()
            .map(|l| format!("<li>{}</li>", line_html(l)))
            .collect();
        format!("<{tag}>\n{}\n</{tag}>", items.join("\n"))
    };
    let pre =
        |lines: Vec<String>| format!("<pre><code>{}</code></pre>", encode_text(&lines.join("\n")));
    for block in doc.blocks() {
        blocks.push(match block {
            // A blank line in text; nothing in HTML, where paragraphs are
            // apart already.
            Block::Paragraph(l) if l.is_empty() => continue,
            Block::Heading(l) => format!("<p><strong>{}</strong></p>", line_html(l)),
            Block::Paragraph(l) => format!("<p>{}</p>", line_html(l)),
            Block::Bullets(items) => list("ul", items),
            Block::Numbered(items) => list("ol", items),
            Block::Table(t) => pre(table_lines(t)),
            Block::Code(code) => pre(code.iter().map(|l| line_text(l, false)).collect()),
        });
    }
    blocks.join("\n")
}
