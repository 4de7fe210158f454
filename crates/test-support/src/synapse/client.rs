//! The harness as a Matrix client: users registered with the shared-secret
//! admin API, rooms, messages and media through the client-server API,
//! and HTTP helpers whose errors never hold an access token.

use super::*;

impl SynapseHarness {
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

    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
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
    pub(crate) async fn call(
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

pub(crate) async fn check_response(
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

pub(crate) fn json_str(value: &Value, key: &str) -> Result<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the answer has no string {key:?}: {}", redact_token(value)))
}

/// The body for error messages, with any access token blanked.
pub(crate) fn redact_token(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(token) = value.get_mut("access_token") {
        *token = json!("<redacted>");
    }
    value
}

pub(crate) fn parse_rooms(body: &Value) -> Result<Vec<RoomSizeEstimate>> {
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

pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The last `lines` lines of a (log) file, or a note that it can't be read.
pub(crate) fn tail_of_file(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("<cannot read {}: {err}>", path.display()),
    }
}

pub(crate) fn percent_decode(text: &str) -> String {
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
