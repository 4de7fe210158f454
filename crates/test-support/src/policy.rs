//! Policy files for tests and benchmarks: built from their
//! parts and written by a YAML serializer — which quotes a path, a URL or a
//! user ID as YAML needs — instead of `format!` templates.
//!
//! ```
//! use test_support::policy::{Policy, SecretAt};
//!
//! let yaml = Policy::new("http://127.0.0.1:8008", SecretAt::Env("SYNAPSE_TOKEN".into()))
//!     .set("synapse.timeout", "30s")
//!     .set("schedule.every", "1h")
//!     .rules("user_media:\n  - name: quota\n    max_media_length: 5 MiB\n")
//!     .yaml();
//! assert!(yaml.starts_with("synapse:\n"));
//! ```
//!
//! Sections and keys are written in the order they were first set;
//! `rules` (and any value given as YAML) is written as parsed.

use std::path::{Path, PathBuf};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// Where a policy file says a secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretAt {
    /// `{file: PATH}`.
    File(PathBuf),
    /// `{env: NAME}`.
    Env(String),
}

impl SecretAt {
    fn value(&self) -> Value {
        match self {
            SecretAt::File(path) => serde_json::json!({ "file": path.display().to_string() }),
            SecretAt::Env(name) => serde_json::json!({ "env": name }),
        }
    }
}

/// A mapping that keeps its keys in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
struct Ordered(Vec<(String, Node)>);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Leaf(Value),
    Map(Ordered),
}

impl Ordered {
    fn set(&mut self, path: &[&str], value: Value) {
        let (first, rest) = path.split_first().expect("a key");
        let at = match self.0.iter().position(|(k, _)| k == first) {
            Some(at) => at,
            None => {
                let node = if rest.is_empty() {
                    Node::Leaf(Value::Null)
                } else {
                    Node::Map(Ordered::default())
                };
                self.0.push(((*first).to_owned(), node));
                self.0.len() - 1
            }
        };
        let node = &mut self.0[at].1;
        if rest.is_empty() {
            *node = Node::Leaf(value);
        } else {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Ordered::default());
            }
            if let Node::Map(map) = node {
                map.set(rest, value);
            }
        }
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, node) in &self.0 {
            match node {
                Node::Leaf(value) => map.serialize_entry(key, value)?,
                Node::Map(inner) => map.serialize_entry(key, inner)?,
            }
        }
        map.end()
    }
}

/// A policy file under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy(Ordered);

impl Policy {
    /// A policy for the Synapse at `url`, its admin token where `token`
    /// says (`synapse.url`, `synapse.token`).
    pub fn new(url: impl Into<String>, token: SecretAt) -> Policy {
        Policy(Ordered::default())
            .set("synapse.url", url.into())
            .secret("synapse.token", token)
    }

    /// Sets the key at the dotted `path` (`synapse.timeout`,
    /// `schedule.every`, `alerts.repeat_after`, `matrix.user`...) to
    /// `value`.
    pub fn set(mut self, path: &str, value: impl Serialize) -> Policy {
        let keys: Vec<&str> = path.split('.').collect();
        let value = serde_json::to_value(value).expect("a value serde_json can hold");
        self.0.set(&keys, value);
        self
    }

    /// Sets the key at `path` to a secret's `{file: ...}` or `{env: ...}`.
    pub fn secret(self, path: &str, secret: SecretAt) -> Policy {
        self.set(path, secret.value())
    }

    /// Sets the key at `path` to `yaml`, parsed (a section, a list of
    /// rules...); `yaml` may be indented as a whole.
    pub fn set_yaml(self, path: &str, yaml: &str) -> Policy {
        let value: Value = serde_saphyr::from_str(&dedent(yaml))
            .unwrap_or_else(|e| panic!("the YAML for {path} does not parse: {e}\n{yaml}"));
        self.set(path, value)
    }

    /// The `matrix` section of a bot that logs in with a password, keeps
    /// its session in `data_dir` and posts to `room`.
    pub fn bot(
        self,
        homeserver: &str,
        user: &str,
        password: SecretAt,
        room: &str,
        data_dir: &Path,
        store_passphrase: SecretAt,
    ) -> Policy {
        self.set("matrix.homeserver", homeserver)
            .set("matrix.user", user)
            .secret("matrix.password", password)
            .set("matrix.room", room)
            .set("matrix.data_dir", data_dir)
            .secret("matrix.store_passphrase", store_passphrase)
    }

    /// The `rules` section, given as the YAML under `rules:`.
    pub fn rules(self, yaml: &str) -> Policy {
        self.set_yaml("rules", yaml)
    }

    /// The file's text.
    pub fn yaml(&self) -> String {
        serde_saphyr::to_string(&self.0).expect("a policy serializes")
    }

    /// Writes the file at `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.yaml())
    }
}

/// `text` without the indentation its non-blank lines share.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sections_in_order_and_quotes_what_yaml_needs() {
        let policy = Policy::new(
            "http://127.0.0.1:8008",
            SecretAt::File("/tmp/a dir/#token: x".into()),
        )
        .set("synapse.timeout", "5s")
        .set("schedule.every", "1h")
        .set("matrix.user", "@warden:test")
        .set("matrix.room", "!room:test")
        .set("synapse.page_size", 2)
        .rules("  user_media:\n    - name: quota\n      max_media_length: 4 KiB\n");
        let text = policy.yaml();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .collect();
        assert_eq!(
            keys,
            ["synapse:", "schedule:", "matrix:", "rules:"],
            "{text}"
        );
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            back,
            serde_json::json!({
                "synapse": {
                    "url": "http://127.0.0.1:8008",
                    "token": { "file": "/tmp/a dir/#token: x" },
                    "timeout": "5s",
                    "page_size": 2,
                },
                "schedule": { "every": "1h" },
                "matrix": { "user": "@warden:test", "room": "!room:test" },
                "rules": { "user_media": [{ "name": "quota", "max_media_length": "4 KiB" }] },
            }),
            "{text}"
        );
    }

    #[test]
    fn a_key_set_again_keeps_its_place() {
        let text = Policy::new("http://s", SecretAt::Env("T".into()))
            .set("schedule.every", "1h")
            .set("synapse.timeout", "1s")
            .set("synapse.url", "http://t")
            .yaml();
        assert!(
            text.starts_with("synapse:\n  url: http://t\n  token:\n"),
            "{text}"
        );
    }
}
