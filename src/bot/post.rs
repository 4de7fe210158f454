//! Posting to the admin room: the daemon's announcements and notices.
//!
//! [`Bot::post`] sends a message; [`Bot::post_with_txn`] sends it with a
//! transaction ID chosen by the caller, so that sending the same message
//! again after a crash posts it once (the homeserver de-duplicates by
//! transaction ID). The daemon's [`Notifier`] is implemented that way.
//! Every message, replies included ([`content`]), carries an empty
//! `m.mentions`.

use async_trait::async_trait;
use matrix_sdk::attachment::{AttachmentConfig, AttachmentInfo, BaseImageInfo};
use matrix_sdk::ruma::UInt;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedEventId, OwnedTransactionId};

use super::{Bot, BotError};
use crate::core::doc::Message;
use crate::daemon::shared::{Notifier, NotifyError};

impl Bot {
    /// Posts `message` (a notice, HTML with a plain-text body) to the
    /// admin room; encrypted if the room is.
    pub async fn post(&self, message: &Message) -> Result<OwnedEventId, BotError> {
        self.send(message, None).await
    }

    /// Posts `message` with transaction ID `txn_id`: posting twice with the
    /// same ID posts once.
    pub async fn post_with_txn(
        &self,
        txn_id: &str,
        message: &Message,
    ) -> Result<OwnedEventId, BotError> {
        self.send(message, Some(OwnedTransactionId::from(txn_id)))
            .await
    }

    /// Posts `png` as an image (`chart.png`) with transaction ID `txn_id`:
    /// uploaded encrypted in an encrypted room (matrix-sdk's
    /// `send_attachment`), no mention. Posting twice with the same ID posts
    /// one event (the second upload is left unreferenced).
    pub async fn post_image(
        &self,
        txn_id: &str,
        png: &crate::chart::Png,
    ) -> Result<OwnedEventId, BotError> {
        let room = self
            .client
            .get_room(&self.room_id)
            .ok_or_else(|| BotError::Send("the bot is not in the admin room".to_owned()))?;
        let config = image_attachment(png).txn_id(OwnedTransactionId::from(txn_id));
        let response = room
            .send_attachment("chart.png", &mime::IMAGE_PNG, png.bytes.clone(), config)
            .await
            .map_err(|e| BotError::Send(e.to_string()))?;
        Ok(response.event_id)
    }

    async fn send(
        &self,
        message: &Message,
        txn_id: Option<OwnedTransactionId>,
    ) -> Result<OwnedEventId, BotError> {
        let room = self
            .client
            .get_room(&self.room_id)
            .ok_or_else(|| BotError::Send("the bot is not in the admin room".to_owned()))?;
        let content = content(message);
        let mut send = room.send(content);
        if let Some(txn_id) = txn_id {
            send = send.with_transaction_id(txn_id);
        }
        let response = send.await.map_err(|e| BotError::Send(e.to_string()))?;
        Ok(response.response.event_id)
    }
}

/// The event content of `message`: a notice with both bodies, and
/// `"m.mentions": {}` — the bot never mentions anyone, so clients that
/// implement intentional mentions ping no one for its messages, whatever
/// the body says.
pub fn content(message: &Message) -> RoomMessageEventContent {
    RoomMessageEventContent::notice_html(message.plain.clone(), message.html.clone())
        .add_mentions(Mentions::new())
}

#[async_trait]
impl Notifier for Bot {
    async fn send(&self, txn_id: &str, message: &Message) -> Result<String, NotifyError> {
        self.post_with_txn(txn_id, message)
            .await
            .map(|event_id| event_id.to_string())
            .map_err(|e| NotifyError(e.to_string()))
    }

    async fn send_image(
        &self,
        txn_id: &str,
        png: &crate::chart::Png,
    ) -> Result<String, NotifyError> {
        self.post_image(txn_id, png)
            .await
            .map(|event_id| event_id.to_string())
            .map_err(|e| NotifyError(e.to_string()))
    }
}

/// How a PNG chart is sent: an image with its width, height and size, and
/// no mention. The outbox's charts ([`Bot::post_image`]) and `trend`'s
/// reply share it.
pub(super) fn image_attachment(png: &crate::chart::Png) -> AttachmentConfig {
    let info = BaseImageInfo {
        width: Some(UInt::from(png.width)),
        height: Some(UInt::from(png.height)),
        size: UInt::new(png.bytes.len() as u64),
        blurhash: None,
        is_animated: Some(false),
    };
    AttachmentConfig::new()
        .info(AttachmentInfo::Image(info))
        .mentions(Some(Mentions::new()))
}
