//! # synapse-warden
//!
//! Keeps a Matrix homeserver (Synapse) inside its storage policies: on a
//! schedule it walks Synapse's media-usage statistics, checks them against the
//! quota and room-size rules an admin declared in YAML, and tells the admins,
//! in their Matrix admin room, what is over and what has been resolved.
//!
//! The crate is laid out as a pure core wrapped by thin adapters:
//!
//! - [`core`]: the domain, in layers that import only downward — the
//!   document model, the facts, the policy, the evaluation engine, the
//!   history's decisions, alerting, the commands and every wording. No I/O,
//!   no clock reads: time is always an argument.
//! - [`synapse`]: the HTTP client for Synapse's admin API, the full walk
//!   over every page of its media statistics, and one run of the rules
//!   ([`synapse::evaluate`]).
//! - [`daemon`]: the long-running service — the schedule, the durable alert
//!   state and its outbox, reload, the `/health`, `/ready` and `/metrics`
//!   endpoints and the API of the Synapse module.
//! - [`history`]: the usage history's SQLite file, and [`chart`]: the
//!   trend chart drawn to a PNG.
//! - [`bot`]: the Matrix bot — posts to the admin room and takes `!stats`
//!   commands, through matrix-sdk with end-to-end encryption.
//! - [`cli`] and [`app`]: the edge — the command line, and the commands
//!   that read the policy file and secrets, run the core against Synapse,
//!   answer commands ([`app::answer`]) and print the result.
//!
//! - [`clock`]: the wall clock, read by the adapters and the edge only;
//!   [`private`]: files and directories private from their creation.
//!
//! `main.rs` only wires these together.

// matrix-sdk's futures are deep: proving them `Send` for `tokio::spawn`
// needs more than the default 128.
#![recursion_limit = "256"]

pub mod app;
pub mod bot;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod core;
pub mod daemon;
pub mod history;
pub mod private;
pub mod synapse;
