//! Where things are in a policy file: [`FieldPath`] names a key or list item
//! (`rules.user_media[2].max_media_length`), [`PositionIndex`] maps each path
//! to the line and column of its key and value in the YAML text.
//!
//! serde forgets positions, so the index is built separately, from the
//! events of a YAML parser that keeps them (`saphyr-parser`). Only the first
//! document is indexed; content reached through an alias (`*name`) has the
//! position of the alias.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScanError, Span};

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list item (0-based).
    Index(usize),
}

/// A path from the root of the file to a key or list item, written as
/// admins read it: `rules.user_media[2].max_media_length`. The root is the
/// empty path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The root of the file.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path, then `key`.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// This path, then list item `index`.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// The steps, from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path one step up; the root's parent is the root.
    pub fn parent(&self) -> FieldPath {
        let mut segments = self.0.clone();
        segments.pop();
        FieldPath(segments)
    }

    /// The last key of the path, if it ends with a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys of the path with list indexes left out, e.g.
    /// `["rules", "user_media"]` for `rules.user_media[3]`: which kind of
    /// mapping a path leads to, whatever the item.
    pub fn shape(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Index(_) => None,
            })
            .collect()
    }
}

impl From<Vec<Segment>> for FieldPath {
    fn from(segments: Vec<Segment>) -> Self {
        FieldPath(segments)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A position in the text: 1-based line and column (columns count
/// characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    /// The first character of the file.
    pub const START: Position = Position { line: 1, column: 1 };

    fn of(span: &Span) -> Position {
        Position {
            line: span.start.line().max(1),
            column: span.start.col() + 1,
        }
    }
}

/// Where one key and its value are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The key's position; `None` for list items and the root.
    key: Option<Position>,
    /// The value's position (for a block mapping or list, its first entry).
    value: Position,
}

/// Positions of every key and value of a YAML document, by [`FieldPath`].
#[derive(Debug, Clone, Default)]
pub struct PositionIndex {
    entries: HashMap<FieldPath, Entry>,
}

/// A YAML syntax error found while indexing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub position: Position,
    /// The parser's explanation.
    pub message: String,
}

impl From<ScanError> for SyntaxError {
    fn from(e: ScanError) -> Self {
        SyntaxError {
            position: Position {
                line: e.marker().line().max(1),
                column: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        }
    }
}

/// A collection being walked while indexing.
enum Frame {
    Mapping {
        path: FieldPath,
        /// The key read, waiting for its value.
        key: Option<(String, Position)>,
    },
    Sequence {
        path: FieldPath,
        next: usize,
    },
    /// Inside a complex (non-scalar) key: nothing is indexed until it ends.
    Skip {
        depth: usize,
    },
}

impl PositionIndex {
    /// Indexes the first document of `text`.
    pub fn build(text: &str) -> Result<PositionIndex, SyntaxError> {
        let mut index = PositionIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next?;
            let pos = Position::of(&span);
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => {
                    index.node(&mut stack, pos, Some(value.as_ref()), false);
                }
                Event::Alias(_) => {
                    index.node(&mut stack, pos, None, false);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    if let Some(Frame::Skip { depth }) = stack.last_mut() {
                        *depth += 1;
                        continue;
                    }
                    match index.node(&mut stack, pos, None, true) {
                        Some(path) if is_map => stack.push(Frame::Mapping { path, key: None }),
                        Some(path) => stack.push(Frame::Sequence { path, next: 0 }),
                        None => stack.push(Frame::Skip { depth: 1 }),
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => match stack.last_mut() {
                    Some(Frame::Skip { depth }) if *depth > 1 => *depth -= 1,
                    Some(Frame::Skip { .. }) => {
                        stack.pop();
                        // The complex key is complete: its value comes next.
                        if let Some(Frame::Mapping { key, .. }) = stack.last_mut() {
                            *key = Some(("?".to_owned(), pos));
                        }
                    }
                    _ => {
                        stack.pop();
                    }
                },
                _ => {}
            }
        }
        Ok(index)
    }

