//! The handlers: routing, authentication, Synapse's validation of the
//! parameters, and the answers of the statistics endpoints.

use super::*;

/// Every request, whatever its path or method.
pub(crate) async fn handle(
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
    let answer =
        match room_tasks::respond(&app, &parts.method, &path, &query, &parts.headers, &body)
            .or_else(|| media::respond(&app, &parts.method, &path, &query, &parts.headers, &body))
            .or_else(|| module::respond(&app, &parts.method, &path, &query, &parts.headers))
        {
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
pub(crate) enum Endpoint {
    Users,
    Rooms,
    RoomList,
}

/// The answer, or `None` to close the connection without one.
pub(crate) async fn respond(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let endpoint = match path {
        USERS_PATH => Endpoint::Users,
        ROOMS_PATH => Endpoint::Rooms,
        ROOM_LIST_PATH => Endpoint::RoomList,
        VERSION_PATH => {
            if method != Method::GET && method != Method::HEAD {
                return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
            }
            let mut body = String::from("{\"server_version\":");
            push_json_str(&mut body, SERVER_VERSION);
            body.push('}');
            return Some(json_response(StatusCode::OK, body));
        }
        "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"
        | "/_matrix/client/v1/auth_metadata"
            if match *lock(&app.delegated_auth) {
                DelegatedAuth::No => false,
                DelegatedAuth::Yes => true,
                DelegatedAuth::UnstableOnly => path.contains("/unstable/"),
            } =>
        {
            // MSC2965: the delegated auth server's metadata (MAS).
            let body = "{\"issuer\":\"https://auth.fake.test/\",\"account_management_uri\":\"https://auth.fake.test/account\"}";
            return Some(json_response(StatusCode::OK, body.to_owned()));
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
        Some(Fault::Canned { status, body }) => {
            return Some(
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response(),
            );
        }
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
    if let Err(denied) = authenticate(app, headers, &args) {
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
        Endpoint::RoomList => room_list(app, &args),
    };
    Some(if truncate && response.status() == StatusCode::OK {
        cut_off(response).await
    } else {
        response
    })
}

/// Synapse's `get_access_token_from_request` and `assert_requester_is_admin`.
pub(crate) fn authenticate(app: &App, headers: &HeaderMap, args: &Args) -> Result<(), Refusal> {
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
    let admin = lock(&app.admin_token).clone();
    match token {
        t if t == admin.as_bytes() => Ok(()),
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
pub(crate) fn parse_integer(args: &Args, name: &str) -> Result<Option<PyInt>, Refusal> {
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
pub(crate) fn parse_string(
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
pub(crate) fn not_ascii(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "M_UNKNOWN",
        format!("Query parameter '{name}' must be ascii"),
    )
}

/// The validated parameters of a users request.
pub(crate) struct UsersParams {
    pub(crate) key: QueryKey,
    pub(crate) start: PyInt,
    pub(crate) limit: PyInt,
    pub(crate) from_ts: PyInt,
    pub(crate) until_ts: Option<PyInt>,
}

/// `UserMediaStatisticsRestServlet.on_GET`'s checks, in its order.
pub(crate) fn users_params(args: &Args) -> Result<UsersParams, Refusal> {
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
pub(crate) struct PageFaults {
    pub(crate) stale_token: bool,
    pub(crate) stuck_at: Option<u64>,
    pub(crate) empty_page: bool,
}

/// One entry of a users page, as Synapse writes it: `user_id`,
/// `displayname` (or null), `media_count`, `media_length` (or null).
pub(crate) fn push_user_entry(body: &mut String, r: &Rec, count: u64, length: Option<u64>) {
    push_user(body, r, count, length, false);
}

/// The module's `format=arrays`: `[user_id, displayname, media_count,
/// media_length]`.
pub(crate) fn push_user_array(body: &mut String, r: &Rec, count: u64, length: Option<u64>) {
    push_user(body, r, count, length, true);
}

fn push_user(body: &mut String, r: &Rec, count: u64, length: Option<u64>, array: bool) {
    let key = |name: &'static str| if array { "" } else { name };
    body.push_str(if array { "[" } else { "{" });
    body.push_str(key("\"user_id\":"));
    push_json_str(body, &r.user_id);
    body.push(',');
    body.push_str(key("\"displayname\":"));
    match &r.displayname {
        Some(name) => push_json_str(body, name),
        None => body.push_str("null"),
    }
    let _ = write!(
        body,
        ",{}{count},{}",
        key("\"media_count\":"),
        key("\"media_length\":")
    );
    match length {
        Some(length) => {
            let _ = write!(body, "{length}");
        }
        None => body.push_str("null"),
    }
    body.push_str(if array { "]" } else { "}" });
}

pub(crate) fn users_media(app: &App, args: &Args, faults: PageFaults) -> Response {
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
        push_user_entry(&mut body, r, count, length);
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

pub(crate) fn rooms(app: &App) -> Response {
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
            push_room_sizes(&mut body, &rooms);
            body.push_str("]}");
            json_response(StatusCode::OK, body)
        }
    }
}

/// The same 200 with its full `Content-Length`, whose body stops half-way:
/// the head and half the body are flushed, then the connection breaks.
pub(crate) async fn cut_off(response: Response) -> Response {
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
