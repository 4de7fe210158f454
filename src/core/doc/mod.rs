//! The document model: every message the warden shows — alerts, notices,
//! replies to commands, `check`'s report — is built once from typed parts
//! and rendered by one renderer per medium:
//!
//! - [`Doc::plain`]: the Matrix plain-text body (push notifications,
//!   bridges, terminal clients);
//! - [`Doc::html`]: the Matrix HTML body, with only tags every major client
//!   renders (Element X's allow-list: `p strong em code ul ol li pre`);
//!   never a `<table>`: a wide listing is a `<pre>` block, aligned exactly as
//!   in the plain text;
//! - [`Doc::terminal`]: the command line, optionally with ANSI bold.
//!
//! Safety is by construction. Template words are `&'static str`
//! ([`Line::text`]); anything else enters as a typed part (a user, a room,
//! a size, a window...) or as outside text ([`Line::outside`]), and every
//! piece of text is neutralised by [`neutral`] on its way out: control
//! characters (newlines included), bidi controls and invisible characters
//! become visible escapes (`\n`, `\u{202e}`), `@room` cannot ping, outside
//! text is capped in length, and the HTML renderer escapes everything it
//! did not write itself. No part can start a line, open an element or reach
//! a terminal's escape-sequence parser. See [`neutral`] for the details.
//!
//! Formatting of each kind of value (sizes in the rule's unit family,
//! windows, shares, times, counts with plural agreement) lives in
//! [`format`], once.

pub mod format;
mod neutral;
mod render;

use std::time::Duration;

pub use format::Units;
pub use neutral::{
    DESCRIPTION_CAP, ERROR_CAP, ID_CAP, NAME_CAP, TERM_CAP, is_neutralised, neutral,
};

/// A message for the admin room: the plain-text body and the HTML body
/// (`org.matrix.custom.html`), rendered from one [`Doc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Plain-text body.
    pub plain: String,
    /// HTML body.
    pub html: String,
}

/// A message as a sequence of blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    blocks: Vec<Block>,
}

/// One block of a [`Doc`]; a block never spans lines it did not make.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The message's first line, in bold in HTML.
    Heading(Line),
    /// A line of prose.
    Paragraph(Line),
    /// An unordered list (`• ` in text).
    Bullets(Vec<Line>),
    /// A list numbered from 1 (` 1. ` in text).
    Numbered(Vec<Line>),
    /// Columns, aligned: `<pre>` in HTML.
    Table(Table),
    /// Preformatted lines (error details): `<pre>` in HTML, indented in text.
    Code(Vec<Line>),
}

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header of column titles, then rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<Line>>,
}

impl Table {
    /// A table with these columns and no rows.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones dropped.
    pub fn row(&mut self, mut cells: Vec<Line>) {
        cells.resize(self.columns.len(), Line::new());
        self.rows.push(cells);
    }
}

/// A table too long to hold rendered (`check`'s report of tens of
/// thousands of violations): `rows` makes the rows afresh each time it is
/// called, and [`StreamedTable::text_lines`] calls it twice, once for the
/// column widths and once for the lines, so that only one row is held at a
/// time. Its lines are those of a [`Table`] with the same rows in a
/// [`Doc`]'s text, byte for byte.
pub struct StreamedTable<F> {
    columns: &'static [(&'static str, Align)],
    rows: F,
}

impl<F, I> StreamedTable<F>
where
    F: Fn() -> I,
    I: Iterator<Item = Vec<Line>>,
{
    /// A table with these columns whose rows `rows` makes.
    pub fn new(columns: &'static [(&'static str, Align)], rows: F) -> Self {
        StreamedTable { columns, rows }
    }

    /// The header, then each row, as text aligned on display width, without
    /// trailing spaces or line breaks.
    pub fn text_lines(self) -> impl Iterator<Item = String> {
        render::streamed_table_lines(self.columns, self.rows)
    }
}

/// A line of inline parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line(Vec<Span>);

/// An inline part of a [`Line`].
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    /// Template words, written by this program.
    Text(&'static str),
    /// Text from outside (Synapse, users, the policy file), capped at this
    /// many characters.
    Outside(String, usize),
    /// Stressed: bold in HTML and on a terminal.
    Strong(Line),
    /// Secondary: italic in HTML.
    Emphasis(Line),
    /// A name (rule, ID): monospace in HTML, bare in text.
    Code(Line),
    /// Something to type (`!stats check`): monospace in HTML, in backticks
    /// in text.
    Command(Line),
    /// A user: the ID, then the display name in parentheses when it is
    /// neither empty nor the ID.
    User {
        /// The user ID.
        id: String,
        /// The display name.
        name: Option<String>,
    },
    /// A room ID.
    Room(String),
    /// Bytes, in a unit family.
    Size(u64, Units),
    /// A number.
    Number(u64),
    /// A count with its noun in agreement: `1 user`, `2 users`.
    Count(u64, &'static str, &'static str),
    /// A window or a duration: `7d`, `1h 30m`.
    Window(Duration),
    /// An age, rounded for people.
    Age(Duration),
    /// Observed of limit, in percent, rounded away from the limit.
    Share(u64, u64),
    /// A configured percentage (`warn_at`).
    Percent(f64),
    /// A time (Unix ms) as `2026-11-23 08:07 UTC`.
    Time(u64),
    /// A day (Unix ms) as `2026-11-23`.
    Date(u64),
}

