//! A real Synapse homeserver for integration tests, on SQLite or PostgreSQL.
//!
//! [`SynapseHarness::start`] gives each test its own Synapse
//! ([`SYNAPSE_VERSION`], pinned) in a fresh temporary directory, listening on
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
//! [`SynapseHarness::enable_rooms_statistics`] makes the PostgreSQL-only
//! `GET /_synapse/admin/v1/statistics/database/rooms` answer 200 on a fresh
//! server; [`SynapseHarness::seed_media_sql`] bulk-inserts users and media rows
//! by SQL for the users' media statistics.

#![allow(dead_code)] // Each suite uses a different part of the harness.

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

/// The Synapse release every test runs against (`matrix-synapse` on PyPI).
pub const SYNAPSE_VERSION: &str = "1.163.2";

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

/// What [`SynapseHarness::seed_media_sql`] inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Users inserted (each with a profile and `media_per_user` media rows).
    pub users: u64,
    /// Media rows inserted.
    pub media: u64,
    /// Sum of the inserted rows' `media_length`.
    pub total_bytes: u64,
    /// `created_ts` of every inserted media row (ms since the Unix epoch).
    pub created_ts: u64,
}

/// The user ID of seeded user `i` (1-based), e.g. `@seed-0000042:warden.test`.
pub fn seeded_user_id(i: u64) -> String {
    format!("@seed-{i:07}:{SERVER_NAME}")
}

/// The display name of seeded user `i`: `Seed User 0000042`.
pub fn seeded_displayname(i: u64) -> String {
    format!("Seed User {i:07}")
}

/// Length of media row `j` (1-based) of seeded user `i`: `i * 1000 + j`.
pub fn seeded_media_row_length(i: u64, j: u64) -> u64 {
    i * 1000 + j
}

/// Total `media_length` of seeded user `i` with `media_per_user` rows.
pub fn seeded_media_length(i: u64, media_per_user: u64) -> u64 {
    (1..=media_per_user)
        .map(|j| seeded_media_row_length(i, j))
        .sum()
}

/// A PostgreSQL database owned by one harness instance.
#[derive(Debug)]
struct PgDatabase {
    /// URL of the maintenance database (from `$WARDEN_TEST_PG_URL`).
    admin_url: Url,
    /// URL of the instance's database.
    url: Url,
    name: String,
}

/// A running Synapse, torn down on drop. See the [module docs](self).
pub struct SynapseHarness {
    backend: Backend,
    /// `None` once kept (or dropped).
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    python: PathBuf,
    base_url: Url,
    http: reqwest::Client,
    child: Option<Child>,
    shared_secret: String,
    pg: Option<PgDatabase>,
    sqlite_path: Option<PathBuf>,
    startup: Duration,
    next_txn: AtomicU64,
    /// Extra top-level keys of `homeserver.yaml` (e.g. `modules`).
    extra_config: serde_json::Map<String, Value>,
}

impl fmt::Debug for SynapseHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SynapseHarness")
            .field("backend", &self.backend)
            .field("base_url", &self.base_url.as_str())
            .field("dir", &self.dir_path)
            .field("database", &self.pg.as_ref().map(|pg| &pg.name))
            .finish_non_exhaustive()
    }
}

impl SynapseHarness {
    /// Starts a fresh Synapse on `backend` and waits until it answers.
    ///
    /// Creates the virtualenv first if needed (about a minute, once).
    pub async fn start(backend: Backend) -> Result<Self> {
        Self::start_with(backend, serde_json::Map::new()).await
    }

