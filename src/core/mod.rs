//! The pure core: everything that decides, nothing that does I/O.
//!
//! Modules here never touch the network, the file system or the clock; the
//! adapters feed them data and the current time, and carry their answers out.

pub mod actions;
pub mod alerts;
pub mod announce;
pub mod backoff;
pub mod broad;
pub mod command;
pub mod conditions;
pub mod coverage;
pub mod crontab;
pub mod digest;
pub mod doc;
pub mod eval;
pub mod history;
pub mod limits;
pub mod model;
pub mod notice;
pub mod policy;
pub mod rate_limit;
pub mod refusals;
pub mod render;
pub mod report;
pub mod silence;
pub mod snapshot;
pub mod strings;
pub mod view;
pub mod violation;
pub mod walk_plan;
