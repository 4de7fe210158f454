//! A real Synapse homeserver for integration tests, on SQLite or PostgreSQL.
//!
//! [`SynapseHarness::start`] gives each test its own Synapse
//! ([`SYNAPSE_VERSION`], pinned; [`SynapseHarness::start_version`] another
//! release, such as [`OLDEST_SYNAPSE_VERSION`], in a virtualenv of its own;
//! `$WARDEN_TEST_SYNAPSE_VERSION` changes the default) in a fresh temporary
//! directory, listening on
//! `127.0.0.1` and a free port, with rate limits lifted, registration closed,
//! no presence, no federation key servers and a 1 GiB upload limit. On
//! PostgreSQL each instance gets its own database, `warden_test_<pid>_<n>`.
//!
//! # What it needs
//!
//! - `python3` (or `$SYNAPSE_WARDEN_PYTHON`) with the `venv` module, and PyPI,
//!   the first time: the virtualenv lives in
//!   `$SYNAPSE_WARDEN_CACHE/synapse-<version>`, by default
//!   `${XDG_CACHE_HOME:-$HOME/.cache}/synapse-warden/synapse-<version>`, and is
//!   created on first use (about a minute) under a lock file, so concurrent
//!   tests and concurrent test processes install it once. `scripts/test`
//!   creates it up front with the same layout and lock.
//! - For [`Backend::Postgres`]: `psql` on `PATH` and a server reachable at
//!   `$WARDEN_TEST_PG_URL` (default [`DEFAULT_PG_URL`]) whose role has
//!   `CREATEDB`. `scripts/test` sets up the local PostgreSQL that way.
//!
//! # Lifetime
//!
//! Synapse runs in the foreground as a child of the test process, its
//! stdout and stderr going to [`SynapseHarness::log_path`]. Dropping the
//! harness (also while a test panics) kills Synapse, drops its PostgreSQL
//! database and removes the temporary directory; with `WARDEN_KEEP_SYNAPSE=1`
//! the directory and database are kept and their location printed.
//!
//! On Linux Synapse also gets `PR_SET_PDEATHSIG`, so it dies if the test
//! process is killed. That signal follows the *thread* that spawned the
//! child, so Synapse is spawned from one thread kept for the whole process:
//! an instance shared by several tests survives the test that started it.
//! What a killed test process leaves behind is removed by the next one to
//! start a harness: its temporary directories
//! (`$TMPDIR/synapse-warden-<pid>-*`) and, when the PostgreSQL server is on
//! loopback (where the pid means something), its databases.
//!
//! # Helpers
//!
//! Users are registered with the shared-secret admin API, which returns an
//! access token without a login. The helpers return errors that say which
//! request failed, as whom, with the status and response body; access tokens
//! never appear in them ([`TestUser`]'s `Debug` redacts its token).
//!
//! [`SynapseHarness::enable_rooms_statistics`] simulates an OLD server's
//! data so that the PostgreSQL-only `GET
//! /_synapse/admin/v1/statistics/database/rooms` answers 200: used only by
//! the conformance suite (the shape of that 200) and the harness's own
//! test; every other room test runs on Synapse as installed.
//! [`SynapseHarness::seed_media_sql`] bulk-inserts users and media rows by
//! SQL for the users' media statistics.
//!
//! # Where things are
//!
//! - `harness`: [`SynapseHarness`] — configuration, process, directory,
//!   drop.
//! - `client`: users, rooms, messages and media through Synapse's APIs.
//! - `venv`: the virtualenv and the Synapse module installed into it.
//! - `postgres`: a database per instance; SQL and rooms statistics on it.
//! - `sqlite`: SQL on the SQLite file; SQL on either backend.
//! - `seed`: users and media rows inserted by SQL.

use std::fmt;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::io::AsyncWriteExt as _;
use url::Url;

mod client;
mod harness;
mod postgres;
mod seed;
mod sqlite;
mod venv;

use client::*;
pub use harness::*;
pub use postgres::*;
pub use seed::*;
pub use venv::*;

/// The Synapse release every test runs against (`matrix-synapse` on PyPI),
/// unless `$WARDEN_TEST_SYNAPSE_VERSION` names another ([`default_version`]).
pub const SYNAPSE_VERSION: &str = "1.163.2";

/// The oldest Synapse release synapse-warden and its module support, tested
/// by `tests/it/oldest_e2e.rs` (one walk, one refused upload) in a
/// virtualenv of its own. Older releases lack `MediaUploadLimit`'s
/// `info_uri` and `can_upgrade` (Synapse 1.158.0) that the module passes.
/// `scripts/lib.sh` reads this line.
pub const OLDEST_SYNAPSE_VERSION: &str = "1.158.0";

/// The environment variable that makes [`SynapseHarness::start`] (and
/// [`ensure_venv`], [`ensure_quota_module`]) use another Synapse release,
/// e.g. `WARDEN_TEST_SYNAPSE_VERSION=1.158.0 cargo test --test it` runs
/// every suite on the oldest supported one.
pub const VERSION_VAR: &str = "WARDEN_TEST_SYNAPSE_VERSION";

/// The Synapse release the harness starts by default: `$WARDEN_TEST_SYNAPSE_VERSION`
/// when set and not empty, else [`SYNAPSE_VERSION`].
pub fn default_version() -> String {
    std::env::var(VERSION_VAR)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| SYNAPSE_VERSION.to_owned())
}

/// The PostgreSQL server and role used when `$WARDEN_TEST_PG_URL` is unset.
/// The role needs `LOGIN` and `CREATEDB`; the database named in the URL is
/// only used to create and drop the per-instance databases.
pub const DEFAULT_PG_URL: &str =
    "postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres";

/// The `server_name` of every harness instance.
pub const SERVER_NAME: &str = "warden.test";

/// How long Synapse may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Prefix of the per-instance temporary directories, followed by
/// `<pid>-`.
const DIR_PREFIX: &str = "synapse-warden-";

/// Prefix of the per-instance PostgreSQL databases.
const PG_DB_PREFIX: &str = "warden_test_";

/// Name of the file written into a virtualenv once it is known to work.
const VENV_MARKER: &str = ".synapse-warden-ready";

/// Rate limiters lifted to `{per_second: 1000, burst_count: 1000}`; nested
/// ones are written as `outer.inner`.
const LIFTED_RATE_LIMITS: &[&str] = &[
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
];

/// Which database Synapse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, in the instance's temporary directory.
    Sqlite,
    /// PostgreSQL, a database of its own on `$WARDEN_TEST_PG_URL`.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// A user registered on the harness's Synapse, with a logged-in device.
#[derive(Clone)]
pub struct TestUser {
    /// Full Matrix user ID, e.g. `@alice:warden.test`.
    pub user_id: String,
    /// Access token of [`Self::device_id`].
    pub access_token: String,
    /// The device registration created.
    pub device_id: String,
}

impl TestUser {
    /// The localpart of [`Self::user_id`] (between `@` and `:`).
    pub fn localpart(&self) -> &str {
        let rest = self.user_id.strip_prefix('@').unwrap_or(&self.user_id);
        rest.split_once(':').map_or(rest, |(local, _)| local)
    }
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// One room of the rooms statistics answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSizeEstimate {
    pub room_id: String,
    pub estimated_size: u64,
}
