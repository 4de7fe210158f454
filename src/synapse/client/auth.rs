//! Whether the homeserver delegates authentication (MSC3861: MAS), from its
//! `auth_metadata` endpoints (MSC2965).

use super::*;

impl SynapseClient {
    /// The issuer the homeserver's `auth_metadata` names when it delegates
    /// authentication (the stable endpoint, then MSC2965's unstable one), or
    /// `None` when neither answers 200: Synapse's own authentication (it
    /// answers 404 or 400 `M_UNRECOGNIZED` then). No token is sent; not
    /// retried, and not counted in the request metrics (a homeserver without
    /// MAS answers 404 by design).
    pub async fn delegated_auth(&self) -> Result<Option<String>, SynapseError> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            issuer: String,
        }
        for endpoint in [Endpoint::AuthMetadata, Endpoint::AuthMetadataUnstable] {
            let response = self
                .http
                .get(self.url(endpoint)?)
                .send()
                .await
                .map_err(|e| self.transport(endpoint, &e))?;
            let status = response.status().as_u16();
            let body = self.read_body(endpoint, response).await?;
            match status {
                200 => {
                    let metadata: Metadata = serde_json::from_slice(&body)
                        .map_err(|e| malformed(endpoint, status, e))?;
                    return Ok(Some(metadata.issuer));
                }
                400 | 404 | 405 => continue,
                _ => return Err(classify(endpoint, status, &body)),
            }
        }
        Ok(None)
    }
}
