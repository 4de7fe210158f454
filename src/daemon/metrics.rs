//! Prometheus metrics of the daemon (`/metrics`, OpenMetrics text).
//!
//! Names follow Prometheus conventions with a `synapse_warden_` prefix:
//! base units declared with `register_with_unit` (the `# UNIT` line, and the
//! unit as the name's suffix: `_seconds`, `_bytes`), `_total` only on
//! counters. Labels are low-cardinality: rule names, severities, endpoints,
//! outcomes and command names — never user or room IDs, which would both
//! explode the series count and leak statistics to whoever can scrape.
//!
//! Every declared rule has a violations series per severity from the first
//! scrape, at 0 while the rule is clean ([`Metrics::declare_rules`]), so that
//! alerting needs no `absent()`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::core::engine::eval::RunOutcome;
use crate::core::model::users_source::UsersSource;
use crate::core::model::violation::{Severity, Violation};
use crate::core::policy::Config;
use crate::synapse::{Endpoint, RequestObserver, SynapseError};

/// The version of this build, and the commit it was built from (`unknown`
/// when the build could not tell).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// See [`VERSION`]; set by `build.rs` (`SYNAPSE_WARDEN_COMMIT`, or
/// `git rev-parse`).
pub const COMMIT: &str = env!("SYNAPSE_WARDEN_COMMIT");

/// Labels of the violations gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViolationLabels {
    /// Rule name.
    pub rule: String,
    /// `warning` or `critical`.
    pub severity: String,
}

/// Labels of the API errors counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// [`crate::synapse::SynapseError::kind`].
    pub kind: String,
}

/// Labels of the API requests counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `users_media`, `database_rooms` or `server_version`.
    pub endpoint: String,
    /// `ok`, or the error's [`kind`](crate::synapse::SynapseError::kind).
    pub outcome: String,
}

/// Labels of the commands metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The word of an answered command (`top`, `user`, ...:
    /// [`Command::name`](crate::core::commands::Command::name)). What does
    /// not parse as a command is not counted.
    pub command: String,
}

/// Labels of the build info.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate's version.
    pub version: String,
    /// The git commit of the build, or `unknown`.
    pub commit: String,
}

/// Labels of the refused uploads counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The rule with `enforce: upload`, or `unknown` (changed policy).
    pub rule: String,
}

