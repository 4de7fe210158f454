//! The pure core: everything that decides, nothing that does I/O.
//!
//! Modules here never touch the network, the file system or the clock; the
//! adapters feed them data and the current time, and carry their answers out.
//!
//! The core is layered; each layer imports only the layers listed before it:
//!
//! 1. [`doc`]: the document model every message is built in (plain text and
//!    HTML, neutralising what comes from outside), and value formats.
//! 2. [`model`]: the facts: users' media usage and rooms' sizes as Synapse
//!    reports them, a violation of a rule, what a run covered.
//! 3. [`policy`]: the configuration language, parsed and validated once into
//!    typed settings; it owns every section's settings type and default.
//! 4. [`engine`]: evaluation of the rules (effective limits, overrides, rules
//!    broken by too many users), the walk's page plan, retry backoff and the
//!    snapshot of the last walk.
//! 5. [`history`], [`alerting`] and [`commands`]: what the history records and
//!    shows; the alert lifecycle, silences, conditions, server notices, the
//!    digest and upload refusals, settled once per run into typed decisions;
//!    the command table and grammar, one file per command group, and the
//!    clean-up decisions.
//! 6. [`text`]: every wording: replies, the check report, the summary of a
//!    run, notices.

pub mod alerting;
pub mod commands;
pub mod doc;
pub mod engine;
pub mod history;
pub mod model;
pub mod policy;
pub mod text;
