//! A fake of Synapse's statistics admin API, in process, for fast and
//! exhaustive tests: `GET /_synapse/admin/v1/statistics/users/media`,
//! `GET /_synapse/admin/v1/statistics/database/rooms` and
//! `GET /_synapse/admin/v1/server_version`.
//!
//! It reproduces Synapse 1.163.2 as read in its source
//! (`synapse/rest/admin/statistics.py`, `synapse/http/servlet.py`,
//! `synapse/storage/databases/main/stats.py`) and as measured: the auth
//! errors, every validation message in Synapse's order of checks, the
//! `LIKE` search over `@%term%:%` and the display name (wildcards `_` and `%`,
//! ASCII case-insensitive on SQLite only), inclusive time bounds with
//! `from_ts=0` meaning none, SQL `SUM` (NULL when every length is NULL), the
//! `next_token` rule, `limit=0`, and the rooms endpoint's SQLite 400 and
//! PostgreSQL 500. The conformance suite (`tests/it/conformance.rs`) runs the
//! same checks against this fake and against real Synapse.
//!
//! Known differences: ties in `media_length`, `media_count` and
//! `displayname` are broken by `user_id` here, while SQL leaves their order
//! unspecified; integers follow Python's `int()` only for ASCII digits.
//!
//! Faults are injected per request from a queue ([`Fault`]), and
//! [`FakeSynapse::stop`] / [`FakeSynapse::restart`] make the port refuse
//! connections and come back.

#![allow(dead_code)]
// Each suite uses a different part of the fake.
// Handlers answer errors as axum responses, which are large.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The admin's token.
pub const ADMIN_TOKEN: &str = "fake_admin_token";
/// A valid token of a user who is not a server admin.
pub const USER_TOKEN: &str = "fake_user_token";

/// Which database the fake pretends to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// `LIKE` is ASCII-case-insensitive; NULLs sort first ascending; the
    /// rooms endpoint answers 400.
    Sqlite,
    /// `LIKE` is case-sensitive; NULLs sort last ascending.
    Postgres,
}

/// What the rooms endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomsMode {
    /// 200 with these rooms (sorted largest first, at most ten, on answer).
    Ok(Vec<(String, u64)>),
    /// 500, as a PostgreSQL Synapse whose planner statistics are missing.
    InternalError,
}

/// One medium: upload time (Unix ms) and length (`None`: a pending upload).
pub type Media = (u64, Option<u64>);

/// One user of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub user_id: String,
    pub displayname: Option<String>,
    pub media: Vec<Media>,
}

/// The users the fake serves.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub users: Vec<FakeUser>,
}

impl Dataset {
    /// An empty dataset.
    pub fn new() -> Dataset {
        Dataset::default()
    }

    /// Adds a user.
    pub fn user(mut self, user_id: &str, displayname: Option<&str>, media: &[Media]) -> Dataset {
        self.users.push(FakeUser {
            user_id: user_id.to_owned(),
            displayname: displayname.map(str::to_owned),
            media: media.to_vec(),
        });
        self
    }

    /// `n` users with `media_per_user` media each, deterministic for `seed`:
    /// `@user000042:test`-style IDs (every 7th with `_`, every 5th with upper
    /// case), every 11th without display name, every 13th with a pending
    /// upload, lengths drawn from few values (ties), upload times over the
    /// 30 days before [`GENERATED_NOW_MS`].
    pub fn generate(n: usize, media_per_user: usize, seed: u64) -> Dataset {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let users = (0..n)
            .map(|i| {
                let local = match i {
                    _ if i % 7 == 3 => format!("user_{i:06}"),
                    _ if i % 5 == 4 => format!("User{i:06}"),
                    _ => format!("user{i:06}"),
                };
                let media = (0..media_per_user)
                    .map(|j| {
                        let ts = GENERATED_NOW_MS - next() % (30 * 86_400_000);
                        let len = if i % 13 == 0 && j == 0 {
                            None
                        } else {
                            Some((next() % 50 + 1) * 1000)
                        };
                        (ts, len)
                    })
                    .collect();
                FakeUser {
                    user_id: format!("@{local}:test"),
                    displayname: (i % 11 != 0).then(|| format!("User {i}")),
                    media,
                }
            })
            .collect();
        Dataset { users }
    }

