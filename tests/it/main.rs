//! Integration tests: one test binary (one link of matrix-sdk) holding every
//! suite that needs a server, fake or real.
//!
//! - `support::fake`: an in-process fake of Synapse's statistics admin API.
//! - `support::synapse`: a real Synapse (SQLite or PostgreSQL) started per test.
//! - `conformance`: the same checks run against the fake and both real backends.

mod check_e2e;
mod conformance;
mod daemon;
mod harness_selftest;
mod support;
mod walk;
