//! Which room the bot obeys when the admin room is configured as an alias:
//! the room the alias pointed to when first resolved, kept in the data
//! directory, so that whoever can re-point the alias afterwards does not
//! choose the room the bot obeys. Pure: the bot resolves the alias, reads
//! and writes the kept [`Pin`], and carries out the [`Choice`].

use serde::{Deserialize, Serialize};

/// The admin room as first resolved from its alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The alias, as configured.
    pub alias: String,
    /// The room it pointed to when first resolved: the room the bot obeys.
    pub room_id: String,
    /// Where the alias pointed when the admins were last told it moved.
    #[serde(default)]
    pub warned_for: Option<String>,
}

/// What to do with a configured alias ([`choose`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The room to obey; `None` when the alias could not be resolved and
    /// nothing is kept for it.
    pub room_id: Option<String>,
    /// The pin to write, when it changes.
    pub save: Option<Pin>,
    /// Where the alias points now, when that is elsewhere and not said yet:
    /// a warning in the log and one line in the room obeyed.
    pub moved_to: Option<String>,
}

/// The room for `alias`, given the `pin` kept in the data directory and
/// where the alias points `now` (`None`: it could not be resolved). A pin
/// of the same alias wins over where it points now; another alias (the
/// policy file changed) or no pin takes where it points now, and pins it.
pub fn choose(alias: &str, pin: Option<&Pin>, now: Option<&str>) -> Choice {
    match pin.filter(|p| p.alias == alias) {
        Some(pin) => {
            let moved = now.filter(|n| *n != pin.room_id);
            let warned_for = moved.map(str::to_owned);
            let said = pin.warned_for.as_deref() == moved;
            Choice {
                room_id: Some(pin.room_id.clone()),
                save: (pin.warned_for != warned_for && now.is_some()).then(|| Pin {
                    warned_for: warned_for.clone(),
                    ..pin.clone()
                }),
                moved_to: if said { None } else { warned_for },
            }
        }
        None => Choice {
            room_id: now.map(str::to_owned),
            save: now.map(|n| Pin {
                alias: alias.to_owned(),
                room_id: n.to_owned(),
                warned_for: None,
            }),
            moved_to: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIAS: &str = "#admins:hs";

    fn pin(room: &str, warned_for: Option<&str>) -> Pin {
        Pin {
            alias: ALIAS.into(),
            room_id: room.into(),
            warned_for: warned_for.map(Into::into),
        }
    }

    #[test]
    fn an_alias_is_resolved_once_then_kept() {
        // First start: resolved and pinned.
        let first = choose(ALIAS, None, Some("!a:hs"));
        assert_eq!(first.room_id.as_deref(), Some("!a:hs"));
        assert_eq!(first.save, Some(pin("!a:hs", None)));
        assert_eq!(first.moved_to, None);
        // Unresolvable with nothing kept: no room.
        assert_eq!(choose(ALIAS, None, None).room_id, None);
        // Later starts: the pin, nothing to write or say.
        let same = choose(ALIAS, Some(&pin("!a:hs", None)), Some("!a:hs"));
        assert_eq!(
            (same.room_id.as_deref(), &same.save, &same.moved_to),
            (Some("!a:hs"), &None, &None)
        );
        // Unresolvable: the pin still.
        let down = choose(ALIAS, Some(&pin("!a:hs", None)), None);
        assert_eq!(
            (down.room_id.as_deref(), &down.save, &down.moved_to),
            (Some("!a:hs"), &None, &None)
        );
    }

    #[test]
    fn a_re_pointed_alias_is_said_once_and_not_followed() {
        let moved = choose(ALIAS, Some(&pin("!a:hs", None)), Some("!evil:hs"));
        assert_eq!(moved.room_id.as_deref(), Some("!a:hs"));
        assert_eq!(moved.moved_to.as_deref(), Some("!evil:hs"));
        assert_eq!(moved.save, Some(pin("!a:hs", Some("!evil:hs"))));
        // At the next reconnect: not said again.
        let again = choose(
            ALIAS,
            Some(&pin("!a:hs", Some("!evil:hs"))),
            Some("!evil:hs"),
        );
        assert_eq!(
            (again.room_id.as_deref(), &again.save, &again.moved_to),
            (Some("!a:hs"), &None, &None)
        );
        // Pointed elsewhere again: said again.
        let third = choose(
            ALIAS,
            Some(&pin("!a:hs", Some("!evil:hs"))),
            Some("!other:hs"),
        );
        assert_eq!(third.moved_to.as_deref(), Some("!other:hs"));
        // Pointed back: nothing said, the warning forgotten.
        let back = choose(ALIAS, Some(&pin("!a:hs", Some("!evil:hs"))), Some("!a:hs"));
        assert_eq!(back.moved_to, None);
        assert_eq!(back.save, Some(pin("!a:hs", None)));
    }

    #[test]
    fn another_alias_in_the_policy_is_resolved_anew() {
        let other = choose("#ops:hs", Some(&pin("!a:hs", None)), Some("!ops:hs"));
        assert_eq!(other.room_id.as_deref(), Some("!ops:hs"));
        assert_eq!(
            other.save,
            Some(Pin {
                alias: "#ops:hs".into(),
                room_id: "!ops:hs".into(),
                warned_for: None
            })
        );
        assert_eq!(other.moved_to, None);
    }
}
