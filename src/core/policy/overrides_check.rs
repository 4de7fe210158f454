//! Validation of `overrides:` and of the enforcement keys of user media
//! rules (`enforce`, `info_uri`, `can_upgrade`).

use super::yaml::Value;

use super::Checker;
use crate::core::policy::overrides_raw::RawOverride;
use crate::core::policy::path::FieldPath;
use crate::core::policy::raw::RawUserRule;
use crate::core::policy::{Enforcement, Override, OverrideTarget, Rules, values};

impl Checker {
    /// `overrides:`, checked against the rules of the file. `None` when one
    /// is invalid (each problem is recorded).
    pub(super) fn overrides(
        &mut self,
        path: &FieldPath,
        raw: &[RawOverride],
        rules: Option<&Rules>,
    ) -> Option<Vec<Override>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in raw.iter().enumerate() {
            match self.one_override(&path.index(i), i, item, rules) {
                Some(o) => out.push(o),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn one_override(
        &mut self,
        path: &FieldPath,
        index: usize,
        raw: &RawOverride,
        rules: Option<&Rules>,
    ) -> Option<Override> {
        let target = match (&raw.users, &raw.rooms) {
            (Some(_), Some(_)) => {
                self.invalid(path, "give either `users` or `rooms`, not both");
                None
            }
            (Some(u), None) => self
                .optional(&path.key("users"), Some(u), values::patterns)
                .map(OverrideTarget::Users),
            (None, Some(r)) => self
                .optional(&path.key("rooms"), Some(r), values::patterns)
                .map(OverrideTarget::Rooms),
            (None, None) => {
                self.missing_one_of(path, &["users", "rooms"]);
                None
            }
        };
        let for_rooms = raw.rooms.is_some() && raw.users.is_none();
        let rule = self.or_default(&path.key("rule"), raw.rule.as_ref(), None, |v| {
            let name = values::text(v)?;
            let Some(rules) = rules else {
                return Ok(Some(name));
            };
            let user_rule = rules.user_media.iter().any(|r| r.name == name);
            let room_rule = rules.rooms.iter().any(|r| r.name == name);
            match (user_rule, room_rule) {
                (false, false) => {
                    let mut known: Vec<&str> = rules
                        .user_media
                        .iter()
                        .map(|r| r.name.as_str())
                        .chain(rules.rooms.iter().map(|r| r.name.as_str()))
                        .collect();
                    known.sort_unstable();
                    Err(unknown_rule(&name, &known))
                }
                (true, _) if for_rooms => Err(format!(
                    "`{}` is a user media rule: an override of `rooms` names a rule of `rules.rooms`",
                    name.escape_default()
                )),
                (false, true) if !for_rooms => Err(format!(
                    "`{}` is a room rule: an override of `users` names a rule of `rules.user_media`",
                    name.escape_default()
                )),
                _ => Ok(Some(name)),
            }
        });
        let exempt = self.or_default(
            &path.key("exempt"),
            raw.exempt.as_ref(),
            false,
            values::boolean,
        );
        let size = |me: &mut Self, key: &'static str, v: &Option<Value>| {
            me.or_default(&path.key(key), v.as_ref(), None, |v| {
                values::size(v).map(Some)
            })
        };
        let max_media_length = size(self, "max_media_length", &raw.max_media_length);
        let max_estimated_size = size(self, "max_estimated_size", &raw.max_estimated_size);
        let max_media_count = self.or_default(
            &path.key("max_media_count"),
            raw.max_media_count.as_ref(),
            None,
            |v| values::count(v, 1).map(Some),
        );
        let max_state_events = self.or_default(
            &path.key("max_state_events"),
            raw.max_state_events.as_ref(),
            None,
            |v| values::count(v, 1).map(Some),
        );
        let until = self.or_default(&path.key("until"), raw.until.as_ref(), None, |v| {
            let text = values::text(v)?;
            crate::core::policy::overrides::parse_until(&text).map(|ms| Some((ms, text)))
        });
        let reason = self.or_default(&path.key("reason"), raw.reason.as_ref(), None, |v| {
            values::text(v).map(Some)
        });

        let limits_given = [
            &raw.max_media_length,
            &raw.max_media_count,
            &raw.max_estimated_size,
            &raw.max_state_events,
        ]
        .iter()
        .any(|v| v.is_some());
        let exempt_given = matches!(raw.exempt, Some(Value::Bool(true)));
        let mut ok = true;
        if for_rooms && (raw.max_media_length.is_some() || raw.max_media_count.is_some()) {
            self.invalid(
                path,
                "an override of `rooms` sets `max_estimated_size` or `max_state_events`, not a user media limit",
            );
            ok = false;
        }
        if !for_rooms
            && raw.users.is_some()
            && (raw.max_estimated_size.is_some() || raw.max_state_events.is_some())
        {
            self.invalid(
                path,
                "an override of `users` sets `max_media_length` or `max_media_count`, not a room limit",
            );
            ok = false;
        }
        if exempt_given && limits_given {
            self.invalid(
                path,
                "an override either exempts (`exempt: true`) or sets new limits, not both",
            );
            ok = false;
        }
        if !exempt_given && !limits_given {
            self.invalid(
                path,
                "an override needs a new limit (`max_media_length`, `max_media_count`, \
                 `max_estimated_size`, `max_state_events`) or `exempt: true`",
            );
            ok = false;
        }
        let until = until.ok()?;
        let o = Override {
            target: target?,
            rule: rule.ok()?,
            exempt: exempt.ok()?,
            max_media_length: max_media_length.ok()?,
            max_media_count: max_media_count.ok()?,
            max_estimated_size: max_estimated_size.ok()?,
            max_state_events: max_state_events.ok()?,
            until_ms: until.as_ref().map(|(ms, _)| *ms),
            until_written: until.map(|(_, text)| text),
            reason: reason.ok()?,
            index,
            position: self.index.value(path),
        };
        ok.then_some(o)
    }

    /// `enforce`, `info_uri` and `can_upgrade` of a user media rule. `Err`
    /// when one is invalid (recorded).
    pub(super) fn enforcement(
        &mut self,
        path: &FieldPath,
        raw: &RawUserRule,
    ) -> Result<Option<Enforcement>, ()> {
        let enforce = self.or_default(&path.key("enforce"), raw.enforce.as_ref(), false, |v| {
            match values::text(v)?.as_str() {
                "upload" => Ok(true),
                "none" => Ok(false),
                other => Err(format!(
                    "`{}` is not an enforcement: write `upload` (Synapse refuses uploads over \
                     `max_media_length`) or `none`",
                    other.escape_default()
                )),
            }
        });
        let info_uri = self.or_default(&path.key("info_uri"), raw.info_uri.as_ref(), None, |v| {
            values::http_url(v).map(|u| Some(u.to_string()))
        });
        let can_upgrade = self.or_default(
            &path.key("can_upgrade"),
            raw.can_upgrade.as_ref(),
            false,
            values::boolean,
        );
        let enforce = enforce?;
        if enforce && raw.max_media_length.is_none() {
            self.invalid(
                &path.key("enforce"),
                "`enforce: upload` needs `max_media_length`: Synapse limits uploaded bytes",
            );
            return Err(());
        }
        for key in ["info_uri", "can_upgrade"] {
            let given = if key == "info_uri" {
                raw.info_uri.is_some()
            } else {
                raw.can_upgrade.is_some()
            };
            if given && !enforce {
                self.invalid(
                    &path.key(key),
                    format!("`{key}` is only used with `enforce: upload`"),
                );
                return Err(());
            }
        }
        let (info_uri, can_upgrade) = (info_uri?, can_upgrade?);
        Ok(enforce.then_some(Enforcement {
            info_uri,
            can_upgrade,
        }))
    }
}

fn unknown_rule(name: &str, known: &[&str]) -> String {
    let mut message = format!("no rule is named `{}`", name.escape_default());
    match crate::core::policy::error::closest(name, known) {
        Some(close) => message.push_str(&format!("; did you mean `{close}`?")),
        None if !known.is_empty() => {
            message.push_str(&format!(
                "; the rules are {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None => {}
    }
    message
}
