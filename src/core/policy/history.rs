//! The `history` section of the policy file: whether runs are recorded,
//! where, for how long, and the media store's capacity for forecasts.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::doc::Units;

/// Default of `history.keep`: 400 days.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(400 * 86_400);
/// Default of `history.thin_after`: 30 days.
pub const DEFAULT_THIN_AFTER: Duration = Duration::from_secs(30 * 86_400);
/// The history's file name in `matrix.data_dir`.
pub const DEFAULT_FILE: &str = "history.sqlite3";

/// The `history` section of the policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettings {
    /// Whether runs are recorded. Default true (when there is a file).
    pub enabled: bool,
    /// The SQLite file; default [`DEFAULT_FILE`] in `matrix.data_dir`.
    pub file: Option<PathBuf>,
    /// Runs older than this are deleted. Default 400 days.
    pub keep: Duration,
    /// Runs older than this are kept one a day. Default 30 days.
    pub thin_after: Duration,
    /// The media store's size, for forecasts: bytes, and the unit family
    /// it was written in.
    pub capacity: Option<(u64, Units)>,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            enabled: true,
            file: None,
            keep: DEFAULT_KEEP,
            thin_after: DEFAULT_THIN_AFTER,
            capacity: None,
        }
    }
}
