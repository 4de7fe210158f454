//! Test support shared by the integration suites.

pub mod fake;
pub mod synapse;
