//! An in-process fake of Synapse's statistics admin API, for fast and
//! exhaustive tests without a real homeserver.
//!
//! Served on a loopback port by [`FakeSynapse`]:
//!
//! - `GET /_synapse/admin/v1/statistics/users/media` — users' local media usage;
//! - `GET /_synapse/admin/v1/statistics/database/rooms` — the largest rooms;
//! - `GET /_synapse/admin/v1/server_version` — no auth, for readiness checks.
//!
//! # What is reproduced
//!
//! Synapse 1.163.2 as read in its source (`synapse/rest/admin/statistics.py`,
//! `synapse/http/servlet.py`, `synapse/api/auth/base.py`,
//! `synapse/storage/databases/main/stats.py`, Twisted's `parse_qs`) and as
//! measured on SQLite and PostgreSQL (`shared/reference/synapse-statistics-api.md`):
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
//! - Only two tokens exist ([`ADMIN_TOKEN`], [`USER_TOKEN`]): no appservice,
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

// Each suite uses a different part of the fake.
#![allow(dead_code)]

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

mod media;

const USERS_PATH: &str = "/_synapse/admin/v1/statistics/users/media";
const ROOMS_PATH: &str = "/_synapse/admin/v1/statistics/database/rooms";
const VERSION_PATH: &str = "/_synapse/admin/v1/server_version";

/// Python's default limit on the digits `int()` converts.
const PY_INT_MAX_DIGITS: usize = 4300;

// ---------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------

/// Which database the fake pretends Synapse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Db {
    /// `LIKE` is ASCII-case-insensitive; NULLs sort first ascending;
    /// `from_ts`/`until_ts` beyond i64 are a 500.
    Sqlite,
    /// `LIKE` is case-sensitive with `\` as escape; NULLs sort last
    /// ascending; `from_ts`/`until_ts` beyond i64 compare as numeric.
    Postgres,
}

/// One medium: upload time (`created_ts`, Unix ms) and length in bytes
/// (`None`: a pending asynchronous upload, `media_length IS NULL`).
pub type Media = (u64, Option<u64>);

/// A user as given to the dataset: ID, optional display name, media rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub user_id: String,
    pub displayname: Option<String>,
    pub media: Vec<Media>,
}

/// A user of a [`Users`] store, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct UserRef<'a> {
    pub user_id: &'a str,
    pub displayname: Option<&'a str>,
    pub media: &'a [Media],
    /// Number of media rows.
    pub media_count: u64,
    /// SQL `SUM` of the lengths: `None` when there is no non-NULL length.
    pub media_length: Option<u64>,
}

impl UserRef<'_> {
    /// An owned copy.
    pub fn to_user(self) -> FakeUser {
        FakeUser {
            user_id: self.user_id.to_owned(),
            displayname: self.displayname.map(str::to_owned),
            media: self.media.to_vec(),
        }
    }
}

/// One stored user: the media rows live in [`Users::media`] at
/// `start..start + len`, with their aggregates precomputed.
#[derive(Debug, Clone)]
struct Rec {
    user_id: String,
    displayname: Option<String>,
    start: usize,
    len: usize,
    count: u64,
    length: Option<u64>,
    min_ts: u64,
    max_ts: u64,
}

impl Rec {
    /// Count and SQL `SUM` of the media inside the window, from the
    /// precomputed aggregates when the window holds all or none of them.
    fn window(&self, all_media: &[Media], window: Window) -> (u64, Option<u64>) {
        if self.len == 0 {
            return (0, None);
        }
        let (min, max) = (u128::from(self.min_ts), u128::from(self.max_ts));
        let above = window.from == 0 || min >= window.from;
        let below = window.until.is_none_or(|u| max <= u);
        if above && below {
            return (self.count, self.length);
        }
        if (window.from != 0 && max < window.from) || window.until.is_some_and(|u| min > u) {
            return (0, None);
        }
        aggregate(
            all_media[self.start..self.start + self.len]
                .iter()
                .filter(|m| window.contains(m.0)),
        )
    }
}

/// Count and SQL `SUM` of lengths (NULL only if every length is NULL).
fn aggregate<'a>(media: impl Iterator<Item = &'a Media>) -> (u64, Option<u64>) {
    let mut count = 0;
    let mut sum: Option<u64> = None;
    for (_, len) in media {
        count += 1;
        if let Some(len) = len {
            sum = Some(sum.unwrap_or(0).saturating_add(*len));
        }
    }
    (count, sum)
}

/// The users of a dataset, stored compactly: one record per user with
/// precomputed aggregates, every media row in one flat vector.
///
/// Behaves like a collection of [`FakeUser`]s in insertion order, one per
/// user ID: [`Users::push`] replaces a user with the same ID.
#[derive(Debug, Clone, Default)]
pub struct Users {
    recs: Vec<Rec>,
    media: Vec<Media>,
    /// Media rows no record points at any more.
    garbage: usize,
    by_id: HashMap<String, usize>,
}

impl Users {
    /// Number of users (with or without media).
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Number of media rows over every user.
    pub fn media_rows(&self) -> usize {
        self.media.len() - self.garbage
    }

    fn view<'a>(&'a self, rec: &'a Rec) -> UserRef<'a> {
        UserRef {
            user_id: &rec.user_id,
            displayname: rec.displayname.as_deref(),
            media: &self.media[rec.start..rec.start + rec.len],
            media_count: rec.count,
            media_length: rec.length,
        }
    }

    /// The users in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = UserRef<'_>> {
        self.recs.iter().map(|r| self.view(r))
    }

    /// The user with this ID.
    pub fn get(&self, user_id: &str) -> Option<UserRef<'_>> {
        self.by_id.get(user_id).map(|&i| self.view(&self.recs[i]))
    }

    fn record(
        &mut self,
        user_id: String,
        displayname: Option<String>,
        start: usize,
        len: usize,
    ) -> Rec {
        let rows = &self.media[start..start + len];
        let (count, length) = aggregate(rows.iter());
        Rec {
            user_id,
            displayname,
            start,
            len,
            count,
            length,
            min_ts: rows.iter().map(|m| m.0).min().unwrap_or(u64::MAX),
            max_ts: rows.iter().map(|m| m.0).max().unwrap_or(0),
        }
    }

    /// Adds a user, or replaces the user with the same ID (in place).
    pub fn push(&mut self, user: FakeUser) {
        let start = self.media.len();
        self.media.extend_from_slice(&user.media);
        let rec = self.record(user.user_id, user.displayname, start, user.media.len());
        match self.by_id.get(&rec.user_id) {
            Some(&i) => {
                self.garbage += self.recs[i].len;
                self.recs[i] = rec;
            }
            None => {
                self.by_id.insert(rec.user_id.clone(), self.recs.len());
                self.recs.push(rec);
            }
        }
        self.compact_if_wasteful();
    }

    /// Appends media rows to a user (created without display name if
    /// absent), as uploads do.
    pub fn add_media(&mut self, user_id: &str, media: &[Media]) {
        let Some(&i) = self.by_id.get(user_id) else {
            self.push(FakeUser {
                user_id: user_id.to_owned(),
                displayname: None,
                media: media.to_vec(),
            });
            return;
        };
        let (old_start, old_len) = (self.recs[i].start, self.recs[i].len);
        let start = self.media.len();
        self.media
            .extend_from_within(old_start..old_start + old_len);
        self.media.extend_from_slice(media);
        self.garbage += old_len;
        let user_id = std::mem::take(&mut self.recs[i].user_id);
        let displayname = self.recs[i].displayname.take();
        self.recs[i] = self.record(user_id, displayname, start, old_len + media.len());
        self.compact_if_wasteful();
    }

    /// Removes a user; `None` if there is none with that ID.
    pub fn remove(&mut self, user_id: &str) -> Option<FakeUser> {
        let removed = self.get(user_id)?.to_user();
        self.retain(|u| u.user_id != user_id);
        Some(removed)
    }

    /// Keeps only the users for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&UserRef<'_>) -> bool) {
        let kept: Vec<bool> = self.iter().map(|u| keep(&u)).collect();
        let mut recs = std::mem::take(&mut self.recs);
        let mut flags = kept.into_iter();
        recs.retain(|_| flags.next().unwrap_or(true));
        self.recs = recs;
        self.compact();
    }

    fn compact_if_wasteful(&mut self) {
        if self.garbage > 1024 && self.garbage > self.media.len() / 2 {
            self.compact();
        }
    }

    /// Rewrites the media rows without garbage and rebuilds the index.
    fn compact(&mut self) {
        let mut media = Vec::with_capacity(self.media_rows());
        for rec in &mut self.recs {
            let start = media.len();
            media.extend_from_slice(&self.media[rec.start..rec.start + rec.len]);
            rec.start = start;
        }
        self.media = media;
        self.garbage = 0;
        self.by_id = self
            .recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.user_id.clone(), i))
            .collect();
    }
}