    /// Users with at least one medium, and their (count, SUM of lengths)
    /// over every medium.
    pub fn totals(&self) -> HashMap<String, (u64, Option<u64>)> {
        self.users
            .iter()
            .filter(|u| !u.media.is_empty())
            .map(|u| (u.user_id.clone(), aggregate(u.media.iter())))
            .collect()
    }
}

/// "Now" of generated datasets: every generated upload is before it.
pub const GENERATED_NOW_MS: u64 = 1_800_000_000_000;

/// A fault injected into one request (the next one to arrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 `M_UNKNOWN` "Internal server error".
    Status500,
    /// 502 from a proxy, with an HTML body.
    BadGateway,
    /// 429 `M_LIMIT_EXCEEDED` with `retry_after_ms`.
    RateLimited { retry_after_ms: u64 },
    /// Answer normally, after this long.
    Delay(Duration),
    /// 200 with a truncated JSON body.
    MalformedJson,
    /// 200 whose body (the real answer) breaks off half-way: the
    /// connection is cut.
    DropConnection,
    /// The real answer, but with `next_token` equal to `from` (a server
    /// whose token does not advance).
    StaleToken,
}

#[derive(Debug)]
struct Inner {
    dataset: Dataset,
    db: Db,
    rooms: RoomsMode,
    faults: VecDeque<Fault>,
    requests: Vec<String>,
    cache: HashMap<String, Arc<Vec<Row>>>,
    page_cap: Option<usize>,
}

#[derive(Debug, Clone)]
struct Row {
    user_id: String,
    displayname: Option<String>,
    count: u64,
    length: Option<u64>,
}

/// The running fake; stops when dropped.
pub struct FakeSynapse {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl Drop for FakeSynapse {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl FakeSynapse {
    /// Serves `dataset` on a free loopback port.
    pub async fn start(dataset: Dataset, db: Db) -> FakeSynapse {
        let inner = Arc::new(Mutex::new(Inner {
            dataset,
            db,
            rooms: RoomsMode::InternalError,
            faults: VecDeque::new(),
            requests: Vec::new(),
            cache: HashMap::new(),
            page_cap: None,
        }));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake");
        let addr = listener.local_addr().expect("local address");
        let server = Some(serve(listener, inner.clone()));
        FakeSynapse {
            inner,
            addr,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets what the rooms endpoint answers (on PostgreSQL).
    pub fn set_rooms(&self, rooms: RoomsMode) {
        self.inner.lock().unwrap().rooms = rooms;
    }

    /// Answers at most `cap` users per page whatever the limit, as
    /// matrix-media-repo does (50).
    pub fn set_page_cap(&self, cap: Option<usize>) {
        self.inner.lock().unwrap().page_cap = cap;
    }

    /// Queues faults for the next requests, one each.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// The query strings of the users requests received so far.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Replaces the dataset (as uploads and deletions would).
    pub fn update(&self, change: impl FnOnce(&mut Dataset)) {
        let mut inner = self.inner.lock().unwrap();
        change(&mut inner.dataset);
        inner.cache.clear();
    }

    /// Stops listening: connections are refused until [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebinding the fake");
        self.server = Some(serve(listener, self.inner.clone()));
    }
}

fn serve(listener: TcpListener, inner: Arc<Mutex<Inner>>) -> JoinHandle<()> {
    let app = Router::new()
        .route(
            "/_synapse/admin/v1/statistics/users/media",
            get(users_media),
        )
        .route("/_synapse/admin/v1/statistics/database/rooms", get(rooms))
        .route(
            "/_synapse/admin/v1/server_version",
            get(|| async { axum::Json(json!({"server_version": "1.163.2"})) }),
        )
        .with_state(inner);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

fn error(status: StatusCode, errcode: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errcode": errcode, "error": message})),
    )
        .into_response()
}

fn internal_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "M_UNKNOWN",
        "Internal server error",
    )
}

/// Synapse's `assert_requester_is_admin`.
fn authenticate(headers: &HeaderMap) -> Result<(), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => Err(error(StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN", "Missing access token")),
        Some(ADMIN_TOKEN) => Ok(()),
        Some(USER_TOKEN) => Err(error(StatusCode::FORBIDDEN, "M_FORBIDDEN", "You are not a server admin")),
        Some(_) => Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed.", "soft_logout": false})),
        )
            .into_response()),
    }
}

