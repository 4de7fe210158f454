//! Adapter: the long-running service around the core — durable state,
//! schedule, health and metrics endpoints.

mod delivery;
mod digest;
pub mod http;
pub mod metrics;
pub mod module_api;
pub mod schedule;
pub mod service;
pub mod shared;
mod silences;
pub mod state;
pub mod store;
