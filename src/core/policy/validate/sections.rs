//! The validation of the optional sections: `notify_user` of a rule,
//! `history`, `digest` and `actions`.

use super::*;

impl Checker {
    /// `notify_user: {on: [new, escalation, reminder], message: "..."}`.
    pub(super) fn notify_user(
        &mut self,
        path: &FieldPath,
        raw: Option<&Value>,
    ) -> Result<Option<crate::core::policy::notify_user::NotifyUser>, ()> {
        use crate::core::policy::notify_user::{Events, NotifyUser, Template};
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Value::Mapping(map) = raw else {
            self.invalid(
                path,
                "must be a mapping with `on` (a list of new, escalation, reminder) and `message`",
            );
            return Err(());
        };
        let mut ok = true;
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let get = |key: &str| {
            map.iter()
                .find(|(k, _)| text(k).as_deref() == Some(key))
                .map(|(_, v)| v)
        };
        for (key, _) in map {
            let name = text(key).unwrap_or_default();
            let name = name.as_str();
            if name != "on" && name != "message" && name != "at_most_every" {
                self.invalid(
                    &path.key(name),
                    format!(
                        "unknown key `{}` (notify_user takes `on`, `message` and `at_most_every`)",
                        name.escape_default()
                    ),
                );
                ok = false;
            }
        }
        let on = match get("on") {
            None => Ok(Events {
                new: true,
                escalation: true,
                reminder: false,
            }),
            Some(v) => {
                let words: Vec<String> = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Sequence(items) => items.iter().filter_map(text).collect(),
                    _ => Vec::new(),
                };
                let mut events = Events::default();
                let mut bad = words.is_empty();
                for w in &words {
                    match w.as_str() {
                        "new" => events.new = true,
                        "escalation" => events.escalation = true,
                        "reminder" => events.reminder = true,
                        _ => bad = true,
                    }
                }
                if bad {
                    self.invalid(
                        &path.key("on"),
                        "must list one or more of new, escalation, reminder",
                    );
                    Err(())
                } else {
                    Ok(events)
                }
            }
        };
        let message = match get("message") {
            None => {
                self.missing(path, "message");
                Err(())
            }
            Some(Value::String(text)) => Template::parse(text).map_err(|e| {
                self.invalid(&path.key("message"), e.to_string());
            }),
            Some(_) => {
                self.invalid(&path.key("message"), "must be text");
                Err(())
            }
        };
        let at_most_every = match get("at_most_every") {
            None => Ok(crate::core::policy::notify_user::MIN_INTERVAL),
            Some(v) => values::duration(v).map_err(|e| {
                self.invalid(&path.key("at_most_every"), e);
            }),
        };
        match (on, message, at_most_every, ok) {
            (Ok(on), Ok(message), Ok(at_most_every), true) => Ok(Some(NotifyUser {
                on,
                message,
                at_most_every,
            })),
            _ => Err(()),
        }
    }

    pub(super) fn history(
        &mut self,
        path: &FieldPath,
        raw: &super::raw::RawHistory,
    ) -> Option<crate::core::policy::history::HistorySettings> {
        let d = crate::core::policy::history::HistorySettings::default();
        let enabled = self.or_default(
            &path.key("enabled"),
            raw.enabled.as_ref(),
            d.enabled,
            values::boolean,
        );
        let file = self.or_default(&path.key("file"), raw.file.as_ref(), None, |v| {
            values::text(v).map(|t| Some(PathBuf::from(t)))
        });
        let at_least_a_day = |v: &Value| {
            let d = values::duration(v)?;
            if d < std::time::Duration::from_secs(86_400) {
                return Err(format!(
                    "must be at least 1d (history is thinned by the day), not {}",
                    crate::core::doc::format::window(d)
                ));
            }
            Ok(d)
        };
        let keep = self.or_default(&path.key("keep"), raw.keep.as_ref(), d.keep, at_least_a_day);
        let thin_after = self.or_default(
            &path.key("thin_after"),
            raw.thin_after.as_ref(),
            d.thin_after,
            at_least_a_day,
        );
        let capacity = self.or_default(&path.key("capacity"), raw.capacity.as_ref(), None, |v| {
            let bytes = values::size(v)?;
            if bytes == 0 {
                return Err("must be more than 0 bytes".to_owned());
            }
            Ok(Some((bytes, values::size_units(v))))
        });
        Some(crate::core::policy::history::HistorySettings {
            enabled: enabled.ok()?,
            file: file.ok()?,
            keep: keep.ok()?,
            thin_after: thin_after.ok()?,
            capacity: capacity.ok()?,
        })
    }

    pub(super) fn digest(
        &mut self,
        path: &FieldPath,
        raw: &super::raw::RawDigest,
    ) -> Option<crate::core::policy::DigestSettings> {
        let Some(cron) = &raw.cron else {
            self.missing(path, "cron");
            return None;
        };
        self.optional(&path.key("cron"), Some(cron), values::cron)
            .map(|cron| crate::core::policy::DigestSettings { cron })
    }

    pub(super) fn actions(&mut self, path: &FieldPath, raw: &RawActions) -> Option<ActionSettings> {
        let d = ActionSettings::default();
        let enabled = self.or_default(
            &path.key("enabled"),
            raw.enabled.as_ref(),
            d.enabled,
            values::boolean,
        );
        let confirm_within = self.or_default(
            &path.key("confirm_within"),
            raw.confirm_within.as_ref(),
            d.confirm_within,
            values::positive_duration,
        );
        let audit_log =
            self.or_default(&path.key("audit_log"), raw.audit_log.as_ref(), None, |v| {
                values::text(v).map(|t| Some(PathBuf::from(t)))
            });
        Some(ActionSettings {
            enabled: enabled.ok()?,
            confirm_within: confirm_within.ok()?,
            audit_log: audit_log.ok()?,
        })
    }
}