/// What the next queued fault does to a request.
enum Applied {
    /// Nothing (no fault, or a delay that has passed).
    Nothing,
    /// This answer instead of the normal one.
    Replace(Response),
    /// The normal answer, altered by the fault.
    Alter(Fault),
}

/// Takes the next queued fault and applies what can be applied before the
/// answer is computed.
async fn fault(inner: &Arc<Mutex<Inner>>) -> Applied {
    let next = inner.lock().unwrap().faults.pop_front();
    let Some(next) = next else {
        return Applied::Nothing;
    };
    match next {
        Fault::Status500 => Applied::Replace(internal_error()),
        Fault::BadGateway => Applied::Replace(
            (StatusCode::BAD_GATEWAY, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response(),
        ),
        Fault::RateLimited { retry_after_ms } => Applied::Replace(
            (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": retry_after_ms})),
            )
                .into_response(),
        ),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            Applied::Nothing
        }
        Fault::MalformedJson => Applied::Replace(
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"users": [{"user_id": "@a:test", "media_c"#).into_response(),
        ),
        f @ (Fault::DropConnection | Fault::StaleToken) => Applied::Alter(f),
    }
}

/// A 200 whose body is the first half of `body`, then a cut connection.
fn cut_off(body: String) -> Response {
    let half = body.len() / 2;
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok(body[..half].to_owned()),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fake: connection dropped",
        )),
    ];
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("a valid response")
}

async fn rooms(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authenticate(&headers) {
        return denied;
    }
    if let Applied::Replace(answer) = fault(&inner).await {
        return answer;
    }
    let (db, mode) = {
        let inner = inner.lock().unwrap();
        (inner.db, inner.rooms.clone())
    };
    match (db, mode) {
        (Db::Sqlite, _) => error(
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
            "Endpoint requires using PostgreSQL",
        ),
        (Db::Postgres, RoomsMode::InternalError) => internal_error(),
        (Db::Postgres, RoomsMode::Ok(mut rooms)) => {
            rooms.sort_by_key(|r| std::cmp::Reverse(r.1));
            rooms.truncate(10);
            let rooms: Vec<Value> = rooms
                .into_iter()
                .map(|(id, size)| json!({"room_id": id, "estimated_size": size}))
                .collect();
            axum::Json(json!({ "rooms": rooms })).into_response()
        }
    }
}

/// The query's arguments as Synapse sees them: the first value of each
/// name, as bytes.
fn arguments(query: Option<&str>) -> HashMap<String, Vec<u8>> {
    let mut args = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned() {
        args.entry(name).or_insert_with(|| value.into_bytes());
    }
    // form_urlencoded decodes to UTF-8 text; non-UTF-8 bytes became U+FFFD,
    // which is non-ASCII all the same.
    args
}

/// Synapse's `parse_integer`: Python's `int()` on the value, then the
/// negative check. `Err` is the answer; values beyond a signed 64-bit
/// integer fail in the database (500).
fn parse_integer(
    args: &HashMap<String, Vec<u8>>,
    name: &str,
    default: Option<i128>,
) -> Result<Option<i128>, Response> {
    let Some(raw) = args.get(name) else {
        return Ok(default);
    };
    let text = String::from_utf8_lossy(raw);
    let Some(value) = python_int(&text) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            &format!("Query parameter {name} must be an integer"),
        ));
    };
    if value < 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            &format!("Query parameter {name} must be a positive integer."),
        ));
    }
    Ok(Some(value))
}