impl Line {
    /// An empty line.
    pub fn new() -> Line {
        Line(Vec::new())
    }

    /// Whether the line has no parts.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a part.
    pub fn push(mut self, span: Span) -> Line {
        self.0.push(span);
        self
    }

    /// Appends the parts of `other`.
    pub fn append(mut self, other: Line) -> Line {
        self.0.extend(other.0);
        self
    }

    /// Template words.
    pub fn text(self, words: &'static str) -> Line {
        self.push(Span::Text(words))
    }

    /// Text from outside, capped at `cap` characters.
    pub fn outside(self, text: impl Into<String>, cap: usize) -> Line {
        self.push(Span::Outside(text.into(), cap))
    }

    /// `line` in bold.
    pub fn strong(self, line: Line) -> Line {
        self.push(Span::Strong(line))
    }

    /// `line` in italics.
    pub fn em(self, line: Line) -> Line {
        self.push(Span::Emphasis(line))
    }

    /// A name from outside (rule, ID), in monospace.
    pub fn code(self, name: impl Into<String>, cap: usize) -> Line {
        self.push(Span::Code(Line::new().outside(name, cap)))
    }

    /// Something to type, in monospace / backticks.
    pub fn command(self, line: Line) -> Line {
        self.push(Span::Command(line))
    }

    /// A user and their display name.
    pub fn user(self, id: impl Into<String>, name: Option<&str>) -> Line {
        self.push(Span::User {
            id: id.into(),
            name: name.map(str::to_owned),
        })
    }

    /// A room ID.
    pub fn room(self, id: impl Into<String>) -> Line {
        self.push(Span::Room(id.into()))
    }

    /// Bytes in a unit family.
    pub fn size(self, bytes: u64, units: Units) -> Line {
        self.push(Span::Size(bytes, units))
    }

    /// A number.
    pub fn number(self, n: u64) -> Line {
        self.push(Span::Number(n))
    }

    /// `n` and its noun, in agreement.
    pub fn count(self, n: u64, one: &'static str, many: &'static str) -> Line {
        self.push(Span::Count(n, one, many))
    }

    /// A window: `7d`, `1h 30m`.
    pub fn window(self, d: Duration) -> Line {
        self.push(Span::Window(d))
    }

    /// An age, rounded.
    pub fn age(self, d: Duration) -> Line {
        self.push(Span::Age(d))
    }

    /// The share of a limit.
    pub fn share(self, observed: u64, limit: u64) -> Line {
        self.push(Span::Share(observed, limit))
    }

    /// A configured percentage.
    pub fn percent(self, p: f64) -> Line {
        self.push(Span::Percent(p))
    }

    /// A UTC time.
    pub fn time(self, ms: u64) -> Line {
        self.push(Span::Time(ms))
    }

    /// A UTC day.
    pub fn date(self, ms: u64) -> Line {
        self.push(Span::Date(ms))
    }

    /// Joins `lines` with the template separator `sep`.
    pub fn join(lines: impl IntoIterator<Item = Line>, sep: &'static str) -> Line {
        let mut out = Line::new();
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                out = out.text(sep);
            }
            out = out.append(line);
        }
        out
    }

    /// Every size of the line, nested ones too, in `units`.
    pub fn set_units(&mut self, units: Units) {
        for span in &mut self.0 {
            match span {
                Span::Size(_, u) => *u = units,
                Span::Strong(l) | Span::Emphasis(l) | Span::Code(l) | Span::Command(l) => {
                    l.set_units(units)
                }
                _ => {}
            }
        }
    }

    pub(crate) fn spans(&self) -> &[Span] {
        &self.0
    }
}

impl Doc {
    /// An empty document.
    pub fn new() -> Doc {
        Doc::default()
    }

    /// A document of one paragraph.
    pub fn paragraph(line: Line) -> Doc {
        Doc::new().with(Block::Paragraph(line))
    }

    /// Appends a block.
    pub fn with(mut self, block: Block) -> Doc {
        self.push(block);
        self
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }

    /// The blocks.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The plain-text rendering (the Matrix `body`).
    pub fn plain(&self) -> String {
        render::text(self, false)
    }

    /// The terminal rendering; `bold` adds ANSI bold to stressed parts.
    pub fn terminal(&self, bold: bool) -> String {
        render::text(self, bold)
    }

    /// The HTML rendering (the Matrix `formatted_body`).
    pub fn html(&self) -> String {
        render::html(self)
    }

    /// The same document with every size in `units`: the policy's one
    /// family (see `policy::Config::units`), so that a size tied to no
    /// rule reads in the units the rules are written in.
    pub fn in_units(mut self, units: Units) -> Doc {
        for block in &mut self.blocks {
            match block {
                Block::Heading(l) | Block::Paragraph(l) => l.set_units(units),
                Block::Bullets(ls) | Block::Numbered(ls) | Block::Code(ls) => {
                    ls.iter_mut().for_each(|l| l.set_units(units))
                }
                Block::Table(t) => t.rows.iter_mut().flatten().for_each(|l| l.set_units(units)),
            }
        }
        self
    }

    /// Both Matrix bodies.
    pub fn message(&self) -> Message {
        Message {
            plain: self.plain(),
            html: self.html(),
        }
    }
}

/// The HTML tags the renderer writes: a subset of what Element X (and every
/// other major client) renders.
pub const ALLOWED_TAGS: &[&str] = &["p", "strong", "em", "code", "ul", "ol", "li", "pre"];

#[cfg(test)]
mod tests;