/// The users the fake serves, and the server name their IDs use.
///
/// A `Dataset` is its own builder:
/// `Dataset::builder().user("@alice:test", Some("Alice"), &[(ts, Some(len))])`.
#[derive(Debug, Clone)]
pub struct Dataset {
    server_name: String,
    pub users: Users,
}

impl Default for Dataset {
    fn default() -> Dataset {
        Dataset {
            server_name: DEFAULT_SERVER_NAME.to_owned(),
            users: Users::default(),
        }
    }
}

impl Dataset {
    /// An empty dataset on server `test`.
    pub fn new() -> Dataset {
        Dataset::default()
    }

    /// Same as [`Dataset::new`], to read as a builder.
    pub fn builder() -> Dataset {
        Dataset::default()
    }

    /// Sets the server name reported by [`Dataset::server_name`] (user IDs
    /// given to [`Dataset::user`] are taken as they are).
    pub fn with_server_name(mut self, server_name: &str) -> Dataset {
        server_name.clone_into(&mut self.server_name);
        self
    }

    /// The server name.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Adds a user with these media rows.
    ///
    /// # Panics
    ///
    /// If a user with that ID was already added (a mistake in the test).
    pub fn user(mut self, user_id: &str, displayname: Option<&str>, media: &[Media]) -> Dataset {
        assert!(
            self.users.get(user_id).is_none(),
            "{user_id} added twice to the dataset"
        );
        self.users.push(FakeUser {
            user_id: user_id.to_owned(),
            displayname: displayname.map(str::to_owned),
            media: media.to_vec(),
        });
        self
    }

    /// [`Dataset::generate_on`] server `test`.
    pub fn generate(n_users: usize, media_per_user: usize, seed: u64) -> Dataset {
        Dataset::generate_on(DEFAULT_SERVER_NAME, n_users, media_per_user, seed)
    }

    /// `n_users` users with `media_per_user` media rows each, deterministic
    /// for `seed`, upload times over the 30 days before
    /// [`GENERATED_NOW_MS`]. User `i` (from 0) is:
    ///
    /// - localpart `user_{i:06}` if `i % 7 == 3` (a `LIKE` wildcard),
    ///   `User{i:06}` if `i % 5 == 4` (upper case), `user{i:06}` otherwise;
    /// - display name none if `i % 11 == 0`, `Zoë {i}` (non-ASCII) if
    ///   `i % 17 == 5`, `BIG_User {i}` if `i % 19 == 7`, `User {i}` otherwise;
    /// - lengths: all pending (NULL, so `media_length` is null) if
    ///   `i % 101 == 1`; else the first pending if `i % 13 == 0`; all 1000
    ///   bytes if `i % 3 == 0` (ties in `media_length`); random multiples of
    ///   1000 up to 50 000 otherwise. Every user has the same count (ties in
    ///   `media_count`).
    pub fn generate_on(
        server_name: &str,
        n_users: usize,
        media_per_user: usize,
        seed: u64,
    ) -> Dataset {
        const MONTH_MS: u64 = 30 * 86_400_000;
        let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
        let mut recs = Vec::with_capacity(n_users);
        let mut media = Vec::with_capacity(n_users * media_per_user);
        for i in 0..n_users {
            let local = if i % 7 == 3 {
                format!("user_{i:06}")
            } else if i % 5 == 4 {
                format!("User{i:06}")
            } else {
                format!("user{i:06}")
            };
            let displayname = if i % 11 == 0 {
                None
            } else if i % 17 == 5 {
                Some(format!("Zoë {i}"))
            } else if i % 19 == 7 {
                Some(format!("BIG_User {i}"))
            } else {
                Some(format!("User {i}"))
            };
            let start = media.len();
            let (mut count, mut length, mut min_ts, mut max_ts) = (0, None, u64::MAX, 0);
            for j in 0..media_per_user {
                let ts = GENERATED_NOW_MS - splitmix(&mut state) % MONTH_MS;
                let len = if i % 101 == 1 || (i % 13 == 0 && j == 0) {
                    None
                } else if i % 3 == 0 {
                    Some(1000)
                } else {
                    Some((splitmix(&mut state) % 50 + 1) * 1000)
                };
                count += 1;
                if let Some(len) = len {
                    length = Some(length.unwrap_or(0) + len);
                }
                min_ts = min_ts.min(ts);
                max_ts = max_ts.max(ts);
                media.push((ts, len));
            }
            recs.push(Rec {
                user_id: format!("@{local}:{server_name}"),
                displayname,
                start,
                len: media_per_user,
                count,
                length,
                min_ts,
                max_ts,
            });
        }
        let by_id = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.user_id.clone(), i))
            .collect();
        Dataset {
            server_name: server_name.to_owned(),
            users: Users {
                recs,
                media,
                garbage: 0,
                by_id,
            },
        }
    }

    /// Every user with at least one medium, and their (count, SQL `SUM` of
    /// lengths) over every medium: what a full walk must find.
    pub fn totals(&self) -> HashMap<String, (u64, Option<u64>)> {
        self.users
            .iter()
            .filter(|u| u.media_count > 0)
            .map(|u| (u.user_id.to_owned(), (u.media_count, u.media_length)))
            .collect()
    }

    /// Sum of every non-NULL length.
    pub fn total_bytes(&self) -> u64 {
        self.users.iter().filter_map(|u| u.media_length).sum()
    }

    /// The full ordered answer Synapse would give for `selection` on `db`
    /// (before paging), computed naively from the media rows — an oracle
    /// for the server's answers. Ties are broken by `user_id` as the fake
    /// does.
    pub fn expected(&self, selection: &Selection, db: Db) -> Vec<UserStats> {
        let window = Window {
            from: u128::from(selection.from_ts),
            until: selection.until_ts.map(u128::from),
        };
        let search = selection.search_term.as_deref().map(|t| Search::new(t, db));
        let mut rows: Vec<UserStats> = self
            .users
            .iter()
            .filter(|u| {
                search
                    .as_ref()
                    .is_none_or(|s| s.matches(u.user_id, u.displayname))
            })
            .filter_map(|u| {
                let (count, length) = aggregate(u.media.iter().filter(|m| window.contains(m.0)));
                (count > 0).then(|| UserStats {
                    user_id: u.user_id.to_owned(),
                    displayname: u.displayname.map(str::to_owned),
                    media_count: count,
                    media_length: length,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            compare(
                a.key(),
                b.key(),
                selection.order_by,
                selection.backwards,
                db,
            )
        });
        rows
    }
}

/// SplitMix64: a small, fast, deterministic generator.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `order_by` of the users endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortBy {
    #[default]
    UserId,
    Displayname,
    MediaLength,
    MediaCount,
}

