//! What the admins and users are told after a run, as typed decisions (the
//! wording is in [`crate::core::text`]): the alert lifecycle and its
//! on-disk form ([`lifecycle`]), silences ([`silences`]), the conditions of
//! Synapse and the walk ([`conditions`]), server notices to users
//! ([`server_notices`]), the weekly digest ([`digest`]), refusals reported
//! by the Synapse module ([`refusals`]), one [`settle`] of a finished
//! run, how loudly a post the admin room did not take yet is logged
//! ([`delivery`]), saves of the state that fail ([`saving`]), and the room an alias was
//! first resolved to ([`admin_room`]).

pub mod admin_room;
pub mod conditions;
pub mod delivery;
pub mod digest;
pub mod lifecycle;
pub mod refusals;
pub mod saving;
pub mod server_notices;
pub mod settle;
pub mod silences;
