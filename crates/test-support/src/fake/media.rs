//! The fake's media admin endpoints, as Synapse 1.163.2 serves them
//! (`synapse/rest/admin/media.py`, `synapse/storage/databases/main/media_repository.py`):
//!
//! - `GET /_synapse/admin/v1/users/<user_id>/media?from&limit&order_by&dir`:
//!   `{"media": [...], "total": N}` plus `next_token = from + len(media)`
//!   iff `from + limit < total`; a remote user is a 400 `M_UNKNOWN` "Can
//!   only look up local users", an unknown one a 404 `M_NOT_FOUND`
//!   "Unknown user". Ordered by `order_by` (default `created_ts`
//!   descending when neither `order_by` nor `dir` is given), then
//!   `media_id` ascending.
//! - `DELETE /_synapse/admin/v1/media/<server_name>/<media_id>`:
//!   `{"deleted_media": [id], "total": 1}`; another server: 400 "Can only
//!   delete local media"; an unknown media: 404 "Unknown media". The
//!   user's statistics drop by that media at once.
//! - `POST /_synapse/admin/v1/media/quarantine/<server_name>/<media_id>`:
//!   `{}` (also for an unknown media, as Synapse's `UPDATE` of no row);
//!   `quarantined_by` is the admin's ID afterwards.
//! - `POST /_synapse/admin/v1/purge_media_cache?before_ts=`: `{"deleted": 0}`
//!   (the fake caches no remote media); `before_ts` missing: 400
//!   `M_MISSING_PARAM`; negative or before 1971 (in ms): 400
//!   `M_INVALID_PARAM`.
//!
//! - `PUT /_synapse/admin/v1/send_server_notice/<txn_id>` with `user_id`
//!   and `content`: `{"event_id": ...}`, the same event for a repeated
//!   transaction ID (nothing sent twice); 400 `M_MISSING_PARAM` without
//!   them; 400 `M_UNKNOWN` "Server notices are not enabled on this server"
//!   unless [`FakeSynapse::enable_server_notices`]; 400 "Server notices can
//!   only be sent to local users"; 404 `M_NOT_FOUND` "User not found".
//!
//! Known differences: faults are not applied to these endpoints; `GET` of
//! `/media/<server>/<id>` (media info) is not served (405); `media_type`
//! is always `application/octet-stream` and `sha256` null.

use super::*;

/// The user ID of the fake's admin (who quarantines).
pub fn admin_user(server_name: &str) -> String {
    format!("@admin:{server_name}")
}

/// One uploaded media with an ID, as the media endpoints list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMedia {
    pub media_id: String,
    pub user_id: String,
    pub created_ts: u64,
    pub media_length: u64,
    pub upload_name: Option<String>,
    pub quarantined_by: Option<String>,
}

impl FakeSynapse {
    /// Uploads a media with this ID: listed by the media endpoints and
    /// counted in the user's statistics.
    pub fn upload(&self, user_id: &str, media_id: &str, created_ts: u64, media_length: u64) {
        let mut data = lock(&self.app.data);
        data.media.push(FakeMedia {
            media_id: media_id.to_owned(),
            user_id: user_id.to_owned(),
            created_ts,
            media_length,
            upload_name: Some(format!("{media_id}.bin")),
            quarantined_by: None,
        });
        data.dataset
            .users
            .add_media(user_id, &[(created_ts, Some(media_length))]);
        data.changed();
    }

    /// Serves server notices (as `server_notices` in `homeserver.yaml`).
    pub fn enable_server_notices(&self) {
        lock(&self.app.data)
            .server_notices
            .get_or_insert_with(Vec::new);
    }

    /// The server notices sent: (user, body), in order.
    pub fn server_notices(&self) -> Vec<(String, String)> {
        lock(&self.app.data)
            .server_notices
            .iter()
            .flatten()
            .map(|(_, user, body, _)| (user.clone(), body.clone()))
            .collect()
    }

