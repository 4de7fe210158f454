//! The validation of `rules`: user media rules and room rules, each with
//! its name, limits, warning threshold and selectors.

use super::*;

impl Checker {
    pub(super) fn rules(&mut self, path: &FieldPath, raw: &RawRules) -> Option<Rules> {
        let mut names: HashMap<String, FieldPath> = HashMap::new();
        let mut ok = true;
        let mut rules = Rules::default();
        if raw.user_media.is_none() && raw.rooms.is_none() {
            self.invalid(
                path,
                "no rules: declare at least one rule under `user_media` or `rooms`",
            );
            return None;
        }
        if let Some(list) = &raw.user_media {
            let list_path = path.key("user_media");
            if list.is_empty() {
                self.invalid(
                    &list_path,
                    "the list is empty: add a rule or remove `user_media`",
                );
                ok = false;
            }
            for (i, rule) in list.iter().enumerate() {
                let rule_path = list_path.index(i);
                match self.user_rule(&rule_path, rule, &mut names) {
                    Some(rule) => rules.user_media.push(rule),
                    None => ok = false,
                }
            }
        }
        if let Some(list) = &raw.rooms {
            let list_path = path.key("rooms");
            if list.is_empty() {
                self.invalid(
                    &list_path,
                    "the list is empty: add a rule or remove `rooms`",
                );
                ok = false;
            }
            for (i, rule) in list.iter().enumerate() {
                let rule_path = list_path.index(i);
                match self.room_rule(&rule_path, rule, &mut names) {
                    Some(rule) => rules.rooms.push(rule),
                    None => ok = false,
                }
            }
        }
        ok.then_some(rules)
    }

    /// The rule's name, unique in the file.
    pub(super) fn rule_name(
        &mut self,
        path: &FieldPath,
        value: Option<&Value>,
        names: &mut HashMap<String, FieldPath>,
    ) -> Option<String> {
        let name = self.required(path, "name", value, values::text)?;
        if let Some(first) = names.get(&name) {
            let message = format!("the rule name `{name}` is already used by `{first}`");
            self.invalid(&path.key("name"), message);
            return None;
        }
        names.insert(name.clone(), path.clone());
        Some(name)
    }

    /// `warn_at`: strictly between 0 % and 100 %.
    pub(super) fn warn_at(
        &mut self,
        path: &FieldPath,
        value: Option<&Value>,
    ) -> Result<Option<Percent>, ()> {
        let Some(value) = value else { return Ok(None) };
        self.optional(&path.key("warn_at"), Some(value), |v| {
            let p = values::percent(v)?;
            if p.basis_points() == 0 || p.basis_points() >= 10_000 {
                return Err(format!(
                    "`{p}` is not an early warning: it must be above 0% and below 100% of the limit"
                ));
            }
            Ok(p)
        })
        .map(Some)
        .ok_or(())
    }

    /// The keys every rule has: `name`, `description` and `severity`, as
    /// `[name, description, severity]`. `None` when one is invalid (each
    /// problem is recorded).
    pub(super) fn rule_head(
        &mut self,
        path: &FieldPath,
        [name, description, severity]: [&Option<Value>; 3],
        names: &mut HashMap<String, FieldPath>,
    ) -> Option<(String, Option<String>, Severity)> {
        let name = self.rule_name(path, name.as_ref(), names);
        let description =
            self.or_default(&path.key("description"), description.as_ref(), None, |v| {
                values::text(v).map(Some)
            });
        let severity = self.or_default(
            &path.key("severity"),
            severity.as_ref(),
            Severity::Warning,
            values::severity,
        );
        Some((name?, description.ok()?, severity.ok()?))
    }

