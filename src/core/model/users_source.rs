//! Where a run read the users' media totals: Synapse's admin API
//! (`statistics/users/media`, one aggregation of all local media per page)
//! or the warden's Synapse module (keyset pages through Synapse's index,
//! issue 29), and, when the module was asked and failed, why the run fell
//! back to the admin API.

use serde::{Deserialize, Serialize};

use super::rooms::ModuleUnavailable;

/// The source of one walk, or of a run's walks together.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "source", content = "reason", rename_all = "snake_case")]
pub enum UsersSource {
    /// Synapse's admin API; the module was not asked (no `http.module_secret`).
    #[default]
    AdminApi,
    /// The warden's Synapse module, every page.
    Module,
    /// The module was asked and failed; the admin API walk read the rest.
    Fallback(ModuleUnavailable),
}

impl UsersSource {
    /// A run's source from its walks': a fallback of any walk is the run's
    /// (the first one kept), then the module when any walk used it.
    pub fn of_run<'a>(walks: impl IntoIterator<Item = &'a UsersSource>) -> UsersSource {
        let mut run = UsersSource::AdminApi;
        for walk in walks {
            match (&run, walk) {
                (UsersSource::Fallback(_), _) => {}
                (_, UsersSource::Fallback(_)) | (UsersSource::AdminApi, UsersSource::Module) => {
                    run = walk.clone();
                }
                _ => {}
            }
        }
        run
    }

    /// Every value of [`UsersSource::label`].
    pub const LABELS: [&'static str; 3] = ["admin_api", "module", "fallback"];

    /// The `source` label of the metrics: one of [`UsersSource::LABELS`].
    pub const fn label(&self) -> &'static str {
        match self {
            UsersSource::AdminApi => Self::LABELS[0],
            UsersSource::Module => Self::LABELS[1],
            UsersSource::Fallback(_) => Self::LABELS[2],
        }
    }

    /// Why the module failed, when the run fell back.
    pub fn module_error(&self) -> Option<&ModuleUnavailable> {
        match self {
            UsersSource::Fallback(why) => Some(why),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_of_any_walk_is_the_runs() {
        let failed = UsersSource::Fallback(ModuleUnavailable::TimedOut);
        assert_eq!(UsersSource::of_run([]), UsersSource::AdminApi);
        assert_eq!(
            UsersSource::of_run([&UsersSource::AdminApi, &UsersSource::Module]),
            UsersSource::Module
        );
        assert_eq!(
            UsersSource::of_run([&UsersSource::Module, &failed, &UsersSource::Module]),
            failed
        );
        let other = UsersSource::Fallback(ModuleUnavailable::Refused);
        assert_eq!(UsersSource::of_run([&failed, &other]), failed);
    }

    /// Kept in the daemon's state (the last run), read back by later
    /// versions: the form is fixed.
    #[test]
    fn its_stored_form_is_stable() {
        let cases = [
            (UsersSource::AdminApi, r#"{"source":"admin_api"}"#),
            (UsersSource::Module, r#"{"source":"module"}"#),
            (
                UsersSource::Fallback(ModuleUnavailable::NotInstalled),
                r#"{"source":"fallback","reason":"not_installed"}"#,
            ),
            (
                UsersSource::Fallback(ModuleUnavailable::Failed("HTTP 500: boom".into())),
                r#"{"source":"fallback","reason":{"failed":"HTTP 500: boom"}}"#,
            ),
        ];
        for (source, json) in cases {
            assert_eq!(serde_json::to_string(&source).unwrap(), json);
            assert_eq!(serde_json::from_str::<UsersSource>(json).unwrap(), source);
        }
    }
}