impl SortBy {
    /// Synapse's allowed values, in the order its error message lists them.
    pub const ALLOWED: [&'static str; 4] =
        ["media_length", "media_count", "user_id", "displayname"];

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::UserId => "user_id",
            SortBy::Displayname => "displayname",
            SortBy::MediaLength => "media_length",
            SortBy::MediaCount => "media_count",
        }
    }

    fn parse(value: &str) -> Option<SortBy> {
        Some(match value {
            "user_id" => SortBy::UserId,
            "displayname" => SortBy::Displayname,
            "media_length" => SortBy::MediaLength,
            "media_count" => SortBy::MediaCount,
            _ => return None,
        })
    }
}

/// The filters and order of a users request, for [`Dataset::expected`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    pub order_by: SortBy,
    /// `dir=b`.
    pub backwards: bool,
    /// 0: no lower bound.
    pub from_ts: u64,
    pub until_ts: Option<u64>,
    pub search_term: Option<String>,
}

/// One user of an answer, as Synapse reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct UserStats {
    pub user_id: String,
    pub displayname: Option<String>,
    pub media_count: u64,
    pub media_length: Option<u64>,
}

impl UserStats {
    fn key(&self) -> SortKey<'_> {
        SortKey {
            user_id: &self.user_id,
            displayname: self.displayname.as_deref(),
            count: self.media_count,
            length: self.media_length,
        }
    }
}

/// What ordering looks at.
#[derive(Clone, Copy)]
struct SortKey<'a> {
    user_id: &'a str,
    displayname: Option<&'a str>,
    count: u64,
    length: Option<u64>,
}

/// `ORDER BY <key> ASC|DESC` as the backend sorts, NULLs included, then —
/// unlike Synapse, whose SQL has no tie-breaker — `user_id` ascending, so
/// the fake's pages are deterministic.
fn compare(a: SortKey<'_>, b: SortKey<'_>, by: SortBy, backwards: bool, db: Db) -> Ordering {
    fn nullable<T: Ord>(x: Option<T>, y: Option<T>, nulls_first: bool) -> Ordering {
        match (x, y) {
            (Some(x), Some(y)) => x.cmp(&y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) if nulls_first => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) if nulls_first => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
        }
    }
    // Ascending: SQLite puts NULLs first, PostgreSQL last; DESC reverses.
    let nulls_first = db == Db::Sqlite;
    // Text compares by bytes: SQLite's BINARY collation, PostgreSQL's "C".
    let primary = match by {
        SortBy::UserId => a.user_id.cmp(b.user_id),
        SortBy::Displayname => nullable(a.displayname, b.displayname, nulls_first),
        SortBy::MediaLength => nullable(a.length, b.length, nulls_first),
        SortBy::MediaCount => a.count.cmp(&b.count),
    };
    let primary = if backwards {
        primary.reverse()
    } else {
        primary
    };
    primary.then_with(|| a.user_id.cmp(b.user_id))
}

/// Inclusive bounds on `created_ts`; `from == 0` is no lower bound (as
/// Synapse's `if from_ts:`). Wide enough for PostgreSQL's numeric
/// comparison with values beyond 64 bits (saturated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Window {
    from: u128,
    until: Option<u128>,
}

impl Window {
    fn contains(&self, ts: u64) -> bool {
        let ts = u128::from(ts);
        (self.from == 0 || ts >= self.from) && self.until.is_none_or(|u| ts <= u)
    }
}

// ---------------------------------------------------------------------------
// SQL LIKE
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// `%`
    Any,
    /// `_`
    One,
    Lit(char),
}

/// A compiled `LIKE` pattern.
#[derive(Debug, Clone)]
struct Like {
    toks: Vec<Tok>,
    fold: bool,
}

impl Like {
    /// `None`: PostgreSQL refuses a pattern ending with its escape `\`.
    fn new(pattern: &str, db: Db) -> Option<Like> {
        let fold = db == Db::Sqlite;
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            toks.push(match c {
                '%' => Tok::Any,
                '_' => Tok::One,
                '\\' if db == Db::Postgres => Tok::Lit(chars.next()?),
                c => Tok::Lit(c),
            });
        }
        if fold {
            for t in &mut toks {
                if let Tok::Lit(c) = t {
                    *c = c.to_ascii_lowercase();
                }
            }
        }
        Some(Like { toks, fold })
    }

    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.fold {
            text.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            text.chars().collect()
        };
        let p = &self.toks;
        // Wildcard matching, backtracking to the last `%`.
        let (mut ti, mut pi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < text.len() {
            match p.get(pi) {
                Some(Tok::One) => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::Lit(c)) if *c == text[ti] => {
                    ti += 1;
                    pi += 1;
                }
                Some(Tok::Any) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        star = Some((sp, st + 1));
                        pi = sp + 1;
                        ti = st + 1;
                    }
                    None => return false,
                },
            }
        }
        p[pi.min(p.len())..].iter().all(|t| *t == Tok::Any)
    }
}

/// `(lmr.user_id LIKE '@%term%:%' OR displayname LIKE '%term%')`.
#[derive(Debug, Clone)]
struct Search {
    user_id: Option<Like>,
    displayname: Option<Like>,
}

impl Search {
    fn new(term: &str, db: Db) -> Search {
        Search {
            user_id: Like::new(&format!("@%{term}%:%"), db),
            displayname: Like::new(&format!("%{term}%"), db),
        }
    }

    /// Whether PostgreSQL would refuse the patterns (never, as both end
    /// with `%`, but kept honest).
    fn invalid(&self) -> bool {
        self.user_id.is_none() || self.displayname.is_none()
    }

    fn matches(&self, user_id: &str, displayname: Option<&str>) -> bool {
        self.user_id.as_ref().is_some_and(|l| l.matches(user_id))
            || displayname.is_some_and(|d| self.displayname.as_ref().is_some_and(|l| l.matches(d)))
    }
}

// ---------------------------------------------------------------------------
// Python's view of the request
// ---------------------------------------------------------------------------

/// The query's arguments as Twisted's `parse_qs(qs, keep_blank_values=1)`
/// gives them: every value of each name, as bytes, in order.
#[derive(Debug, Default)]
struct Args(HashMap<Vec<u8>, Vec<Vec<u8>>>);

