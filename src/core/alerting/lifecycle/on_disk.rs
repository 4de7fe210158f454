//! `active` on disk, compact with tens of thousands of alerts: each rule
//! (name, description, window, units) once, then one array per alert,
//! without keys:
//!
//! ```json
//! {"rules": [{"name": "media-quota", "description": "...", "window_secs": null, "units": "binary"}],
//!  "alerts": [[0, "@alice:hs", "Alice", false, "critical", "media_length", 6291456, 5242880,
//!              false, 1764000000000, 1764000000000, "critical", 6291456, false, null]]}
//! ```
//!
//! The fields of an alert are: rule (position in `rules`), subject ID,
//! display name, whether the subject is a room, severity, measure, observed,
//! limit, early warning, since, announced at, announced severity, announced
//! observed, never announced (silenced since first seen), and the
//! acknowledgement (`null` or `{"by": ..., "at_ms": ...}`; both of these
//! may be missing, as in files written before silences). Reading also accepts the list of full records that earlier
//! versions wrote (`[{"violation": {...}, "since_ms": ...}]`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Acknowledged, AlertRecord};
use crate::core::doc::Units;
use crate::core::model::violation::{Measure, Severity, Subject, Violation};

type Active = BTreeMap<crate::core::model::violation::ViolationKey, AlertRecord>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RuleEntry {
    name: Arc<str>,
    description: Option<Arc<str>>,
    window_secs: Option<u64>,
    units: Units,
}

impl RuleEntry {
    fn of(v: &Violation) -> RuleEntry {
        RuleEntry {
            name: v.rule.clone(),
            description: v.description.clone(),
            window_secs: v.window.map(|d| d.as_secs()),
            units: v.units,
        }
    }
}

#[derive(Serialize)]
struct RowRef<'a>(
    usize,
    &'a str,
    Option<&'a str>,
    bool,
    Severity,
    Measure,
    u64,
    u64,
    bool,
    u64,
    u64,
    Severity,
    u64,
    bool,
    Option<&'a Acknowledged>,
);

#[derive(Deserialize)]
struct Row(
    usize,
    String,
    Option<String>,
    bool,
    Severity,
    Measure,
    u64,
    u64,
    bool,
    u64,
    u64,
    Severity,
    u64,
    #[serde(default)] bool,
    #[serde(default)] Option<Acknowledged>,
);

#[derive(Serialize)]
struct CompactRef<'a> {
    rules: &'a [RuleEntry],
    alerts: Rows<'a>,
}

struct Rows<'a> {
    map: &'a Active,
    rules: &'a [RuleEntry],
    index: &'a [usize],
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.map.values().zip(self.index).map(|(r, &rule)| {
            let v = &r.violation;
            let (id, name, room) = match &v.subject {
                Subject::User {
                    user_id,
                    displayname,
                } => (user_id.as_str(), displayname.as_deref(), false),
                Subject::Room { room_id } => (room_id.as_str(), None, true),
            };
            debug_assert_eq!(self.rules[rule], RuleEntry::of(v));
            RowRef(
                rule,
                id,
                name,
                room,
                v.severity,
                v.measure,
                v.observed,
                v.limit,
                v.early_warning,
                r.since_ms,
                r.announced_ms,
                r.announced_severity,
                r.announced_observed,
                r.unannounced,
                r.acknowledged.as_ref(),
            )
        }))
    }
}

pub fn serialize<S: Serializer>(map: &Active, s: S) -> Result<S::Ok, S::Error> {
    let mut rules: Vec<RuleEntry> = Vec::new();
    let index: Vec<usize> = map
        .values()
        .map(|r| {
            let entry = RuleEntry::of(&r.violation);
            match rules.iter().position(|e| *e == entry) {
                Some(i) => i,
                None => {
                    rules.push(entry);
                    rules.len() - 1
                }
            }
        })
        .collect();
    CompactRef {
        rules: &rules,
        alerts: Rows {
            map,
            rules: &rules,
            index: &index,
        },
    }
    .serialize(s)
}

#[derive(Deserialize)]
struct Compact {
    rules: Vec<RuleEntry>,
    alerts: Vec<Row>,
}

impl Compact {
    fn records<E: de::Error>(self) -> Result<Active, E> {
        let rules = self.rules;
        self.alerts
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let Row(
                    rule,
                    id,
                    displayname,
                    room,
                    severity,
                    measure,
                    observed,
                    limit,
                    early_warning,
                    since_ms,
                    announced_ms,
                    announced_severity,
                    announced_observed,
                    unannounced,
                    acknowledged,
                ) = row;
                let entry = rules.get(rule).ok_or_else(|| {
                    E::custom(format!(
                        "alert {i} names rule {rule}, but there are {} rules",
                        rules.len()
                    ))
                })?;
                let violation = Violation {
                    rule: entry.name.clone(),
                    description: entry.description.clone(),
                    severity,
                    subject: if room {
                        Subject::Room { room_id: id }
                    } else {
                        Subject::User {
                            user_id: id,
                            displayname,
                        }
                    },
                    measure,
                    observed,
                    limit,
                    window: entry.window_secs.map(Duration::from_secs),
                    early_warning,
                    units: entry.units,
                };
                let record = AlertRecord {
                    violation,
                    since_ms,
                    announced_ms,
                    announced_severity,
                    announced_observed,
                    unannounced,
                    acknowledged,
                };
                Ok((record.violation.key(), record))
            })
            .collect()
    }
}

struct ActiveVisitor;

impl<'de> Visitor<'de> for ActiveVisitor {
    type Value = Active;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the active alerts: {\"rules\": [...], \"alerts\": [...]}, or a list of records",
        )
    }

    /// The list of full records of earlier versions.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Active, A::Error> {
        let records = Vec::<AlertRecord>::deserialize(SeqAccessDeserializer::new(seq))?;
        // Each record came with its own copy of its rule's name: share one.
        let mut names: Vec<Arc<str>> = Vec::new();
        Ok(records
            .into_iter()
            .map(|mut r| {
                match names.iter().find(|n| **n == r.violation.rule) {
                    Some(name) => r.violation.rule = name.clone(),
                    None => names.push(r.violation.rule.clone()),
                }
                (r.violation.key(), r)
            })
            .collect())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Active, A::Error> {
        Compact::deserialize(MapAccessDeserializer::new(map))?.records()
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Active, D::Error> {
    d.deserialize_any(ActiveVisitor)
}