    /// The media with IDs still stored.
    pub fn media(&self) -> Vec<FakeMedia> {
        lock(&self.app.data).media.clone()
    }
}

/// Percent-decodes a path segment as Twisted does (no `+`).
pub(super) fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn first_int(args: &Args, name: &str) -> Result<Option<i64>, Refusal> {
    match args.get(name).and_then(<[_]>::first) {
        None => Ok(None),
        Some(raw) => std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "M_INVALID_PARAM",
                    format!("Query parameter {name:?} must be an integer"),
                )
            }),
    }
}

fn ok_json(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

fn bad(message: &str) -> Response {
    Refusal::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", message).into_response()
}

/// The answer of a media endpoint, or `None` when `path` is not one.
pub(super) fn respond(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let rest = path.strip_prefix("/_synapse/admin/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let route = match segments.as_slice() {
        ["users", user, "media"] => (Method::GET, 0, decode(user)?),
        ["media", "quarantine", server, id] => (
            Method::POST,
            1,
            format!("{}/{}", decode(server)?, decode(id)?),
        ),
        ["media", server, id] => (
            Method::DELETE,
            2,
            format!("{}/{}", decode(server)?, decode(id)?),
        ),
        ["purge_media_cache"] => (Method::POST, 3, String::new()),
        ["send_server_notice", txn] => (Method::PUT, 4, decode(txn)?),
        _ => return None,
    };
    let (wanted, kind, arg) = route;
    if *method != wanted {
        return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
    }
    let args = Args::parse(query);
    if let Err(denied) = authenticate(app, headers, &args) {
        return Some(denied.into_response());
    }
    let mut data = lock(&app.data);
    let server_name = data.dataset.server_name().to_owned();
    Some(match kind {
        0 => list(&data, &server_name, &arg, &args).unwrap_or_else(IntoResponse::into_response),
        4 => server_notice(&mut data, &server_name, &arg, body),
        1 => {
            let (_, id) = arg.split_once('/').unwrap_or(("", ""));
            let admin = admin_user(&server_name);
            for m in data.media.iter_mut().filter(|m| m.media_id == id) {
                m.quarantined_by = Some(admin.clone());
            }
            ok_json(serde_json::json!({}))
        }
        2 => {
            let (server, id) = arg.split_once('/').unwrap_or(("", ""));
            if server != server_name {
                return Some(bad("Can only delete local media"));
            }
            let Some(i) = data.media.iter().position(|m| m.media_id == id) else {
                return Some(
                    Refusal::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "Unknown media").into_response(),
                );
            };
            let gone = data.media.remove(i);
            if let Some(mut user) = data.dataset.users.remove(&gone.user_id) {
                if let Some(j) = user
                    .media
                    .iter()
                    .position(|r| *r == (gone.created_ts, Some(gone.media_length)))
                {
                    user.media.remove(j);
                }
                data.dataset.users.push(user);
            }
            data.changed();
            ok_json(serde_json::json!({"deleted_media": [id], "total": 1}))
        }
        _ => match first_int(&args, "before_ts") {
            Err(refusal) => refusal.into_response(),
            Ok(None) => Refusal::new(
                StatusCode::BAD_REQUEST,
                "M_MISSING_PARAM",
                "Missing required integer query parameter before_ts",
            )
            .into_response(),
            Ok(Some(ts)) if ts < 0 => Refusal::new(
                StatusCode::BAD_REQUEST,
                "M_INVALID_PARAM",
                "Query parameter before_ts must be a positive integer.",
            )
            .into_response(),
            Ok(Some(ts)) if ts < 30_000_000_000 => Refusal::new(
                StatusCode::BAD_REQUEST,
                "M_INVALID_PARAM",
                "Query parameter before_ts you provided is from the year 1970. Double check that you are providing a timestamp in milliseconds.",
            )
            .into_response(),
            Ok(Some(_)) => ok_json(serde_json::json!({"deleted": 0})),
        },
    })
}

