//! Prometheus metrics of the daemon (`/metrics`).
//!
//! Names follow Prometheus conventions with a `synapse_warden_` prefix. Labels
//! are low-cardinality: rule names, severities, error kinds and command names
//! — never user or room IDs, which would both explode the series count and
//! leak statistics to whoever can scrape.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

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

/// Labels of the commands metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The command word (`top`, `user`, ...), or `invalid`.
    pub command: String,
}

/// Labels of the refused uploads counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The rule with `enforce: upload`, or `unknown` (changed policy).
    pub rule: String,
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
    /// Violations found by the last run.
    pub violations: Family<ViolationLabels, Gauge>,
    /// Those of them a silence held back (counted in `violations` too).
    pub silenced: Family<ViolationLabels, Gauge>,
    /// Unix time of the last run that completed.
    pub last_success: Gauge<f64, AtomicU64>,
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
        let walk_duration = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        registry.register(
            "walk_duration_seconds",
            "Duration of one full walk of the users' media statistics",
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
            "Violations found by the last run, by rule and severity",
            violations.clone(),
        );
        let silenced = Family::<ViolationLabels, Gauge>::default();
        registry.register(
            "violations_silenced",
            "Violations of the last run that a silence keeps from being announced, by rule and severity (counted in synapse_warden_violations too)",
            silenced.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time at which the last run completed",
            last_success.clone(),
        );
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
        registry.register(
            "command_latency_seconds",
            "Time from a command to its reply",
            command_latency.clone(),
        );
        let uploads_refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "uploads_refused",
            "Uploads Synapse refused under a rule with `enforce: upload`, by rule",
            uploads_refused.clone(),
        );
        Metrics {
            uploads_refused,
            registry,
            walk_duration,
            walk_pages,
            walk_users,
            violations,
            silenced,
            last_success,
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
        let text = m.encode();
        for name in [
            "synapse_warden_walk_duration_seconds",
            "synapse_warden_walk_pages_total 1",
            "synapse_warden_walk_users",
            "synapse_warden_violations{rule=\"quota\",severity=\"critical\"} 3",
            "synapse_warden_last_success_timestamp_seconds",
            "synapse_warden_last_run_complete 0",
            "synapse_warden_api_errors_total{kind=\"config\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
