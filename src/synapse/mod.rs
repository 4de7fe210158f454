//! Adapter: Synapse's statistics admin API over HTTP.
//!
//! - [`query`]: typed requests — an invalid request cannot be built.
//! - [`error`]: [`SynapseError`], which keeps Synapse's status, errcode and
//!   message and never the access token.
//! - [`client`]: [`SynapseClient`], one request per call, with timeouts and
//!   retries for transient failures.
//! - [`walk`]: the full walk over every page of the users' media statistics.
//! - [`decode`]: streaming decoding of a users page.
//! - [`run`]: one run of the rules — the walks the engine plans, fed to it
//!   page by page, then the largest rooms; `check` and the daemon both run
//!   it.
//!
//! Both endpoints are served only by Synapse's main process, not by workers,
//! so the admin API base URL is a setting of its own.

pub mod client;
pub mod decode;
pub mod error;
pub mod evaluate;
pub mod query;
pub mod walk;

pub use client::{
    AdminToken, ClientConfig, PageReader, RequestObserver, Retrier, RetryPolicy, SynapseClient,
    TokenSource, UsersMediaPage,
};
pub use error::{Endpoint, SynapseError};
pub use query::{Direction, OrderBy, PageLimit, SearchTerm, UsersMediaQuery};
pub use walk::{Walk, WalkChunk, WalkOptions, WalkSummary};
