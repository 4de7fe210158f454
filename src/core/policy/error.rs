//! Errors of the policy file: each [`Diagnostic`] names the file, the line
//! and column, the field path and what is wrong, and [`PolicyError`] holds
//! every one of them, so an admin fixes the whole file in one go.
//!
//! Rendered one per line, like compilers and grep do:
//!
//! ```text
//! policies.yaml:12:5: rules.user_media[0].max_media_lenght: unknown key; did you mean `max_media_length`?
//! ```
//!
//! Messages never quote the value of a secret (tokens, passwords).

use std::fmt;

use thiserror::Error;

use super::path::{FieldPath, Position};

/// What is wrong at one place of the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// The text is not YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// The file has nothing in it.
    #[error("the file is empty; see policies.example.yaml for a complete policy")]
    Empty,
    /// A section or list has the wrong shape (serde's message).
    #[error("{0}")]
    Structure(String),
    /// A key the policy language does not have.
    #[error("unknown key{}", suggestion_text(.suggestion))]
    UnknownKey {
        /// The closest valid key, or a hint about where the key belongs.
        suggestion: Option<Suggestion>,
    },
    /// A required key is absent.
    #[error("missing required key `{0}`")]
    Missing(&'static str),
    /// None of several alternative keys is present.
    #[error("missing required key: one of {}", .0.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))]
    MissingOneOf(&'static [&'static str]),
    /// A value of the wrong kind or out of range.
    #[error("{0}")]
    Invalid(String),
}

/// A hint for an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    /// A valid key at the same place, close in spelling.
    Key(String),
    /// The key is valid, but in another section (e.g. `rules.rooms[]`).
    Elsewhere(String),
    /// Free text (e.g. YAML merge keys are not supported).
    Note(String),
}

fn suggestion_text(suggestion: &Option<Suggestion>) -> String {
    match suggestion {
        None => String::new(),
        Some(Suggestion::Key(key)) => format!("; did you mean `{key}`?"),
        Some(Suggestion::Elsewhere(section)) => {
            format!("; this key belongs in `{section}`")
        }
        Some(Suggestion::Note(note)) => format!("; {note}"),
    }
}

/// One error in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name, as given to [`super::parse`].
    pub file: String,
    /// Where; `None` only when no position could be determined.
    pub position: Option<Position>,
    /// The key or list item concerned; the root for file-level problems.
    pub path: FieldPath,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.problem)
    }
}

/// A policy file that cannot be used, with every problem found in it, in
/// the order they appear in the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", render(.0))]
pub struct PolicyError(pub Vec<Diagnostic>);

impl PolicyError {
    /// The problems, in file order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    /// One line per problem, then a count: what `validate` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        let file = self
            .0
            .first()
            .map_or("the policy file", |d| d.file.as_str());
        let n = self.0.len();
        out.push_str(&format!(
            "{file}: {n} error{}\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The key among `candidates` closest in spelling to `key`, when close
/// enough to be a plausible typo.
pub fn closest<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let key_lower = key.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (*c, strsim::damerau_levenshtein(&key_lower, c)))
        .filter(|(c, distance)| {
            let longest = key.chars().count().max(c.chars().count());
            // One edit for short keys, up to a third of the length for long ones.
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(c, distance)| (*distance, *c))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["max_media_length", "max_media_count", "window", "warn_at"];
        assert_eq!(closest("max_media_lenght", &keys), Some("max_media_length"));
        assert_eq!(closest("max_media_cnt", &keys), Some("max_media_count"));
        assert_eq!(closest("windw", &keys), Some("window"));
        assert_eq!(closest("Window", &keys), Some("window"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &keys), None);
    }

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic {
            file: "policies.yaml".into(),
            position: Some(Position {
                line: 12,
                column: 5,
            }),
            path: FieldPath::root()
                .key("rules")
                .key("user_media")
                .index(0)
                .key("max_media_lenght"),
            problem: Problem::UnknownKey {
                suggestion: Some(Suggestion::Key("max_media_length".into())),
            },
        };
        assert_eq!(
            d.to_string(),
            "policies.yaml:12:5: rules.user_media[0].max_media_lenght: unknown key; did you mean `max_media_length`?"
        );
        let root = Diagnostic {
            file: "p.yaml".into(),
            position: None,
            path: FieldPath::root(),
            problem: Problem::Missing("synapse"),
        };
        assert_eq!(root.to_string(), "p.yaml: missing required key `synapse`");
        let all = PolicyError(vec![d, root]);
        assert!(all.report().ends_with("policies.yaml: 2 errors\n"));
    }
}
