//! Adapter: the long-running service around the core — durable state,
//! schedule, health and metrics endpoints.

pub mod http;
pub mod metrics;
pub mod module_api;
pub mod schedule;
pub mod service;
pub mod shared;
pub mod state;
pub mod store;
