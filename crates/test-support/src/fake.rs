//! An in-process fake of Synapse's statistics admin API, for fast and
//! exhaustive tests without a real homeserver.
//!
//! Served on a loopback port by [`FakeSynapse`]:
//!
//! - `GET /_synapse/admin/v1/statistics/users/media` — users' local media usage;
//! - `GET /_synapse/admin/v1/statistics/database/rooms` — the largest rooms;
//! - `GET /_synapse/admin/v1/rooms` — the official room list (`room_list`);
//! - `GET /_synapse/admin/v1/server_version` — no auth, for readiness checks;
//! - `GET /_synapse/client/synapse_warden/v1/rooms` — the warden's Synapse
//!   module's room sizes, when a module is loaded (`module`).
//! - room details, deletion and history purge with their task statuses
//!   (`room_tasks`).
//!
//! # What is reproduced
//!
//! Synapse 1.163.2 as read in its source (`synapse/rest/admin/statistics.py`,
//! `synapse/http/servlet.py`, `synapse/api/auth/base.py`,
//! `synapse/storage/databases/main/stats.py`, Twisted's `parse_qs`) and as
//! measured on SQLite and PostgreSQL (README, "How it reads Synapse"):
//!
//! - Query strings are parsed as Twisted does: `&` and `;` separate items,
//!   items without `=` are ignored, `+` is a space, `%XX` escapes decode to
//!   bytes. Integers are read from the **first** value with Python's `int()`
//!   on bytes (ASCII whitespace, sign, `_` between digits, at most 4300
//!   digits); string parameters validate **every** value (so
//!   `dir=b&dir=x` is refused) and use the first.
//! - Authentication: `Authorization: Bearer` or the `access_token` query
//!   parameter, with Synapse's messages for a missing, unknown, mixed,
//!   repeated or malformed token, and 403 for a valid non-admin token.
//! - Validation in Synapse's order (order_by, from, limit, from_ts, until_ts,
//!   search_term, dir): the first bad parameter wins.
//! - Integers beyond a signed 64-bit integer: `from` and `limit` fail in the
//!   database on both backends (500); `from_ts`/`until_ts` fail on SQLite
//!   (Python's `sqlite3` cannot bind them) but are compared as `numeric` on
//!   PostgreSQL (psycopg2 inlines them), which answers normally.
//! - `LIKE '@%term%:%'` on the user ID or `'%term%'` on the display name,
//!   unescaped: `_` and `%` are wildcards; ASCII-case-insensitive on SQLite,
//!   case-sensitive on PostgreSQL, where `\` is LIKE's escape character.
//! - Inclusive time bounds on individual media rows, `from_ts=0` meaning no
//!   bound; users with no media in the window disappear. `SUM` of lengths is
//!   NULL only when every length is NULL (pending uploads).
//! - NULLs sort first ascending on SQLite, last ascending on PostgreSQL.
//! - Bodies byte for byte: success bodies as Python's `json` with compact
//!   separators and `ensure_ascii` (`\u00e9`), keys in Synapse's insertion
//!   order (`users`, `total`, then `next_token` iff `from + limit < total`);
//!   error bodies as canonical JSON (sorted keys). `limit=0` answers
//!   `{"users":[],"total":N,"next_token":0}`.
//! - Unknown paths: 404, other methods: 405, both `M_UNRECOGNIZED`.
//!
//! # Known differences
//!
//! - Ties in `media_length`, `media_count` and `displayname` are broken by
//!   `user_id` ascending here; Synapse's SQL has no tie-breaker, so a real
//!   server may return tied rows in any order, even differently per page.
//! - Requests hyper refuses (bytes not allowed in a URI, bad HTTP) get
//!   hyper's bare 400, not Twisted's answer.
//! - Only two tokens exist ([`ADMIN_TOKEN`], [`USER_TOKEN`]; the admin one
//!   can be rotated with [`FakeSynapse::set_admin_token`]): no appservice,
//!   guest, expired or soft-logged-out tokens. A non-ASCII token is a 500 as
//!   in Synapse.
//! - SQLite's "integer overflow" on `SUM` of huge lengths is not reproduced.
//! - Only `Content-Type` (and `Retry-After` on 429) headers are sent: no CORS
//!   or `Cache-Control`.
//! - The rooms endpoint answers a canned [`RoomsMode`], not an estimate.
//!
//! # Test controls
//!
//! [`Fault`]s are queued per request ([`Faults::push`], consumed in order by
//! requests to the two statistics endpoints) or set persistently
//! ([`Faults::set_persistent`]); [`FakeSynapse::down`] / [`FakeSynapse::up`]
//! refuse connections and come back on the same port. The dataset can change
//! while the server runs ([`FakeSynapse::insert_user`],
//! [`FakeSynapse::remove_user`], [`FakeSynapse::add_media`],
//! [`FakeSynapse::update`]), and every request is logged
//! ([`FakeSynapse::request_log`]).
//!
//! # Where things are
//!
//! - `dataset`: users and their media, generated or built by hand.
//! - `sql`: SQL semantics per backend: `ORDER BY` and its NULLs, time
//!   windows, `LIKE`.
//! - `python`: the query string as Twisted parses it, integers as Python's
//!   `int()` reads them.
//! - `json`: JSON as Synapse writes it, and its refusals.
//! - `controls`: faults, and what the rooms endpoint answers.
//! - `net`: network faults — a listener that goes down, connections cut.
//! - `server`: [`FakeSynapse`]; `handlers`: routing, authentication,
//!   validation and the statistics endpoints; `media`: the media admin
//!   endpoints and server notices.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

mod controls;
mod dataset;
mod handlers;
mod json;
mod media;
mod module;
mod net;
mod python;
mod room_list;
mod room_tasks;
mod server;
mod sql;
#[cfg(test)]
mod tests;

pub use controls::*;
pub use dataset::*;
use handlers::*;
use json::*;
pub use module::{FakeModule, ModuleRooms, ModuleUsers};
use net::*;
use python::*;
pub use room_list::FakeRoom;
use room_list::room_list;
pub use room_tasks::{FakeEvent, TaskScript};
pub use server::*;
pub use sql::*;

/// The token of a server admin.
pub const ADMIN_TOKEN: &str = "fake_admin_token";
/// A valid token of a user who is not a server admin.
pub const USER_TOKEN: &str = "fake_user_token";
/// The version `server_version` reports.
pub const SERVER_VERSION: &str = "1.163.2";
/// The server name of generated datasets unless told otherwise.
pub const DEFAULT_SERVER_NAME: &str = "test";
/// "Now" of generated datasets: every generated upload is in the 30 days
/// before it.
pub const GENERATED_NOW_MS: u64 = 1_800_000_000_000;

const USERS_PATH: &str = "/_synapse/admin/v1/statistics/users/media";
const ROOMS_PATH: &str = "/_synapse/admin/v1/statistics/database/rooms";
const ROOM_LIST_PATH: &str = "/_synapse/admin/v1/rooms";
const VERSION_PATH: &str = "/_synapse/admin/v1/server_version";

/// Python's default limit on the digits `int()` converts.
const PY_INT_MAX_DIGITS: usize = 4300;