impl Args {
    fn parse(query: &str) -> Args {
        let mut args: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for item in query
            .as_bytes()
            .split(|&b| b == b'&')
            .flat_map(|s| s.split(|&b| b == b';'))
        {
            let Some(eq) = item.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = (unquote(&item[..eq]), unquote(&item[eq + 1..]));
            args.entry(name).or_default().push(value);
        }
        Args(args)
    }

    fn get(&self, name: &str) -> Option<&[Vec<u8>]> {
        self.0.get(name.as_bytes()).map(Vec::as_slice)
    }
}

/// `urllib.parse.unquote_to_bytes(s.replace(b"+", b" "))`.
fn unquote(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// An integer as Python holds it: unbounded, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PyInt {
    negative: bool,
    /// Decimal digits without leading zeros; `"0"` for zero.
    digits: String,
}

impl PyInt {
    /// Python's `int(value)` on bytes; `None` where it raises.
    fn parse(value: &[u8]) -> Option<PyInt> {
        // Python's whitespace for bytes: space, \t, \n, \v, \f, \r.
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        let start = value.iter().position(|b| !space(b))?;
        let end = value.iter().rposition(|b| !space(b))? + 1;
        let t = &value[start..end];
        let (negative, body) = match t.first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        // Digits with single underscores between them.
        let mut digits = String::with_capacity(body.len());
        let mut prev_digit = false;
        for &b in body {
            match b {
                b'0'..=b'9' => {
                    digits.push(b as char);
                    prev_digit = true;
                }
                b'_' if prev_digit => prev_digit = false,
                _ => return None,
            }
        }
        if !prev_digit || digits.len() > PY_INT_MAX_DIGITS {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        let digits = if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
        let negative = negative && digits != "0";
        Some(PyInt { negative, digits })
    }

    fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether a database driver can bind it as a signed 64-bit integer.
    fn fits_i64(&self) -> bool {
        self.to_i128().is_some_and(|v| i64::try_from(v).is_ok())
    }

    fn to_i128(&self) -> Option<i128> {
        let v: i128 = self.digits.parse().ok()?;
        Some(if self.negative { -v } else { v })
    }

    /// The value if non-negative, saturated to `u128::MAX`.
    fn to_u128_saturating(&self) -> u128 {
        if self.negative {
            0
        } else {
            self.digits.parse().unwrap_or(u128::MAX)
        }
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &PyInt) -> Ordering {
        let magnitude = self
            .digits
            .len()
            .cmp(&other.digits.len())
            .then_with(|| self.digits.cmp(&other.digits));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &PyInt) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// ---------------------------------------------------------------------------
// JSON as Synapse writes it
// ---------------------------------------------------------------------------

/// A JSON string as Python's `json` writes it with `ensure_ascii=True`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error answer, as Synapse's `return_json_error` writes it: canonical
/// JSON, keys sorted (`errcode`, `error`, then any extra field).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    errcode: &'static str,
    message: String,
    /// A field sorting after `error`: name and raw JSON value.
    extra: Option<(&'static str, String)>,
}

impl Refusal {
    fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            errcode,
            message: message.into(),
            extra: None,
        }
    }

    fn with(mut self, name: &'static str, raw_json: impl Into<String>) -> Refusal {
        self.extra = Some((name, raw_json.into()));
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = String::from("{\"errcode\":");
        push_json_str(&mut body, self.errcode);
        body.push_str(",\"error\":");
        push_json_str(&mut body, &self.message);
        if let Some((name, raw_json)) = &self.extra {
            body.push(',');
            push_json_str(&mut body, name);
            body.push(':');
            body.push_str(raw_json);
        }
        body.push('}');
        json_response(self.status, body)
    }
}

fn invalid_param(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
}

/// What Synapse answers for any exception that is not a `SynapseError`.
fn internal_error() -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "M_UNKNOWN",
        "Internal server error",
    )
}

fn unrecognized(status: StatusCode) -> Refusal {
    Refusal::new(status, "M_UNRECOGNIZED", "Unrecognized request")
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// A fault injected into a request to one of the statistics endpoints.
/// Faults act before authentication, as a proxy or a failing server would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 `{"errcode":"M_UNKNOWN","error":"Internal server error"}`.
    Status500,
    /// 502 from a reverse proxy, with an HTML body.
    BadGateway,
    /// 429 `{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":N}`
    /// with `Retry-After: ceil(N / 1000)`, as Synapse's `LimitExceededError`.
    RateLimited { retry_after_ms: u64 },
    /// Answer normally, after this long (computed after the pause, so
    /// changes made meanwhile are seen).
    Delay(Duration),
    /// 200 `application/json` whose body is truncated JSON.
    MalformedJson,
    /// Close the TCP connection without any HTTP response: the client sees
    /// a connection error, not a status.
    DropConnection,
    /// 200 whose body (the real answer) breaks off half-way: the client
    /// sees the status, then an error reading the body.
    TruncatedBody,
    /// The real answer, but `next_token` equals `from` (a server whose
    /// token does not advance). Users endpoint only.
    StaleToken,
    /// The real answer, but once a page reaches this many users (`from` +
    /// users on the page), `next_token` equals `from`: a token that stops
    /// advancing at that point of the walk, every time (make it persistent
    /// with [`Faults::set_persistent`]). Users endpoint only.
    StuckAt(u64),
    /// `200` with no users, Synapse's `total`, and no `next_token`: a server
    /// that ends the walk early. Users endpoint only.
    EmptyPage,
    /// The server goes down while handling this request: the connection
    /// closes without response and new connections are refused until
    /// [`FakeSynapse::up`].
    Down,
}

#[derive(Debug, Default)]
struct FaultState {
    queue: VecDeque<Fault>,
    persistent: Option<Fault>,
}

/// The fault controls of a running fake: a FIFO queue, one fault per
/// statistics request, then an optional fault applied to every request.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    /// Queues a fault for the next statistics request not yet given one.
    pub fn push(&self, fault: Fault) {
        lock(&self.0).queue.push_back(fault);
    }

    /// Queues several faults, one per request, in order.
    pub fn extend(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.0).queue.extend(faults);
    }

    /// A fault for every statistics request once the queue is empty
    /// (`None`: back to normal).
    pub fn set_persistent(&self, fault: Option<Fault>) {
        lock(&self.0).persistent = fault;
    }

    /// Forgets the queue and the persistent fault.
    pub fn clear(&self) {
        *lock(&self.0) = FaultState::default();
    }

    /// Faults still queued.
    pub fn pending(&self) -> usize {
        lock(&self.0).queue.len()
    }

    fn next(&self) -> Option<Fault> {
        let mut state = lock(&self.0);
        state.queue.pop_front().or_else(|| state.persistent.clone())
    }
}

/// Locks, recovering from a poisoned mutex (a panicking test thread must
/// not turn every later request into a panic).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------

/// What the rooms endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomsMode {
    /// 200 with these `(room_id, estimated_size)`, sorted largest first
    /// (stable for ties), at most ten.
    Ok(Vec<(String, u64)>),
    /// 400 `M_UNKNOWN` "Endpoint requires using PostgreSQL".
    Sqlite,
    /// 500 `M_UNKNOWN` "Internal server error": PostgreSQL whose planner
    /// statistics are missing or whose `event_edges.room_id` is NULL.
    InternalError,
}