    /// Starts Synapse as [`Self::start`] does, with extra top-level keys of
    /// `homeserver.yaml` (`modules`, `media_upload_limits`...).
    pub async fn start_with(
        backend: Backend,
        extra_config: serde_json::Map<String, Value>,
    ) -> Result<Self> {
        let started = Instant::now();
        let venv = ensure_venv().await?;
        let python = venv.join("bin").join("python");

        remove_stale_dirs_once();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .context("creating the Synapse temporary directory")?;
        let dir_path = dir.path().to_path_buf();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;

        // From here on, `Drop` cleans up whatever has been set up.
        let mut harness = SynapseHarness {
            backend,
            dir: Some(dir),
            config_path: dir_path.join("homeserver.yaml"),
            log_path: dir_path.join("synapse.log"),
            dir_path,
            python,
            base_url: Url::parse("http://127.0.0.1:0/").context("placeholder URL")?,
            http,
            child: None,
            shared_secret: String::new(),
            pg: None,
            sqlite_path: None,
            startup: Duration::ZERO,
            next_txn: AtomicU64::new(0),
            extra_config,
        };

        harness.generate_config().await?;
        match backend {
            Backend::Sqlite => {
                harness.sqlite_path = Some(harness.dir_path.join("homeserver.db"));
            }
            Backend::Postgres => {
                harness.pg = Some(create_pg_database().await?);
            }
        }

        // A free port can be taken by someone else between our probe and
        // Synapse's bind: retry with another one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            harness.write_config(port)?;
            harness.base_url = Url::parse(&format!("http://127.0.0.1:{port}/"))
                .context("building the base URL")?;
            harness.spawn()?;
            match harness.wait_ready().await {
                Ok(()) => break,
                Err(err) => {
                    harness.kill_child();
                    let log = tail_of_file(&harness.log_path, 60);
                    if attempt < 3 && log.contains("Address already in use") {
                        continue;
                    }
                    bail!(
                        "Synapse {SYNAPSE_VERSION} on {backend} did not start: {err:#}\n\
                         last lines of {} (WARDEN_KEEP_SYNAPSE=1 keeps it):\n{log}",
                        harness.log_path.display()
                    );
                }
            }
        }
        harness.startup = started.elapsed();
        Ok(harness)
    }

    /// The database Synapse runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The homeserver's `server_name` ([`SERVER_NAME`]).
    pub fn server_name(&self) -> &str {
        SERVER_NAME
    }

    /// The edited `homeserver.yaml`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Synapse's stdout and stderr (its log, at INFO).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The instance's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// The SQLite database file, on [`Backend::Sqlite`].
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// The PostgreSQL database's name, on [`Backend::Postgres`].
    pub fn pg_database(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.name.as_str())
    }

    /// Synapse's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How long [`Self::start`] took, virtualenv check included.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A plain HTTP client (60 s timeout) for requests of the test's own.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The last `lines` lines of Synapse's log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of_file(&self.log_path, lines)
    }

    /// Registers a user through the shared-secret admin registration API
    /// and returns it with an access token (no login needed).
    pub async fn register(&self, username: &str, password: &str, admin: bool) -> Result<TestUser> {
        let what = format!("registering {username:?}");
        let nonce = self
            .call(
                Method::GET,
                &["_synapse", "admin", "v1", "register"],
                &[],
                None,
                None,
            )
            .await
            .with_context(|| what.clone())?;
        let nonce = json_str(&nonce, "nonce").with_context(|| what.clone())?;

        let mut mac = Hmac::<Sha1>::new_from_slice(self.shared_secret.as_bytes())
            .context("keying HMAC-SHA1")?;
        mac.update(nonce.as_bytes());
        mac.update(b"\0");
        mac.update(username.as_bytes());
        mac.update(b"\0");
        mac.update(password.as_bytes());
        mac.update(b"\0");
        mac.update(if admin { b"admin" } else { b"notadmin" });
        let mac = hex::encode(mac.finalize().into_bytes());

        let body = json!({
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let answer = self
            .call(
                Method::POST,
                &["_synapse", "admin", "v1", "register"],
                &[],
                None,
                Some(&body),
            )
            .await
            .with_context(|| what.clone())?;
        Ok(TestUser {
            user_id: json_str(&answer, "user_id").with_context(|| what.clone())?,
            access_token: json_str(&answer, "access_token").with_context(|| what.clone())?,
            device_id: json_str(&answer, "device_id").with_context(|| what.clone())?,
        })
    }

    /// Sets (`Some`) or removes (`None`: the profile keeps a NULL
    /// display name) the user's display name.
    pub async fn set_displayname(&self, user: &TestUser, displayname: Option<&str>) -> Result<()> {
        let body = json!({ "displayname": displayname.unwrap_or("") });
        self.call(
            Method::PUT,
            &[
                "_matrix",
                "client",
                "v3",
                "profile",
                &user.user_id,
                "displayname",
            ],
            &[],
            Some(user),
            Some(&body),
        )
        .await
        .with_context(|| format!("setting the display name of {}", user.user_id))?;
        Ok(())
    }

    /// Uploads `bytes` bytes of media as `user`; returns the `mxc://` URI.
    pub async fn upload_media(&self, user: &TestUser, bytes: usize) -> Result<String> {
        let content: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
        let url = self.url(
            &["_matrix", "media", "v3", "upload"],
            &[("filename", "warden.bin")],
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(&user.access_token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(content)
            .send()
            .await
            .with_context(|| format!("uploading {bytes} bytes as {}", user.user_id))?;
        let answer = check_response(response, "POST /_matrix/media/v3/upload", Some(user)).await?;
        json_str(&answer, "content_uri")
            .with_context(|| format!("uploading {bytes} bytes as {}", user.user_id))
    }

    /// Creates a private room named `name` (with `m.room.encryption` if
    /// `encrypted`), inviting `invite` (user IDs); returns its room ID.
    pub async fn create_room(
        &self,
        user: &TestUser,
        name: &str,
        encrypted: bool,
        invite: &[&str],
    ) -> Result<String> {
        let mut initial_state = Vec::new();
        if encrypted {
            initial_state.push(json!({
                "type": "m.room.encryption",
                "state_key": "",
                "content": { "algorithm": "m.megolm.v1.aes-sha2" },
            }));
        }
        let body = json!({
            "name": name,
            "preset": "private_chat",
            "invite": invite,
            "initial_state": initial_state,
        });
        let answer = self
            .call(
                Method::POST,
                &["_matrix", "client", "v3", "createRoom"],
                &[],
                Some(user),
                Some(&body),
            )
            .await
            .with_context(|| format!("creating room {name:?} as {}", user.user_id))?;
        json_str(&answer, "room_id").with_context(|| format!("creating room {name:?}"))
    }

    /// Joins a room by ID or alias; returns the room ID.
    pub async fn join_room(&self, user: &TestUser, room_id_or_alias: &str) -> Result<String> {
        let answer = self
            .call(
                Method::POST,
                &["_matrix", "client", "v3", "join", room_id_or_alias],
                &[],
                Some(user),
                Some(&json!({})),
            )
            .await
            .with_context(|| format!("joining {room_id_or_alias} as {}", user.user_id))?;
        json_str(&answer, "room_id").with_context(|| format!("joining {room_id_or_alias}"))
    }

    /// Sends an `m.text` message; returns its event ID.
    pub async fn send_text(&self, user: &TestUser, room_id: &str, body: &str) -> Result<String> {
        self.send_message(user, room_id, &json!({ "msgtype": "m.text", "body": body }))
            .await
    }

    /// Sends an `m.room.message` with arbitrary content; returns its event ID.
    pub async fn send_message(
        &self,
        user: &TestUser,
        room_id: &str,
        content: &Value,
    ) -> Result<String> {
        let txn = format!("warden-{}", self.next_txn.fetch_add(1, Ordering::Relaxed));
        let answer = self
            .call(
                Method::PUT,
                &[
                    "_matrix",
                    "client",
                    "v3",
                    "rooms",
                    room_id,
                    "send",
                    "m.room.message",
                    &txn,
                ],
                &[],
                Some(user),
                Some(content),
            )
            .await
            .with_context(|| format!("sending a message to {room_id} as {}", user.user_id))?;
        json_str(&answer, "event_id").with_context(|| format!("sending a message to {room_id}"))
    }

    /// Sets `target`'s power level in `room_id`, as `user` (who must be
    /// allowed to change `m.room.power_levels`).
    pub async fn set_power_level(
        &self,
        user: &TestUser,
        room_id: &str,
        target: &str,
        level: i64,
    ) -> Result<()> {
        let what = || {
            format!(
                "setting the power level of {target} in {room_id} as {}",
                user.user_id
            )
        };
        let path = [
            "_matrix",
            "client",
            "v3",
            "rooms",
            room_id,
            "state",
            "m.room.power_levels",
            "",
        ];
        let mut content = self
            .call(Method::GET, &path, &[], Some(user), None)
            .await
            .with_context(what)?;
        let users = content
            .as_object_mut()
            .ok_or_else(|| anyhow!("m.room.power_levels is not an object"))
            .with_context(what)?
            .entry("users")
            .or_insert_with(|| json!({}));
        let users = users
            .as_object_mut()
            .ok_or_else(|| anyhow!("m.room.power_levels users is not an object"))
            .with_context(what)?;
        users.insert(target.to_owned(), json!(level));
        self.call(Method::PUT, &path, &[], Some(user), Some(&content))
            .await
            .with_context(what)?;
        Ok(())
    }

    /// `GET` with `user`'s token; returns the status and the JSON body
    /// (`Value::Null` if the body is not JSON), whatever the status.
    pub async fn get_json(
        &self,
        user: &TestUser,
        path_and_query: &str,
    ) -> Result<(StatusCode, Value)> {
        let url = self
            .base_url
            .join(path_and_query.trim_start_matches('/'))
            .with_context(|| format!("joining {path_and_query:?} to the base URL"))?;
        let response = self
            .http
            .get(url)
            .bearer_auth(&user.access_token)
            .send()
            .await
            .with_context(|| format!("GET {path_and_query} as {}", user.user_id))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer to GET {path_and_query}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Makes `GET /_synapse/admin/v1/statistics/database/rooms` answer 200
    /// with rooms on this (PostgreSQL) server, and returns that answer.
    ///
    /// A fresh Synapse answers 500: the estimate reads PostgreSQL's
    /// `pg_stats.most_common_vals` of `room_id` in `event_json`, `events`,
    /// `event_search`, `event_edges`, `event_push_actions`,
    /// `stream_ordering_to_exterm` and `state_groups_state`, and fails if one
    /// of them has no statistics row (never analyzed or empty) or a NULL list
    /// (`event_edges.room_id` is no longer written). So this registers three
    /// users, creates traffic in three two-member rooms (different amounts,
    /// each message mentioning the other member so that `event_push_actions`
    /// gets rows), copies `room_id` into `event_edges` from `events` (as an
    /// older server would have it) and runs `ANALYZE`.
    pub async fn enable_rooms_statistics(&self) -> Result<Vec<RoomSizeEstimate>> {
        ensure!(
            self.backend == Backend::Postgres,
            "the rooms statistics endpoint requires PostgreSQL; this harness runs {}",
            self.backend
        );
        let n = self.next_txn.fetch_add(1, Ordering::Relaxed);
        let password = "rooms-statistics";
        let admin = self
            .register(&format!("rooms-stats-admin-{n}"), password, true)
            .await?;
        let alice = self
            .register(&format!("rooms-stats-alice-{n}"), password, false)
            .await?;
        let bob = self
            .register(&format!("rooms-stats-bob-{n}"), password, false)
            .await?;
        for (room, messages) in [(0, 12), (1, 8), (2, 4)] {
            let room_id = self
                .create_room(
                    &alice,
                    &format!("Rooms statistics {room}"),
                    false,
                    &[&bob.user_id],
                )
                .await?;
            self.join_room(&bob, &room_id).await?;
            for k in 0..messages {
                let (from, to) = if k % 2 == 0 {
                    (&alice, &bob)
                } else {
                    (&bob, &alice)
                };
                self.send_text(from, &room_id, &format!("{}: message {k}", to.localpart()))
                    .await?;
            }
        }
        self.psql(
            "UPDATE event_edges SET room_id = e.room_id FROM events e \
             WHERE e.event_id = event_edges.event_id AND event_edges.room_id IS NULL;\n\
             ANALYZE;",
        )
        .await
        .context("filling event_edges.room_id and analyzing")?;

        let path = "/_synapse/admin/v1/statistics/database/rooms";
        let (status, body) = self.get_json(&admin, path).await?;
        ensure!(
            status == StatusCode::OK,
            "GET {path} still answers {status} after creating traffic and ANALYZE: {body}\n\
             last lines of Synapse's log:\n{}",
            self.log_tail(30)
        );
        let rooms = parse_rooms(&body).with_context(|| format!("GET {path} answered {body}"))?;
        ensure!(
            !rooms.is_empty(),
            "GET {path} answered 200 with no rooms: {body}"
        );
        Ok(rooms)
    }

    /// Runs SQL (one or more statements) in the instance's PostgreSQL
    /// database through `psql -XqtA -v ON_ERROR_STOP=1`; returns what it
    /// printed: one line per row, columns separated by `|`.
    pub async fn psql(&self, sql: &str) -> Result<String> {
        let pg = self.pg.as_ref().ok_or_else(|| {
            anyhow!(
                "psql() needs the PostgreSQL backend; this harness runs {}",
                self.backend
            )
        })?;
        run_psql(&pg.url, sql)
            .await
            .with_context(|| format!("running SQL in database {}", pg.name))
    }

    /// Runs SQL in the instance's SQLite database, with the `sqlite3` CLI if
    /// installed and else Python's `sqlite3` module; output as [`Self::psql`].
    pub async fn sqlite(&self, sql: &str) -> Result<String> {
        let path = self.sqlite_path.as_deref().ok_or_else(|| {
            anyhow!(
                "sqlite() needs the SQLite backend; this harness runs {}",
                self.backend
            )
        })?;
        run_sqlite(&self.python, path, sql).await
    }

    /// Runs SQL on whichever database this instance uses.
    pub async fn sql(&self, sql: &str) -> Result<String> {
        match self.backend {
            Backend::Sqlite => self.sqlite(sql).await,
            Backend::Postgres => self.psql(sql).await,
        }
    }

    /// Bulk-inserts `n_users` users `@seed-0000001` … (see
    /// [`seeded_user_id`]), each with a profile (display name
    /// [`seeded_displayname`]) and `media_per_user` rows in
    /// `local_media_repository` (lengths [`seeded_media_row_length`], all
    /// created now), in one transaction. The statistics API reads only these
    /// tables; the users cannot log in (no password). Call it once per
    /// instance: the IDs are fixed.
    pub async fn seed_media_sql(&self, n_users: u64, media_per_user: u64) -> Result<SeedReport> {
        let now = now_ms();
        let now_s = now / 1000;
        // Row sources `s(i)` for 1..=n_users and `m(j)` for 1..=media_per_user,
        // and the localpart `seed-0000042` of user i.
        let (series_i, series_j, digits) = match self.backend {
            Backend::Postgres => (
                format!("generate_series(1, {n_users}) AS s(i)"),
                format!("generate_series(1, {media_per_user}) AS m(j)"),
                "lpad(CAST(i AS TEXT), 7, '0')",
            ),
            Backend::Sqlite => (
                format!(
                    "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n_users}) \
                     SELECT i FROM s) AS s"
                ),
                format!(
                    "(WITH RECURSIVE m(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM m WHERE j < {media_per_user}) \
                     SELECT j FROM m) AS m"
                ),
                "substr('0000000' || CAST(i AS TEXT), -7)",
            ),
        };
        let localpart = format!("'seed-' || {digits}");
        let user_id = format!("'@' || {localpart} || ':{SERVER_NAME}'");
        let mut sql = format!(
            "BEGIN;\n\
             INSERT INTO users (name, password_hash, creation_ts, admin, is_guest, deactivated, approved) \
             SELECT {user_id}, NULL, {now_s}, 0, 0, 0, TRUE FROM {series_i};\n\
             INSERT INTO profiles (user_id, full_user_id, displayname) \
             SELECT {localpart}, {user_id}, 'Seed User ' || {digits} FROM {series_i};\n"
        );
        if media_per_user > 0 {
            sql += format!(
                "INSERT INTO local_media_repository (media_id, media_type, media_length, created_ts, \
                 upload_name, user_id, last_access_ts, safe_from_quarantine, authenticated) \
                 SELECT 'seed' || CAST(i AS TEXT) || 'x' || CAST(j AS TEXT), 'application/octet-stream', \
                 i * 1000 + j, {now}, 'seed.bin', {user_id}, {now}, FALSE, TRUE \
                 FROM {series_i}, {series_j};\n"
            )
            .as_str();
        }
        sql += "COMMIT;\n";
        if n_users > 0 {
            self.sql(&sql).await.with_context(|| {
                format!("seeding {n_users} users with {media_per_user} media each")
            })?;
        }
        let total_bytes = (1..=n_users)
            .map(|i| seeded_media_length(i, media_per_user))
            .sum();
        Ok(SeedReport {
            users: n_users,
            media: n_users * media_per_user,
            total_bytes,
            created_ts: now,
        })
    }

    // ---- internals ----

    /// `--generate-config` into the temporary directory; reads the
    /// registration shared secret.
    async fn generate_config(&mut self) -> Result<()> {
        let output = tokio::process::Command::new(&self.python)
            .args([
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
            ])
            .arg(&self.config_path)
            .arg("--data-directory")
            .arg(&self.dir_path)
            .args(["--generate-config", "--report-stats=no"])
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| {
                format!(
                    "running {} -m synapse.app.homeserver --generate-config",
                    self.python.display()
                )
            })?;
        ensure!(
            output.status.success(),
            "synapse --generate-config failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading the generated {}", self.config_path.display()))?;
        let config: serde_json::Map<String, Value> = serde_saphyr::from_str(&text)
            .with_context(|| format!("parsing the generated {}", self.config_path.display()))?;
        self.shared_secret = config
            .get("registration_shared_secret")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the generated config has no registration_shared_secret"))?
            .to_owned();
        Ok(())
    }

    /// Edits `homeserver.yaml` for tests, listening on `port`.
    fn write_config(&self, port: u16) -> Result<()> {
        let text = fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading {}", self.config_path.display()))?;
        let mut config: serde_json::Map<String, Value> = serde_saphyr::from_str(&text)
            .with_context(|| format!("parsing {}", self.config_path.display()))?;
        let dir = self.dir_path.to_string_lossy().into_owned();

        let log_config = self.dir_path.join("log.config");
        fs::write(&log_config, LOG_CONFIG)
            .with_context(|| format!("writing {}", log_config.display()))?;

        let mut set = |key: &str, value: Value| -> Result<()> {
            config.insert(key.to_owned(), value);
            Ok(())
        };
        set(
            "listeners",
            json!([{
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": false,
                "x_forwarded": false,
                "resources": [{ "names": ["client"], "compress": false }],
            }]),
        )?;
        set("log_config", json!(log_config.to_string_lossy()))?;
        set("pid_file", json!(format!("{dir}/homeserver.pid")))?;
        set("media_store_path", json!(format!("{dir}/media_store")))?;
        set("trusted_key_servers", json!([]))?;
        set("suppress_key_server_warning", json!(true))?;
        set("report_stats", json!(false))?;
        set("enable_metrics", json!(false))?;
        set("enable_registration", json!(false))?;
        set("presence", json!({ "enabled": false }))?;
        set("max_upload_size", json!("1G"))?;
        set("url_preview_enabled", json!(false))?;
        set("database", self.database_config()?)?;

        let lifted = json!({ "per_second": 1000, "burst_count": 1000 });
        let mut limits = serde_json::Map::new();
        for name in LIFTED_RATE_LIMITS {
            match name.split_once('.') {
                None => {
                    limits.insert((*name).to_owned(), lifted.clone());
                }
                Some((outer, inner)) => {
                    let entry = limits.entry(outer.to_owned()).or_insert_with(|| json!({}));
                    if let Some(map) = entry.as_object_mut() {
                        map.insert(inner.to_owned(), lifted.clone());
                    }
                }
            }
        }
        for (name, value) in limits {
            set(&name, value)?;
        }
        for (name, value) in &self.extra_config {
            set(name, value.clone())?;
        }

        let text = serde_saphyr::to_string(&config).context("serializing homeserver.yaml")?;
        fs::write(&self.config_path, text)
            .with_context(|| format!("writing {}", self.config_path.display()))
    }

    fn database_config(&self) -> Result<Value> {
        Ok(match (&self.pg, &self.sqlite_path) {
            (Some(pg), _) => {
                let url = &pg.url;
                json!({
                    "name": "psycopg2",
                    "txn_limit": 10000,
                    "args": {
                        "user": percent_decode(url.username()),
                        "password": percent_decode(url.password().unwrap_or("")),
                        "dbname": pg.name,
                        "host": url.host_str().unwrap_or("127.0.0.1"),
                        "port": url.port().unwrap_or(5432),
                        "cp_min": 1,
                        "cp_max": 5,
                    },
                })
            }
            (None, Some(path)) => json!({
                "name": "sqlite3",
                "args": { "database": path.to_string_lossy() },
            }),
            (None, None) => bail!("no database configured"),
        })
    }

    /// Starts Synapse in the foreground, output to the log file.
    fn spawn(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_err = log.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&self.config_path)
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: between fork and exec this only calls prctl, getppid
            // and _exit, which are async-signal-safe, and touches no locks.
            let parent = std::process::id() as libc::pid_t;
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The parent died before prctl: nobody will clean up.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let child = spawn_from_keeper_thread(command).with_context(|| {
            format!(
                "starting {} -m synapse.app.homeserver",
                self.python.display()
            )
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `GET /_synapse/admin/v1/server_version` until it answers 200.
    async fn wait_ready(&mut self) -> Result<()> {
        let url = self.url(&["_synapse", "admin", "v1", "server_version"], &[]);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("checking on Synapse")?
            {
                self.child = None;
                bail!("Synapse exited ({status}) before answering");
            }
            let answer = self
                .http
                .get(url.clone())
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status() == StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("Synapse did not answer GET {url} within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One JSON request; non-2xx answers become errors naming the request,
    /// the user, the status and the body.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        user: Option<&TestUser>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = self.url(segments, query);
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url);
        if let Some(user) = user {
            request = request.bearer_auth(&user.access_token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| match user {
            Some(user) => format!("{what} as {}", user.user_id),
            None => what.clone(),
        })?;
        check_response(response, &what, user).await
    }
}

impl Drop for SynapseHarness {
    fn drop(&mut self) {
        self.kill_child();
        let keep = std::env::var("WARDEN_KEEP_SYNAPSE").is_ok_and(|v| v == "1");
        if keep {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!(
                    "WARDEN_KEEP_SYNAPSE=1: kept Synapse ({}) in {}{}; restart it with\n  {} -m synapse.app.homeserver -c {}",
                    self.backend,
                    path.display(),
                    self.pg
                        .as_ref()
                        .map(|pg| format!(" and database {}", pg.name))
                        .unwrap_or_default(),
                    self.python.display(),
                    self.config_path.display(),
                );
            }
            return;
        }
        if let Some(pg) = self.pg.take()
            && let Err(err) = drop_pg_database_blocking(&pg.admin_url, &pg.name)
        {
            eprintln!(
                "synapse harness: could not drop database {}: {err:#}",
                pg.name
            );
        }
        if let Some(dir) = self.dir.take()
            && let Err(err) = dir.close()
        {
            eprintln!(
                "synapse harness: could not remove {}: {err}",
                self.dir_path.display()
            );
        }
    }
}

/// Synapse logs to stderr (redirected to the log file), at INFO.
const LOG_CONFIG: &str = r#"version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
loggers:
  synapse.storage.SQL:
    level: INFO
root:
  level: INFO
  handlers: [console]
disable_existing_loggers: false
"#;

/// Spawns `command` from a thread that lives as long as the process, so that
/// `PR_SET_PDEATHSIG` (which follows the spawning thread) fires only when
/// the test process dies. Falls back to spawning here if that thread can't
/// be had.
fn spawn_from_keeper_thread(mut command: Command) -> std::io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("synapse-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| jobs)
    });
    let Some(jobs) = keeper else {
        return command.spawn();
    };
    let (reply, answer) = std::sync::mpsc::channel();
    match jobs.send((command, reply)) {
        Ok(()) => answer
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone"))),
        Err(std::sync::mpsc::SendError((mut command, _))) => command.spawn(),
    }
}

// ---- HTTP helpers ----

async fn check_response(
    response: reqwest::Response,
    what: &str,
    user: Option<&TestUser>,
) -> Result<Value> {
    let status = response.status();
    let as_whom = user
        .map(|u| format!(" as {}", u.user_id))
        .unwrap_or_default();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the answer to {what}{as_whom}"))?;
    ensure!(
        status.is_success(),
        "{what}{as_whom} answered {status}: {text}"
    );
    serde_json::from_str(&text)
        .with_context(|| format!("{what}{as_whom} answered {status} with non-JSON: {text}"))
}

fn json_str(value: &Value, key: &str) -> Result<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the answer has no string {key:?}: {}", redact_token(value)))
}

/// The body for error messages, with any access token blanked.
fn redact_token(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(token) = value.get_mut("access_token") {
        *token = json!("<redacted>");
    }
    value
}

fn parse_rooms(body: &Value) -> Result<Vec<RoomSizeEstimate>> {
    let rooms = body
        .get("rooms")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no \"rooms\" array"))?;
    rooms
        .iter()
        .map(|room| {
            Ok(RoomSizeEstimate {
                room_id: json_str(room, "room_id")?,
                estimated_size: room
                    .get("estimated_size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| anyhow!("a room without an integer estimated_size: {room}"))?,
            })
        })
        .collect()
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The last `lines` lines of a (log) file, or a note that it can't be read.
fn tail_of_file(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("<cannot read {}: {err}>", path.display()),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the virtualenv ----

/// `$SYNAPSE_WARDEN_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/synapse-warden`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SYNAPSE_WARDEN_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .ok_or_else(|| {
                    anyhow!("neither SYNAPSE_WARDEN_CACHE, XDG_CACHE_HOME nor HOME is set")
                })?,
        )
        .join(".cache"),
    };
    Ok(base.join("synapse-warden"))
}