/// Python's `int(str)` for ASCII: surrounding whitespace, a sign, digits
/// with single underscores between them. Saturates far beyond i64.
fn python_int(text: &str) -> Option<i128> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars() {
        match c {
            '_' => {}
            '0'..='9' => {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i128::from(c as u8 - b'0'))
            }
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// Synapse's `parse_string` with `encoding="ascii"` and allowed values.
fn parse_string(
    args: &HashMap<String, Vec<u8>>,
    name: &str,
    allowed: Option<&[&str]>,
) -> Result<Option<String>, Response> {
    let Some(raw) = args.get(name) else {
        return Ok(None);
    };
    if !raw.is_ascii() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
            &format!("Query parameter '{name}' must be ascii"),
        ));
    }
    let value = String::from_utf8_lossy(raw).into_owned();
    if let Some(allowed) = allowed
        && !allowed.contains(&value.as_str())
    {
        let list: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            &format!(
                "Query parameter '{name}' must be one of [{}]",
                list.join(", ")
            ),
        ));
    }
    Ok(Some(value))
}

async fn users_media(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    inner
        .lock()
        .unwrap()
        .requests
        .push(query.clone().unwrap_or_default());
    if let Err(denied) = authenticate(&headers) {
        return denied;
    }
    let alter = match fault(&inner).await {
        Applied::Replace(answer) => return answer,
        Applied::Alter(f) => Some(f),
        Applied::Nothing => None,
    };
    let stale = alter == Some(Fault::StaleToken);
    match (users_answer(&inner, query.as_deref(), stale), alter) {
        (Ok(body), Some(Fault::DropConnection)) => cut_off(body),
        (Ok(body), _) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        (Err(answer), _) => answer,
    }
}

fn users_answer(
    inner: &Arc<Mutex<Inner>>,
    query: Option<&str>,
    stale_token: bool,
) -> Result<String, Response> {
    let args = arguments(query);
    // Synapse's order of checks.
    let order_by = parse_string(
        &args,
        "order_by",
        Some(&["media_length", "media_count", "user_id", "displayname"]),
    )?
    .unwrap_or_else(|| "user_id".to_owned());
    let start = parse_integer(&args, "from", Some(0))?.unwrap_or(0);
    let limit = parse_integer(&args, "limit", Some(100))?.unwrap_or(100);
    let from_ts = parse_integer(&args, "from_ts", Some(0))?.unwrap_or(0);
    let until_ts = parse_integer(&args, "until_ts", None)?;
    if let Some(until) = until_ts
        && until <= from_ts
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "Query parameter until_ts must be greater than from_ts.",
        ));
    }
    let search_term = parse_string(&args, "search_term", None)?;
    if search_term.as_deref() == Some("") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "Query parameter search_term cannot be an empty string.",
        ));
    }
    let dir = parse_string(&args, "dir", Some(&["b", "f"]))?.unwrap_or_else(|| "f".to_owned());
    // The database refuses integers beyond 64 bits.
    let too_big = |v: i128| v > i128::from(i64::MAX);
    if too_big(start) || too_big(limit) || too_big(from_ts) || until_ts.is_some_and(too_big) {
        return Err(internal_error());
    }
    let rows = {
        let mut inner = inner.lock().unwrap();
        let key = format!("{order_by}|{dir}|{from_ts}|{until_ts:?}|{search_term:?}");
        match inner.cache.get(&key) {
            Some(rows) => rows.clone(),
            None => {
                let rows = Arc::new(select(
                    &inner.dataset,
                    inner.db,
                    &order_by,
                    &dir,
                    from_ts as u64,
                    until_ts.map(|u| u as u64),
                    search_term.as_deref(),
                ));
                inner.cache.insert(key, rows.clone());
                rows
            }
        }
    };
    let total = rows.len() as i128;
    // A capping server (matrix-media-repo) uses the capped limit throughout.
    let limit = match inner.lock().unwrap().page_cap {
        Some(cap) => limit.min(cap as i128),
        None => limit,
    };
    let page: Vec<Value> = rows
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|r| json!({"user_id": r.user_id, "displayname": r.displayname, "media_count": r.count, "media_length": r.length}))
        .collect();
    // Key order as Synapse's dict: users, total, then next_token.
    let mut body = format!(
        "{{\"users\":{},\"total\":{total}",
        Value::Array(page.clone())
    );
    if start + limit < total {
        let token = if stale_token {
            start
        } else {
            start + page.len() as i128
        };
        body.push_str(&format!(",\"next_token\":{token}"));
    }
    body.push('}');
    Ok(body)
}