impl RoomsMode {
    /// What a fresh Synapse on `db` answers.
    pub fn natural(db: Db) -> RoomsMode {
        match db {
            Db::Sqlite => RoomsMode::Sqlite,
            Db::Postgres => RoomsMode::InternalError,
        }
    }
}

// ---------------------------------------------------------------------------
// Connections: a listener that can go down, connections that can be cut
// ---------------------------------------------------------------------------

/// Up/down state shared by the listener, the handlers and the handle.
#[derive(Debug)]
struct Power {
    /// Whether the server should accept connections.
    want_up: watch::Sender<bool>,
    /// Whether the listener is bound right now.
    listening: watch::Sender<bool>,
    /// Parent of every connection accepted since the last time the server
    /// came up; cancelled when it goes down.
    generation: Mutex<CancellationToken>,
    /// Parent of every generation; cancelled when the fake is dropped.
    root: CancellationToken,
}

impl Power {
    /// Stops accepting and cuts every open connection (the listener drops
    /// its socket on its next turn).
    fn go_down(&self) {
        self.want_up.send_replace(false);
        let mut generation = lock(&self.generation);
        generation.cancel();
        *generation = self.root.child_token();
    }
}

/// A TCP listener that can be closed and reopened on the same address, and
/// whose connections can be cut from a handler.
struct FakeListener {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    want_up: watch::Receiver<bool>,
    power: Arc<Power>,
}

impl Listener for FakeListener {
    type Io = FakeIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FakeIo, SocketAddr) {
        loop {
            let up = *self.want_up.borrow_and_update();
            match (&self.listener, up) {
                (Some(listener), true) => {
                    tokio::select! {
                        _ = self.want_up.changed() => {}
                        accepted = listener.accept() => match accepted {
                            Ok((stream, peer)) if *self.want_up.borrow() => {
                                let token = lock(&self.power.generation).child_token();
                                return (FakeIo::new(stream, token), peer);
                            }
                            // Accepted just as the server went down.
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                        },
                    }
                }
                (Some(_), false) => {
                    self.listener = None;
                    self.power.listening.send_replace(false);
                }
                (None, true) => match TcpListener::bind(self.addr).await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.power.listening.send_replace(true);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                (None, false) => {
                    let _ = self.want_up.changed().await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// A connection that fails every read and write once its token is
/// cancelled, so hyper drops it without writing another byte.
struct FakeIo {
    stream: TcpStream,
    token: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl FakeIo {
    fn new(stream: TcpStream, token: CancellationToken) -> FakeIo {
        let cancelled = Box::pin(token.clone().cancelled_owned());
        FakeIo {
            stream,
            token,
            cancelled,
        }
    }

    /// Ready with an error once cut; registers the waker otherwise.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.cancelled
            .as_mut()
            .poll(cx)
            .is_ready()
            .then(|| io::Error::new(io::ErrorKind::ConnectionAborted, "fake: connection cut"))
    }
}

impl AsyncRead for FakeIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FakeIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// What a handler knows of its connection: the switch that cuts it.
#[derive(Debug, Clone)]
struct Conn {
    cut: CancellationToken,
}

impl Connected<IncomingStream<'_, FakeListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Conn {
        Conn {
            cut: stream.io().token.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// One request received, for assertions on how a client behaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When it arrived.
    pub at: Instant,
    /// How long after the fake started it arrived.
    pub since_start: Duration,
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
    /// The status answered; `None` while in flight or if the connection was
    /// cut without an answer.
    pub status: Option<u16>,
}

/// Rows of one users query, in answer order: (user index, count, length).
type Rows = Arc<Vec<(u32, u64, Option<u64>)>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct QueryKey {
    order_by: SortBy,
    backwards: bool,
    window: Window,
    search: Option<String>,
}

#[derive(Debug)]
struct Data {
    dataset: Dataset,
    db: Db,
    rooms: RoomsMode,
    page_cap: Option<usize>,
    /// Answers per query, until the dataset or the backend changes.
    cache: HashMap<QueryKey, Rows>,
    /// Media uploaded with an ID ([`FakeSynapse::upload`]).
    media: Vec<media::FakeMedia>,
    /// Whether server notices are enabled, and those sent: (txn ID, user,
    /// body, event ID).
    server_notices: Option<Vec<(String, String, String, String)>>,
}

impl Data {
    fn changed(&mut self) {
        self.cache.clear();
    }

    fn rows(&mut self, key: &QueryKey) -> Rows {
        if let Some(rows) = self.cache.get(key) {
            return rows.clone();
        }
        let users = &self.dataset.users;
        let db = self.db;
        let search = key.search.as_deref().map(|t| Search::new(t, db));
        let mut rows: Vec<(u32, u64, Option<u64>)> = users
            .recs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                search
                    .as_ref()
                    .is_none_or(|s| s.matches(&r.user_id, r.displayname.as_deref()))
            })
            .filter_map(|(i, r)| {
                let (count, length) = r.window(&users.media, key.window);
                (count > 0).then_some((i as u32, count, length))
            })
            .collect();
        let sort_key = |&(i, count, length): &(u32, u64, Option<u64>)| {
            let r = &users.recs[i as usize];
            SortKey {
                user_id: &r.user_id,
                displayname: r.displayname.as_deref(),
                count,
                length,
            }
        };
        rows.sort_by(|a, b| compare(sort_key(a), sort_key(b), key.order_by, key.backwards, db));
        let rows = Arc::new(rows);
        self.cache.insert(key.clone(), rows.clone());
        rows
    }
}

#[derive(Debug)]
struct App {
    data: Mutex<Data>,
    faults: Faults,
    power: Arc<Power>,
    log: Mutex<Vec<LoggedRequest>>,
    started: Instant,
}

/// The running fake. Stops (cutting every connection) when dropped.
#[derive(Debug)]
pub struct FakeSynapse {
    app: Arc<App>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for FakeSynapse {
    fn drop(&mut self) {
        self.app.power.root.cancel();
        self.server.abort();
    }
}

impl FakeSynapse {
    /// Serves `dataset` as a Synapse on `db` on a free loopback port. The
    /// rooms endpoint answers [`RoomsMode::natural`] for `db`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(dataset: Dataset, db: Db) -> FakeSynapse {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Synapse");
        let addr = listener.local_addr().expect("the fake's address");
        let root = CancellationToken::new();
        let (want_up, want_up_rx) = watch::channel(true);
        let power = Arc::new(Power {
            want_up,
            listening: watch::Sender::new(true),
            generation: Mutex::new(root.child_token()),
            root,
        });
        let app = Arc::new(App {
            data: Mutex::new(Data {
                dataset,
                db,
                rooms: RoomsMode::natural(db),
                page_cap: None,
                cache: HashMap::new(),
                media: Vec::new(),
                server_notices: None,
            }),
            faults: Faults::default(),
            power: power.clone(),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let listener = FakeListener {
            addr,
            listener: Some(listener),
            want_up: want_up_rx,
            power,
        };
        let router = Router::new().fallback(handle).with_state(app.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<Conn>(),
            )
            .await;
        });
        FakeSynapse { app, addr, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A server admin's token ([`ADMIN_TOKEN`]).
    pub fn admin_token(&self) -> &'static str {
        ADMIN_TOKEN
    }

    /// A valid token of a user who is not a server admin ([`USER_TOKEN`]).
    pub fn user_token(&self) -> &'static str {
        USER_TOKEN
    }

    /// The dataset's server name.
    pub fn server_name(&self) -> String {
        lock(&self.app.data).dataset.server_name.clone()
    }

    /// The backend the fake imitates.
    pub fn db(&self) -> Db {
        lock(&self.app.data).db
    }

    /// Switches the backend (the rooms answer is left as it is).
    pub fn set_db(&self, db: Db) {
        let mut data = lock(&self.app.data);
        data.db = db;
        data.changed();
    }

    /// Sets what the rooms endpoint answers.
    pub fn set_rooms(&self, rooms: RoomsMode) {
        lock(&self.app.data).rooms = rooms;
    }

    /// Answers at most `cap` users per page whatever the limit, as
    /// matrix-media-repo does (50); `next_token` uses the capped limit.
    pub fn set_page_cap(&self, cap: Option<usize>) {
        lock(&self.app.data).page_cap = cap;
    }

    /// The fault controls (a handle: clone it into other tasks freely).
    pub fn faults(&self) -> Faults {
        self.app.faults.clone()
    }

    /// Queues faults for the next statistics requests, one each.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.app.faults.extend(faults);
    }

    /// The query strings of the users-endpoint requests received so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.app.log)
            .iter()
            .filter(|r| r.path == USERS_PATH)
            .map(|r| r.query.clone())
            .collect()
    }

    /// Every request received so far, any path, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.app.log).clone()
    }

    /// How many requests arrived so far, any path.
    pub fn request_count(&self) -> usize {
        lock(&self.app.log).len()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.app.log).clear();
    }

    /// Reads the current dataset.
    pub fn with_dataset<R>(&self, read: impl FnOnce(&Dataset) -> R) -> R {
        read(&lock(&self.app.data).dataset)
    }

    /// Changes the dataset (as uploads, deletions and renames would); the
    /// next requests see the change.
    pub fn update(&self, change: impl FnOnce(&mut Dataset)) {
        let mut data = lock(&self.app.data);
        change(&mut data.dataset);
        data.changed();
    }

    /// Adds a user, or replaces the one with the same ID.
    pub fn insert_user(&self, user: FakeUser) {
        self.update(|d| d.users.push(user));
    }

    /// Removes a user (as if all their media were deleted); whether there
    /// was one.
    pub fn remove_user(&self, user_id: &str) -> bool {
        let mut removed = false;
        self.update(|d| removed = d.users.remove(user_id).is_some());
        removed
    }

    /// Adds media rows to a user (created without display name if absent).
    pub fn add_media(&self, user_id: &str, media: &[Media]) {
        self.update(|d| d.users.add_media(user_id, media));
    }

    /// Goes down: open connections are cut and new ones refused, on return.
    pub async fn down(&self) {
        self.app.power.go_down();
        let mut listening = self.app.power.listening.subscribe();
        let _ = listening.wait_for(|up| !*up).await;
    }

    /// Comes back on the same port; listening on return.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again within five seconds.
    pub async fn up(&self) {
        self.app.power.want_up.send_replace(true);
        let mut listening = self.app.power.listening.subscribe();
        tokio::time::timeout(Duration::from_secs(5), listening.wait_for(|up| *up))
            .await
            .expect("the fake Synapse could not listen on its port again")
            .expect("the fake's listener is gone");
    }

    /// Whether the fake is down (or going down).
    pub fn is_down(&self) -> bool {
        !*self.app.power.want_up.borrow()
    }

    /// Same as [`FakeSynapse::down`].
    pub async fn stop(&mut self) {
        self.down().await;
    }

    /// Same as [`FakeSynapse::up`].
    pub async fn restart(&mut self) {
        self.up().await;
    }
}