/// Labels of the users' media source gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `admin_api`, `module` or `fallback` ([`UsersSource::label`]).
    pub source: String,
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Seconds per full walk.
    pub walk_duration: Histogram,
    /// Pages fetched, all walks together.
    pub walk_pages: Counter,
    /// Users seen by the last walk.
    pub walk_users: Gauge,
    /// Violations found by the last run, by rule and severity; every
    /// declared rule × severity is present.
    pub violations: Family<ViolationLabels, Gauge>,
    /// Those of them a silence held back (counted in `violations` too).
    pub silenced: Family<ViolationLabels, Gauge>,
    /// Unix time at which the last run ended, whatever its result.
    pub last_run: Gauge<f64, AtomicU64>,
    /// Unix time at which the last complete run ended.
    pub last_complete_run: Gauge<f64, AtomicU64>,
    /// 1 when Synapse answered the last request, else 0.
    pub synapse_up: Gauge,
    /// 1 when the bot is connected to its homeserver, else 0.
    pub matrix_connected: Gauge,
    /// Bytes of local media of all users, from the last walk.
    pub local_media_bytes: Gauge,
    /// Local media files of all users, from the last walk.
    pub local_media_files: Gauge,
    /// Requests to Synapse's admin API, by endpoint and outcome.
    pub api_requests: Family<RequestLabels, Counter>,
    /// 1 when the last run looked at everything, 0 when it was partial (a
    /// walk cut short) or failed.
    pub last_run_complete: Gauge,
    /// Failed Synapse requests, by kind.
    pub api_errors: Family<ErrorLabels, Counter>,
    /// Commands answered, by command.
    pub commands: Family<CommandLabels, Counter>,
    /// Seconds to answer a command (from its arrival at the bot to its
    /// reply being ready to send).
    pub command_latency: Family<CommandLabels, Histogram>,
    /// Uploads Synapse refused, as the quota module reported them.
    pub uploads_refused: Family<RefusalLabels, Counter>,
    /// Runs the usage history could not record (full disk, locked file).
    pub history_write_errors: Counter,
    /// 1 for where the last successful run read the users' media totals,
    /// 0 for the other sources.
    pub users_source: Family<SourceLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("synapse_warden");
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Version and commit of this build (always 1)",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: VERSION.to_owned(),
                commit: COMMIT.to_owned(),
            })
            .set(1);
        let walk_duration = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        registry.register_with_unit(
            "walk_duration",
            "Duration of one full walk of the users' media statistics",
            Unit::Seconds,
            walk_duration.clone(),
        );
        let walk_pages = Counter::default();
        registry.register(
            "walk_pages",
            "Pages of users' media statistics fetched",
            walk_pages.clone(),
        );
        let walk_users = Gauge::default();
        registry.register(
            "walk_users",
            "Users seen by the last walk",
            walk_users.clone(),
        );
        let violations = Family::<ViolationLabels, Gauge>::default();
        registry.register(
            "violations",
            "Violations found by the last run, by rule and severity (0 when clean)",
            violations.clone(),
        );
        let silenced = Family::<ViolationLabels, Gauge>::default();
        registry.register(
            "violations_silenced",
            "Violations of the last run that a silence keeps from being announced, by rule and severity (counted in synapse_warden_violations too)",
            silenced.clone(),
        );
        let last_run = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "last_run_timestamp",
            "Unix time at which the last run ended, whatever its result",
            Unit::Seconds,
            last_run.clone(),
        );
        let last_complete_run = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "last_complete_run_timestamp",
            "Unix time at which the last complete run ended",
            Unit::Seconds,
            last_complete_run.clone(),
        );
        let synapse_up = Gauge::default();
        registry.register(
            "synapse_up",
            "1 when Synapse's admin API answered the last request, else 0",
            synapse_up.clone(),
        );
        let matrix_connected = Gauge::default();
        registry.register(
            "matrix_connected",
            "1 when the bot is connected to its homeserver, else 0",
            matrix_connected.clone(),
        );
        let local_media_bytes = Gauge::default();
        registry.register_with_unit(
            "local_media",
            "Size of the local media of all users, from the last walk",
            Unit::Bytes,
            local_media_bytes.clone(),
        );
        let local_media_files = Gauge::default();
        registry.register(
            "local_media_files",
            "Local media files of all users, from the last walk",
            local_media_files.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "Requests to Synapse's admin API, by endpoint and outcome (ok or the error's kind)",
            api_requests.clone(),
        );
        // The successes of the walk's endpoints from the first scrape: the
        // denominator of error ratios.
        for endpoint in [Endpoint::UsersMedia, Endpoint::DatabaseRooms] {
            api_requests
                .get_or_create(&RequestLabels {
                    endpoint: endpoint_label(endpoint).to_owned(),
                    outcome: "ok".to_owned(),
                })
                .inc_by(0);
        }
        let last_run_complete = Gauge::default();
        registry.register(
            "last_run_complete",
            "1 when the last run saw every user, 0 when a walk was cut short or the run failed",
            last_run_complete.clone(),
        );
        let api_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "api_errors",
            "Failed Synapse admin API requests, by kind",
            api_errors.clone(),
        );
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "commands",
            "Commands answered, by command",
            commands.clone(),
        );
        let command_latency = Family::<CommandLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "command_latency",
            "Time from a command to its reply",
            Unit::Seconds,
            command_latency.clone(),
        );
        let uploads_refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "uploads_refused",
            "Uploads Synapse refused under a rule with `enforce: upload`, by rule",
            uploads_refused.clone(),
        );
        let history_write_errors = Counter::default();
        registry.register(
            "history_write_errors",
            "Runs the usage history could not record (full disk, locked or unreadable file)",
            history_write_errors.clone(),
        );
        let users_source = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "users_source",
            "Where the last successful run read the users' media totals: 1 for its source (module: the warden's Synapse module; admin_api: Synapse's statistics/users/media, no module secret; fallback: the module failed and the admin API was read), 0 for the others",
            users_source.clone(),
        );
        for label in UsersSource::LABELS {
            users_source
                .get_or_create(&SourceLabels {
                    source: label.to_owned(),
                })
                .set(0);
        }
        Metrics {
            users_source,
            history_write_errors,
            uploads_refused,
            registry,
            walk_duration,
            walk_pages,
            walk_users,
            violations,
            silenced,
            last_run,
            last_complete_run,
            synapse_up,
            matrix_connected,
            local_media_bytes,
            local_media_files,
            api_requests,
            last_run_complete,
            api_errors,
            commands,
            command_latency,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a failed Synapse request.
    pub fn api_error(&self, error: &crate::synapse::SynapseError) {
        self.api_errors
            .get_or_create(&ErrorLabels {
                kind: error.kind().to_owned(),
            })
            .inc();
    }

    /// Declares the rules of `config`: each rule × severity gets its
    /// violations series, at 0; series of rules no longer declared go.
    pub fn declare_rules(&self, config: &Config) {
        self.violations.clear();
        let names = config
            .rules
            .user_media
            .iter()
            .map(|r| &r.name)
            .chain(config.rules.rooms.iter().map(|r| &r.name));
        for rule in names {
            for severity in [Severity::Warning, Severity::Critical] {
                self.violations
                    .get_or_create(&ViolationLabels {
                        rule: rule.clone(),
                        severity: severity.to_string(),
                    })
                    .set(0);
            }
        }
    }

    /// Records the violations of a run: every declared series is set, to
    /// 0 when the rule is clean.
    pub fn set_violations<'a>(
        &self,
        config: &Config,
        found: impl IntoIterator<Item = (&'a str, Severity)>,
    ) {
        self.declare_rules(config);
        for (rule, severity) in found {
            self.violations
                .get_or_create(&ViolationLabels {
                    rule: rule.to_owned(),
                    severity: severity.to_string(),
                })
                .inc();
        }
    }

    /// Records a run that got its answers from Synapse (complete or
    /// partial): its duration, pages and users, the violations it found and
    /// those a silence held back (`silenced`), and when it ended (`now_ms`).
    pub fn record_run(
        &self,
        config: &Config,
        outcome: &RunOutcome,
        silenced: &[(Violation, u64)],
        pages: u32,
        took: Duration,
        now_ms: u64,
    ) {
        let complete = outcome.cut_short().is_none();
        let users = outcome
            .walks
            .iter()
            .find(|w| w.window.is_none())
            .map_or(0, |w| w.users);
        self.last_run_complete.set(i64::from(complete));
        self.walk_duration.observe(took.as_secs_f64());
        self.walk_pages.inc_by(u64::from(pages));
        self.walk_users.set(users as i64);
        self.silenced.clear();
        for (v, _) in silenced {
            self.silenced
                .get_or_create(&ViolationLabels {
                    rule: v.rule.to_string(),
                    severity: v.severity.to_string(),
                })
                .inc();
        }
        self.set_violations(
            config,
            outcome.violations.iter().map(|v| (&*v.rule, v.severity)),
        );
        // Totals of a walk cut short would be too low: kept from the last whole one.
        if let Some(all) = outcome
            .walks
            .iter()
            .find(|w| w.window.is_none() && w.cut_short.is_none())
        {
            self.local_media_bytes
                .set(i64::try_from(all.bytes).unwrap_or(i64::MAX));
            self.local_media_files
                .set(i64::try_from(all.media).unwrap_or(i64::MAX));
        }
        let source = outcome.users_source();
        for label in UsersSource::LABELS {
            self.users_source
                .get_or_create(&SourceLabels {
                    source: label.to_owned(),
                })
                .set(i64::from(label == source.label()));
        }
        self.last_run.set(now_ms as f64 / 1000.0);
        if complete {
            self.last_complete_run.set(now_ms as f64 / 1000.0);
        }
    }
}

