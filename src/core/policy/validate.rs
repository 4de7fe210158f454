//! The validation pass: from the [`raw`](super::raw) file to a [`Config`],
//! collecting every problem with its position.

mod rules;
mod sections;

use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;

use super::error::{Diagnostic, PolicyError, Problem, Suggestion, closest};
use super::path::{FieldPath, Position, PositionIndex};
use super::raw::{
    self, RawActions, RawAlerts, RawHttp, RawMatrix, RawRoomRule, RawRoot, RawRules, RawSchedule,
    RawSynapse, RawUserRule,
};
use super::values;
use super::yaml::{self, Value};
use super::{
    ActionSettings, AlertSettings, CommandAccess, Config, DEFAULT_TIMEOUT, HttpSettings,
    MatrixSettings, Patterns, Percent, RoomRule, Rules, Schedule, SecretSource, SynapseSettings,
    Trigger, UserMediaRule, UserSelector,
};
use crate::core::model::violation::Severity;

#[path = "overrides_check.rs"]
mod overrides_check;

/// See [`super::parse`].
pub fn parse(file: &str, text: &str) -> Result<Config, PolicyError> {
    let mut checker = Checker {
        file: file.to_owned(),
        index: PositionIndex::default(),
        diagnostics: Vec::new(),
        suggested: HashSet::new(),
    };
    if !text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#') && l != "---" && l != "..."
    }) {
        checker.push(Some(Position::START), FieldPath::root(), Problem::Empty);
        return Err(checker.into_error());
    }
    // One parse: the tree keeps every position; the typed sections are read
    // from it.
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(syntax) => {
            checker.push(
                syntax.position,
                FieldPath::root(),
                Problem::Syntax(syntax.message),
            );
            return Err(checker.into_error());
        }
    };
    checker.index = yaml::index(&root);
    let (raw, unknown) = yaml::read::<RawRoot>(&root);
    for path in unknown {
        checker.unknown_key(path);
    }
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            checker.push(
                e.position,
                e.path.unwrap_or_default(),
                Problem::Structure(e.message),
            );
            return Err(checker.into_error());
        }
    };

    let config = checker.config(raw);
    match config {
        Some(config) if checker.diagnostics.is_empty() => Ok(config),
        _ => {
            if checker.diagnostics.is_empty() {
                // Every path that yields `None` records why; this is a bug.
                checker.push(
                    None,
                    FieldPath::root(),
                    Problem::Invalid("the file could not be read (internal error)".into()),
                );
            }
            Err(checker.into_error())
        }
    }
}

struct Checker {
    file: String,
    index: PositionIndex,
    diagnostics: Vec<Diagnostic>,
    /// Keys an unknown key was taken for (`max_media_lenght` suggests
    /// `...max_media_length`): not reported missing again.
    suggested: HashSet<FieldPath>,
}

impl Checker {
    fn into_error(mut self) -> PolicyError {
        // File order; problems without a position last.
        self.diagnostics.sort_by(|a, b| {
            (a.position.is_none(), a.position, &a.path).cmp(&(
                b.position.is_none(),
                b.position,
                &b.path,
            ))
        });
        self.diagnostics.dedup();
        PolicyError(self.diagnostics)
    }

