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

use super::*;

/// The module's path prefix, and its rooms endpoint.
pub const MODULE_PREFIX: &str = "/_synapse/client/synapse_warden/";
const MODULE_ROOMS_PATH: &str = "/_synapse/client/synapse_warden/v1/rooms";

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

/// The warden's module as loaded into the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeModule {
    /// The shared secret (the module's `secret_path` content).
    pub secret: String,
    /// What its rooms endpoint answers.
    pub rooms: ModuleRooms,
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
    if path != MODULE_ROOMS_PATH {
        return Some(unrecognized(StatusCode::NOT_FOUND).into_response());
    }
    if method != Method::GET {
        return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
    }
    let args = Args::parse(query);
    let number = |name: &str, min: i128, max: i128, default: i128| -> Result<i128, Refusal> {
        match parse_integer(&args, name) {
            Ok(None) => Ok(default),
            Ok(Some(v)) => match v.to_i128() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(invalid_param(format!(
                    "{name} must be between {min} and {max}"
                ))),
            },
            Err(refusal) => Err(refusal),
        }
    };
    let limit = match number("limit", 1, 10_000, 10)
        .and_then(|limit| number("timeout_ms", 100, 60_000, 5_000).map(|_| limit))
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
