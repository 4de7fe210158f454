//! The policy file read once: `serde-saphyr` parses the text into a tree of
//! [`Node`]s that keep the line and column of every key and value, and the
//! typed [`raw`](super::raw) sections are then read from that tree by
//! [`NodeDeserializer`], which knows the [`FieldPath`] and position of every
//! node it hands to serde. So values, positions, unknown keys and shape errors
//! all come from one parse, and no error text is ever read back for a
//! position.
//!
//! YAML 1.2 core schema, decided on purpose for a policy file:
//!
//! - only `true` / `false` are booleans: `yes`, `no`, `on`, `off` stay text
//!   (YAML 1.1 made them booleans), and a key that wants a boolean says so;
//! - `0777` stays the text `0777` (YAML 1.1 read it as octal 511, YAML 1.2 as
//!   777); counts and sizes refuse leading zeros rather than guess;
//! - `1e3` is the decimal number 1000.0, refused where a whole number is
//!   expected;
//! - YAML merge keys (`<<`) are ordinary keys, reported as unsupported;
//! - a duplicate key is an error at the second occurrence.

use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess};
use serde::de::{Unexpected, Visitor};
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use super::path::{FieldPath, Position, PositionIndex};

/// A number as YAML 1.2 reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A whole number of at least 0.
    Unsigned(u64),
    /// A negative whole number.
    Signed(i64),
    /// A decimal number (`1.5`, `1e3`).
    Float(f64),
}

impl Number {
    /// The number as a `u64`, when it is a whole number of at least 0.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::Unsigned(n) => Some(n),
            Number::Signed(n) => u64::try_from(n).ok(),
            Number::Float(_) => None,
        }
    }

    /// The number as an `i64`, when it is a whole number that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::Unsigned(n) => i64::try_from(n).ok(),
            Number::Signed(n) => Some(n),
            Number::Float(_) => None,
        }
    }

    /// The number as an `f64`.
    pub fn as_f64(&self) -> f64 {
        match *self {
            Number::Unsigned(n) => n as f64,
            Number::Signed(n) => n as f64,
            Number::Float(f) => f,
        }
    }

    /// Whether it is a decimal number.
    pub fn is_f64(&self) -> bool {
        matches!(self, Number::Float(_))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Unsigned(n) => write!(f, "{n}"),
            Number::Signed(n) => write!(f, "{n}"),
            // `1e3` shows as `1000.0`: a decimal number, as YAML 1.2 reads it.
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// A YAML value without positions: what the readers of single values
/// ([`super::values`]) take.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// Text.
    String(String),
    /// A list.
    Sequence(Vec<Value>),
    /// A mapping, its entries in file order.
    Mapping(Vec<(Value, Value)>),
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it holds.
    pub tree: Tree,
    /// Where it starts (for a block mapping or list, its first entry).
    pub at: Position,
}

/// A node's content; collections hold nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    /// A scalar.
    Scalar(Value),
    /// A list.
    Sequence(Vec<Node>),
    /// A mapping, its entries in file order (duplicates included).
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// The value, without positions.
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        match &self.tree {
            Tree::Scalar(v) => v.clone(),
            Tree::Sequence(items) => Value::Sequence(items.iter().map(Node::to_value).collect()),
            Tree::Mapping(entries) => Value::Mapping(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The key as written in a [`FieldPath`]: scalars as text, anything
    /// else (a complex key) as `?`.
    pub fn key_text(&self) -> String {
        match &self.tree {
            Tree::Scalar(Value::String(s)) => s.clone(),
            Tree::Scalar(Value::Number(n)) => n.to_string(),
            Tree::Scalar(Value::Bool(b)) => b.to_string(),
            Tree::Scalar(Value::Null) => "~".to_owned(),
            _ => "?".to_owned(),
        }
    }
}

/// A YAML syntax error: where the parser stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where; `None` when the parser could not tell.
    pub position: Option<Position>,
    /// The parser's explanation, on one line.
    pub message: String,
}

/// The parser's settings: YAML 1.2 core schema (see the module's notes).
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.legacy_octal_numbers = false;
    options.leading_zero_numbers_as_strings = true;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::AsOrdinary;
    // Duplicates reach the typed sections, which report the second one.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options
}