fn list(data: &Data, server_name: &str, user_id: &str, args: &Args) -> Result<Response, Refusal> {
    let local = user_id
        .strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(_, s)| s == server_name);
    if !local {
        return Ok(bad("Can only look up local users"));
    }
    let known = data.dataset.users.get(user_id).is_some()
        || data.media.iter().any(|m| m.user_id == user_id);
    if !known {
        return Ok(
            Refusal::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "Unknown user").into_response(),
        );
    }
    let from = first_int(args, "from")?.unwrap_or(0).max(0) as usize;
    let limit = first_int(args, "limit")?.unwrap_or(100).max(0) as usize;
    let explicit = args.get("order_by").is_some() || args.get("dir").is_some();
    let order_by = args
        .get("order_by")
        .and_then(<[_]>::first)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "created_ts".to_owned());
    let backwards = match args.get("dir").and_then(<[_]>::first).map(Vec::as_slice) {
        Some(b"b") => true,
        Some(b"f") => false,
        None => !explicit,
        Some(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "M_INVALID_PARAM",
                "Query parameter \"dir\" must be one of [\"b\", \"f\"]",
            ));
        }
    };
    let mut rows: Vec<&FakeMedia> = data.media.iter().filter(|m| m.user_id == user_id).collect();
    rows.sort_by(|a, b| {
        let primary = match order_by.as_str() {
            "media_length" => a.media_length.cmp(&b.media_length),
            "created_ts" => a.created_ts.cmp(&b.created_ts),
            "media_id" => a.media_id.cmp(&b.media_id),
            _ => Ordering::Equal,
        };
        let primary = if backwards {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| a.media_id.cmp(&b.media_id))
    });
    let total = rows.len();
    let page: Vec<serde_json::Value> = rows
        .iter()
        .skip(from)
        .take(limit)
        .map(|m| {
            serde_json::json!({
                "media_id": m.media_id,
                "media_type": "application/octet-stream",
                "media_length": m.media_length,
                "upload_name": m.upload_name,
                "created_ts": m.created_ts,
                "url_cache": null,
                "last_access_ts": null,
                "quarantined_by": m.quarantined_by,
                "safe_from_quarantine": false,
                "user_id": m.user_id,
                "authenticated": true,
                "sha256": null,
            })
        })
        .collect();
    let mut body = serde_json::json!({"media": page, "total": total});
    if from + limit < total {
        body["next_token"] = serde_json::json!(from + page.len());
    }
    Ok(ok_json(body))
}

fn server_notice(data: &mut Data, server_name: &str, txn: &str, body: &[u8]) -> Response {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let missing: Vec<&str> = ["user_id", "content"]
        .into_iter()
        .filter(|k| json.get(*k).is_none())
        .collect();
    if !missing.is_empty() {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            format!("Missing params: {missing:?}").replace('"', "'"),
        )
        .into_response();
    }
    let known =
        |u: &str| data.dataset.users.get(u).is_some() || data.media.iter().any(|m| m.user_id == u);
    let user = json["user_id"].as_str().unwrap_or("").to_owned();
    let local = user
        .strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(_, s)| s == server_name);
    let exists = known(&user);
    let Some(sent) = data.server_notices.as_mut() else {
        return bad("Server notices are not enabled on this server");
    };
    if !local {
        return bad("Server notices can only be sent to local users");
    }
    if !exists {
        return Refusal::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "User not found")
            .into_response();
    }
    if let Some((_, _, _, event)) = sent.iter().find(|(t, ..)| t == txn) {
        return ok_json(serde_json::json!({"event_id": event}));
    }
    let event = format!("$notice{}", sent.len());
    let text = json["content"]["body"].as_str().unwrap_or("").to_owned();
    sent.push((txn.to_owned(), user, text, event.clone()));
    ok_json(serde_json::json!({"event_id": event}))
}
