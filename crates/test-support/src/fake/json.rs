//! JSON as Synapse writes it, and its refusals.

use super::*;

/// A JSON string as Python's `json` writes it with `ensure_ascii=True`.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
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

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error answer, as Synapse's `return_json_error` writes it: canonical
/// JSON, keys sorted (`errcode`, `error`, then any extra field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) errcode: &'static str,
    pub(crate) message: String,
    /// A field sorting after `error`: name and raw JSON value.
    pub(crate) extra: Option<(&'static str, String)>,
}

impl Refusal {
    pub(crate) fn new(
        status: StatusCode,
        errcode: &'static str,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            status,
            errcode,
            message: message.into(),
            extra: None,
        }
    }

    pub(crate) fn with(mut self, name: &'static str, raw_json: impl Into<String>) -> Refusal {
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

pub(crate) fn invalid_param(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
}

/// What Synapse answers for any exception that is not a `SynapseError`.
pub(crate) fn internal_error() -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "M_UNKNOWN",
        "Internal server error",
    )
}

pub(crate) fn unrecognized(status: StatusCode) -> Refusal {
    Refusal::new(status, "M_UNRECOGNIZED", "Unrecognized request")
}

/// `{"room_id":...,"estimated_size":...}` objects, comma-separated, as
/// Synapse's `statistics/database/rooms` (and the warden's module) write
/// their `rooms`.
pub(crate) fn push_room_sizes(body: &mut String, rooms: &[(String, u64)]) {
    for (n, (room_id, size)) in rooms.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str("{\"room_id\":");
        push_json_str(body, room_id);
        let _ = std::fmt::Write::write_fmt(body, format_args!(",\"estimated_size\":{size}}}"));
    }
}
