//! The fake's room clean-up endpoints, as Synapse 1.163.2 answers them
//! (measured on SQLite and PostgreSQL; README, "How it reads Synapse"):
//!
//! - `GET /_synapse/admin/v1/rooms/<room_id>`: the room of the room list
//!   ([`FakeSynapse::set_room_list`]) with the five fields the warden reads;
//!   404 `M_NOT_FOUND` "Room not found".
//! - `DELETE /_synapse/admin/v2/rooms/<room_id>` with a JSON body:
//!   `{"delete_id": ...}` at once, also for a room the server never knew;
//!   400 `M_NOT_JSON` "Content not JSON." without a body; 400 `M_BAD_JSON`
//!   "Param 'purge' must be a boolean, if given"; 400 `M_UNKNOWN` "<id> is
//!   not a legal room ID" for anything but `!...`; 400 `M_UNKNOWN` "Purge
//!   already in progress for <id>" while one runs. `block: true` blocks the
//!   room at once ([`FakeSynapse::blocked_rooms`]).
//! - `GET /_synapse/admin/v2/rooms/delete_status/<delete_id>`: `status`
//!   `scheduled`, `active`, then `complete` (the room leaves the list then)
//!   or `failed`, and `shutdown_room` (`null` until complete); 404
//!   `M_NOT_FOUND` "delete id '<id>' not found".
//! - `GET /_synapse/admin/v2/rooms/<room_id>/delete_status`: `{"results":
//!   [...]}`, each deletion of the room oldest first; 404 `M_NOT_FOUND` "No
//!   delete task for room_id '<id>' found".
//! - `POST /_synapse/admin/v1/purge_history/<room_id>` with
//!   `purge_up_to_ts`: `{"purge_id": ...}`; 400 `M_BAD_JSON` "must specify
//!   purge_up_to_event_id or purge_up_to_ts" or "purge_up_to_ts must be an
//!   int"; 404 `M_NOT_FOUND` "there is no event to be purged" for an unknown
//!   room or a cut-off before its first event.
//! - `GET /_synapse/admin/v1/purge_history_status/<purge_id>`: `active`,
//!   then `complete` or `failed` with `error`; 404 `M_NOT_FOUND` "purge id
//!   '<id>' not found".
//!
//! - `GET /_synapse/admin/v3/users?deactivated=true&from&limit`: the users
//!   marked by [`FakeSynapse::deactivate`], by name, `next_token` a string
//!   iff `from + limit < total` (v3: `deactivated=true` lists only them;
//!   `false` or none, only the others that have media).
//!
//! A task answers "not done yet" for the first [`TaskScript::polls`]
//! status polls (delete tasks say `scheduled` on the first one), then its
//! [`TaskScript::outcome`]; its effect is applied when it completes.
//! Events of a room are timestamps ([`FakeSynapse::add_room_events`]); a
//! purge deletes remote ones before the cut and, without
//! `delete_local_events`, hides local ones (they stay counted in
//! [`FakeSynapse::stored_events`]).
//!
//! The status endpoints take queued [`Fault::Status500`] and
//! [`Fault::BadGateway`] (others are consumed and ignored); the other
//! endpoints take no fault.
//!
//! Known differences: the cut is exactly `purge_up_to_ts` (Synapse keeps
//! the room's newest event before it when the server's next event is in
//! another room); no members are kicked.

use super::*;

/// How the fake's next tasks behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskScript {
    /// Status polls answered "not done yet" first.
    pub polls: u32,
    /// Then: `None` complete, `Some(reason)` failed.
    pub outcome: Option<String>,
}

impl Default for TaskScript {
    fn default() -> TaskScript {
        TaskScript {
            polls: 1,
            outcome: None,
        }
    }
}

/// One event of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeEvent {
    pub ts: u64,
    pub local: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    id: String,
    room_id: String,
    delete: bool,
    polls: u32,
    script: TaskScript,
    done: Option<bool>,
    cut: u64,
    delete_local: bool,
}