/// The pinned Synapse's virtualenv: `<cache_dir>/synapse-<version>`.
pub fn venv_dir() -> Result<PathBuf> {
    Ok(cache_dir()?.join(format!("synapse-{SYNAPSE_VERSION}")))
}

static VENV: tokio::sync::Mutex<Option<PathBuf>> = tokio::sync::Mutex::const_new(None);

/// Returns the virtualenv, creating it first if needed. Safe to call from
/// many tests at once (a process-wide mutex) and from many processes at
/// once (an exclusive `flock` on `<venv>.lock`, which `scripts/test` takes
/// too). A virtualenv counts as ready once it holds the marker file
/// `.synapse-warden-ready`; one without it (made by hand, or interrupted) is
/// checked by importing Synapse, and reinstalled if that fails.
pub async fn ensure_venv() -> Result<PathBuf> {
    let mut ready = VENV.lock().await;
    if let Some(venv) = ready.as_ref() {
        return Ok(venv.clone());
    }
    let venv = venv_dir()?;
    let venv = tokio::task::spawn_blocking(move || ensure_venv_blocking(&venv).map(|()| venv))
        .await
        .context("the virtualenv installer panicked")??;
    *ready = Some(venv.clone());
    Ok(venv)
}

fn ensure_venv_blocking(venv: &Path) -> Result<()> {
    if venv.join(VENV_MARKER).exists() {
        return Ok(());
    }
    let parent = venv
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", venv.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let sibling = |suffix: &str| {
        let mut name = venv.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        venv.with_file_name(name)
    };
    let lock_path = sibling(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    // Another process may have finished while we waited for the lock; a
    // virtualenv made by hand (or by an older harness) gets checked once.
    if venv.join(VENV_MARKER).exists() || venv_works(venv) {
        return mark_venv_ready(venv);
    }
    if venv.exists() {
        fs::remove_dir_all(venv)
            .with_context(|| format!("removing the broken virtualenv {}", venv.display()))?;
    }
    let python = std::env::var_os("SYNAPSE_WARDEN_PYTHON").unwrap_or_else(|| "python3".into());
    let log_path = sibling(".install.log");
    eprintln!(
        "synapse harness: installing matrix-synapse[postgres]=={SYNAPSE_VERSION} into {} (about a minute; log in {})",
        venv.display(),
        log_path.display()
    );
    let mut log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let steps: [(PathBuf, Vec<String>); 2] = [
        (
            PathBuf::from(&python),
            vec![
                "-m".into(),
                "venv".into(),
                venv.to_string_lossy().into_owned(),
            ],
        ),
        (
            venv.join("bin").join("pip"),
            vec![
                "install".into(),
                "--disable-pip-version-check".into(),
                "--no-input".into(),
                format!("matrix-synapse[postgres]=={SYNAPSE_VERSION}"),
            ],
        ),
    ];
    for (program, args) in steps {
        let _ = writeln!(log, "$ {} {}", program.display(), args.join(" "));
        let status = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .context("duplicating the install log handle")?,
            )
            .stderr(
                log.try_clone()
                    .context("duplicating the install log handle")?,
            )
            .status()
            .with_context(|| {
                format!(
                    "running {} (set SYNAPSE_WARDEN_PYTHON to another python3?)",
                    program.display()
                )
            })?;
        if !status.success() {
            bail!(
                "{} {} failed ({status}); last lines of {}:\n{}",
                program.display(),
                args.join(" "),
                log_path.display(),
                tail_of_file(&log_path, 30)
            );
        }
    }
    ensure!(
        venv_works(venv),
        "the new virtualenv {} cannot import Synapse {SYNAPSE_VERSION}; see {}",
        venv.display(),
        log_path.display()
    );
    mark_venv_ready(venv)
}

