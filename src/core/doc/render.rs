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
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(|c| line_text(c, false)).collect())
        .collect();
    let widths = column_widths(&table.columns, rows.iter().map(|r| r.as_slice()));
    std::iter::once(header(&table.columns))
        .chain(rows)
        .map(|cells| table_line(&table.columns, &widths, &cells))
        .collect()
}

/// The column titles as cells.
fn header(columns: &[(&'static str, Align)]) -> Vec<String> {
    columns.iter().map(|(t, _)| (*t).to_owned()).collect()
}

/// The display width of each column: its title's or its widest cell's.
fn column_widths<'a>(
    columns: &[(&'static str, Align)],
    rows: impl Iterator<Item = &'a [String]>,
) -> Vec<usize> {
    let mut widths: Vec<usize> = columns.iter().map(|(t, _)| t.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    widths
}

/// One line of a table: cells padded to `widths`, two spaces apart, without
/// trailing spaces.
fn table_line(columns: &[(&'static str, Align)], widths: &[usize], cells: &[String]) -> String {
    let mut l = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let pad = " ".repeat(widths[i].saturating_sub(cell.width()));
        if i > 0 {
            l.push_str("  ");
        }
        match columns[i].1 {
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
}

/// The cells of a row as text, as many as there are columns.
fn row_cells(columns: &[(&'static str, Align)], row: &[Line]) -> Vec<String> {
    let mut cells: Vec<String> = row.iter().map(|c| line_text(c, false)).collect();
    cells.resize(columns.len(), String::new());
    cells
}

/// The lines of a [`super::StreamedTable`]: the rows are made and rendered
/// once for the widths, then again, one at a time, for the lines.
pub(super) fn streamed_table_lines<F, I>(
    columns: &'static [(&'static str, Align)],
    rows: F,
) -> impl Iterator<Item = String>
where
    F: Fn() -> I,
    I: Iterator<Item = Vec<Line>>,
{
    let mut widths: Vec<usize> = columns.iter().map(|(t, _)| t.width()).collect();
    for row in rows() {
        for (w, cell) in widths.iter_mut().zip(row_cells(columns, &row)) {
            *w = (*w).max(cell.width());
        }
    }
    let head = table_line(columns, &widths, &header(columns));
    let body = rows().map(move |row| table_line(columns, &widths, &row_cells(columns, &row)));
    std::iter::once(head).chain(body)
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
