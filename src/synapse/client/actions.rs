//! The admin API calls of clean-up and server notices: a user's media
//! list, deleting and quarantining media, purging the remote media cache,
//! and sending a server notice.

use super::*;

impl SynapseClient {
    /// Every local media of `user_id` (`GET /_synapse/admin/v1/users/<user_id>/media`,
    /// every page, ordered by media ID: offsets over a unique order neither
    /// repeat nor skip). A remote user: 400; an unknown user: 404.
    pub async fn user_media(
        &self,
        user_id: &str,
    ) -> Result<Vec<crate::core::commands::actions::Media>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Item {
            media_id: String,
            media_length: Option<u64>,
            created_ts: u64,
            upload_name: Option<String>,
            quarantined_by: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            media: Vec<Item>,
            next_token: Option<u64>,
        }
        let endpoint = Endpoint::UserMedia;
        let mut media = Vec::new();
        let mut from = 0u64;
        for _ in 0..MAX_MEDIA_PAGES {
            let query = [
                ("from", from.to_string()),
                ("limit", MEDIA_PAGE.to_string()),
                ("order_by", "media_id".to_owned()),
                ("dir", "f".to_owned()),
            ];
            let (status, body) = self
                .call(endpoint, &["users", user_id, "media"], &query)
                .await?;
            let page: Page =
                serde_json::from_slice(&body).map_err(|e| malformed(endpoint, status, e))?;
            let read = page.media.len() as u64;
            media.extend(
                page.media
                    .into_iter()
                    .map(|m| crate::core::commands::actions::Media {
                        media_id: m.media_id,
                        media_length: m.media_length.unwrap_or(0),
                        created_ts: m.created_ts,
                        upload_name: m.upload_name,
                        quarantined: m.quarantined_by.is_some(),
                    }),
            );
            match page.next_token {
                Some(next) if next > from && read > 0 => from = next,
                _ => return Ok(media),
            }
        }
        Ok(media)
    }

    /// Every deactivated local user (`GET /_synapse/admin/v3/users?deactivated=true`,
    /// every page, ordered by user ID: in v3 the parameter lists only
    /// deactivated users, where v2 would include the others too). A user the
    /// answer does not mark deactivated is left out all the same.
    pub async fn deactivated_users(&self) -> Result<Vec<String>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct User {
            name: String,
            #[serde(default)]
            deactivated: serde_json::Value,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            users: Vec<User>,
            next_token: Option<serde_json::Value>,
        }
        let endpoint = Endpoint::DeactivatedUsers;
        let mut users: Vec<String> = Vec::new();
        let mut from = 0u64;
        for _ in 0..MAX_MEDIA_PAGES {
            let query = [
                ("from", from.to_string()),
                ("limit", MEDIA_PAGE.to_string()),
                ("deactivated", "true".to_owned()),
                ("order_by", "name".to_owned()),
            ];
            let (status, body) = self.call(endpoint, &["users"], &query).await?;
            let page: Page =
                serde_json::from_slice(&body).map_err(|e| malformed(endpoint, status, e))?;
            let read = page.users.len() as u64;
            users.extend(
                page.users
                    .into_iter()
                    .filter(|u| u.deactivated == serde_json::json!(true) || u.deactivated == 1)
                    .map(|u| u.name),
            );
            // `next_token` is a string in v2 and v3 ("100").
            let next = page.next_token.and_then(|t| match t {
                serde_json::Value::String(s) => s.parse::<u64>().ok(),
                other => other.as_u64(),
            });
            match next {
                Some(next) if next > from && read > 0 => from = next,
                _ => break,
            }
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// Deletes one local media (`DELETE /_synapse/admin/v1/media/<server>/<id>`).
    /// `Ok(false)` when Synapse no longer knows it (404): already gone.
    pub async fn delete_media(
        &self,
        server_name: &str,
        media_id: &str,
    ) -> Result<bool, SynapseError> {
        match self
            .call(
                Endpoint::DeleteMedia,
                &["media", server_name, media_id],
                &[],
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(SynapseError::UnexpectedStatus { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Quarantines one media
    /// (`POST /_synapse/admin/v1/media/quarantine/<server>/<id>`).
    pub async fn quarantine_media(
        &self,
        server_name: &str,
        media_id: &str,
    ) -> Result<(), SynapseError> {
        self.call(
            Endpoint::QuarantineMedia,
            &["media", "quarantine", server_name, media_id],
            &[],
        )
        .await
        .map(|_| ())
    }

    /// Purges remote media last accessed before `before_ms`
    /// (`POST /_synapse/admin/v1/purge_media_cache?before_ts=`): how many
    /// Synapse deleted.
    pub async fn purge_media_cache(&self, before_ms: u64) -> Result<u64, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Deleted {
            deleted: u64,
        }
        let endpoint = Endpoint::PurgeMediaCache;
        let (status, body) = self
            .call(
                endpoint,
                &["purge_media_cache"],
                &[("before_ts", before_ms.to_string())],
            )
            .await?;
        serde_json::from_slice::<Deleted>(&body)
            .map(|d| d.deleted)
            .map_err(|e| malformed(endpoint, status, e))
    }

    /// Sends a server notice to `user_id` (`PUT
    /// /_synapse/admin/v1/send_server_notice/<txn_id>`): the user finds it in
    /// their "Server Notices" room. The same `txn_id` sent again answers the
    /// same event without a second notice. Synapse answers 400 "Server
    /// notices are not enabled on this server" without `server_notices` in
    /// `homeserver.yaml` ([`is_notices_disabled`]).
    pub async fn send_server_notice(
        &self,
        txn_id: &str,
        user_id: &str,
        plain: &str,
        html: &str,
    ) -> Result<String, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Sent {
            event_id: String,
        }
        let endpoint = Endpoint::ServerNotice;
        let body = serde_json::json!({
            "user_id": user_id,
            "content": {
                "msgtype": "m.text",
                "body": plain,
                "format": "org.matrix.custom.html",
                "formatted_body": html,
                "m.mentions": {},
            },
        });
        let (status, answer) = self
            .call_with(endpoint, &["send_server_notice", txn_id], &[], Some(&body))
            .await?;
        serde_json::from_slice::<Sent>(&answer)
            .map(|s| s.event_id)
            .map_err(|e| malformed(endpoint, status, e))
    }
}
