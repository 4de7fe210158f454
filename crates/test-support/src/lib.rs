//! Test support of synapse-warden, shared by its integration tests
//! (`tests/it`), benchmarks (`benches/`) and the quick start
//! (`examples/quickstart.rs`); never a dependency of the daemon itself.
//!
//! - [`synapse`]: a real Synapse homeserver (SQLite or PostgreSQL) started
//!   per test, with users, rooms and media.
//! - [`fake`]: an in-process fake of Synapse's admin API, for fast and
//!   exhaustive tests.
//! - [`policy`]: policy files built from their parts, written by a YAML
//!   serializer.

pub mod fake;
pub mod policy;
pub mod synapse;
