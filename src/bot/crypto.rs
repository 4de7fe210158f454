//! End-to-end encryption set-up: cross-signing and recovery.
//!
//! Clients increasingly share room keys only with devices their owner has
//! cross-signed (MSC4153, Element's "exclude insecure devices"), so the bot
//! makes sure its device is cross-signed:
//!
//! 1. If the account has no cross-signing identity, the bot creates one
//!    (and so signs its device). Synapse lets a first identity be uploaded
//!    without authentication (MSC3967); if it asks, the bot answers with its
//!    password.
//! 2. If the account has an identity whose private keys this device lacks
//!    (a new device of an old account), they are imported from secret
//!    storage with the configured recovery key or passphrase, which also
//!    signs the device and connects the key backup.
//! 3. With a recovery key or passphrase configured and no secret storage
//!    yet, recovery is enabled with it as passphrase: the cross-signing keys
//!    and the backup key are stored on the server, encrypted, for the next
//!    device.
//!
//! Runs after the first sync. Failures here are reported and logged but do
//! not stop the bot: it can still talk in unencrypted rooms, and to
//! clients that share keys with any device.

use std::time::Duration;

use futures::StreamExt as _;
use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::ruma::api::client::uiaa;

use super::BotError;
use super::settings::BotSettings;

/// What the set-up found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CryptoReport {
    /// Whether this run created the account's cross-signing identity.
    pub created_identity: bool,
    /// Whether the bot's own device is signed by its owner now.
    pub device_cross_signed: bool,
    /// The recovery state at the end.
    pub recovery: String,
}

/// Bootstraps cross-signing and recovery as the module docs say.
pub async fn setup(client: &Client, settings: &BotSettings) -> Result<CryptoReport, BotError> {
    let encryption = client.encryption();
    let mut report = CryptoReport::default();
    let crypto = |what: &str, e: &dyn std::fmt::Display| BotError::Crypto(format!("{what}: {e}"));

    let held_keys = encryption
        .cross_signing_status()
        .await
        .is_some_and(|s| s.is_complete());
    // Queries our own keys first, and creates an identity only if the
    // account has none.
    if let Err(e) = encryption.bootstrap_cross_signing_if_needed(None).await {
        let Some(uiaa_info) = e.as_uiaa_response() else {
            return Err(crypto("creating the cross-signing identity", &e));
        };
        let Some(password) = &settings.password else {
            return Err(BotError::Crypto(
                "the homeserver wants the password to create the cross-signing identity, \
                 and none is configured"
                    .to_owned(),
            ));
        };
        let mut auth = uiaa::Password::new(
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(settings.user.clone())),
            password.expose().to_owned(),
        );
        auth.session = uiaa_info.session.clone();
        encryption
            .bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth)))
            .await
            .map_err(|e| crypto("creating the cross-signing identity", &e))?;
    }
    let complete = encryption
        .cross_signing_status()
        .await
        .is_some_and(|s| s.is_complete());
    report.created_identity = !held_keys && complete;
    if report.created_identity {
        tracing::info!("created the account's cross-signing identity and signed this device");
    }

    let recovery = encryption.recovery();
    let state = settle(recovery.state_stream()).await;
    if let Some(key) = &settings.recovery_key {
        match state {
            RecoveryState::Enabled => {}
            RecoveryState::Incomplete => {
                recovery
                    .recover(key.expose())
                    .await
                    .map_err(|e| crypto("recovering secrets with the recovery key", &e))?;
                tracing::info!(
                    "imported the cross-signing keys and backup key from secret storage"
                );
            }
            RecoveryState::Disabled | RecoveryState::Unknown if complete => {
                match recovery.enable().with_passphrase(key.expose()).await {
                    Ok(_generated_key) => {
                        // The configured passphrase opens it; the generated
                        // key is not kept.
                        tracing::info!(
                            "enabled recovery (secret storage and key backup) with the configured passphrase"
                        );
                    }
                    Err(e) => tracing::warn!(error = %e, "could not enable recovery"),
                }
            }
            RecoveryState::Disabled | RecoveryState::Unknown => {
                tracing::warn!(
                    "recovery is not set up and this device lacks the cross-signing keys to set it up"
                );
            }
        }
    } else if !complete {
        tracing::warn!(
            "this device does not hold the account's cross-signing keys and no recovery key is configured: clients that exclude insecure devices will not send it room keys; configure the recovery key or verify the device"
        );
    }

    report.device_cross_signed = device_cross_signed(client).await;
    report.recovery = format!("{:?}", recovery.state());
    Ok(report)
}

/// Whether the bot's device carries its owner's cross-signing signature, as
/// far as the local store knows (a signature just uploaded is known after
/// the next query of our own keys, which the next sync triggers).
pub async fn device_cross_signed(client: &Client) -> bool {
    match client.encryption().get_own_device().await {
        Ok(Some(device)) => device.is_cross_signed_by_owner(),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read our own device");
            false
        }
    }
}

/// The recovery state once it is known (it is computed in the background
/// after login), or the last one seen after a few seconds.
async fn settle(stream: impl futures::Stream<Item = RecoveryState> + Unpin) -> RecoveryState {
    let mut stream = stream;
    let mut last = RecoveryState::Unknown;
    let wait = async {
        while let Some(state) = stream.next().await {
            last = state;
            if state != RecoveryState::Unknown {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    last
}
