//! Where things are in a policy file: [`FieldPath`] names a key or list item
//! (`rules.user_media[2].max_media_length`), [`PositionIndex`] maps each path
//! to the line and column of its key and value in the YAML text.
//!
//! The index is built by the YAML reader (`yaml::index`) from the tree the
//! file was parsed into once, which keeps every node's position; content
//! reached through an alias (`*name`) has the position of the alias.

use std::collections::HashMap;
use std::fmt;

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
    /// Records where the key and value at `path` are, unless `path` is
    /// already indexed (a duplicate key keeps the first position; the
    /// validation reports the duplicate). Whether it was recorded.
    pub fn insert(&mut self, path: FieldPath, key: Option<Position>, value: Position) -> bool {
        if self.entries.contains_key(&path) {
            return false;
        }
        self.entries.insert(path, Entry { key, value });
        true
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
}