/// The rooms' events and the tasks of the clean-up endpoints.
#[derive(Debug, Default)]
pub(crate) struct RoomTasks {
    tasks: Vec<Task>,
    script: TaskScript,
    events: HashMap<String, Vec<FakeEvent>>,
    blocked: Vec<String>,
    deactivated: Vec<String>,
}

impl FakeSynapse {
    /// How the next tasks behave.
    pub fn set_task_script(&self, script: TaskScript) {
        lock(&self.app.data).room_tasks.script = script;
    }

    /// Adds events to a room: (timestamp, sent by a local user).
    pub fn add_room_events(&self, room_id: &str, events: &[(u64, bool)]) {
        lock(&self.app.data)
            .room_tasks
            .events
            .entry(room_id.to_owned())
            .or_default()
            .extend(events.iter().map(|&(ts, local)| FakeEvent {
                ts,
                local,
                hidden: false,
            }));
    }

    /// The timestamps of a room's events still visible, in order.
    pub fn visible_events(&self, room_id: &str) -> Vec<u64> {
        let data = lock(&self.app.data);
        let mut out: Vec<u64> = data
            .room_tasks
            .events
            .get(room_id)
            .into_iter()
            .flatten()
            .filter(|e| !e.hidden)
            .map(|e| e.ts)
            .collect();
        out.sort_unstable();
        out
    }

    /// How many of a room's events are still stored (hidden ones too).
    pub fn stored_events(&self, room_id: &str) -> usize {
        lock(&self.app.data)
            .room_tasks
            .events
            .get(room_id)
            .map_or(0, Vec::len)
    }

    /// The rooms blocked by a deletion with `block: true`.
    pub fn blocked_rooms(&self) -> Vec<String> {
        lock(&self.app.data).room_tasks.blocked.clone()
    }

    /// Marks a user deactivated (their media stay, as with `erase: false`).
    pub fn deactivate(&self, user_id: &str) {
        let mut data = lock(&self.app.data);
        if !data.room_tasks.deactivated.iter().any(|u| u == user_id) {
            data.room_tasks.deactivated.push(user_id.to_owned());
        }
    }

    /// Sets how many local members a room of the list has (a user joined).
    pub fn set_local_members(&self, room_id: &str, local: u64) {
        let mut data = lock(&self.app.data);
        for r in data.room_list.iter_mut().filter(|r| r.room_id == room_id) {
            r.joined_members = r.joined_members.max(local);
            r.joined_local_members = local;
        }
    }
}

fn not_found(message: String) -> Response {
    Refusal::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message).into_response()
}

fn refuse(errcode: &'static str, message: String) -> Response {
    Refusal::new(StatusCode::BAD_REQUEST, errcode, message).into_response()
}