/// The `endpoint` label of an admin API endpoint.
fn endpoint_label(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::UsersMedia => "users_media",
        Endpoint::DatabaseRooms => "database_rooms",
        Endpoint::RoomList => "room_list",
        Endpoint::ModuleRooms => "module_rooms",
        Endpoint::ModuleUsersMedia => "module_users_media",
        Endpoint::ServerVersion => "server_version",
        Endpoint::AuthMetadata | Endpoint::AuthMetadataUnstable => "auth_metadata",
        Endpoint::UserMedia => "user_media",
        Endpoint::DeleteMedia => "delete_media",
        Endpoint::QuarantineMedia => "quarantine_media",
        Endpoint::PurgeMediaCache => "purge_media_cache",
        Endpoint::ServerNotice => "server_notice",
        Endpoint::RoomDetails => "room_details",
        Endpoint::DeleteRoom => "delete_room",
        Endpoint::DeleteStatus => "delete_status",
        Endpoint::PurgeHistory => "purge_history",
        Endpoint::PurgeHistoryStatus => "purge_history_status",
        Endpoint::DeactivatedUsers => "deactivated_users",
        Endpoint::RoomDeleteTasks => "room_delete_tasks",
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, endpoint: Endpoint, outcome: Result<(), &SynapseError>) {
        self.api_requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint_label(endpoint).to_owned(),
                outcome: match outcome {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => e.kind().to_owned(),
                },
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_metric() {
        let m = Metrics::new();
        m.walk_pages.inc();
        m.violations
            .get_or_create(&ViolationLabels {
                rule: "quota".into(),
                severity: "critical".into(),
            })
            .set(3);
        m.api_error(&crate::synapse::SynapseError::Config("x".into()));
        m.observe(Endpoint::UsersMedia, Ok(()));
        let text = m.encode();
        for name in [
            "synapse_warden_walk_duration_seconds",
            "synapse_warden_walk_pages_total 1",
            "synapse_warden_walk_users",
            "synapse_warden_violations{rule=\"quota\",severity=\"critical\"} 3",
            "synapse_warden_last_complete_run_timestamp_seconds",
            "synapse_warden_last_run_complete 0",
            "synapse_warden_api_errors_total{kind=\"config\"} 1",
            "synapse_warden_api_requests_total{endpoint=\"users_media\",outcome=\"ok\"} 1",
            "# UNIT synapse_warden_local_media_bytes bytes",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(
            text.contains(&format!(
                "synapse_warden_build_info{{version=\"{VERSION}\",commit=\"{COMMIT}\"}} 1"
            )),
            "{text}"
        );
    }
}