    pub(super) fn user_rule(
        &mut self,
        path: &FieldPath,
        raw: &RawUserRule,
        names: &mut HashMap<String, FieldPath>,
    ) -> Option<UserMediaRule> {
        let head = self.rule_head(path, [&raw.name, &raw.description, &raw.severity], names);
        let users = self.or_default(
            &path.key("users"),
            raw.users.as_ref(),
            Patterns::any(),
            values::patterns,
        );
        let users_regex = self.or_default(
            &path.key("users_regex"),
            raw.users_regex.as_ref(),
            None,
            |v| values::regex(v).map(Some),
        );
        let exempt = self.or_default(
            &path.key("exempt"),
            raw.exempt.as_ref(),
            Patterns::none(),
            values::patterns,
        );
        let max_media_length = self.or_default(
            &path.key("max_media_length"),
            raw.max_media_length.as_ref(),
            None,
            |v| values::size(v).map(Some),
        );
        let max_media_count = self.or_default(
            &path.key("max_media_count"),
            raw.max_media_count.as_ref(),
            None,
            |v| values::count(v, 1).map(Some),
        );
        if raw.max_media_length.is_none() && raw.max_media_count.is_none() {
            let typo = ["max_media_length", "max_media_count"]
                .iter()
                .any(|k| self.suggested.contains(&path.key(k)));
            if !typo {
                self.invalid(
                    path,
                    "a user media rule needs a limit: `max_media_length`, `max_media_count` or both",
                );
            }
        }
        let window = self.or_default(&path.key("window"), raw.window.as_ref(), None, |v| {
            values::positive_duration(v).map(Some)
        });
        let warn_at = self.warn_at(path, raw.warn_at.as_ref());
        let enforce = self.enforcement(path, raw);
        let notify_user = self.notify_user(&path.key("notify_user"), raw.notify_user.as_ref());
        let (name, description, severity) = head?;
        let rule = UserMediaRule {
            notify_user: notify_user.ok()?,
            name,
            description,
            severity,
            users: UserSelector {
                users: users.ok()?,
                users_regex: users_regex.ok()?,
                exempt: exempt.ok()?,
            },
            max_media_length: max_media_length.ok()?,
            max_media_count: max_media_count.ok()?,
            window: window.ok()?,
            warn_at: warn_at.ok()?,
            enforce: enforce.ok()?,
            units: raw
                .max_media_length
                .as_ref()
                .map(values::size_units)
                .unwrap_or_default(),
        };
        (rule.max_media_length.is_some() || rule.max_media_count.is_some()).then_some(rule)
    }

    pub(super) fn room_rule(
        &mut self,
        path: &FieldPath,
        raw: &RawRoomRule,
        names: &mut HashMap<String, FieldPath>,
    ) -> Option<RoomRule> {
        let head = self.rule_head(path, [&raw.name, &raw.description, &raw.severity], names);
        let exempt = self.or_default(
            &path.key("exempt"),
            raw.exempt.as_ref(),
            Patterns::none(),
            values::patterns,
        );
        let max_estimated_size = self.or_default(
            &path.key("max_estimated_size"),
            raw.max_estimated_size.as_ref(),
            None,
            |v| values::size(v).map(Some),
        );
        let max_state_events = self.or_default(
            &path.key("max_state_events"),
            raw.max_state_events.as_ref(),
            None,
            |v| values::count(v, 1).map(Some),
        );
        if raw.max_estimated_size.is_none() && raw.max_state_events.is_none() {
            let typo = ["max_estimated_size", "max_state_events"]
                .iter()
                .any(|k| self.suggested.contains(&path.key(k)));
            if !typo {
                self.invalid(
                    path,
                    "a room rule needs a limit: `max_estimated_size`, `max_state_events` or both",
                );
            }
        }
        let warn_at = self.warn_at(path, raw.warn_at.as_ref());
        let (name, description, severity) = head?;
        let rule = RoomRule {
            name,
            description,
            severity,
            exempt: exempt.ok()?,
            max_estimated_size: max_estimated_size.ok()?,
            max_state_events: max_state_events.ok()?,
            warn_at: warn_at.ok()?,
            units: raw
                .max_estimated_size
                .as_ref()
                .map(values::size_units)
                .unwrap_or_default(),
        };
        (rule.max_estimated_size.is_some() || rule.max_state_events.is_some()).then_some(rule)
    }
}