/// Every request, whatever its path or method.
async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let entry = {
        let mut log = lock(&app.log);
        let at = Instant::now();
        log.push(LoggedRequest {
            at,
            since_start: at - app.started,
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            status: None,
        });
        log.len() - 1
    };
    let answer = match media::respond(&app, &parts.method, &path, &query, &parts.headers, &body) {
        Some(response) => Some(response),
        None => respond(&app, &parts.method, &path, &query, &parts.headers).await,
    };
    match answer {
        Some(response) => {
            if let Some(logged) = lock(&app.log).get_mut(entry) {
                logged.status = Some(response.status().as_u16());
            }
            response
        }
        None => {
            // Nothing may be written: the cut connection fails every write.
            conn.cut.cancel();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Users,
    Rooms,
}

/// The answer, or `None` to close the connection without one.
async fn respond(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let endpoint = match path {
        USERS_PATH => Endpoint::Users,
        ROOMS_PATH => Endpoint::Rooms,
        VERSION_PATH => {
            if method != Method::GET && method != Method::HEAD {
                return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
            }
            let mut body = String::from("{\"server_version\":");
            push_json_str(&mut body, SERVER_VERSION);
            body.push('}');
            return Some(json_response(StatusCode::OK, body));
        }
        _ => return Some(unrecognized(StatusCode::NOT_FOUND).into_response()),
    };
    if method != Method::GET && method != Method::HEAD {
        return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
    }

    let mut stale_token = false;
    let mut stuck_at = None;
    let mut empty_page = false;
    let mut truncate = false;
    match app.faults.next() {
        None => {}
        Some(Fault::Status500) => return Some(internal_error().into_response()),
        Some(Fault::BadGateway) => {
            return Some(
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                )
                    .into_response(),
            );
        }
        Some(Fault::RateLimited { retry_after_ms }) => {
            let mut response = Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "M_LIMIT_EXCEEDED",
                "Too Many Requests",
            )
            .with("retry_after_ms", retry_after_ms.to_string())
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_ms.div_ceil(1000)),
            );
            return Some(response);
        }
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        Some(Fault::MalformedJson) => {
            return Some(json_response(
                StatusCode::OK,
                r#"{"users":[{"user_id":"@a:test","media_c"#.to_owned(),
            ));
        }
        Some(Fault::DropConnection) => return None,
        Some(Fault::Down) => {
            app.power.go_down();
            return None;
        }
        Some(Fault::TruncatedBody) => truncate = true,
        Some(Fault::StaleToken) => stale_token = true,
        Some(Fault::StuckAt(users)) => stuck_at = Some(users),
        Some(Fault::EmptyPage) => empty_page = true,
    }

    let args = Args::parse(query);
    if let Err(denied) = authenticate(headers, &args) {
        return Some(denied.into_response());
    }
    let response = match endpoint {
        Endpoint::Users => users_media(
            app,
            &args,
            PageFaults {
                stale_token,
                stuck_at,
                empty_page,
            },
        ),
        Endpoint::Rooms => rooms(app),
    };
    Some(if truncate && response.status() == StatusCode::OK {
        cut_off(response).await
    } else {
        response
    })
}