fn ok(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

/// The answer of a room clean-up endpoint, or `None` when `path` is not one.
pub(super) fn respond(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let rest = path.strip_prefix("/_synapse/admin/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let (wanted, kind, arg) = match segments.as_slice() {
        ["v1", "rooms", id] if !id.is_empty() => (Method::GET, 0, media::decode(id)?),
        ["v2", "rooms", "delete_status", id] => (Method::GET, 2, media::decode(id)?),
        ["v2", "rooms", id, "delete_status"] => (Method::GET, 6, media::decode(id)?),
        ["v2", "rooms", id] if !id.is_empty() => (Method::DELETE, 1, media::decode(id)?),
        ["v1", "purge_history", id] => (Method::POST, 3, media::decode(id)?),
        ["v1", "purge_history_status", id] => (Method::GET, 4, media::decode(id)?),
        ["v3", "users"] => (Method::GET, 5, String::new()),
        _ => return None,
    };
    if *method != wanted {
        return Some(unrecognized(StatusCode::METHOD_NOT_ALLOWED).into_response());
    }
    // The task status endpoints take queued faults (a 500 or a 502 while
    // a task runs); the other faults are consumed and ignored here.
    if kind == 2 || kind == 4 {
        match app.faults.next() {
            Some(Fault::Status500) => return Some(internal_error().into_response()),
            Some(Fault::BadGateway) => {
                return Some((StatusCode::BAD_GATEWAY, "<html>502</html>").into_response());
            }
            _ => {}
        }
    }
    let args = Args::parse(query);
    if let Err(denied) = authenticate(app, headers, &args) {
        return Some(denied.into_response());
    }
    let mut data = lock(&app.data);
    Some(match kind {
        0 => match data.room_list.iter().find(|r| r.room_id == arg) {
            Some(r) => ok(serde_json::json!({
                "room_id": r.room_id, "name": r.name,
                "joined_members": r.joined_members,
                "joined_local_members": r.joined_local_members,
                "state_events": r.state_events,
            })),
            None => not_found("Room not found".to_owned()),
        },
        1 => start_delete(&mut data, &arg, body),
        3 => start_purge(&mut data, &arg, body),
        5 => users_v3(&data, &args),
        6 => room_delete_tasks(&mut data, &arg),
        _ => status(&mut data, &arg, kind == 2),
    })
}

fn next_id(tasks: &RoomTasks) -> String {
    format!("task{:04}", tasks.tasks.len())
}

fn start_delete(data: &mut Data, room_id: &str, body: &[u8]) -> Response {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return refuse("M_NOT_JSON", "Content not JSON.".to_owned());
    };
    for param in ["purge", "block", "force_purge"] {
        if json.get(param).is_some_and(|v| !v.is_boolean()) {
            return refuse(
                "M_BAD_JSON",
                format!("Param '{param}' must be a boolean, if given"),
            );
        }
    }
    if !room_id.starts_with('!') || room_id.len() < 2 {
        return refuse("M_UNKNOWN", format!("{room_id} is not a legal room ID"));
    }
    let tasks = &mut data.room_tasks;
    if tasks
        .tasks
        .iter()
        .any(|t| t.delete && t.room_id == room_id && t.done.is_none())
    {
        return refuse(
            "M_UNKNOWN",
            format!("Purge already in progress for {room_id}"),
        );
    }
    if json.get("block").and_then(|v| v.as_bool()) == Some(true)
        && !tasks.blocked.iter().any(|b| b == room_id)
    {
        tasks.blocked.push(room_id.to_owned());
    }
    let id = next_id(tasks);
    tasks.tasks.push(Task {
        id: id.clone(),
        room_id: room_id.to_owned(),
        delete: true,
        polls: 0,
        script: tasks.script.clone(),
        done: None,
        cut: 0,
        delete_local: false,
    });
    ok(serde_json::json!({"delete_id": id}))
}

fn start_purge(data: &mut Data, room_id: &str, body: &[u8]) -> Response {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(ts) = json.get("purge_up_to_ts") else {
        return refuse(
            "M_BAD_JSON",
            "must specify purge_up_to_event_id or purge_up_to_ts".to_owned(),
        );
    };
    let Some(cut) = ts.as_u64().filter(|_| ts.is_i64() || ts.is_u64()) else {
        return refuse("M_BAD_JSON", "purge_up_to_ts must be an int".to_owned());
    };
    // Python's bool(): any non-empty string is true.
    let delete_local = match json.get("delete_local_events") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => !s.is_empty(),
        Some(serde_json::Value::Number(n)) => n.as_f64() != Some(0.0),
        _ => false,
    };
    let tasks = &mut data.room_tasks;
    let first = tasks
        .events
        .get(room_id)
        .and_then(|e| e.iter().map(|e| e.ts).min());
    if first.is_none_or(|first| cut < first) {
        return not_found("there is no event to be purged".to_owned());
    }
    let id = next_id(tasks);
    tasks.tasks.push(Task {
        id: id.clone(),
        room_id: room_id.to_owned(),
        delete: false,
        polls: 0,
        script: tasks.script.clone(),
        done: None,
        cut,
        delete_local,
    });
    ok(serde_json::json!({"purge_id": id}))
}

