//! The warden's Synapse module's channel, as `synapse-module/` serves it
//! (contract in `synapse_warden_quota/channel.py`): `GET
//! /_synapse/client/synapse_warden/v1/rooms` with `Authorization: Bearer
//! <secret>`. Without a module ([`FakeSynapse::set_module`] with `None`),
//! Synapse answers 404 `M_UNRECOGNIZED` to any caller, as it does for any
//! unknown path.
//!
//! Reproduced: the secret checked before anything (401 `M_MISSING_TOKEN`
//! without a bearer, 403 `M_FORBIDDEN` for a wrong one), `limit` (1 to
//! 10000, default 10) and `timeout_ms` (100 to 60000) refused with 400
//! `M_INVALID_PARAM`, 405 for other methods, the answer's fields, and the
//! module's failures (429 busy, 503 with `"timeout": true`, 500). Not
//! reproduced: any measurement (the rooms are canned).
//!
//! `GET /_synapse/client/synapse_warden/v1/users/media` (issue 29): keyset
//! pages of the dataset's users, in `user_id` order, with the admin API's
//! numbers (the same rows as the fake's `statistics/users/media` ordered by
//! `user_id`): `after`, `limit` (1 to 100000, default 10000), `from_ts` /
//! `until_ts` (0 is no bound; `until_ts` not after `from_ts` is a 400),
//! `timeout_ms`; `next_after` only on a full page. Users with an empty ID
//! are left out, as the module leaves out rows without one. Faults:
//! [`ModuleUsers`].

use super::*;

/// The module's path prefix, and its rooms endpoint.
pub const MODULE_PREFIX: &str = "/_synapse/client/synapse_warden/";
const MODULE_ROOMS_PATH: &str = "/_synapse/client/synapse_warden/v1/rooms";
const MODULE_USERS_PATH: &str = "/_synapse/client/synapse_warden/v1/users/media";

/// What the fake module answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRooms {
    /// 200: `source` (`"estimate"` or `"exact"`) and these `(room_id,
    /// bytes)`, sorted largest first, at most `limit`.
    Ok {
        source: &'static str,
        rooms: Vec<(String, u64)>,
    },
    /// 429 `M_LIMIT_EXCEEDED`: another measurement is running.
    Busy,
    /// 503 with `"timeout": true`: the budget ran out.
    TimedOut,
    /// 500 `M_UNKNOWN` with the database's reason.
    Failed(String),
}

/// What the fake module's users' media endpoint does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModuleUsers {
    /// Keyset pages of the dataset, each user an object, or an array with
    /// `format=arrays`.
    #[default]
    Serve,
    /// A module older than `format`: objects, whatever it asks.
    Objects,
    /// 404 `M_UNRECOGNIZED`: a module older than this path.
    Older,
    /// Pages whose `after` is below this user ID are served; the others
    /// answer 500 `M_UNKNOWN` (the first page, `after` empty, fails when
    /// this is empty).
    FailFrom(String),
    /// As [`ModuleUsers::FailFrom`], with 503 `"timeout": true`.
    TimedOutFrom(String),
    /// A broken module: every page is the first one, whatever `after`
    /// says (the walk would never end, or count users twice).
    Stuck,
    /// A broken module: the last two users of each page swapped.
    Unordered,
}

/// The warden's module as loaded into the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeModule {
    /// The shared secret (the module's `secret_path` content).
    pub secret: String,
    /// What its rooms endpoint answers.
    pub rooms: ModuleRooms,
    /// What its users' media endpoint does.
    pub users: ModuleUsers,
}

impl FakeSynapse {
    /// Loads (`Some`) or removes (`None`) the warden's module.
    pub fn set_module(&self, module: Option<FakeModule>) {
        lock(&self.app.data).module = module;
    }

    /// Requests to the module's paths so far: (method, path, query).
    pub fn module_requests(&self) -> Vec<(String, String)> {
        lock(&self.app.log)
            .iter()
            .filter(|r| r.path.starts_with(MODULE_PREFIX))
            .map(|r| (r.path.clone(), r.query.clone()))
            .collect()
    }
}

