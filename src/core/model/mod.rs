//! The facts the core decides on: what Synapse reports about users' media
//! and rooms' sizes ([`usage`]), a rule's violation ([`violation`]) and what
//! a run looked at ([`coverage`]).

pub mod coverage;
pub mod usage;
pub mod violation;
