//! Where things are in a policy file: [`FieldPath`] names a key or list item
//! (`rules.user_media[2].max_media_length`), [`PositionIndex`] maps each path
//! to the line and column of its key and value in the YAML text.
//!
//! The index is built from the tree of [`Node`]s the file was parsed into
//! once (see [`super::yaml`]), which keeps every node's position; content
//! reached through an alias (`*name`) has the position of the alias.

use std::collections::HashMap;
use std::fmt;

use super::yaml::{Node, Tree};

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

impl PositionIndex {
    /// Indexes the parsed document `root`.
    pub fn build(root: &Node) -> PositionIndex {
        let mut index = PositionIndex::default();
        index.entries.insert(
            FieldPath::root(),
            Entry {
                key: None,
                value: root.at,
            },
        );
        index.walk(&FieldPath::root(), root);
        index
    }

    fn walk(&mut self, path: &FieldPath, node: &Node) {
        match &node.tree {
            Tree::Scalar(_) => {}
            Tree::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = path.index(i);
                    self.entries.entry(child.clone()).or_insert(Entry {
                        key: None,
                        value: item.at,
                    });
                    self.walk(&child, item);
                }
            }
            Tree::Mapping(entries) => {
                for (key, value) in entries {
                    let child = path.key(&key.key_text());
                    // A duplicate key keeps the first position; the
                    // validation reports the duplicate.
                    if self.entries.contains_key(&child) {
                        continue;
                    }
                    self.entries.insert(
                        child.clone(),
                        Entry {
                            key: Some(key.at),
                            value: value.at,
                        },
                    );
                    self.walk(&child, value);
                }
            }
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

    fn index(text: &str) -> PositionIndex {
        PositionIndex::build(&super::super::yaml::parse(text).unwrap())
    }

    #[test]
    fn indexes_keys_values_and_items() {
        let text =
            "a:\n  x: 1\n  zz: 'two'\nlist:\n  - x: [1, 2]\n    y: 3\n  - {x: 'q', bad: 1}\n";
        let index = index(text);
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
    fn survives_complex_keys_aliases_and_duplicates() {
        let text = "base: &b {x: 1}\n? [a, b]\n: 1\nother: *b\nlast: 2\nlast: 3\n";
        let index = index(text);
        assert_eq!(index.value(&FieldPath::root().key("other")), pos(4, 8));
        assert_eq!(index.key(&FieldPath::root().key("last")), pos(5, 1));
        assert_eq!(index.value(&FieldPath::root().key("?")), pos(3, 3));
    }
}