pub(crate) fn respond(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if !path.starts_with(MODULE_PREFIX) {
        return None;
    }
    let Some(module) = lock(&app.data).module.clone() else {
        return Some(unrecognized(StatusCode::NOT_FOUND).into_response());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = bearer else {
        return Some(
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                "M_MISSING_TOKEN",
                "Missing the module secret",
            )
            .into_response(),
        );
    };
    if given != module.secret {
        return Some(
            Refusal::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", "Wrong module secret")
                .into_response(),
        );
    }
    let users_path = path == MODULE_USERS_PATH && module.users != ModuleUsers::Older;
    if path != MODULE_ROOMS_PATH && !users_path {
        return Some(unrecognized(StatusCode::NOT_FOUND).into_response());
    }
    if method != Method::GET {
        return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
    }
    let args = Args::parse(query);
    if users_path {
        return Some(users_media(app, &args, &module.users));
    }
    let limit = match bounded(&args, "limit", 1, 10_000, 10)
        .and_then(|limit| bounded(&args, "timeout_ms", 100, 60_000, 5_000).map(|_| limit))
    {
        Ok(limit) => limit as usize,
        Err(refusal) => return Some(refusal.into_response()),
    };
    Some(match module.rooms {
        ModuleRooms::Busy => Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "M_LIMIT_EXCEEDED",
            "A measurement is already running",
        )
        .with("retry_after_ms", "100")
        .into_response(),
        ModuleRooms::TimedOut => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "The measurement ran out of its budget",
        )
        .with("timeout", "true")
        .into_response(),
        ModuleRooms::Failed(reason) => {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", reason).into_response()
        }
        ModuleRooms::Ok { source, mut rooms } => {
            rooms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rooms.truncate(limit);
            let mut body = String::from("{\"source\":");
            push_json_str(&mut body, source);
            body.push_str(",\"database\":");
            push_json_str(
                &mut body,
                if source == "exact" {
                    "sqlite"
                } else {
                    "postgresql"
                },
            );
            body.push_str(",\"rooms\":[");
            push_room_sizes(&mut body, &rooms);
            let _ = write!(
                body,
                "],\"limit\":{limit},\"measured_ms\":1,\"tables\":[]}}"
            );
            json_response(StatusCode::OK, body)
        }
    })
}

/// A bounded integer parameter of the module, or its 400.
fn bounded(args: &Args, name: &str, min: i128, max: i128, default: i128) -> Result<i128, Refusal> {
    match parse_integer(args, name)? {
        None => Ok(default),
        Some(v) => match v.to_i128() {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid_param(format!(
                "{name} must be between {min} and {max}"
            ))),
        },
    }
}

/// Keyset pages of users' media totals, as the module serves them.
fn users_media(app: &App, args: &Args, mode: &ModuleUsers) -> Response {
    const TS_MAX: i128 = i64::MAX as i128;
    let params = (|| {
        let after = match args.get("after").and_then(<[_]>::first) {
            Some(raw) => String::from_utf8(raw.clone())
                .map_err(|_| invalid_param("after must be UTF-8".to_owned()))?,
            None => String::new(),
        };
        let limit = bounded(args, "limit", 1, 100_000, 10_000)?;
        let from_ts = bounded(args, "from_ts", 0, TS_MAX, 0)?;
        let until_ts = bounded(args, "until_ts", 0, TS_MAX, 0)?;
        if args.get("until_ts").is_some() && until_ts <= from_ts {
            return Err(invalid_param(
                "until_ts must be greater than from_ts".to_owned(),
            ));
        }
        bounded(args, "timeout_ms", 100, 60_000, 5_000)?;
        // A module older than `format` ignores it: objects, whatever is asked.
        let format = args.get("format").and_then(<[_]>::first).map(Vec::as_slice);
        let arrays = match format.filter(|_| *mode != ModuleUsers::Objects) {
            None | Some(b"objects") => false,
            Some(b"arrays") => true,
            Some(_) => {
                return Err(invalid_param("format must be objects or arrays".to_owned()));
            }
        };
        Ok((
            after,
            limit as usize,
            from_ts as u128,
            until_ts as u128,
            arrays,
        ))
    })();
    let (after, limit, from, until, arrays) = match params {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    match mode {
        ModuleUsers::FailFrom(user) if after >= *user => {
            return Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "M_UNKNOWN",
                "Reading users' media failed: database is locked",
            )
            .into_response();
        }
        ModuleUsers::TimedOutFrom(user) if after >= *user => {
            return Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "M_UNKNOWN",
                "Reading users' media took over timeout_ms (stopped)",
            )
            .with("timeout", "true")
            .into_response();
        }
        _ => {}
    }
    let mut data = lock(&app.data);
    let key = QueryKey {
        order_by: SortBy::UserId,
        backwards: false,
        window: Window {
            from,
            until: (until != 0).then_some(until),
        },
        search: None,
    };
    let rows = data.rows(&key);
    let recs = &data.dataset.users.recs;
    let start = if *mode == ModuleUsers::Stuck {
        0
    } else {
        rows.partition_point(|&(i, _, _)| recs[i as usize].user_id.as_str() <= after.as_str())
    };
    let mut page: Vec<(u32, u64, Option<u64>)> = rows[start..]
        .iter()
        .filter(|&&(i, _, _)| !recs[i as usize].user_id.is_empty())
        .take(limit)
        .copied()
        .collect();
    let last = page
        .last()
        .filter(|_| page.len() == limit)
        .map(|&(i, _, _)| recs[i as usize].user_id.as_str());
    if *mode == ModuleUsers::Unordered && page.len() >= 2 {
        let n = page.len();
        page.swap(n - 2, n - 1);
    }
    let mut body = String::from("{\"users_media\":[");
    for (n, &(i, count, length)) in page.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        if arrays {
            push_user_array(&mut body, &recs[i as usize], count, length);
        } else {
            push_user_entry(&mut body, &recs[i as usize], count, length);
        }
    }
    body.push_str("],\"next_after\":");
    match last {
        Some(user) => push_json_str(&mut body, user),
        None => body.push_str("null"),
    }
    let database = match data.db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgresql",
    };
    let _ = write!(
        body,
        ",\"limit\":{limit},\"database\":\"{database}\",\"measured_ms\":1}}"
    );
    json_response(StatusCode::OK, body)
}