    fn push(&mut self, position: Option<Position>, path: FieldPath, problem: Problem) {
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            position,
            path,
            problem,
        });
    }

    /// A problem with the value at `path`.
    fn invalid(&mut self, path: &FieldPath, message: impl Into<String>) {
        let position = self.index.value(path);
        self.push(position, path.clone(), Problem::Invalid(message.into()));
    }

    /// A required key missing from the mapping at `parent`.
    fn missing(&mut self, parent: &FieldPath, key: &'static str) {
        if self.suggested.contains(&parent.key(key)) {
            return;
        }
        let position = self.index.value(parent).or(Some(Position::START));
        self.push(position, parent.clone(), Problem::Missing(key));
    }

    /// None of several alternative keys is in the mapping at `parent`.
    fn missing_one_of(&mut self, parent: &FieldPath, keys: &'static [&'static str]) {
        if keys.iter().any(|k| self.suggested.contains(&parent.key(k))) {
            return;
        }
        let position = self.index.value(parent).or(Some(Position::START));
        self.push(position, parent.clone(), Problem::MissingOneOf(keys));
    }

    fn unknown_key(&mut self, path: FieldPath) {
        let key = path.last_key().unwrap_or("").to_owned();
        let parent = path.parent();
        let shape = parent.shape();
        let here = raw::SECTIONS
            .iter()
            .find(|(s, _)| *s == shape.as_slice())
            .map_or(&[][..], |(_, keys)| *keys);
        let renamed = raw::RENAMED
            .iter()
            .find(|(s, old, _)| *s == shape.as_slice() && *old == key);
        let suggestion = if let Some((_, _, instead)) = renamed {
            Some(Suggestion::Note((*instead).to_owned()))
        } else if key == "<<" {
            Some(Suggestion::Note(
                "YAML merge keys are not supported; repeat the keys instead".into(),
            ))
        } else if let Some(close) = closest(&key, here) {
            self.suggested.insert(parent.key(close));
            Some(Suggestion::Key(close.to_owned()))
        } else {
            raw::SECTIONS
                .iter()
                .find(|(_, keys)| keys.contains(&key.as_str()))
                .map(|(s, _)| Suggestion::Elsewhere(raw::section_name(s)))
        };
        let position = self.index.key(&path);
        self.push(position, path, Problem::UnknownKey { suggestion });
    }

    /// Reads an optional value; `None` when absent or invalid (recorded).
    fn optional<T>(
        &mut self,
        path: &FieldPath,
        value: Option<&Value>,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match read(value?) {
            Ok(v) => Some(v),
            Err(message) => {
                self.invalid(path, message);
                None
            }
        }
    }

    /// Reads an optional value with a default. `Err(())` when invalid.
    fn or_default<T>(
        &mut self,
        path: &FieldPath,
        value: Option<&Value>,
        default: T,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, ()> {
        match value {
            None => Ok(default),
            Some(v) => self.optional(path, Some(v), read).ok_or(()),
        }
    }

    /// Reads a required value; `None` when absent or invalid (recorded).
    fn required<T>(
        &mut self,
        parent: &FieldPath,
        key: &'static str,
        value: Option<&Value>,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match value {
            None => {
                self.missing(parent, key);
                None
            }
            Some(v) => self.optional(&parent.key(key), Some(v), read),
        }
    }

    fn config(&mut self, raw: RawRoot) -> Option<Config> {
        let root = FieldPath::root();
        let synapse = match &raw.synapse {
            Some(s) => self.synapse(&root.key("synapse"), s),
            None => {
                self.missing(&root, "synapse");
                None
            }
        };
        let schedule = match &raw.schedule {
            Some(s) => self.schedule(&root.key("schedule"), s),
            None => Some(Schedule::default()),
        };
        let alerts = match &raw.alerts {
            Some(a) => self.alerts(&root.key("alerts"), a),
            None => Some(AlertSettings::default()),
        };
        let matrix = match &raw.matrix {
            Some(m) => self.matrix(&root.key("matrix"), m).map(Some),
            None => Some(None),
        };
        let http = match &raw.http {
            Some(h) => self.http(&root.key("http"), h),
            None => Some(HttpSettings::default()),
        };
        let mut rules = match &raw.rules {
            Some(r) => self.rules(&root.key("rules"), r),
            None => {
                self.missing(&root, "rules");
                None
            }
        };
        let actions = match &raw.actions {
            Some(a) => self.actions(&root.key("actions"), a),
            None => Some(ActionSettings::default()),
        };
        let history = match &raw.history {
            Some(h) => self.history(&root.key("history"), h),
            None => Some(crate::core::policy::history::HistorySettings::default()),
        };
        let digest = match &raw.digest {
            Some(d) => self.digest(&root.key("digest"), d).map(Some),
            None => Some(None),
        };
        if let Some(list) = &raw.overrides {
            let overrides = self.overrides(&root.key("overrides"), list, rules.as_ref());
            match (&mut rules, overrides) {
                (Some(rules), Some(overrides)) => rules.overrides = overrides,
                _ => rules = None,
            }
        }
        let explicit = match raw.display.as_ref().and_then(|d| d.units.as_ref()) {
            Some(v) => {
                Some(self.optional(&root.key("display").key("units"), Some(v), values::units)?)
            }
            None => None,
        };
        let (units, units_mixed) = match explicit {
            Some(u) => (u, false),
            None => crate::core::doc::Units::of_policy(written_sizes(&raw)),
        };
        let mut rules = rules?;
        let mut history = history?;
        if !units_mixed {
            for r in &mut rules.user_media {
                r.units = units;
            }
            for r in &mut rules.rooms {
                r.units = units;
            }
            if let Some((_, u)) = &mut history.capacity {
                *u = units;
            }
        }
        Some(Config {
            units,
            units_mixed,
            actions: actions?,
            history,
            digest: digest?,
            synapse: synapse?,
            schedule: schedule?,
            alerts: alerts?,
            matrix: matrix?,
            http: http?,
            rules,
        })
    }

    fn http(&mut self, path: &FieldPath, raw: &RawHttp) -> Option<HttpSettings> {
        let listen = self.or_default(
            &path.key("listen"),
            raw.listen.as_ref(),
            HttpSettings::default().listen,
            values::socket_address,
        );
        let module_secret = match &raw.module_secret {
            Some(v) => Some(self.secret(&path.key("module_secret"), v)?),
            None => None,
        };
        Some(HttpSettings {
            listen: listen.ok()?,
            module_secret,
        })
    }

    fn synapse(&mut self, path: &FieldPath, raw: &RawSynapse) -> Option<SynapseSettings> {
        let url = self.required(path, "url", raw.url.as_ref(), values::http_url);
        let token = match &raw.token {
            Some(v) => self.secret(&path.key("token"), v),
            None => {
                self.missing(path, "token");
                None
            }
        };
        let timeout = self.or_default(
            &path.key("timeout"),
            raw.timeout.as_ref(),
            DEFAULT_TIMEOUT,
            values::positive_duration,
        );
        let page_size =
            self.or_default(&path.key("page_size"), raw.page_size.as_ref(), None, |v| {
                let n = values::count(v, 1)?;
                u32::try_from(n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .map(Some)
                    .ok_or_else(|| format!("must be at most {}", u32::MAX))
            });
        Some(SynapseSettings {
            url: url?,
            token: token?,
            timeout: timeout.ok()?,
            page_size: page_size.ok()?,
        })
    }

    /// A secret source: `{env: NAME}` or `{file: PATH}`. An inline secret
    /// is refused without being quoted.
    fn secret(&mut self, path: &FieldPath, value: &Value) -> Option<SecretSource> {
        let Value::Mapping(map) = value else {
            let what = match value {
                Value::String(_) | Value::Number(_) => {
                    "a secret must not be written in the policy file (anyone who can read \
                     the file, its backups or its history would have it)"
                }
                _ => "expected a secret source",
            };
            self.invalid(
                path,
                format!("{what}; write `{{env: VARIABLE}}` or `{{file: PATH}}`"),
            );
            return None;
        };
        let mut found: Vec<(&str, FieldPath, &Value)> = Vec::new();
        let mut ok = true;
        for (key, v) in map {
            let Value::String(key) = key else {
                self.invalid(path, "keys of a secret source are `env` or `file`");
                ok = false;
                continue;
            };
            let key_path = path.key(key);
            match key.as_str() {
                "env" | "file" => {
                    found.push((if key == "env" { "env" } else { "file" }, key_path, v))
                }
                other => {
                    let suggestion =
                        closest(other, raw::SECRET_KEYS).map(|k| Suggestion::Key(k.to_owned()));
                    let position = self.index.key(&key_path);
                    self.push(position, key_path, Problem::UnknownKey { suggestion });
                    ok = false;
                }
            }
        }
        match found.as_slice() {
            [] if ok => {
                self.invalid(path, "expected `{env: VARIABLE}` or `{file: PATH}`");
                None
            }
            [(kind, key_path, v)] if ok => {
                let text = match v {
                    Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
                    other => {
                        self.invalid(
                            key_path,
                            format!(
                                "expected {}, found {}",
                                if *kind == "env" {
                                    "the name of an environment variable"
                                } else {
                                    "a file path"
                                },
                                if matches!(other, Value::String(_)) {
                                    "nothing"
                                } else {
                                    values::describe(other)
                                }
                            ),
                        );
                        return None;
                    }
                };
                if *kind == "env" {
                    if text.contains(['=', '\0']) || text.contains(char::is_whitespace) {
                        self.invalid(
                            key_path,
                            "not an environment variable name (no spaces, `=` or NUL)",
                        );
                        return None;
                    }
                    Some(SecretSource::Env(text))
                } else {
                    Some(SecretSource::File(PathBuf::from(text)))
                }
            }
            [_, _, ..] => {
                self.invalid(path, "give either `env` or `file`, not both");
                None
            }
            _ => None,
        }
    }

    fn schedule(&mut self, path: &FieldPath, raw: &RawSchedule) -> Option<Schedule> {
        let trigger = match (&raw.cron, &raw.every) {
            (Some(_), Some(_)) => {
                self.invalid(path, "give either `cron` or `every`, not both");
                None
            }
            (Some(c), None) => self
                .optional(&path.key("cron"), Some(c), values::cron)
                .map(Trigger::Cron),
            (None, Some(e)) => self
                .optional(&path.key("every"), Some(e), values::positive_duration)
                .map(Trigger::Every),
            (None, None) => {
                self.missing_one_of(path, &["every", "cron"]);
                None
            }
        };
        let defaults = Schedule::default();
        let run_at_start = self.or_default(
            &path.key("run_at_start"),
            raw.run_at_start.as_ref(),
            defaults.run_at_start,
            values::boolean,
        );
        let jitter = self.or_default(
            &path.key("jitter"),
            raw.jitter.as_ref(),
            defaults.jitter,
            values::duration,
        );
        Some(Schedule {
            trigger: trigger?,
            run_at_start: run_at_start.ok()?,
            jitter: jitter.ok()?,
        })
    }

    fn alerts(&mut self, path: &FieldPath, raw: &RawAlerts) -> Option<AlertSettings> {
        let d = AlertSettings::default();
        let repeat_after = self.or_default(
            &path.key("repeat_after"),
            raw.repeat_after.as_ref(),
            d.repeat_after,
            values::positive_duration,
        );
        let announce_resolved = self.or_default(
            &path.key("announce_resolved"),
            raw.announce_resolved.as_ref(),
            d.announce_resolved,
            values::boolean,
        );
        let max_lines = self.or_default(
            &path.key("max_lines"),
            raw.max_lines.as_ref(),
            d.max_lines,
            |v| {
                let n = values::count(v, 1)?;
                usize::try_from(n)
                    .ok()
                    .and_then(NonZeroUsize::new)
                    .ok_or_else(|| "too large".to_owned())
            },
        );
        let escalate_on_growth = self.or_default(
            &path.key("escalate_on_growth"),
            raw.escalate_on_growth.as_ref(),
            d.escalate_on_growth,
            |v| {
                let p = values::percent(v)?;
                if p.basis_points() == 0 {
                    return Err("must be more than 0%".to_owned());
                }
                Ok(p)
            },
        );
        let refusals_every = self.or_default(
            &path.key("refusals_every"),
            raw.refusals_every.as_ref(),
            d.refusals_every,
            values::positive_duration,
        );
        let too_broad_at = self.or_default(
            &path.key("too_broad_at"),
            raw.too_broad_at.as_ref(),
            d.too_broad_at,
            |v| {
                let p = values::percent(v)?;
                if p.basis_points() == 0 || p.basis_points() > 10_000 {
                    return Err("must be more than 0% and at most 100%".to_owned());
                }
                Ok(p)
            },
        );
        Some(AlertSettings {
            too_broad_at: too_broad_at.ok()?,
            refusals_every: refusals_every.ok()?,
            repeat_after: repeat_after.ok()?,
            announce_resolved: announce_resolved.ok()?,
            max_lines: max_lines.ok()?,
            escalate_on_growth: escalate_on_growth.ok()?,
        })
    }

    fn matrix(&mut self, path: &FieldPath, raw: &RawMatrix) -> Option<MatrixSettings> {
        let homeserver = self.required(
            path,
            "homeserver",
            raw.homeserver.as_ref(),
            values::http_url,
        );
        let user = self.required(path, "user", raw.user.as_ref(), |v| {
            let user = values::text(v)?;
            let valid = user
                .strip_prefix('@')
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty());
            if !valid {
                return Err(format!(
                    "`{}` is not a Matrix user ID such as `@warden:example.org`",
                    user.escape_default()
                ));
            }
            Ok(user)
        });
        let secret = |me: &mut Self, key: &'static str, v: Option<&Value>| match v {
            None => Ok(None),
            Some(v) => me.secret(&path.key(key), v).map(Some).ok_or(()),
        };
        let password = secret(self, "password", raw.password.as_ref());
        let access_token = secret(self, "access_token", raw.access_token.as_ref());
        let recovery_key = secret(self, "recovery_key", raw.recovery_key.as_ref());
        if raw.password.is_none() && raw.access_token.is_none() {
            self.missing_one_of(path, &["password", "access_token"]);
        }
        let store_passphrase = match &raw.store_passphrase {
            Some(v) => self.secret(&path.key("store_passphrase"), v),
            None => {
                self.missing(path, "store_passphrase");
                None
            }
        };
        let room = self.required(path, "room", raw.room.as_ref(), |v| {
            let room = values::text(v)?;
            let alias = room
                .strip_prefix('#')
                .and_then(|r| r.split_once(':'))
                .is_some_and(|(l, s)| !l.is_empty() && !s.is_empty());
            let id = room.len() > 1 && room.starts_with('!');
            if !alias && !id {
                return Err(format!(
                    "`{}` is neither a room alias (`#admins:example.org`) nor a room ID (`!...`)",
                    room.escape_default()
                ));
            }
            Ok(room)
        });
        let defaults = CommandAccess::default();
        let command_prefix = self.or_default(
            &path.key("command_prefix"),
            raw.command_prefix.as_ref(),
            defaults.prefix,
            |v| {
                let p = values::text(v)?;
                if p.contains(char::is_whitespace) {
                    return Err("must not contain spaces".to_owned());
                }
                Ok(p)
            },
        );
        let command_power_level = self.or_default(
            &path.key("command_power_level"),
            raw.command_power_level.as_ref(),
            defaults.power_level,
            values::integer,
        );
        let action_power_level = self.or_default(
            &path.key("action_power_level"),
            raw.action_power_level.as_ref(),
            crate::core::policy::DEFAULT_ACTION_POWER_LEVEL,
            values::integer,
        );
        let allowed_senders = self.or_default(
            &path.key("allowed_senders"),
            raw.allowed_senders.as_ref(),
            defaults.allowed_senders,
            values::patterns,
        );
        let silence_max = self.or_default(
            &path.key("silence_max"),
            raw.silence_max.as_ref(),
            defaults.silence_max,
            values::positive_duration,
        );
        let rate_limit = self.or_default(
            &path.key("rate_limit"),
            raw.rate_limit.as_ref(),
            defaults.rate_limit,
            values::rate_limit,
        );
        let data_dir = self.required(path, "data_dir", raw.data_dir.as_ref(), |v| {
            values::text(v).map(PathBuf::from)
        });
        Some(MatrixSettings {
            homeserver: homeserver?,
            user: user?,
            password: password.ok()?,
            access_token: access_token.ok()?,
            room: room?,
            commands: CommandAccess {
                prefix: command_prefix.ok()?,
                power_level: command_power_level.ok()?,
                allowed_senders: allowed_senders.ok()?,
                rate_limit: rate_limit.ok()?,
                silence_max: silence_max.ok()?,
            },
            action_power_level: action_power_level.ok()?,
            data_dir: data_dir?,
            store_passphrase: store_passphrase?,
            recovery_key: recovery_key.ok()?,
        })
        .filter(|m| m.password.is_some() || m.access_token.is_some())
    }
}

/// The family each size of the file was written in (`None`: in bytes).
fn written_sizes(raw: &RawRoot) -> Vec<Option<crate::core::doc::Units>> {
    let mut out = Vec::new();
    let mut add = |v: &Option<super::yaml::Value>| {
        if let Some(v) = v {
            out.push(values::size_family(v));
        }
    };
    if let Some(rules) = &raw.rules {
        for r in rules.user_media.iter().flatten() {
            add(&r.max_media_length);
        }
        for r in rules.rooms.iter().flatten() {
            add(&r.max_estimated_size);
        }
    }
    for o in raw.overrides.iter().flatten() {
        add(&o.max_media_length);
        add(&o.max_estimated_size);
    }
    if let Some(h) = &raw.history {
        add(&h.capacity);
    }
    out
}