/// Synapse's `get_access_token_from_request` and `assert_requester_is_admin`.
fn authenticate(headers: &HeaderMap, args: &Args) -> Result<(), Refusal> {
    let missing =
        |message: &str| Refusal::new(StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN", message);
    let auth_headers: Vec<&HeaderValue> = headers.get_all(header::AUTHORIZATION).iter().collect();
    let query_tokens = args.get("access_token");
    let token: &[u8] = match auth_headers.as_slice() {
        [] => match query_tokens.and_then(<[_]>::first) {
            Some(token) => token,
            None => return Err(missing("Missing access token")),
        },
        _ if query_tokens.is_some() => {
            return Err(missing(
                "Mixing Authorization headers and access_token query parameters.",
            ));
        }
        [one] => {
            let parts: Vec<&[u8]> = one.as_bytes().split(|&b| b == b' ').collect();
            match parts.as_slice() {
                [b"Bearer", token] => token,
                _ => return Err(missing("Invalid Authorization header.")),
            }
        }
        _ => return Err(missing("Too many Authorization headers.")),
    };
    // `token.decode("ascii")` raises outside SynapseError: a 500.
    if !token.is_ascii() {
        return Err(internal_error());
    }
    match token {
        t if t == ADMIN_TOKEN.as_bytes() => Ok(()),
        t if t == USER_TOKEN.as_bytes() => Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "You are not a server admin",
        )),
        _ => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Invalid access token passed.",
        )
        .with("soft_logout", "false")),
    }
}

/// Synapse's `parse_integer`: Python's `int()` on the first value, then
/// the negative check.
fn parse_integer(args: &Args, name: &str) -> Result<Option<PyInt>, Refusal> {
    let Some(first) = args.get(name).and_then(<[_]>::first) else {
        return Ok(None);
    };
    let Some(value) = PyInt::parse(first) else {
        return Err(invalid_param(format!(
            "Query parameter {name} must be an integer"
        )));
    };
    if value.is_negative() {
        return Err(invalid_param(format!(
            "Query parameter {name} must be a positive integer."
        )));
    }
    Ok(Some(value))
}

/// Synapse's `parse_string` (`encoding="ascii"`): every value is decoded
/// and checked against `allowed`, the first is returned.
fn parse_string(
    args: &Args,
    name: &str,
    allowed: Option<&[&str]>,
) -> Result<Option<String>, Refusal> {
    let Some(values) = args.get(name) else {
        return Ok(None);
    };
    let mut first = None;
    for raw in values {
        let Ok(value) = std::str::from_utf8(raw) else {
            return Err(not_ascii(name));
        };
        if !value.is_ascii() {
            return Err(not_ascii(name));
        }
        if let Some(allowed) = allowed
            && !allowed.contains(&value)
        {
            let list: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
            return Err(invalid_param(format!(
                "Query parameter '{name}' must be one of [{}]",
                list.join(", ")
            )));
        }
        first.get_or_insert_with(|| value.to_owned());
    }
    Ok(first)
}

/// A `SynapseError` without errcode: `M_UNKNOWN`.
fn not_ascii(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
        format!("Query parameter '{name}' must be ascii"),
    )
}

/// The validated parameters of a users request.
struct UsersParams {
    key: QueryKey,
    start: PyInt,
    limit: PyInt,
    from_ts: PyInt,
    until_ts: Option<PyInt>,
}

/// `UserMediaStatisticsRestServlet.on_GET`'s checks, in its order.
fn users_params(args: &Args) -> Result<UsersParams, Refusal> {
    let order_by = parse_string(args, "order_by", Some(&SortBy::ALLOWED))?;
    let zero = PyInt {
        negative: false,
        digits: "0".into(),
    };
    let start = parse_integer(args, "from")?.unwrap_or_else(|| zero.clone());
    let limit = parse_integer(args, "limit")?.unwrap_or(PyInt {
        negative: false,
        digits: "100".into(),
    });
    let from_ts = parse_integer(args, "from_ts")?.unwrap_or(zero);
    let until_ts = parse_integer(args, "until_ts")?;
    if until_ts.as_ref().is_some_and(|until| *until <= from_ts) {
        return Err(invalid_param(
            "Query parameter until_ts must be greater than from_ts.",
        ));
    }
    let search_term = parse_string(args, "search_term", None)?;
    if search_term.as_deref() == Some("") {
        return Err(invalid_param(
            "Query parameter search_term cannot be an empty string.",
        ));
    }
    let dir = parse_string(args, "dir", Some(&["b", "f"]))?;
    Ok(UsersParams {
        key: QueryKey {
            order_by: order_by
                .as_deref()
                .and_then(SortBy::parse)
                .unwrap_or_default(),
            backwards: dir.as_deref() == Some("b"),
            window: Window {
                from: from_ts.to_u128_saturating(),
                until: until_ts.as_ref().map(PyInt::to_u128_saturating),
            },
            search: search_term,
        },
        start,
        limit,
        from_ts,
        until_ts,
    })
}

/// Faults that change a users page's content.
#[derive(Debug, Clone, Copy, Default)]
struct PageFaults {
    stale_token: bool,
    stuck_at: Option<u64>,
    empty_page: bool,
}