/// Parses the single document of `text`.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    serde_saphyr::from_str_with_options::<Node>(text, options()).map_err(|e| {
        let position = e.location().filter(|l| l.line() > 0).map(|l| Position {
            line: l.line() as usize,
            column: (l.column() as usize).max(1),
        });
        // The message without its snippet nor location suffix, on one line
        // (it may quote the file).
        let message = DefaultMessageFormatter
            .format_message(&e)
            .chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_debug().to_string(),
                c => c.to_string(),
            })
            .collect();
        SyntaxError { position, message }
    })
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Tree>::deserialize(d)?;
        Ok(Node {
            tree: spanned.value,
            at: Position {
                line: (spanned.referenced.line() as usize).max(1),
                column: (spanned.referenced.column() as usize).max(1),
            },
        })
    }
}

/// What each YAML scalar, list and mapping becomes as a [`Value`].
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(match u64::try_from(n) {
            Ok(u) => Number::Unsigned(u),
            Err(_) => Number::Signed(n),
        }))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::Unsigned(n)))
    }
    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Value, E> {
        match (u64::try_from(n), i64::try_from(n)) {
            (Ok(u), _) => self.visit_u64(u),
            (_, Ok(i)) => self.visit_i64(i),
            _ => Ok(Value::Number(Number::Float(n as f64))),
        }
    }
    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Value, E> {
        match u64::try_from(n) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Ok(Value::Number(Number::Float(n as f64))),
        }
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Number(Number::Float(x)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::String(String::from_utf8_lossy(b).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Value, Value>()? {
            entries.push(entry);
        }
        Ok(Value::Mapping(entries))
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Scalars as [`ValueVisitor`] reads them; collections of [`Node`]s.
        struct TreeVisitor;
        impl<'de> Visitor<'de> for TreeVisitor {
            type Value = Tree;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
                Tree::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Tree, E> {
                ValueVisitor.visit_bool(b).map(Tree::Scalar)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Tree, E> {
                ValueVisitor.visit_i64(n).map(Tree::Scalar)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Tree, E> {
                ValueVisitor.visit_u64(n).map(Tree::Scalar)
            }
            fn visit_i128<E: de::Error>(self, n: i128) -> Result<Tree, E> {
                ValueVisitor.visit_i128(n).map(Tree::Scalar)
            }
            fn visit_u128<E: de::Error>(self, n: u128) -> Result<Tree, E> {
                ValueVisitor.visit_u128(n).map(Tree::Scalar)
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Tree, E> {
                ValueVisitor.visit_f64(x).map(Tree::Scalar)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Tree, E> {
                ValueVisitor.visit_str(s).map(Tree::Scalar)
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Tree, E> {
                ValueVisitor.visit_string(s).map(Tree::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Tree, E> {
                ValueVisitor.visit_bytes(b).map(Tree::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Tree::Sequence(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Node, Node>()? {
                    entries.push(entry);
                }
                Ok(Tree::Mapping(entries))
            }
        }
        d.deserialize_any(TreeVisitor)
    }
}

// ---- reading the typed sections from the tree -------------------------------

/// What went wrong while reading a section from the tree: a node of the
/// wrong kind, or a duplicate key. Located at the node (or key) concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// The key or list item concerned, once known.
    pub path: Option<FieldPath>,
    /// Where, once known.
    pub position: Option<Position>,
    /// What, in the words of the policy language.
    pub message: String,
}

impl ShapeError {
    fn at(mut self, path: &FieldPath, position: Position) -> Self {
        if self.path.is_none() {
            self.path = Some(path.clone());
            self.position = Some(position);
        }
        self
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ShapeError {}

/// What a node is, in the words of the policy language.
fn found(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "true/false",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "a number",
        Unexpected::Float(_) => "a decimal number",
        Unexpected::Char(_) | Unexpected::Str(_) => "text",
        Unexpected::Unit | Unexpected::Option => "nothing",
        Unexpected::Seq => "a list",
        Unexpected::Map => "a mapping",
        _ => "something else",
    }
}

impl de::Error for ShapeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ShapeError {
            path: None,
            position: None,
            message: msg.to_string(),
        }
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        // serde's names of what was expected: `struct RawSynapse` (a
        // section or rule), `a sequence` (a rule list).
        let expected = expected.to_string();
        let expected = if expected.starts_with("struct ") || expected == "a map" {
            "a mapping".to_owned()
        } else if expected == "a sequence" {
            "a list".to_owned()
        } else {
            expected
        };
        Self::custom(format_args!(
            "expected {expected}, found {}",
            found(&unexpected)
        ))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::custom(format_args!(
            "duplicate key `{field}`: each key may appear once in a mapping"
        ))
    }
}

/// Reads a typed value from a [`Node`], tracking the path of every node and
/// recording the keys serde ignores (unknown keys).
#[derive(Clone, Copy)]
pub struct NodeDeserializer<'a> {
    node: &'a Node,
    path: &'a FieldPath,
    ignored: &'a RefCell<Vec<FieldPath>>,
}

impl<'a> NodeDeserializer<'a> {
    /// Reads `node`, found at `path`; unknown keys are pushed to `ignored`.
    pub fn new(node: &'a Node, path: &'a FieldPath, ignored: &'a RefCell<Vec<FieldPath>>) -> Self {
        NodeDeserializer {
            node,
            path,
            ignored,
        }
    }
}

/// A mapping key: always text, so that `0:` is never taken for a struct's
/// first field by its index.
struct KeyDeserializer<'a>(&'a Node);

impl<'de> IntoDeserializer<'de, ShapeError> for KeyDeserializer<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for KeyDeserializer<'_> {
    type Error = ShapeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        match &self.0.tree {
            Tree::Scalar(_) => visitor.visit_string(self.0.key_text()),
            Tree::Sequence(_) => Err(de::Error::invalid_type(Unexpected::Seq, &visitor)),
            Tree::Mapping(_) => Err(de::Error::invalid_type(Unexpected::Map, &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Seq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    path: &'a FieldPath,
    ignored: &'a RefCell<Vec<FieldPath>>,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = ShapeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ShapeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(i);
        seed.deserialize(NodeDeserializer::new(node, &path, self.ignored))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    /// The entry whose key was read last: its value comes next.
    current: Option<&'a (Node, Node)>,
    path: &'a FieldPath,
    ignored: &'a RefCell<Vec<FieldPath>>,
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = ShapeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ShapeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        let key = &entry.0;
        seed.deserialize(KeyDeserializer(key))
            .map(Some)
            .map_err(|e| e.at(&self.path.key(&key.key_text()), key.at))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ShapeError> {
        let (key, value) = self
            .current
            .ok_or_else(|| <ShapeError as de::Error>::custom("a value without a key"))?;
        let path = self.path.key(&key.key_text());
        seed.deserialize(NodeDeserializer::new(value, &path, self.ignored))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

impl<'de> Deserializer<'de> for NodeDeserializer<'_> {
    type Error = ShapeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        let result = match &self.node.tree {
            Tree::Scalar(Value::Null) => visitor.visit_unit(),
            Tree::Scalar(Value::Bool(b)) => visitor.visit_bool(*b),
            Tree::Scalar(Value::Number(Number::Unsigned(n))) => visitor.visit_u64(*n),
            Tree::Scalar(Value::Number(Number::Signed(n))) => visitor.visit_i64(*n),
            Tree::Scalar(Value::Number(Number::Float(x))) => visitor.visit_f64(*x),
            Tree::Scalar(Value::String(s)) => visitor.visit_str(s),
            Tree::Scalar(other @ (Value::Sequence(_) | Value::Mapping(_))) => {
                // Only built by `to_value`, never parsed into a scalar.
                Err(<ShapeError as de::Error>::custom(format_args!(
                    "unexpected value {other:?}"
                )))
            }
            Tree::Sequence(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                path: self.path,
                ignored: self.ignored,
            }),
            Tree::Mapping(entries) => {
                let mut map = Map {
                    entries: entries.iter(),
                    current: None,
                    path: self.path,
                    ignored: self.ignored,
                };
                visitor.visit_map(&mut map).map_err(|e| match map.current {
                    // A duplicate key: at the key.
                    Some((key, _)) => e.at(&self.path.key(&key.key_text()), key.at),
                    None => e,
                })
            }
        };
        result.map_err(|e| e.at(self.path, self.node.at))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        match &self.node.tree {
            Tree::Scalar(Value::Null) => visitor.visit_none(),
            _ => visitor
                .visit_some(self)
                .map_err(|e| e.at(self.path, self.node.at)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        // serde skips the value of a key its struct does not have.
        self.ignored.borrow_mut().push(self.path.clone());
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// Reads `T` from the whole tree: the value, and the paths of the keys `T`
/// does not have.
pub fn read<T: de::DeserializeOwned>(root: &Node) -> (Result<T, ShapeError>, Vec<FieldPath>) {
    let ignored = RefCell::new(Vec::new());
    let path = FieldPath::root();
    let result = T::deserialize(NodeDeserializer::new(root, &path, &ignored));
    (result, ignored.into_inner())
}

/// Indexes the parsed document `root`: where each key and value is, by
/// [`FieldPath`].
pub fn index(root: &Node) -> PositionIndex {
    let mut index = PositionIndex::default();
    index.insert(FieldPath::root(), None, root.at);
    walk(&mut index, &FieldPath::root(), root);
    index
}

fn walk(index: &mut PositionIndex, path: &FieldPath, node: &Node) {
    match &node.tree {
        Tree::Scalar(_) => {}
        Tree::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let child = path.index(i);
                index.insert(child.clone(), None, item.at);
                walk(index, &child, item);
            }
        }
        Tree::Mapping(entries) => {
            for (key, value) in entries {
                let child = path.key(&key.key_text());
                if index.insert(child.clone(), Some(key.at), value.at) {
                    walk(index, &child, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::path::Segment;

    fn pos(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let root = parse("a:\n  x: 1\n  zz: 'two'\nlist:\n  - [1, 2]\n").unwrap();
        let Tree::Mapping(entries) = &root.tree else {
            panic!("{root:?}")
        };
        assert_eq!(root.at, pos(1, 1));
        let (a, a_value) = &entries[0];
        assert_eq!(a.at, pos(1, 1));
        assert_eq!(a_value.at, pos(2, 3));
        let Tree::Mapping(inner) = &a_value.tree else {
            panic!()
        };
        assert_eq!(inner[1].0.at, pos(3, 3));
        assert_eq!(inner[1].1.at, pos(3, 7));
        assert_eq!(inner[1].1.to_value(), Value::String("two".into()));
        let Tree::Sequence(items) = &entries[1].1.tree else {
            panic!()
        };
        assert_eq!(items[0].at, pos(5, 5));
    }

    #[test]
    fn reads_yaml_1_2_core_scalars() {
        let root = parse("[no, on, yes, off, 0777, 1e3, 0o17, 0x1F, true, ~, -4, 1.5]").unwrap();
        let text = |s: &str| Value::String(s.into());
        assert_eq!(
            root.to_value(),
            Value::Sequence(vec![
                text("no"),
                text("on"),
                text("yes"),
                text("off"),
                text("0777"),
                Value::Number(Number::Float(1000.0)),
                Value::Number(Number::Unsigned(15)),
                Value::Number(Number::Unsigned(31)),
                Value::Bool(true),
                Value::Null,
                Value::Number(Number::Signed(-4)),
                Value::Number(Number::Float(1.5)),
            ])
        );
    }

    #[test]
    fn syntax_errors_have_a_position_and_one_line() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.position.is_some_and(|p| p.line >= 1), "{e:?}");
        assert!(!e.message.is_empty() && !e.message.contains('\n'), "{e:?}");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.position.map(|p| p.line), Some(3), "{e:?}");
    }

    fn p(s: &[Segment]) -> FieldPath {
        FieldPath::from(s.to_vec())
    }

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    fn index(text: &str) -> PositionIndex {
        super::index(&parse(text).unwrap())
    }

    #[test]
    fn indexes_keys_values_and_items() {
        let text =
            "a:\n  x: 1\n  zz: 'two'\nlist:\n  - x: [1, 2]\n    y: 3\n  - {x: 'q', bad: 1}\n";
        let index = index(text);
        let a = FieldPath::root().key("a");
        assert_eq!(index.key(&a), at(1, 1));
        assert_eq!(index.value(&a.key("x")), at(2, 6));
        assert_eq!(index.key(&a.key("zz")), at(3, 3));
        assert_eq!(index.value(&a.key("zz")), at(3, 7));
        let list = FieldPath::root().key("list");
        assert_eq!(index.value(&list.index(0)), at(5, 5));
        assert_eq!(index.value(&list.index(0).key("x").index(1)), at(5, 12));
        assert_eq!(index.key(&list.index(1).key("bad")), at(7, 14));
        // Missing: the closest ancestor.
        assert_eq!(index.value(&list.index(1).key("nope")), at(7, 5));
        assert!(!index.contains(&p(&[Segment::Key("nope".into())])));
    }

    #[test]
    fn survives_complex_keys_aliases_and_duplicates() {
        let text = "base: &b {x: 1}\n? [a, b]\n: 1\nother: *b\nlast: 2\nlast: 3\n";
        let index = index(text);
        assert_eq!(index.value(&FieldPath::root().key("other")), at(4, 8));
        assert_eq!(index.key(&FieldPath::root().key("last")), at(5, 1));
        assert_eq!(index.value(&FieldPath::root().key("?")), at(3, 3));
    }
}