    /// Records a node that starts at `pos`; returns its path when it is a
    /// value (not a key) that may have children.
    fn node(
        &mut self,
        stack: &mut [Frame],
        pos: Position,
        scalar: Option<&str>,
        collection: bool,
    ) -> Option<FieldPath> {
        match stack.last_mut() {
            None => {
                self.entries.insert(
                    FieldPath::root(),
                    Entry {
                        key: None,
                        value: pos,
                    },
                );
                Some(FieldPath::root())
            }
            Some(Frame::Skip { .. }) => None,
            Some(Frame::Sequence { path, next }) => {
                let item = path.index(*next);
                *next += 1;
                self.entries.entry(item.clone()).or_insert(Entry {
                    key: None,
                    value: pos,
                });
                Some(item)
            }
            Some(Frame::Mapping { path, key }) => match key.take() {
                None if collection => None, // a complex key: skipped
                None => {
                    *key = Some((scalar.unwrap_or("*").to_owned(), pos));
                    None
                }
                Some((name, key_pos)) => {
                    let child = path.key(&name);
                    // A duplicate key keeps the first position; serde
                    // reports the duplicate.
                    self.entries.entry(child.clone()).or_insert(Entry {
                        key: Some(key_pos),
                        value: pos,
                    });
                    Some(child)
                }
            },
        }
    }

    /// Where the value at `path` starts, or else where its closest indexed
    /// ancestor's value starts (a missing key is reported at its mapping).
    pub fn value(&self, path: &FieldPath) -> Option<Position> {
        let mut path = path.clone();
        loop {
            if let Some(entry) = self.entries.get(&path) {
                return Some(entry.value);
            }
            if path.is_root() {
                return None;
            }
            path = path.parent();
        }
    }

    /// Where the key of `path` is (its value for a list item), or else its
    /// closest indexed ancestor's value.
    pub fn key(&self, path: &FieldPath) -> Option<Position> {
        match self.entries.get(path) {
            Some(entry) => Some(entry.key.unwrap_or(entry.value)),
            None => self.value(path),
        }
    }

    /// Whether `path` is in the file.
    pub fn contains(&self, path: &FieldPath) -> bool {
        self.entries.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[Segment]) -> FieldPath {
        FieldPath::from(s.to_vec())
    }

    fn pos(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn displays_paths_as_admins_write_them() {
        let path = FieldPath::root()
            .key("rules")
            .key("user_media")
            .index(2)
            .key("max_media_length");
        assert_eq!(path.to_string(), "rules.user_media[2].max_media_length");
        assert_eq!(path.shape(), ["rules", "user_media", "max_media_length"]);
        assert_eq!(path.parent().to_string(), "rules.user_media[2]");
        assert_eq!(FieldPath::root().to_string(), "");
    }

    #[test]
    fn indexes_keys_values_and_items() {
        let text =
            "a:\n  x: 1\n  zz: 'two'\nlist:\n  - x: [1, 2]\n    y: 3\n  - {x: 'q', bad: 1}\n";
        let index = PositionIndex::build(text).unwrap();
        let a = FieldPath::root().key("a");
        assert_eq!(index.key(&a), pos(1, 1));
        assert_eq!(index.value(&a.key("x")), pos(2, 6));
        assert_eq!(index.key(&a.key("zz")), pos(3, 3));
        assert_eq!(index.value(&a.key("zz")), pos(3, 7));
        let list = FieldPath::root().key("list");
        assert_eq!(index.value(&list.index(0)), pos(5, 5));
        assert_eq!(index.value(&list.index(0).key("x").index(1)), pos(5, 12));
        assert_eq!(index.key(&list.index(1).key("bad")), pos(7, 14));
        // Missing: the closest ancestor.
        assert_eq!(index.value(&list.index(1).key("nope")), pos(7, 5));
        assert!(!index.contains(&p(&[Segment::Key("nope".into())])));
    }

    #[test]
    fn survives_complex_keys_aliases_and_several_documents() {
        let text = "base: &b {x: 1}\n? [a, b]\n: 1\nother: *b\nlast: 2\n---\nsecond: 1\n";
        let index = PositionIndex::build(text).unwrap();
        assert_eq!(index.value(&FieldPath::root().key("other")), pos(4, 8));
        assert_eq!(index.key(&FieldPath::root().key("last")), pos(5, 1));
        assert!(!index.contains(&FieldPath::root().key("second")));
    }

    #[test]
    fn reports_syntax_errors_with_their_position() {
        let err = PositionIndex::build("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }
}