/// Installs the checkout's Synapse module (`synapse-module/`,
/// `synapse_warden_quota`) into the virtualenv, unless this version of its
/// sources is installed already (a marker named after their SHA-1). Under
/// the virtualenv's lock, like its creation.
pub async fn ensure_quota_module() -> Result<PathBuf> {
    static DONE: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let venv = ensure_venv().await?;
    let mut done = DONE.lock().await;
    if !*done {
        let v = venv.clone();
        tokio::task::spawn_blocking(move || install_quota_module(&v))
            .await
            .context("the module installer panicked")??;
        *done = true;
    }
    Ok(venv)
}

fn install_quota_module(venv: &Path) -> Result<()> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("synapse-module");
    let mut files = vec![source.join("pyproject.toml")];
    for entry in fs::read_dir(source.join("synapse_warden_quota"))
        .with_context(|| format!("reading {}", source.display()))?
    {
        files.push(entry?.path());
    }
    files.sort();
    let mut hasher = <Sha1 as sha1::Digest>::new();
    for f in &files {
        if f.is_file() {
            sha1::Digest::update(&mut hasher, fs::read(f)?);
        }
    }
    let hash = hex::encode(sha1::Digest::finalize(hasher));
    let marker = venv.join(format!(".synapse-warden-quota-{}", &hash[..16]));
    if marker.exists() {
        return Ok(());
    }
    let mut lock_name = venv.file_name().unwrap_or_default().to_os_string();
    lock_name.push(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(venv.with_file_name(lock_name))
        .context("opening the virtualenv's lock")?;
    lock.lock().context("locking the virtualenv")?;
    if marker.exists() {
        return Ok(());
    }
    let output = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--force-reinstall",
        ])
        .arg(&source)
        .stdin(Stdio::null())
        .output()
        .context("running pip install ./synapse-module")?;
    ensure!(
        output.status.success(),
        "pip install ./synapse-module failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if let Ok(entries) = fs::read_dir(venv) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".synapse-warden-quota-")
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    fs::write(&marker, "synapse-warden-quota from the checkout\n")
        .with_context(|| format!("writing {}", marker.display()))
}