fn status(data: &mut Data, id: &str, delete: bool) -> Response {
    let what = if delete { "delete" } else { "purge" };
    let Some(i) = data
        .room_tasks
        .tasks
        .iter()
        .position(|t| t.id == id && t.delete == delete)
    else {
        return not_found(format!("{what} id '{id}' not found"));
    };
    let task = &mut data.room_tasks.tasks[i];
    task.polls += 1;
    if task.done.is_none() && task.polls > task.script.polls {
        task.done = Some(task.script.outcome.is_none());
        if task.script.outcome.is_none() {
            let task = task.clone();
            apply(data, &task);
        }
    }
    let task = &data.room_tasks.tasks[i];
    let word = match task.done {
        Some(true) => "complete",
        Some(false) => "failed",
        None if delete && task.polls == 1 => "scheduled",
        None => "active",
    };
    if delete {
        let shutdown = if task.done == Some(true) {
            serde_json::json!({"kicked_users": [], "failed_to_kick_users": [],
                               "local_aliases": [], "new_room_id": null})
        } else {
            serde_json::Value::Null
        };
        ok(
            serde_json::json!({"delete_id": task.id, "room_id": task.room_id,
                              "status": word, "shutdown_room": shutdown}),
        )
    } else {
        let mut body = serde_json::json!({"status": word});
        if task.done == Some(false) {
            body["error"] = serde_json::json!(task.script.outcome.clone().unwrap_or_default());
        }
        ok(body)
    }
}

/// `GET /v2/rooms/<room_id>/delete_status`: every deletion of the room,
/// oldest first, without advancing them.
fn room_delete_tasks(data: &mut Data, room_id: &str) -> Response {
    if !room_id.starts_with('!') {
        return refuse("M_UNKNOWN", format!("{room_id} is not a legal room ID"));
    }
    let results: Vec<serde_json::Value> = data
        .room_tasks
        .tasks
        .iter()
        .filter(|t| t.delete && t.room_id == room_id)
        .map(|t| {
            let word = match t.done {
                Some(true) => "complete",
                Some(false) => "failed",
                None if t.polls == 0 => "scheduled",
                None => "active",
            };
            serde_json::json!({"delete_id": t.id, "room_id": t.room_id, "status": word,
                               "shutdown_room": null})
        })
        .collect();
    if results.is_empty() {
        return not_found(format!("No delete task for room_id '{room_id}' found"));
    }
    ok(serde_json::json!({"results": results}))
}

fn apply(data: &mut Data, task: &Task) {
    if task.delete {
        data.room_list.retain(|r| r.room_id != task.room_id);
        data.room_tasks.events.remove(&task.room_id);
        return;
    }
    if let Some(events) = data.room_tasks.events.get_mut(&task.room_id) {
        events.retain(|e| e.ts >= task.cut || (e.local && !task.delete_local));
        for e in events.iter_mut().filter(|e| e.ts < task.cut) {
            e.hidden = true;
        }
    }
}

fn users_v3(data: &Data, args: &Args) -> Response {
    let first = |name: &str| {
        args.get(name)
            .and_then(|v| v.first())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let number = |name: &str, default: usize| {
        first(name)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (from, limit) = (number("from", 0), number("limit", 100));
    let deactivated = first("deactivated").as_deref() == Some("true");
    let mut names: Vec<String> = if deactivated {
        data.room_tasks.deactivated.clone()
    } else {
        data.media
            .iter()
            .map(|m| m.user_id.clone())
            .filter(|u| !data.room_tasks.deactivated.contains(u))
            .collect()
    };
    names.sort();
    names.dedup();
    let total = names.len();
    let users: Vec<serde_json::Value> = names
        .iter()
        .skip(from)
        .take(limit)
        .map(|n| {
            serde_json::json!({"name": n, "is_guest": false, "admin": false,
                                    "deactivated": deactivated, "locked": false})
        })
        .collect();
    let read = users.len();
    let mut body = serde_json::json!({"users": users, "total": total});
    if from + limit < total {
        body["next_token"] = serde_json::json!((from + read).to_string());
    }
    ok(body)
}
