//! Integration tests: one test binary (one link of matrix-sdk) holding every
//! suite that needs a server, fake or real.
//!
//! - `test_support::fake` (crates/test-support): an in-process fake of
//!   Synapse's admin API.
//! - `test_support::synapse`: a real Synapse (SQLite or PostgreSQL) started
//!   per test.
//! - `conformance`: the same checks run against the fake and both real backends.

// matrix-sdk's futures need it to be proven `Send` (bot_e2e).
#![recursion_limit = "256"]

mod actions;
mod bot_e2e;
mod broad;
mod check_e2e;
mod checks;
mod client;
mod command_power;
mod conformance;
mod daemon;
mod daemon_faults;
mod delegated_auth;
mod digest;
mod fake_selftest;
mod harness_selftest;
mod hostile_e2e;
mod hostile_synapse;
mod metrics;
mod module_secret;
mod module_walk;
mod monitoring;
mod notices;
mod oldest_e2e;
mod outbox;
mod overrides_daemon;
mod quota_disk_e2e;
mod quota_e2e;
mod refresh_e2e;
mod reload_e2e;
mod room_cleanup;
mod room_cleanup_e2e;
mod room_list;
mod room_sizes;
mod run_e2e;
mod saving;
mod schedule;
mod silence_e2e;
mod token_rotation;
mod trend_e2e;
mod walk;
