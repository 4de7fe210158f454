//! Adapter: the long-running service around the core — the loop, its
//! durable state, and the health, metrics and module
//! endpoints.
//!
//! Each module imports only those listed before it (the core, the Synapse
//! client and the history aside), so there is no import circle:
//!
//! 1. [`store`]: the state file in the data directory, written atomically,
//!    a corrupt one set aside (when the next run is due is the core's
//!    [`crate::core::engine::schedule`]).
//!    [`metrics`]: the Prometheus metrics, and how a run is recorded in
//!    them ([`Metrics::record_run`](metrics::Metrics::record_run)).
//!    [`state`]: the persisted schema, what `state.json` holds (alerts and
//!    their outbox, conditions, the last run, server notices, the digest).
//! 2. [`shared`]: the ports between the loop and what surrounds it — the
//!    state shared with the bot and the endpoints, the status and
//!    readiness they read, the requests to the loop, and where
//!    announcements go (`Notifier`).
//! 3. [`module_api`]: the endpoints of the Synapse module (upload limits,
//!    refused uploads, posted in batches).
//! 4. [`http`]: `/health`, `/ready` and `/metrics`, with the module's
//!    routes beside them.
//! 5. [`service`]: the loop itself — runs on the schedule, their
//!    announcements, reload, shutdown. Its parts, as `impl Daemon` blocks
//!    that import it: `delivery` (the outboxes to the admin room and the
//!    server notices to users, and queueing an announcement), `digest`
//!    (the digest, the history it reads, the chart drawn for messages that
//!    carry one) and `silences` (silences and acknowledgements asked for
//!    by the bot).

mod delivery;
mod digest;
pub mod http;
pub mod metrics;
pub mod module_api;
pub mod service;
pub mod shared;
mod silences;
pub mod state;
pub mod store;