fn users_media(app: &App, args: &Args, faults: PageFaults) -> Response {
    let params = match users_params(args) {
        Ok(params) => params,
        Err(refused) => return refused.into_response(),
    };
    let mut data = lock(&app.data);
    // What the database driver refuses: LIMIT/OFFSET beyond bigint on both
    // backends; time bounds beyond i64 only on SQLite (psycopg2 inlines them
    // as numeric literals).
    let ts_unbindable = params.from_ts.to_u128_saturating() != 0 && !params.from_ts.fits_i64()
        || params.until_ts.as_ref().is_some_and(|u| !u.fits_i64());
    if !params.start.fits_i64()
        || !params.limit.fits_i64()
        || (data.db == Db::Sqlite && ts_unbindable)
    {
        return internal_error().into_response();
    }
    if params
        .key
        .search
        .as_deref()
        .is_some_and(|t| Search::new(t, data.db).invalid())
    {
        return internal_error().into_response();
    }
    let (Some(start), Some(limit)) = (params.start.to_i128(), params.limit.to_i128()) else {
        return internal_error().into_response();
    };
    let rows = data.rows(&params.key);
    // A capping server (matrix-media-repo) uses the capped limit throughout.
    let limit = match data.page_cap {
        Some(cap) => limit.min(cap as i128),
        None => limit,
    };
    let users = &data.dataset.users;
    let total = rows.len() as i128;
    let skip = usize::try_from(start).unwrap_or(usize::MAX);
    let take = if faults.empty_page {
        0
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    let page = rows.iter().skip(skip).take(take);

    let mut body = String::with_capacity(64 + rows.len().min(take) * 96);
    body.push_str("{\"users\":[");
    let mut shown = 0usize;
    for &(i, count, length) in page {
        let r = &users.recs[i as usize];
        if shown > 0 {
            body.push(',');
        }
        shown += 1;
        body.push_str("{\"user_id\":");
        push_json_str(&mut body, &r.user_id);
        body.push_str(",\"displayname\":");
        match &r.displayname {
            Some(name) => push_json_str(&mut body, name),
            None => body.push_str("null"),
        }
        let _ = write!(body, ",\"media_count\":{count},\"media_length\":");
        match length {
            Some(length) => {
                let _ = write!(body, "{length}");
            }
            None => body.push_str("null"),
        }
        body.push('}');
    }
    let _ = write!(body, "],\"total\":{total}");
    // `if (start + limit) < total: ret["next_token"] = start + len(users)`.
    let stuck = faults
        .stuck_at
        .is_some_and(|at| start + shown as i128 >= i128::from(at));
    if start + limit < total && !faults.empty_page {
        let token = if faults.stale_token || stuck {
            start
        } else {
            start + shown as i128
        };
        let _ = write!(body, ",\"next_token\":{token}");
    }
    body.push('}');
    json_response(StatusCode::OK, body)
}

fn rooms(app: &App) -> Response {
    let mode = lock(&app.data).rooms.clone();
    match mode {
        RoomsMode::Sqlite => Refusal::new(
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
            "Endpoint requires using PostgreSQL",
        )
        .into_response(),
        RoomsMode::InternalError => internal_error().into_response(),
        RoomsMode::Ok(mut rooms) => {
            // `Counter.most_common(10)`: largest first, stable for ties.
            rooms.sort_by_key(|r| std::cmp::Reverse(r.1));
            rooms.truncate(10);
            let mut body = String::from("{\"rooms\":[");
            for (n, (room_id, size)) in rooms.iter().enumerate() {
                if n > 0 {
                    body.push(',');
                }
                body.push_str("{\"room_id\":");
                push_json_str(&mut body, room_id);
                let _ = write!(body, ",\"estimated_size\":{size}}}");
            }
            body.push_str("]}");
            json_response(StatusCode::OK, body)
        }
    }
}

/// The same 200 with its full `Content-Length`, whose body stops half-way:
/// the head and half the body are flushed, then the connection breaks.
async fn cut_off(response: Response) -> Response {
    use futures::StreamExt as _;
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return internal_error().into_response();
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures::stream::iter([Ok(half)]).chain(futures::stream::once(async {
        // Long enough for hyper to flush what it has.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fake: body cut off",
        ))
    }));
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    // The integration test binary runs these as `support::fake::tests`.
    use super::*;

    #[test]
    fn like_matches_sql() {
        let like = |text: &str, pattern: &str, db| Like::new(pattern, db).unwrap().matches(text);
        assert!(like("@bob_smith:test", "@%b_b%:%", Db::Postgres));
        assert!(like("@mallory:test", "@%a%y%:%", Db::Postgres));
        assert!(!like("@alice:test", "@%ALICE%:%", Db::Postgres));
        assert!(like("@alice:test", "@%ALICE%:%", Db::Sqlite));
        assert!(!like("@alice:test", "@%test%:%", Db::Sqlite));
        assert!(like("abc", "%", Db::Sqlite));
        assert!(!like("", "_", Db::Sqlite));
        assert!(like("zoë", "zo_", Db::Sqlite), "_ is one character");
        assert!(!like("ZOË", "%zoë%", Db::Sqlite), "only ASCII folds");
        // PostgreSQL's default escape.
        assert!(like("a_b", "%a\\_b%", Db::Postgres));
        assert!(!like("axb", "%a\\_b%", Db::Postgres));
        assert!(like("a\\xb", "%a\\_b%", Db::Sqlite));
        assert!(Like::new("abc\\", Db::Postgres).is_none());
    }

    /// A slow, obviously correct `LIKE`; `None` for a pattern PostgreSQL
    /// refuses (ending with a lone escape).
    fn like_reference(text: &[char], pattern: &[char], db: Db) -> Option<bool> {
        let mut escapes = 0;
        for c in pattern.iter().rev() {
            if *c != '\\' {
                break;
            }
            escapes += 1;
        }
        if db == Db::Postgres && escapes % 2 == 1 {
            return None;
        }
        like_recursive(text, pattern, db)
    }

    fn like_recursive(text: &[char], pattern: &[char], db: Db) -> Option<bool> {
        let eq = |a: char, b: char| match db {
            Db::Sqlite => a.eq_ignore_ascii_case(&b),
            Db::Postgres => a == b,
        };
        Some(match pattern {
            [] => text.is_empty(),
            ['%', rest @ ..] => {
                let mut any = false;
                for skip in 0..=text.len() {
                    any |= like_recursive(&text[skip..], rest, db)?;
                }
                any
            }
            ['_', rest @ ..] => !text.is_empty() && like_recursive(&text[1..], rest, db)?,
            ['\\'] if db == Db::Postgres => return None,
            ['\\', c, rest @ ..] if db == Db::Postgres => {
                text.first().is_some_and(|t| *t == *c) && like_recursive(&text[1..], rest, db)?
            }
            [c, rest @ ..] => {
                text.first().is_some_and(|t| eq(*t, *c)) && like_recursive(&text[1..], rest, db)?
            }
        })
    }

    proptest::proptest! {
        #[test]
        fn like_agrees_with_a_reference(
            text in "[abAB_%\\\\ë]{0,8}",
            pattern in "[abAB_%\\\\ë]{0,8}",
        ) {
            for db in [Db::Sqlite, Db::Postgres] {
                let t: Vec<char> = text.chars().collect();
                let p: Vec<char> = pattern.chars().collect();
                let got = Like::new(&pattern, db).map(|l| l.matches(&text));
                proptest::prop_assert_eq!(got, like_reference(&t, &p, db), "{:?} {:?} {:?}", db, text, pattern);
            }
        }
    }

    #[test]
    fn python_int_rules() {
        let int = |s: &[u8]| PyInt::parse(s).and_then(|v| v.to_i128());
        assert_eq!(int(b" 42 "), Some(42));
        assert_eq!(int(b"+1_000"), Some(1000));
        assert_eq!(int(b"-3"), Some(-3));
        assert_eq!(int(b"\x0b7\x0c"), Some(7));
        assert_eq!(int(b"007"), Some(7));
        assert!(!PyInt::parse(b"-0").unwrap().is_negative());
        for bad in [
            &b""[..],
            b" ",
            b"1.5",
            b"abc",
            b"1__0",
            b"_1",
            b"1_",
            b"0x10",
            b"-",
            b"+-1",
            b"\x1c5",
            b"\xc2\xa05",
            b"5\x00",
        ] {
            assert!(PyInt::parse(bad).is_none(), "{bad:?}");
        }
        assert!(PyInt::parse(&[b'1'; 4300]).is_some());
        assert!(PyInt::parse(&[b'1'; 4301]).is_none());
        let big = PyInt::parse(b"99999999999999999999").unwrap();
        assert!(!big.fits_i64());
        assert!(PyInt::parse(b"9223372036854775807").unwrap().fits_i64());
        assert!(big > PyInt::parse(b"9223372036854775807").unwrap());
    }

    #[test]
    fn twisted_query_parsing() {
        let args = Args::parse("a=1&a=2;b=%41+c&d&e=&%zz=%4");
        assert_eq!(args.get("a"), Some(&[b"1".to_vec(), b"2".to_vec()][..]));
        assert_eq!(args.get("b"), Some(&[b"A c".to_vec()][..]));
        assert_eq!(args.get("d"), None);
        assert_eq!(args.get("e"), Some(&[Vec::new()][..]));
        assert_eq!(args.get("%zz"), Some(&[b"%4".to_vec()][..]));
    }

    #[test]
    fn json_like_python() {
        let mut s = String::new();
        push_json_str(&mut s, "Zoë \"q\" \\ \n 😀 \u{7f}");
        assert_eq!(s, r#""Zo\u00eb \"q\" \\ \n \ud83d\ude00 \u007f""#);
    }
}