fn aggregate<'a>(media: impl Iterator<Item = &'a Media>) -> (u64, Option<u64>) {
    let mut count = 0;
    let mut sum: Option<u64> = None;
    for (_, len) in media {
        count += 1;
        if let Some(len) = len {
            sum = Some(sum.unwrap_or(0) + len);
        }
    }
    (count, sum)
}

/// SQL `LIKE` without escape character; ASCII-case-insensitive on SQLite.
fn like(text: &str, pattern: &str, db: Db) -> bool {
    let fold = |c: char| {
        if db == Db::Sqlite {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let t: Vec<char> = text.chars().map(fold).collect();
    let p: Vec<char> = pattern.chars().map(fold).collect();
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut ti, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

fn select(
    dataset: &Dataset,
    db: Db,
    order_by: &str,
    dir: &str,
    from_ts: u64,
    until_ts: Option<u64>,
    search: Option<&str>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = dataset
        .users
        .iter()
        .filter(|u| {
            search.is_none_or(|term| {
                like(&u.user_id, &format!("@%{term}%:%"), db)
                    || u.displayname
                        .as_deref()
                        .is_some_and(|d| like(d, &format!("%{term}%"), db))
            })
        })
        .filter_map(|u| {
            let inside = u.media.iter().filter(|(ts, _)| {
                (from_ts == 0 || *ts >= from_ts) && until_ts.is_none_or(|until| *ts <= until)
            });
            let (count, length) = aggregate(inside);
            (count > 0).then(|| Row {
                user_id: u.user_id.clone(),
                displayname: u.displayname.clone(),
                count,
                length,
            })
        })
        .collect();
    // NULLs: first ascending on SQLite, last ascending on PostgreSQL.
    let nulls_first = db == Db::Sqlite;
    let descending = dir == "b";
    rows.sort_by(|a, b| {
        use std::cmp::Ordering;
        let by_key = |x: &Row, y: &Row| -> Ordering {
            let opt = |p: Option<Ordering>, xn: bool, yn: bool| match (xn, yn) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => p.unwrap_or(Ordering::Equal),
            };
            match order_by {
                "media_length" => opt(
                    x.length.zip(y.length).map(|(a, b)| a.cmp(&b)),
                    x.length.is_none(),
                    y.length.is_none(),
                ),
                "media_count" => x.count.cmp(&y.count),
                "displayname" => opt(
                    x.displayname
                        .as_ref()
                        .zip(y.displayname.as_ref())
                        .map(|(a, b)| a.cmp(b)),
                    x.displayname.is_none(),
                    y.displayname.is_none(),
                ),
                _ => x.user_id.cmp(&y.user_id),
            }
        };
        let primary = if descending {
            by_key(b, a)
        } else {
            by_key(a, b)
        };
        primary.then_with(|| a.user_id.cmp(&b.user_id))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql() {
        assert!(like("@bob_smith:test", "@%b_b%:%", Db::Postgres));
        assert!(like("@mallory:test", "@%a%y%:%", Db::Postgres));
        assert!(!like("@alice:test", "@%ALICE%:%", Db::Postgres));
        assert!(like("@alice:test", "@%ALICE%:%", Db::Sqlite));
        assert!(!like("@alice:test", "@%test%:%", Db::Sqlite));
        assert!(like("abc", "%", Db::Sqlite));
        assert!(!like("", "_", Db::Sqlite));
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int(" 42 "), Some(42));
        assert_eq!(python_int("+1_000"), Some(1000));
        assert_eq!(python_int("-3"), Some(-3));
        for bad in ["", "1.5", "abc", "1__0", "_1", "1_", "0x10", "-"] {
            assert_eq!(python_int(bad), None, "{bad:?}");
        }
    }
}