fn venv_works(venv: &Path) -> bool {
    let check = format!(
        "import sys, synapse, synapse.app.homeserver, psycopg2; sys.exit(0 if synapse.__version__ == {SYNAPSE_VERSION:?} else 3)"
    );
    Command::new(venv.join("bin").join("python"))
        .args(["-c", &check])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn mark_venv_ready(venv: &Path) -> Result<()> {
    let marker = venv.join(VENV_MARKER);
    fs::write(
        &marker,
        format!("matrix-synapse[postgres]=={SYNAPSE_VERSION}\n"),
    )
    .with_context(|| format!("writing {}", marker.display()))
}

// ---- PostgreSQL ----

/// `$WARDEN_TEST_PG_URL`, else [`DEFAULT_PG_URL`].
pub fn pg_admin_url() -> Result<Url> {
    let text = std::env::var("WARDEN_TEST_PG_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
    let url = Url::parse(&text).context("parsing WARDEN_TEST_PG_URL")?;
    ensure!(
        matches!(url.scheme(), "postgresql" | "postgres"),
        "WARDEN_TEST_PG_URL must be a postgresql:// URL"
    );
    Ok(url)
}

static PG_DB_COUNTER: AtomicU64 = AtomicU64::new(0);
static PG_STALE_CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn create_pg_database() -> Result<PgDatabase> {
    let admin_url = pg_admin_url()?;
    PG_STALE_CLEANED
        .get_or_init(|| async {
            if let Err(err) = drop_stale_pg_databases(&admin_url).await {
                eprintln!("synapse harness: could not drop stale test databases: {err:#}");
            }
        })
        .await;
    let name = format!(
        "{PG_DB_PREFIX}{}_{}",
        std::process::id(),
        PG_DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    run_psql(
        &admin_url,
        &format!(
            "DROP DATABASE IF EXISTS \"{name}\";\n\
             CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0;"
        ),
    )
    .await
    .with_context(|| {
        format!(
            "creating PostgreSQL database {name} (is PostgreSQL running and does the role of \
             WARDEN_TEST_PG_URL have CREATEDB? scripts/test sets that up)"
        )
    })?;
    let mut url = admin_url.clone();
    url.set_path(&format!("/{name}"));
    Ok(PgDatabase {
        admin_url,
        url,
        name,
    })
}

/// Drops `warden_test_<pid>_<n>` databases whose process is gone, when the
/// server is on this machine.
async fn drop_stale_pg_databases(admin_url: &Url) -> Result<()> {
    let local = matches!(
        admin_url.host_str(),
        None | Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    if !local {
        return Ok(());
    }
    let names = run_psql(
        admin_url,
        "SELECT datname FROM pg_database WHERE datname LIKE 'warden\\_test\\_%';",
    )
    .await?;
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let Some(pid) = name
            .strip_prefix(PG_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == std::process::id() || process_alive(pid) {
            continue;
        }
        if let Err(err) = run_psql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);"),
        )
        .await
        {
            eprintln!("synapse harness: could not drop stale database {name}: {err:#}");
        }
    }
    Ok(())
}

/// Removes the temporary directories of test processes that died without
/// cleaning up (killed, so `Drop` never ran), once per process.
fn remove_stale_dirs_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|name| name.strip_prefix(DIR_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok())
            else {
                continue;
            };
            if pid as u32 != std::process::id() && !process_alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

fn process_alive(pid: i32) -> bool {
    // A zombie (killed, not yet reaped) is dead for our purposes.
    #[cfg(target_os = "linux")]
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        return !rest.trim_start().starts_with('Z');
    }
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn psql_command(url: &Url) -> Command {
    let mut command = Command::new("psql");
    command
        .arg(url.as_str())
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
        .env("PGCONNECT_TIMEOUT", "10");
    command
}

/// Runs SQL through `psql`, SQL on stdin; returns stdout.
async fn run_psql(url: &Url, sql: &str) -> Result<String> {
    let mut child = tokio::process::Command::from(psql_command(url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running psql (is the PostgreSQL client installed?)")?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("psql has no stdin"))?;
    let sql = sql.to_owned();
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(sql.as_bytes()).await;
        drop(stdin);
        result
    });
    let output = child.wait_with_output().await.context("waiting for psql")?;
    let written = writer.await.context("the psql stdin writer panicked")?;
    ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    written.context("writing SQL to psql")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned())
}

/// Synchronous, for `Drop`: `DROP DATABASE ... WITH (FORCE)`.
fn drop_pg_database_blocking(admin_url: &Url, name: &str) -> Result<()> {
    let output = psql_command(admin_url)
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);"))
        .stdin(Stdio::null())
        .output()
        .context("running psql")?;
    ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

// ---- SQLite ----

/// Python fallback when the `sqlite3` CLI is missing: runs each statement,
/// printing rows like `sqlite3 -list`.
const SQLITE_PY: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
buf = ""
for line in sys.stdin.read().splitlines(keepends=True):
    buf += line
    if sqlite3.complete_statement(buf):
        for row in db.execute(buf):
            print("|".join("" if v is None else str(v) for v in row))
        buf = ""
if buf.strip():
    for row in db.execute(buf):
        print("|".join("" if v is None else str(v) for v in row))
"#;

async fn run_sqlite(python: &Path, path: &Path, sql: &str) -> Result<String> {
    let cli = which("sqlite3");
    let mut command = match &cli {
        Some(cli) => {
            let mut command = tokio::process::Command::new(cli);
            command
                .args(["-batch", "-bail", "-cmd", ".timeout 60000"])
                .arg(path);
            command
        }
        None => {
            let mut command = tokio::process::Command::new(python);
            command.args(["-c", SQLITE_PY]).arg(path);
            command
        }
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "running {}",
                if cli.is_some() {
                    "sqlite3"
                } else {
                    "python3 (sqlite3 module)"
                }
            )
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("sqlite3 has no stdin"))?;
    let sql = sql.to_owned();
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(sql.as_bytes()).await;
        drop(stdin);
        result
    });
    let output = child
        .wait_with_output()
        .await
        .context("waiting for sqlite3")?;
    let written = writer.await.context("the sqlite3 stdin writer panicked")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The CLI can exit 0 after an error in batch mode: stderr tells.
    ensure!(
        output.status.success() && stderr.trim().is_empty(),
        "SQL on {} failed ({}): {}",
        path.display(),
        output.status,
        stderr.trim()
    );
    written.context("writing SQL to sqlite3")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
